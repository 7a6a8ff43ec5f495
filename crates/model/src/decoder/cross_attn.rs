//! The gated cross-attention decoder layer (Mllama's): text rows attend to a
//! sequence's image states, whose keys and values are projected once per
//! prompt ([`CrossStates`]) and reused at every decode step.
//!
//! x += tanh(g_attn)·o(attn(q_norm(q(rms(x))), k_norm(k(states)), v(states)));
//! x += tanh(g_mlp)·full_row·mlp(rms(x)).
//!
//! Shapes: R rows of the batch, T of them per sequence, S = images·tiles·P
//! image tokens of a sequence, D width, H/Hkv heads of dh.

use iris_tensor::{DType, Device, Tensor};

use super::self_attn::Mlp;
use super::Segment;
use crate::config::LlamaConfig;
use crate::error::Result;
use crate::loader::{Linear, Loader, RmsNorm};
use crate::params::{parameters, Gate};

pub(crate) struct CrossAttentionLayer {
    input_layernorm: RmsNorm,
    q: Linear,
    k: Linear,
    v: Linear,
    o: Linear,
    q_norm: RmsNorm,
    k_norm: RmsNorm,
    attn_gate: Gate,
    post_attention_layernorm: RmsNorm,
    mlp: Mlp,
    mlp_gate: Gate,
    heads: usize,
    kv_heads: usize,
    head_dim: usize,
}

impl CrossAttentionLayer {
    pub fn load(l: &Loader, p: &str, c: &LlamaConfig) -> Result<CrossAttentionLayer> {
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
            attn_gate: Gate::new(l.param(&n("cross_attn_attn_gate"), &[1])?)?,
            post_attention_layernorm: RmsNorm::load(l, &n("post_attention_layernorm"), d, eps)?,
            mlp: Mlp::load(l, &n("mlp."), c)?,
            mlp_gate: Gate::new(l.param(&n("cross_attn_mlp_gate"), &[1])?)?,
            heads: c.num_attention_heads,
            kv_heads: c.num_key_value_heads,
            head_dim: dh,
        })
    }

    /// Keys and values [1, Hkv, S, dh] of image states [S, D].
    pub fn project(&self, states: &Tensor) -> Result<(Tensor, Tensor)> {
        let (s, hkv, dh) = (states.shape()[0], self.kv_heads, self.head_dim);
        let k = self.k_norm.forward(&self.k.forward(states)?.reshape(&[1, s, hkv, dh])?)?.permute(&[0, 2, 1, 3])?;
        let v = self.v.forward(states)?.reshape(&[1, s, hkv, dh])?.permute(&[0, 2, 1, 3])?;
        Ok((k.contiguous()?, v.contiguous()?))
    }

    /// x [R, D]; each segment with image states attends to its own (layer
    /// `layer`); the rows of a segment without them pass unchanged (attention
    /// output and MLP row flag 0), as the reference skips the layer for them.
    pub fn forward(&self, x: &Tensor, segs: &[Segment], layer: usize) -> Result<Tensor> {
        let (r, h, dh) = (x.shape()[0], self.heads, self.head_dim);
        let y = self.input_layernorm.forward(x)?;
        let q = self.q_norm.forward(&self.q.forward(&y)?.reshape(&[1, r, h, dh])?)?;
        let single = segs.len() == 1;
        let (mut outs, mut flags) = (Vec::with_capacity(segs.len()), Vec::with_capacity(segs.len()));
        let mut r0 = 0;
        for seg in segs {
            let t = seg.rows;
            match &seg.cross {
                Some((states, mask)) => {
                    let kv = states.kv[layer].as_ref().expect("projected for every cross layer");
                    let q = if single { q.clone() } else { q.narrow(1, r0, t)? }.permute(&[0, 2, 1, 3])?;
                    let a = Tensor::cross_attention(&q, &kv.0, &kv.1, Some(&mask.keep), (dh as f32).powf(-0.5))?;
                    outs.push(a.permute(&[0, 2, 1, 3])?.contiguous()?.reshape(&[t, h * dh])?);
                    flags.push(mask.full_row.clone());
                }
                None => {
                    let zeros = |c: usize| Tensor::zeros(&[t, c], x.dtype()).to_device(x.device());
                    outs.push(zeros(h * dh)?);
                    flags.push(zeros(1)?);
                }
            }
            r0 += t;
        }
        let cat = |mut v: Vec<Tensor>| -> Result<Tensor> {
            Ok(if single { v.pop().expect("one segment") } else { Tensor::cat(&v.iter().collect::<Vec<_>>(), 0)? })
        };
        let (a, full_row) = (cat(outs)?, cat(flags)?);
        let x = x.add(&self.attn_gate.apply(&self.o.forward(&a)?)?)?;
        let m = self.mlp.forward(&self.post_attention_layernorm.forward(&x)?)?.mul(&full_row)?;
        Ok(x.add(&self.mlp_gate.apply(&m)?)?)
    }
}

parameters!(CrossAttentionLayer {
    input_layernorm,
    q,
    k,
    v,
    o,
    q_norm,
    k_norm,
    attn_gate,
    post_attention_layernorm,
    mlp,
    mlp_gate
});

/// The cross-attention mask of T text rows over S image tokens, as the
/// reference uses it: a row that may see no image token sees all of them
/// (its additive mask is zeroed), and its MLP branch is multiplied by 0.
pub struct RowMask {
    /// [1, 1, T, S] u8, 1 = attend.
    pub keep: Tensor,
    /// [T, 1] in the model's dtype: 0 for rows that may see no image token.
    pub full_row: Tensor,
}

impl RowMask {
    /// From per-row tile flags (`rows[t][i]` for image-tile i), each tile
    /// spanning `tile_tokens` image tokens; on `device`, `full_row` in `dtype`.
    pub fn new(rows: &[Vec<bool>], tile_tokens: usize, dtype: DType, device: Device) -> Result<RowMask> {
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

/// The projected keys and values of every cross-attention layer (None for
/// the self-attention layers), made once per sequence.
pub struct CrossStates {
    pub(crate) kv: Vec<Option<(Tensor, Tensor)>>,
}
