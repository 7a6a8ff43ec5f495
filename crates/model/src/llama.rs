//! The Llama decoder: RMSNorm, rotate-half RoPE, grouped-query attention
//! through the fused attention op over a KV cache, SwiGLU MLP, final norm,
//! `lm_head`.
//!
//! Shapes: T new tokens at positions pos..pos+T, D width, H query heads and
//! Hkv key/value heads of dh, V vocabulary.

use iris_tensor::{AttnMask, DType, Tensor};

use crate::config::{Activation, LlamaConfig};
use crate::error::{Error, Result};
use crate::kv_cache::KvCache;
use crate::loader::{Linear, Loader, RmsNorm};
use crate::rope::Rope;
use crate::trace::Trace;

/// `self_attn`: q/k/v/o projections, RoPE on q and k, causal GQA over the cache.
pub(crate) struct LlamaAttention {
    q: Linear,
    k: Linear,
    v: Linear,
    o: Linear,
    heads: usize,
    kv_heads: usize,
    head_dim: usize,
}

impl LlamaAttention {
    pub fn load(l: &Loader, prefix: &str, c: &LlamaConfig) -> Result<LlamaAttention> {
        let (d, dh, b) = (c.hidden_size, c.head_dim, c.attention_bias);
        let (qd, kvd) = (c.num_attention_heads * dh, c.num_key_value_heads * dh);
        Ok(LlamaAttention {
            q: Linear::load(l, &format!("{prefix}q_proj"), qd, d, b)?,
            k: Linear::load(l, &format!("{prefix}k_proj"), kvd, d, b)?,
            v: Linear::load(l, &format!("{prefix}v_proj"), kvd, d, b)?,
            o: Linear::load(l, &format!("{prefix}o_proj"), d, qd, b)?,
            heads: c.num_attention_heads,
            kv_heads: c.num_key_value_heads,
            head_dim: dh,
        })
    }

    /// residual + attn(x), x [T, D] at the positions of `cos`/`sin` [T, dh/2];
    /// keys and values go into `cache` slot `layer`.
    pub fn forward(
        &self,
        x: &Tensor,
        residual: &Tensor,
        cos: &Tensor,
        sin: &Tensor,
        cache: &mut KvCache,
        layer: usize,
    ) -> Result<Tensor> {
        let (t, h, hkv, dh) = (x.shape()[0], self.heads, self.kv_heads, self.head_dim);
        // [1, T, heads, dh] with RoPE along T (dimension 1).
        let q = self.q.forward(x)?.reshape(&[1, t, h, dh])?.rope(cos, sin, 1)?;
        let k = self.k.forward(x)?.reshape(&[1, t, hkv, dh])?.rope(cos, sin, 1)?;
        let v = self.v.forward(x)?.reshape(&[1, t, hkv, dh])?;
        let (k, v) = cache.append(layer, &k, &v)?;
        let bhtd = [0, 2, 1, 3];
        let (q, k, v) = (q.permute(&bhtd)?, k.permute(&bhtd)?, v.permute(&bhtd)?);
        let a = Tensor::attention(&q, &k, &v, AttnMask::Causal, (dh as f32).powf(-0.5))?;
        self.o.forward_residual(&a.permute(&bhtd)?.contiguous()?.reshape(&[t, h * dh])?, residual)
    }
}

/// `mlp`: down(act(gate(x)) · up(x)).
pub(crate) struct LlamaMlp {
    gate: Linear,
    up: Linear,
    down: Linear,
    act: Activation,
}

impl LlamaMlp {
    pub fn load(l: &Loader, prefix: &str, c: &LlamaConfig) -> Result<LlamaMlp> {
        let (d, f, b) = (c.hidden_size, c.intermediate_size, c.mlp_bias);
        Ok(LlamaMlp {
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

/// A pre-norm decoder layer: x + attn(norm(x)), then x + mlp(norm(x)).
pub(crate) struct LlamaDecoderLayer {
    input_layernorm: RmsNorm,
    self_attn: LlamaAttention,
    post_attention_layernorm: RmsNorm,
    mlp: LlamaMlp,
}

impl LlamaDecoderLayer {
    pub fn load(l: &Loader, prefix: &str, c: &LlamaConfig) -> Result<LlamaDecoderLayer> {
        let (d, eps) = (c.hidden_size, c.rms_norm_eps);
        Ok(LlamaDecoderLayer {
            input_layernorm: RmsNorm::load(l, &format!("{prefix}input_layernorm"), d, eps)?,
            self_attn: LlamaAttention::load(l, &format!("{prefix}self_attn."), c)?,
            post_attention_layernorm: RmsNorm::load(l, &format!("{prefix}post_attention_layernorm"), d, eps)?,
            mlp: LlamaMlp::load(l, &format!("{prefix}mlp."), c)?,
        })
    }

    pub fn forward(&self, x: &Tensor, cos: &Tensor, sin: &Tensor, cache: &mut KvCache, layer: usize) -> Result<Tensor> {
        let x = self.self_attn.forward(&self.input_layernorm.forward(x)?, x, cos, sin, cache, layer)?;
        self.mlp.forward_residual(&self.post_attention_layernorm.forward(&x)?, &x)
    }
}

pub struct Llama {
    pub cfg: LlamaConfig,
    embed: Tensor,
    layers: Vec<LlamaDecoderLayer>,
    norm: RmsNorm,
    lm_head: Tensor,
    rope: Rope,
}

impl Llama {
    /// Loads the decoder whose layers sit under `prefix` (…`model.`), with
    /// `lm_head` from `lm_head` or, when tied, the embedding table.
    pub(crate) fn load(l: &Loader, prefix: &str, lm_head: Option<&str>, cfg: &LlamaConfig) -> Result<Llama> {
        let d = cfg.hidden_size;
        let layer = |i: usize| LlamaDecoderLayer::load(l, &format!("{prefix}layers.{i}."), cfg);
        let embed = l.get(&format!("{prefix}embed_tokens.weight"), &[cfg.vocab_size, d])?;
        let lm_head = match lm_head {
            Some(name) => l.get(name, &[cfg.vocab_size, d])?,
            None => embed.clone(),
        };
        Ok(Llama {
            cfg: cfg.clone(),
            layers: (0..cfg.num_hidden_layers).map(layer).collect::<Result<_>>()?,
            norm: RmsNorm::load(l, &format!("{prefix}norm"), d, cfg.rms_norm_eps)?,
            embed,
            lm_head,
            rope: Rope::new(&cfg.rope, cfg.head_dim),
        })
    }

    pub fn dtype(&self) -> DType {
        self.embed.dtype()
    }

    /// Token embeddings [T, D]; ids outside the table are an error.
    pub fn embed(&self, ids: &[u32]) -> Result<Tensor> {
        if let Some(&bad) = ids.iter().find(|&&id| id as usize >= self.cfg.vocab_size) {
            return Err(Error::Prompt(format!("token id {bad} is outside the vocabulary of {}", self.cfg.vocab_size)));
        }
        Ok(Tensor::embedding(&self.embed, ids)?)
    }

    /// Runs T new positions [T, D] through every layer, appending their keys
    /// and values to `cache`; returns the final-normed hidden states [T, D].
    pub fn forward(&self, x: &Tensor, cache: &mut KvCache, trace: &mut Trace) -> Result<Tensor> {
        let (t, pos) = (x.shape()[0], cache.len());
        if pos + t > self.cfg.max_position_embeddings {
            return Err(Error::Prompt(format!(
                "{} positions exceed max_position_embeddings {}",
                pos + t,
                self.cfg.max_position_embeddings
            )));
        }
        let (cos, sin) = self.rope.tables(pos, t, x.device())?;
        let mut x = x.clone();
        for (i, layer) in self.layers.iter().enumerate() {
            let _p = iris_tensor::profile::scope(|| format!("layer: text {i}"));
            x = layer.forward(&x, &cos, &sin, cache, i)?;
            trace.record(|| format!("text_layer.{i}"), &x);
        }
        cache.advance(t);
        self.norm.forward(&x)
    }

    /// Logits [T, V] in f32 of final-normed hidden states [T, D].
    pub fn logits(&self, h: &Tensor) -> Result<Tensor> {
        Ok(h.linear(&self.lm_head, None)?.to_dtype(DType::F32)?)
    }
}
