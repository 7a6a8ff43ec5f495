//! The GPU side of every op: the same checks have run in the op method; here
//! operands move to the device (CPU ones are uploaded), the output is
//! allocated there and the `cuda/*.cu` kernel is launched. Nothing returns to
//! the host until the caller asks for data.

use cudarc::driver::CudaSlice;
use iris_kernels::cuda::ops::{self, CudaMask};
use iris_kernels::{Attention, Binary, Element, Gemm, Im2col, MaskLayout, Rope, Unary};

use crate::cuda::{device, CudaTyped};
use crate::error::Result;
use crate::{with_dtype, DType, Device, Tensor};

fn on(t: &Tensor, n: usize) -> Result<Tensor> {
    t.to_device(Device::Cuda(n))
}

fn alloc<T: CudaTyped>(n: usize, len: usize) -> Result<CudaSlice<T>> {
    Ok(device(n)?.alloc::<T>(len)?)
}

/// The elements of `x`'s view, dense, in `dtype`.
pub(crate) fn copy_as(x: &Tensor, n: usize, dtype: DType) -> Result<Tensor> {
    let dev = device(n)?;
    with_dtype!(x.dtype(), S => with_dtype!(dtype, D => {
        let mut out = alloc::<D>(n, x.elem_count())?;
        ops::copy(&dev, x.cuda::<S>("copy")?, x.strided(), &mut out)?;
        Ok(Tensor::from_cuda(out, n, x.shape()))
    }))
}

pub(crate) fn unary(x: &Tensor, n: usize, op: Unary) -> Result<Tensor> {
    let dev = device(n)?;
    let x = x.contiguous()?;
    with_dtype!(x.dtype(), T => {
        let src = x.cuda::<T>("unary")?;
        let mut out = alloc::<T>(n, x.elem_count())?;
        if x.layout().offset == 0 && src.len() == x.elem_count() {
            ops::unary(&dev, op, src, &mut out)?;
        } else {
            let dense = copy_as(&x, n, x.dtype())?;
            ops::unary(&dev, op, dense.cuda::<T>("unary")?, &mut out)?;
        }
        Ok(Tensor::from_cuda(out, n, x.shape()))
    })
}

/// `l` and `r` already broadcast to `shape`.
pub(crate) fn binary(l: &Tensor, r: &Tensor, n: usize, op: Binary, shape: &[usize]) -> Result<Tensor> {
    let dev = device(n)?;
    let (l, r) = (on(l, n)?, on(r, n)?);
    with_dtype!(l.dtype(), T => {
        let mut out = alloc::<T>(n, shape.iter().product())?;
        ops::binary(&dev, op, l.cuda::<T>("binary")?, l.strided(), r.cuda::<T>("binary")?, r.strided(), &mut out)?;
        Ok(Tensor::from_cuda(out, n, shape))
    })
}

/// C = A·B (+ C's initial values when `init` is given, with beta = 1).
pub(crate) fn gemm(
    p: &Gemm,
    a: &Tensor,
    b: &Tensor,
    init: Option<&Tensor>,
    n: usize,
    shape: &[usize],
) -> Result<Tensor> {
    let dev = device(n)?;
    let (a, b) = (on(a, n)?, on(b, n)?);
    with_dtype!(a.dtype(), T => {
        let mut out = alloc::<T>(n, shape.iter().product())?;
        if let Some(c) = init {
            // C starts as init's values (a bias broadcast over the rows), copied straight into it.
            let c = on(c, n)?;
            ops::copy(&dev, c.cuda::<T>("gemm")?, c.strided(), &mut out)?;
        }
        ops::gemm(&dev, p, a.cuda::<T>("gemm")?, b.cuda::<T>("gemm")?, &mut out)?;
        Ok(Tensor::from_cuda(out, n, shape))
    })
}

/// x·Wᵀ with the bias [N] and the activation in the GEMM's epilogue; with a
/// residual, the output starts as a copy of it and `p.beta` = 1 adds it.
#[allow(clippy::too_many_arguments)]
pub(crate) fn linear(
    p: &Gemm,
    x: &Tensor,
    w: &Tensor,
    bias: Option<&Tensor>,
    act: Option<Unary>,
    residual: Option<&Tensor>,
    n: usize,
    shape: &[usize],
) -> Result<Tensor> {
    let dev = device(n)?;
    let (x, w) = (on(x, n)?, on(w, n)?);
    let bias = bias.map(|b| dense(b, n)).transpose()?;
    with_dtype!(x.dtype(), T => {
        let mut out = alloc::<T>(n, shape.iter().product())?;
        if let Some(r) = residual {
            let r = on(r, n)?;
            ops::copy(&dev, r.cuda::<T>("linear")?, r.strided(), &mut out)?;
        }
        let b = bias.as_ref().map(|b| b.cuda::<T>("linear")).transpose()?;
        ops::gemm_fused(&dev, p, x.cuda::<T>("linear")?, w.cuda::<T>("linear")?, b, act, &mut out)?;
        Ok(Tensor::from_cuda(out, n, shape))
    })
}

pub(crate) fn layer_norm(x: &Tensor, w: &Tensor, b: &Tensor, eps: f32, n: usize) -> Result<Tensor> {
    let dev = device(n)?;
    let (x, w, b) = (dense(x, n)?, dense(w, n)?, dense(b, n)?);
    with_dtype!(x.dtype(), T => {
        let mut out = alloc::<T>(n, x.elem_count())?;
        ops::layer_norm(&dev, x.cuda::<T>("layer_norm")?, w.cuda::<T>("layer_norm")?, b.cuda::<T>("layer_norm")?, eps, &mut out)?;
        Ok(Tensor::from_cuda(out, n, x.shape()))
    })
}

pub(crate) fn rms_norm(x: &Tensor, w: &Tensor, eps: f32, n: usize) -> Result<Tensor> {
    let dev = device(n)?;
    let (x, w) = (dense(x, n)?, dense(w, n)?);
    with_dtype!(x.dtype(), T => {
        let mut out = alloc::<T>(n, x.elem_count())?;
        ops::rms_norm(&dev, x.cuda::<T>("rms_norm")?, w.cuda::<T>("rms_norm")?, eps, &mut out)?;
        Ok(Tensor::from_cuda(out, n, x.shape()))
    })
}

pub(crate) fn softmax(x: &Tensor, row: usize, n: usize) -> Result<Tensor> {
    let dev = device(n)?;
    let x = dense(x, n)?;
    with_dtype!(x.dtype(), T => {
        let mut out = alloc::<T>(n, x.elem_count())?;
        ops::softmax(&dev, x.cuda::<T>("softmax")?, row, &mut out)?;
        Ok(Tensor::from_cuda(out, n, x.shape()))
    })
}

pub(crate) fn rope(x: &Tensor, cos: &Tensor, sin: &Tensor, p: &Rope, n: usize) -> Result<Tensor> {
    let dev = device(n)?;
    let (x, c, s) = (dense(x, n)?, dense(&cos.to_dtype(DType::F32)?, n)?, dense(&sin.to_dtype(DType::F32)?, n)?);
    with_dtype!(x.dtype(), T => {
        let mut out = alloc::<T>(n, x.elem_count())?;
        ops::rope(&dev, p, x.cuda::<T>("rope")?, c.cuda::<f32>("rope")?, s.cuda::<f32>("rope")?, &mut out)?;
        Ok(Tensor::from_cuda(out, n, x.shape()))
    })
}

pub(crate) fn im2col(x: &Tensor, p: &Im2col, n: usize, shape: &[usize]) -> Result<Tensor> {
    let dev = device(n)?;
    let x = dense(x, n)?;
    with_dtype!(x.dtype(), T => {
        let mut out = alloc::<T>(n, p.out_len())?;
        ops::im2col(&dev, p, x.cuda::<T>("im2col")?, &mut out)?;
        Ok(Tensor::from_cuda(out, n, shape))
    })
}

pub(crate) fn embedding(table: &Tensor, ids: &[u32], n: usize) -> Result<Tensor> {
    let dev = device(n)?;
    let table = dense(table, n)?;
    let dim = table.shape()[1];
    let dev_ids = dev.upload(ids)?;
    with_dtype!(table.dtype(), T => {
        let mut out = alloc::<T>(n, ids.len() * dim)?;
        ops::embedding(&dev, table.cuda::<T>("embedding")?, dim, &dev_ids, ids, &mut out)?;
        Ok(Tensor::from_cuda(out, n, &[ids.len(), dim]))
    })
}

/// The mask of an attention call, on the device.
pub(crate) enum DevMask {
    None,
    Additive(Tensor, MaskLayout),
    Keep(Vec<u8>, MaskLayout),
}

pub(crate) fn attention(p: &Attention, q: &Tensor, k: &Tensor, v: &Tensor, mask: DevMask, n: usize) -> Result<Tensor> {
    let dev = device(n)?;
    let (q, k, v) = (on(q, n)?, on(k, n)?, on(v, n)?);
    with_dtype!(q.dtype(), T => {
        let mut out = alloc::<T>(n, p.b * p.h * p.tq * p.d)?;
        let (qd, kd, vd) = (q.cuda::<T>("attention")?, k.cuda::<T>("attention")?, v.cuda::<T>("attention")?);
        match mask {
            DevMask::None => ops::attention(&dev, p, qd, kd, vd, CudaMask::None, &mut out)?,
            DevMask::Additive(m, l) => {
                let m = on(&m, n)?;
                ops::attention(&dev, p, qd, kd, vd, CudaMask::Additive(m.cuda::<f32>("attention")?, l), &mut out)?
            }
            DevMask::Keep(bytes, l) => {
                let m = dev.upload(&bytes)?;
                ops::attention(&dev, p, qd, kd, vd, CudaMask::Keep(&m, l), &mut out)?
            }
        }
        Ok(Tensor::from_cuda(out, n, &[p.b, p.h, p.tq, p.d]))
    })
}

/// Concatenation of dense parts along `dim` into `shape`.
pub(crate) fn cat(parts: &[Tensor], dim: usize, shape: &[usize], n: usize) -> Result<Tensor> {
    let dev = device(n)?;
    let outer: usize = shape[..dim].iter().product();
    let inner: usize = shape[dim + 1..].iter().product();
    with_dtype!(parts[0].dtype(), T => {
        let mut out = alloc::<T>(n, shape.iter().product())?;
        let mut at = 0;
        for p in parts {
            let p = dense(p, n)?;
            let w = p.shape()[dim] * inner;
            ops::concat(&dev, p.cuda::<T>("cat")?, outer, w, shape[dim] * inner, at, &mut out)?;
            at += w;
        }
        Ok(Tensor::from_cuda(out, n, shape))
    })
}

/// Writes dense `src` into `dst` (contiguous, on the device) at `start` along `dim`.
pub(crate) fn write_at(dst: &mut Tensor, dim: usize, start: usize, src: &Tensor, n: usize) -> Result<()> {
    let dev = device(n)?;
    let src = dense(src, n)?;
    let shape = dst.shape().to_vec();
    let outer: usize = shape[..dim].iter().product();
    let inner: usize = shape[dim + 1..].iter().product();
    let (rows, offset) = (src.shape()[dim], dst.layout().offset);
    if std::sync::Arc::get_mut(&mut dst.storage).is_none() {
        *dst = copy_as(dst, n, dst.dtype())?;
    }
    let at = offset + start * inner;
    with_dtype!(src.dtype(), T => {
        let Some(crate::storage::Storage::Cuda { buf, .. }) = std::sync::Arc::get_mut(&mut dst.storage) else {
            unreachable!("made unique above")
        };
        let out = T::get_mut(buf).ok_or(crate::Error::DType { op: "write_at", expected: T::DTYPE, found: src.dtype() })?;
        ops::concat(&dev, src.cuda::<T>("write_at")?, outer, rows * inner, shape[dim] * inner, at, out)?;
        Ok(())
    })
}

/// `t` on device `n`, dense from offset 0 and exactly as long as its view (a
/// prefix view such as `narrow(0, 0, k)` is contiguous from offset 0, but its
/// buffer holds more: kernels size their work by the buffer, so it is copied).
fn dense(t: &Tensor, n: usize) -> Result<Tensor> {
    let t = on(t, n)?;
    let whole = with_dtype!(t.dtype(), T => t.cuda::<T>("dense")?.len() == t.elem_count());
    if t.is_contiguous() && t.layout().offset == 0 && whole {
        Ok(t)
    } else {
        copy_as(&t, n, t.dtype())
    }
}
