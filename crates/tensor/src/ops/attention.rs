//! Fused attention and cross-attention over [B, heads, T, D] tensors; any
//! strides with a contiguous head dimension go in as views (so a [B, T, H, D]
//! projection permuted to [B, H, T, D] is not copied).

use iris_kernels::cpu::fast;
use iris_kernels::{Attention, Heads, Mask, MaskLayout};

use super::accel::DevMask;
use crate::error::{shape_err, Result};
use crate::{with_dtype, DType, Device, Tensor};

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
        if let Some(n) = Tensor::gpu(&[&q, &k, &v]) {
            let m = match mask {
                AttnMask::Additive(m) => {
                    // The mask's own elements go up once; broadcast dims stay strides of 0.
                    let dense = m.to_dtype(DType::F32)?.to_device(Device::Cpu)?.contiguous()?.to_device(q.device())?;
                    let (v, l) = mask_view(&dense, &[p.b, p.h, p.tq, p.tk], DType::F32)?;
                    DevMask::Additive(v, l)
                }
                _ => DevMask::None,
            };
            return super::accel::attention(&p, &q, &k, &v, m, n);
        }
        let mask = match mask {
            AttnMask::Additive(m) => Some(mask_view(m, &[p.b, p.h, p.tq, p.tk], DType::F32)?),
            _ => None,
        };
        let md = match &mask {
            Some((t, l)) => Mask::Additive(t.data::<f32>("attention")?, *l),
            None => Mask::None,
        };
        with_dtype!(q.dtype(), T => {
            let (qd, kd, vd) = (q.data::<T>("attention")?, k.data::<T>("attention")?, v.data::<T>("attention")?);
            Tensor::build(&[p.b, p.h, p.tq, p.d], |o: &mut [T]| Ok(fast::attention(&p, qd, kd, vd, md, o)?))
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
            Some(m) => {
                let (t, l) = mask_view(&m.to_device(Device::Cpu)?, &[p.b, p.h, p.tq, p.tk], DType::F32)?;
                let bytes: Vec<u8> = t.data::<f32>("cross_attention")?.iter().map(|&x| (x != 0.0) as u8).collect();
                Some((bytes, l))
            }
            None => None,
        };
        if let Some(n) = Tensor::gpu(&[&q, &k, &v]) {
            let m = keep.map_or(DevMask::None, |(b, l)| DevMask::Keep(b, l));
            return super::accel::attention(&p, &q, &k, &v, m, n);
        }
        let km = keep.as_ref().map(|(b, l)| (&b[..], *l));
        with_dtype!(q.dtype(), T => {
            let (qd, kd, vd) = (q.data::<T>("cross_attention")?, k.data::<T>("cross_attention")?, v.data::<T>("cross_attention")?);
            Tensor::build(&[p.b, p.h, p.tq, p.d], |o: &mut [T]| Ok(fast::cross_attention(&p, qd, kd, vd, km, o)?))
        })
    }
}
