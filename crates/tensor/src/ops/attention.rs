//! Fused attention and cross-attention over [B, heads, T, D] tensors; any
//! strides with a contiguous head dimension go in as views (so a [B, T, H, D]
//! projection permuted to [B, H, T, D] is not copied).

use iris_kernels::{Attention, Heads, MaskLayout, MaskOf};

use crate::autograd::{pause, tracking};
use crate::error::{shape_err, Result};
use crate::{DType, Tensor};

/// A mask as the kernels take it: the broadcast view, its layout, and whether it keeps (u8) or adds (f32).
type KernelMask = Option<(Tensor, MaskLayout, bool)>;

fn kernel_mask(m: &KernelMask) -> iris_kernels::BufMask<'_> {
    match m {
        None => MaskOf::None,
        Some((t, l, true)) => MaskOf::Keep(t.buffer(), *l),
        Some((t, l, false)) => MaskOf::Additive(t.buffer(), *l),
    }
}

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

    /// The kernel over the prepared operands; with a tracked q, k or v, the
    /// node whose backward recomputes the probabilities (attention_backward).
    fn attend(
        op: &'static str,
        inputs: [&Tensor; 3],
        p: Attention,
        qkv: [Tensor; 3],
        mask: KernelMask,
    ) -> Result<Tensor> {
        let [q, k, v] = qkv;
        let y = {
            let _off = pause(&inputs);
            let mut ops = vec![&q, &k, &v];
            ops.extend(mask.as_ref().map(|(m, _, _)| m));
            let be = Tensor::backend_of(op, &ops)?;
            Tensor::output(&*be, q.dtype(), &[p.b, p.h, p.tq, p.d], |o| {
                be.attention(&p, q.buffer(), k.buffer(), v.buffer(), kernel_mask(&mask), o)
            })?
        };
        if !tracking(&inputs) {
            return Ok(y);
        }
        let out = y.clone();
        Ok(y.record(op, &inputs, move |g| {
            let be = Tensor::backend_of("attention_backward", &[&q, g])?;
            // dO in o's dense layout from element 0.
            let g = if g.is_contiguous() && g.layout().offset == 0 { g.clone() } else { g.copy_as(g.dtype())? };
            let (nq, nk) = (p.b * p.h * p.tq * p.d, p.b * p.hkv * p.tk * p.d);
            let (mut dq, mut dk, mut dv) =
                (be.alloc(q.dtype(), nq)?, be.alloc(q.dtype(), nk)?, be.alloc(q.dtype(), nk)?);
            let (qb, kb, vb) = (q.buffer(), k.buffer(), v.buffer());
            be.attention_backward(
                &p,
                qb,
                kb,
                vb,
                out.buffer(),
                g.buffer(),
                kernel_mask(&mask),
                &mut dq,
                &mut dk,
                &mut dv,
            )?;
            Ok(vec![
                Some(Tensor::from_buffer(dq, &[p.b, p.h, p.tq, p.d])),
                Some(Tensor::from_buffer(dk, &[p.b, p.hkv, p.tk, p.d])),
                Some(Tensor::from_buffer(dv, &[p.b, p.hkv, p.tk, p.d])),
            ])
        }))
    }

    /// softmax(q·kᵀ·scale + mask)·v with q [B, H, Tq, D], k/v [B, Hkv, Tk, D]
    /// (grouped-query heads when Hkv < H); out [B, H, Tq, D].
    pub fn attention(q: &Tensor, k: &Tensor, v: &Tensor, mask: AttnMask, scale: f32) -> Result<Tensor> {
        let _p = crate::profile::scope(|| "attention".to_string());
        let inputs = [q, k, v];
        let _off = pause(&inputs);
        let (p, qkv) = Tensor::attention_params("attention", q, k, v, scale, matches!(mask, AttnMask::Causal))?;
        let mask = match mask {
            AttnMask::Additive(m) => {
                let (t, l) = mask_view(m, &[p.b, p.h, p.tq, p.tk], DType::F32)?;
                Some((t, l, false))
            }
            _ => None,
        };
        drop(_off);
        Tensor::attend("attention", inputs, p, qkv, mask)
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
        let inputs = [q, k, v];
        let _off = pause(&inputs);
        let (p, qkv) = Tensor::attention_params("cross_attention", q, k, v, scale, false)?;
        let keep = match key_mask {
            Some(m) if m.dtype() != DType::U8 => {
                return shape_err(
                    "cross_attention",
                    format!("the key mask must be u8 (non-zero keeps), is {}", m.dtype()),
                )
            }
            Some(m) => {
                let (t, l) = mask_view(m, &[p.b, p.h, p.tq, p.tk], DType::U8)?;
                Some((t, l, true))
            }
            None => None,
        };
        drop(_off);
        Tensor::attend("cross_attention", inputs, p, qkv, keep)
    }
}
