//! The Llama decoder: RMSNorm, rotate-half RoPE, grouped-query attention
//! through the fused attention op over a KV cache, SwiGLU MLP, final norm,
//! `lm_head`.
//!
//! Shapes: T new tokens at positions pos..pos+T, D width, H query heads and
//! Hkv key/value heads of dh, V vocabulary.

use iris_tensor::{AttnMask, DType, Tensor};

use crate::config::LlamaConfig;
use crate::error::{Error, Result};
use crate::kv_cache::KvCache;
use crate::loader::{Linear, Loader};
use crate::rope::Rope;
use crate::trace::Trace;

struct Layer {
    input_norm: Tensor,
    q: Linear,
    k: Linear,
    v: Linear,
    o: Linear,
    post_norm: Tensor,
    gate: Linear,
    up: Linear,
    down: Linear,
}

pub struct Llama {
    pub cfg: LlamaConfig,
    embed: Tensor,
    layers: Vec<Layer>,
    norm: Tensor,
    lm_head: Tensor,
    rope: Rope,
}

impl Llama {
    /// Loads the decoder whose layers sit under `prefix` (…`model.`), with
    /// `lm_head` from `lm_head` or, when tied, the embedding table.
    pub(crate) fn load(l: &Loader, prefix: &str, lm_head: Option<&str>, cfg: &LlamaConfig) -> Result<Llama> {
        let (d, f) = (cfg.hidden_size, cfg.intermediate_size);
        let (qd, kvd) = (cfg.num_attention_heads * cfg.head_dim, cfg.num_key_value_heads * cfg.head_dim);
        let layer = |i: usize| -> Result<Layer> {
            let n = |s: &str| format!("{prefix}layers.{i}.{s}");
            let ab = cfg.attention_bias;
            Ok(Layer {
                input_norm: l.get(&n("input_layernorm.weight"), &[d])?,
                q: Linear::load(l, &n("self_attn.q_proj"), qd, d, ab)?,
                k: Linear::load(l, &n("self_attn.k_proj"), kvd, d, ab)?,
                v: Linear::load(l, &n("self_attn.v_proj"), kvd, d, ab)?,
                o: Linear::load(l, &n("self_attn.o_proj"), d, qd, ab)?,
                post_norm: l.get(&n("post_attention_layernorm.weight"), &[d])?,
                gate: Linear::load(l, &n("mlp.gate_proj"), f, d, cfg.mlp_bias)?,
                up: Linear::load(l, &n("mlp.up_proj"), f, d, cfg.mlp_bias)?,
                down: Linear::load(l, &n("mlp.down_proj"), d, f, cfg.mlp_bias)?,
            })
        };
        let embed = l.get(&format!("{prefix}embed_tokens.weight"), &[cfg.vocab_size, d])?;
        let lm_head = match lm_head {
            Some(name) => l.get(name, &[cfg.vocab_size, d])?,
            None => embed.clone(),
        };
        Ok(Llama {
            cfg: cfg.clone(),
            layers: (0..cfg.num_hidden_layers).map(layer).collect::<Result<_>>()?,
            norm: l.get(&format!("{prefix}norm.weight"), &[d])?,
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
        let (cos, sin) = self.rope.tables(pos, t)?;
        let mut x = x.clone();
        for (i, layer) in self.layers.iter().enumerate() {
            x = self.layer(i, layer, &x, &cos, &sin, cache)?;
            trace.record(|| format!("text_layer.{i}"), &x);
        }
        cache.advance(t);
        Ok(x.rms_norm(&self.norm, self.cfg.rms_norm_eps as f32)?)
    }

    /// Logits [T, V] in f32 of final-normed hidden states [T, D].
    pub fn logits(&self, h: &Tensor) -> Result<Tensor> {
        Ok(h.linear(&self.lm_head, None)?.to_dtype(DType::F32)?)
    }

    fn layer(
        &self,
        i: usize,
        w: &Layer,
        x: &Tensor,
        cos: &Tensor,
        sin: &Tensor,
        cache: &mut KvCache,
    ) -> Result<Tensor> {
        let c = &self.cfg;
        let (t, eps) = (x.shape()[0], c.rms_norm_eps as f32);
        let (h, hkv, dh) = (c.num_attention_heads, c.num_key_value_heads, c.head_dim);
        let y = x.rms_norm(&w.input_norm, eps)?;
        // [1, T, heads, dh] with RoPE along T (dimension 1).
        let q = w.q.forward(&y)?.reshape(&[1, t, h, dh])?.rope(cos, sin, 1)?;
        let k = w.k.forward(&y)?.reshape(&[1, t, hkv, dh])?.rope(cos, sin, 1)?;
        let v = w.v.forward(&y)?.reshape(&[1, t, hkv, dh])?;
        let (k, v) = cache.append(i, &k, &v)?;
        let perm = [0, 2, 1, 3];
        let a = Tensor::attention(
            &q.permute(&perm)?,
            &k.permute(&perm)?,
            &v.permute(&perm)?,
            AttnMask::Causal,
            (dh as f32).powf(-0.5),
        )?;
        let a = a.permute(&perm)?.contiguous()?.reshape(&[t, h * dh])?;
        let x = x.add(&w.o.forward(&a)?)?;
        let y = x.rms_norm(&w.post_norm, eps)?;
        let g = c.hidden_act.apply(&w.gate.forward(&y)?)?;
        let m = w.down.forward(&g.mul(&w.up.forward(&y)?)?)?;
        Ok(x.add(&m)?)
    }
}
