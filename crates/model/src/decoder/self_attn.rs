//! The Llama decoder layer: RMSNorm, rotate-half RoPE, grouped-query causal
//! attention over each sequence's KV cache, SwiGLU MLP.
//!
//! Shapes: R rows (the new tokens of every sequence in the batch, in order),
//! T of them per sequence, D width, H query heads and Hkv key/value heads of
//! dh.

use iris_tensor::{AttnMask, Tensor};

use super::Segment;
use crate::config::{Activation, LlamaConfig};
use crate::error::Result;
use crate::loader::{Linear, Loader, RmsNorm};
use crate::params::parameters;

/// `self_attn`: q/k/v/o projections, RoPE on q and k, causal GQA over the cache.
pub(crate) struct SelfAttention {
    q: Linear,
    k: Linear,
    v: Linear,
    o: Linear,
    heads: usize,
    kv_heads: usize,
    head_dim: usize,
}

impl SelfAttention {
    pub fn load(l: &Loader, prefix: &str, c: &LlamaConfig) -> Result<SelfAttention> {
        let (d, dh, b) = (c.hidden_size, c.head_dim, c.attention_bias);
        let (qd, kvd) = (c.num_attention_heads * dh, c.num_key_value_heads * dh);
        Ok(SelfAttention {
            q: Linear::load(l, &format!("{prefix}q_proj"), qd, d, b)?,
            k: Linear::load(l, &format!("{prefix}k_proj"), kvd, d, b)?,
            v: Linear::load(l, &format!("{prefix}v_proj"), kvd, d, b)?,
            o: Linear::load(l, &format!("{prefix}o_proj"), d, qd, b)?,
            heads: c.num_attention_heads,
            kv_heads: c.num_key_value_heads,
            head_dim: dh,
        })
    }

    /// residual + attn(x), x [R, D] at the positions of `cos`/`sin` [R, dh/2].
    /// The projections run once over all R rows; each segment's rows attend
    /// over its own cache, where their keys and values go (slot `layer`).
    pub fn forward(
        &self,
        x: &Tensor,
        residual: &Tensor,
        cos: &Tensor,
        sin: &Tensor,
        segs: &mut [Segment],
        layer: usize,
    ) -> Result<Tensor> {
        let (r, h, hkv, dh) = (x.shape()[0], self.heads, self.kv_heads, self.head_dim);
        // [1, R, heads, dh] with RoPE along R (dimension 1).
        let q = self.q.forward(x)?.reshape(&[1, r, h, dh])?.rope(cos, sin, 1)?;
        let k = self.k.forward(x)?.reshape(&[1, r, hkv, dh])?.rope(cos, sin, 1)?;
        let v = self.v.forward(x)?.reshape(&[1, r, hkv, dh])?;
        let bhtd = [0, 2, 1, 3];
        let single = segs.len() == 1;
        let mut outs = Vec::with_capacity(segs.len());
        let mut r0 = 0;
        for seg in segs.iter_mut() {
            let t = seg.rows;
            let rows = |a: &Tensor| if single { Ok(a.clone()) } else { a.narrow(1, r0, t) };
            let (k, v) = match seg.cache.as_deref_mut() {
                Some(c) => c.append(layer, &rows(&k)?, &rows(&v)?)?,
                None => (rows(&k)?, rows(&v)?),
            };
            let (q, k, v) = (rows(&q)?.permute(&bhtd)?, k.permute(&bhtd)?, v.permute(&bhtd)?);
            let a = Tensor::attention(&q, &k, &v, AttnMask::Causal, (dh as f32).powf(-0.5))?;
            outs.push(a.permute(&bhtd)?.contiguous()?.reshape(&[t, h * dh])?);
            r0 += t;
        }
        let a =
            if single { outs.pop().expect("one segment") } else { Tensor::cat(&outs.iter().collect::<Vec<_>>(), 0)? };
        self.o.forward_residual(&a, residual)
    }
}

parameters!(SelfAttention { q, k, v, o });

/// `mlp`: down(act(gate(x)) · up(x)).
pub(crate) struct Mlp {
    gate: Linear,
    up: Linear,
    down: Linear,
    act: Activation,
}

impl Mlp {
    pub fn load(l: &Loader, prefix: &str, c: &LlamaConfig) -> Result<Mlp> {
        let (d, f, b) = (c.hidden_size, c.intermediate_size, c.mlp_bias);
        Ok(Mlp {
            gate: Linear::load(l, &format!("{prefix}gate_proj"), f, d, b)?,
            up: Linear::load(l, &format!("{prefix}up_proj"), f, d, b)?,
            down: Linear::load(l, &format!("{prefix}down_proj"), d, f, b)?,
            act: c.hidden_act,
        })
    }

    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        self.down.forward(&self.hidden(x)?)
    }

    /// residual + mlp(x).
    pub fn forward_residual(&self, x: &Tensor, residual: &Tensor) -> Result<Tensor> {
        self.down.forward_residual(&self.hidden(x)?, residual)
    }

    /// act(gate(x)) · up(x).
    fn hidden(&self, x: &Tensor) -> Result<Tensor> {
        Ok(self.gate.forward_act(x, self.act)?.mul(&self.up.forward(x)?)?)
    }
}

parameters!(Mlp { gate, up, down });

/// A pre-norm decoder layer: x + attn(norm(x)), then x + mlp(norm(x)).
pub(crate) struct SelfAttentionLayer {
    input_layernorm: RmsNorm,
    self_attn: SelfAttention,
    post_attention_layernorm: RmsNorm,
    mlp: Mlp,
}

impl SelfAttentionLayer {
    pub fn load(l: &Loader, prefix: &str, c: &LlamaConfig) -> Result<SelfAttentionLayer> {
        let (d, eps) = (c.hidden_size, c.rms_norm_eps);
        Ok(SelfAttentionLayer {
            input_layernorm: RmsNorm::load(l, &format!("{prefix}input_layernorm"), d, eps)?,
            self_attn: SelfAttention::load(l, &format!("{prefix}self_attn."), c)?,
            post_attention_layernorm: RmsNorm::load(l, &format!("{prefix}post_attention_layernorm"), d, eps)?,
            mlp: Mlp::load(l, &format!("{prefix}mlp."), c)?,
        })
    }

    pub fn forward(
        &self,
        x: &Tensor,
        cos: &Tensor,
        sin: &Tensor,
        segs: &mut [Segment],
        layer: usize,
    ) -> Result<Tensor> {
        let x = self.self_attn.forward(&self.input_layernorm.forward(x)?, x, cos, sin, segs, layer)?;
        self.mlp.forward_residual(&self.post_attention_layernorm.forward(&x)?, &x)
    }
}

parameters!(SelfAttentionLayer { input_layernorm, self_attn, post_attention_layernorm, mlp });
