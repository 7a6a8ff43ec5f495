//! Fused attention and cross-attention over [B, heads, T, D] tensors; any
//! strides with a contiguous head dimension go in as views (so a [B, T, H, D]
//! projection permuted to [B, H, T, D] is not copied).

use iris_kernels::{Attention, Heads, MaskLayout, MaskOf};

use crate::error::{shape_err, Result};
use crate::{DType, Tensor};

/// What hides keys from queries in `Tensor::attention`.
#[derive(Clone, Copy, Debug)]
pub enum AttnMask<'a> {
    None,
    /// Query i sees keys j ≤ i + (Tk − Tq).
    Causal,
    /// Added to the scaled scores; broadcastable to [B, H, Tq, Tk].
    Additive(&'a Tensor),
}

fn heads(op: &'static str, t: &Tensor) -> Result<Tensor> {
    if t.dims() != 4 {
        return shape_err(op, format!("q, k, v must be [B, heads, T, D], got {:?}", t.shape()));
    }
    if t.strides()[3] == 1 || t.shape()[3] == 1 {
        Ok(t.clone())
    } else {
        t.contiguous()
    }
}

fn heads_layout(t: &Tensor) -> Heads {
    let s = t.strides();
    Heads { offset: t.layout().offset, b_stride: s[0], h_stride: s[1], t_stride: s[2] }
}

/// A mask broadcast to [B, H, Tq, Tk] with contiguous keys, and its layout.
fn mask_view(m: &Tensor, shape: &[usize], dtype: DType) -> Result<(Tensor, MaskLayout)> {
    let mut v = m.to_dtype(dtype)?.broadcast_as(shape)?;
    if v.strides()[3] != 1 && shape[3] > 1 {
        v = v.contiguous()?;
    }
    let s = v.strides();
    let l = MaskLayout { offset: v.layout().offset, b_stride: s[0], h_stride: s[1], q_stride: s[2] };
    Ok((v, l))
}

impl Tensor {
    fn attention_params(
        op: &'static str,
        q: &Tensor,
        k: &Tensor,
        v: &Tensor,
        scale: f32,
        causal: bool,
    ) -> Result<(Attention, [Tensor; 3])> {
        q.same_dtype(op, k)?;
        q.same_dtype(op, v)?;
        let (q, k, v) = (heads(op, q)?, heads(op, k)?, heads(op, v)?);
        let (qs, ks) = (q.shape(), k.shape());
        if ks != v.shape() || qs[0] != ks[0] || qs[3] != ks[3] || ks[1] == 0 || qs[1] % ks[1] != 0 {
            return shape_err(
                op,
                format!(
                    "q {qs:?}, k {ks:?}, v {:?}: need q [B, H, Tq, D], k/v [B, Hkv, Tk, D] with H a multiple of Hkv",
                    v.shape()
                ),
            );
        }
        let p = Attention {
            b: qs[0],
            h: qs[1],
            hkv: ks[1],
            tq: qs[2],
            tk: ks[2],
            d: qs[3],
            scale,
            causal,
            q: heads_layout(&q),
            k: heads_layout(&k),
            v: heads_layout(&v),
            o: Heads::bhtd(qs[1], qs[2], qs[3]),
        };
        Ok((p, [q, k, v]))
    }

    /// softmax(q·kᵀ·scale + mask)·v with q [B, H, Tq, D], k/v [B, Hkv, Tk, D]
    /// (grouped-query heads when Hkv < H); out [B, H, Tq, D].
    pub fn attention(q: &Tensor, k: &Tensor, v: &Tensor, mask: AttnMask, scale: f32) -> Result<Tensor> {
        let _p = crate::profile::scope(|| "attention".to_string());
        let (p, [q, k, v]) = Tensor::attention_params("attention", q, k, v, scale, matches!(mask, AttnMask::Causal))?;
        let mask = match mask {
            AttnMask::Additive(m) => Some(mask_view(m, &[p.b, p.h, p.tq, p.tk], DType::F32)?),
            _ => None,
        };
        let mut ops = vec![&q, &k, &v];
        ops.extend(mask.as_ref().map(|(m, _)| m));
        let be = Tensor::backend_of("attention", &ops)?;
        let m = mask.as_ref().map_or(MaskOf::None, |(t, l)| MaskOf::Additive(t.buffer(), *l));
        Tensor::output(&*be, q.dtype(), &[p.b, p.h, p.tq, p.d], |o| {
            be.attention(&p, q.buffer(), k.buffer(), v.buffer(), m, o)
        })
    }

    /// Attention of text queries over image keys/values: never causal;
    /// `key_mask` (broadcastable to [B, H, Tq, Tk], non-zero = keep) hides
    /// keys per query row; a row that keeps no key comes out as zeros.
    pub fn cross_attention(
        q: &Tensor,
        k: &Tensor,
        v: &Tensor,
        key_mask: Option<&Tensor>,
        scale: f32,
    ) -> Result<Tensor> {
        let _p = crate::profile::scope(|| "cross_attention".to_string());
        let (p, [q, k, v]) = Tensor::attention_params("cross_attention", q, k, v, scale, false)?;
        let keep = match key_mask {
            Some(m) if m.dtype() != DType::U8 => {
                return shape_err(
                    "cross_attention",
                    format!("the key mask must be u8 (non-zero keeps), is {}", m.dtype()),
                )
            }
            Some(m) => Some(mask_view(m, &[p.b, p.h, p.tq, p.tk], DType::U8)?),
            None => None,
        };
        let mut ops = vec![&q, &k, &v];
        ops.extend(keep.as_ref().map(|(m, _)| m));
        let be = Tensor::backend_of("cross_attention", &ops)?;
        let m = keep.as_ref().map_or(MaskOf::None, |(t, l)| MaskOf::Keep(t.buffer(), *l));
        Tensor::output(&*be, q.dtype(), &[p.b, p.h, p.tq, p.d], |o| {
            be.attention(&p, q.buffer(), k.buffer(), v.buffer(), m, o)
        })
    }
}
