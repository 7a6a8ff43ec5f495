//! The Mllama text model: a Llama decoder in which the layers listed in
//! `cross_attention_layers` are gated cross-attention layers over the image
//! states. Their keys and values are projected once per prompt
//! ([`CrossStates`]) and reused at every decode step.
//!
//! Shapes: T text positions, S = images·tiles·P image tokens, D width,
//! H/Hkv heads of dh = D/H.

use iris_tensor::Tensor;

use crate::config::LlamaConfig;
use crate::error::Result;
use crate::kv_cache::KvCache;
use crate::llama::{LlamaDecoderLayer, LlamaMlp};
use crate::loader::{Linear, Loader, RmsNorm};

/// A cross-attention decoder layer:
/// x += tanh(g_attn)·o(attn(q_norm(q(rms(x))), k_norm(k(states)), v(states)));
/// x += tanh(g_mlp)·full_row·mlp(rms(x)).
pub(crate) struct CrossAttentionLayer {
    input_layernorm: RmsNorm,
    q: Linear,
    k: Linear,
    v: Linear,
    o: Linear,
    q_norm: RmsNorm,
    k_norm: RmsNorm,
    attn_gate: f32,
    post_attention_layernorm: RmsNorm,
    mlp: LlamaMlp,
    mlp_gate: f32,
    heads: usize,
    kv_heads: usize,
    head_dim: usize,
}

fn tanh_gate(l: &Loader, name: &str) -> Result<f32> {
    Ok(l.get(name, &[1])?.to_dtype(iris_tensor::DType::F32)?.to_vec::<f32>()?[0].tanh())
}

impl CrossAttentionLayer {
    fn load(l: &Loader, p: &str, c: &LlamaConfig) -> Result<CrossAttentionLayer> {
        let (d, eps, dh) = (c.hidden_size, c.rms_norm_eps, c.head_dim);
        let (qd, kvd) = (c.num_attention_heads * dh, c.num_key_value_heads * dh);
        let n = |s: &str| format!("{p}{s}");
        Ok(CrossAttentionLayer {
            input_layernorm: RmsNorm::load(l, &n("input_layernorm"), d, eps)?,
            q: Linear::load(l, &n("cross_attn.q_proj"), qd, d, false)?,
            k: Linear::load(l, &n("cross_attn.k_proj"), kvd, d, false)?,
            v: Linear::load(l, &n("cross_attn.v_proj"), kvd, d, false)?,
            o: Linear::load(l, &n("cross_attn.o_proj"), d, qd, false)?,
            q_norm: RmsNorm::load(l, &n("cross_attn.q_norm"), dh, eps)?,
            k_norm: RmsNorm::load(l, &n("cross_attn.k_norm"), dh, eps)?,
            attn_gate: tanh_gate(l, &n("cross_attn_attn_gate"))?,
            post_attention_layernorm: RmsNorm::load(l, &n("post_attention_layernorm"), d, eps)?,
            mlp: LlamaMlp::load(l, &n("mlp."), c)?,
            mlp_gate: tanh_gate(l, &n("cross_attn_mlp_gate"))?,
            heads: c.num_attention_heads,
            kv_heads: c.num_key_value_heads,
            head_dim: dh,
        })
    }

    /// Keys and values [1, Hkv, S, dh] of image states [S, D].
    fn project(&self, states: &Tensor) -> Result<(Tensor, Tensor)> {
        let (s, hkv, dh) = (states.shape()[0], self.kv_heads, self.head_dim);
        let k = self.k_norm.forward(&self.k.forward(states)?.reshape(&[1, s, hkv, dh])?)?.permute(&[0, 2, 1, 3])?;
        let v = self.v.forward(states)?.reshape(&[1, s, hkv, dh])?.permute(&[0, 2, 1, 3])?;
        Ok((k.contiguous()?, v.contiguous()?))
    }

    fn forward(&self, x: &Tensor, kv: &(Tensor, Tensor), mask: &RowMask) -> Result<Tensor> {
        let (t, h, dh) = (x.shape()[0], self.heads, self.head_dim);
        let y = self.input_layernorm.forward(x)?;
        let q = self.q_norm.forward(&self.q.forward(&y)?.reshape(&[1, t, h, dh])?)?.permute(&[0, 2, 1, 3])?;
        let a = Tensor::cross_attention(&q, &kv.0, &kv.1, Some(&mask.keep), (dh as f32).powf(-0.5))?;
        let a = self.o.forward(&a.permute(&[0, 2, 1, 3])?.contiguous()?.reshape(&[t, h * dh])?)?;
        let x = x.add(&a.scale(self.attn_gate)?)?;
        let m = self.mlp.forward(&self.post_attention_layernorm.forward(&x)?)?.mul(&mask.full_row)?;
        Ok(x.add(&m.scale(self.mlp_gate)?)?)
    }
}

/// The cross-attention mask of T text rows over S image tokens, as the
/// reference uses it: a row that may see no image token sees all of them
/// (its additive mask is zeroed), and its MLP branch is multiplied by 0.
pub struct RowMask {
    /// [1, 1, T, S], 1 = attend.
    pub keep: Tensor,
    /// [T, 1] in the model's dtype: 0 for rows that may see no image token.
    pub full_row: Tensor,
}

impl RowMask {
    /// From per-row tile flags (`rows[t][i]` for image-tile i), each tile
    /// spanning `tile_tokens` image tokens.
    /// On `device`, `full_row` in `dtype`.
    pub fn new(
        rows: &[Vec<bool>],
        tile_tokens: usize,
        dtype: iris_tensor::DType,
        device: iris_tensor::Device,
    ) -> Result<RowMask> {
        let s = rows.first().map_or(0, |r| r.len() * tile_tokens);
        let mut keep = Vec::with_capacity(rows.len() * s);
        let mut full = Vec::with_capacity(rows.len());
        for r in rows {
            let any = r.iter().any(|&b| b);
            full.push(any as u8 as f32);
            keep.extend(r.iter().flat_map(|&b| std::iter::repeat_n((b || !any) as u8, tile_tokens)));
        }
        Ok(RowMask {
            keep: Tensor::from_vec(keep, &[1, 1, rows.len(), s])?.to_device(device)?,
            full_row: Tensor::from_vec(full, &[rows.len(), 1])?.to_dtype(dtype)?.to_device(device)?,
        })
    }
}

/// The projected keys and values of every cross-attention layer, made once.
pub struct CrossStates {
    kv: Vec<Option<(Tensor, Tensor)>>,
}

pub(crate) enum Layer {
    SelfAttention(Box<LlamaDecoderLayer>),
    CrossAttention(Box<CrossAttentionLayer>),
}

pub(crate) fn load_layers(l: &Loader, prefix: &str, c: &LlamaConfig, cross: &[usize]) -> Result<Vec<Layer>> {
    (0..c.num_hidden_layers)
        .map(|i| {
            let p = format!("{prefix}layers.{i}.");
            Ok(if cross.contains(&i) {
                Layer::CrossAttention(Box::new(CrossAttentionLayer::load(l, &p, c)?))
            } else {
                Layer::SelfAttention(Box::new(LlamaDecoderLayer::load(l, &p, c)?))
            })
        })
        .collect()
}

/// Projects image states [S, D] through every cross-attention layer.
pub(crate) fn cross_states(layers: &[Layer], states: &Tensor) -> Result<CrossStates> {
    let kv = layers
        .iter()
        .map(|l| match l {
            Layer::CrossAttention(c) => c.project(states).map(Some),
            Layer::SelfAttention(_) => Ok(None),
        })
        .collect::<Result<_>>()?;
    Ok(CrossStates { kv })
}

/// Runs x [T, D] through the layers; cross-attention layers run only with
/// image states (without an image they are skipped, as in the reference).
#[allow(clippy::too_many_arguments)]
pub(crate) fn forward_layers(
    layers: &[Layer],
    x: &Tensor,
    cos: &Tensor,
    sin: &Tensor,
    cache: &mut KvCache,
    cross: Option<(&CrossStates, &RowMask)>,
    trace: &mut crate::trace::Trace,
) -> Result<Tensor> {
    let mut x = x.clone();
    for (i, layer) in layers.iter().enumerate() {
        let _p = iris_tensor::profile::scope(|| format!("layer: text {i}"));
        match (layer, cross) {
            (Layer::SelfAttention(l), _) => x = l.forward(&x, cos, sin, cache, i)?,
            (Layer::CrossAttention(l), Some((states, mask))) => {
                x = l.forward(&x, states.kv[i].as_ref().expect("projected for every cross layer"), mask)?
            }
            (Layer::CrossAttention(_), None) => continue,
        }
        trace.record(|| format!("text_layer.{i}"), &x);
    }
    Ok(x)
}
