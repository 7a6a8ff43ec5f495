//! The wgpu side of every op (f32): operands move to the device, the output
//! is a new storage buffer, the `shaders/*.wgsl` kernel is recorded into the
//! pending command encoder. Nothing is read back until the caller asks.

use iris_kernels::wgpu::ops::{self, WgpuMask};
use iris_kernels::{Attention, Binary, Gemm, Im2col, MaskLayout, Rope, Unary};

use crate::error::Result;
use crate::wgpu_backend::{device, f32_only};
use crate::{DType, Device, Tensor};

fn on(t: &Tensor) -> Result<Tensor> {
    t.to_device(Device::Wgpu)
}

fn out(n: usize) -> Result<wgpu::Buffer> {
    Ok(device()?.buffer(n * 4))
}

/// `t` on the device, dense from offset 0.
pub(crate) fn dense(t: &Tensor) -> Result<Tensor> {
    let t = on(t)?;
    if t.is_contiguous() && t.layout().offset == 0 {
        Ok(t)
    } else {
        copy_as(&t, DType::F32)
    }
}

pub(crate) fn copy_as(x: &Tensor, dtype: DType) -> Result<Tensor> {
    f32_only("copy", dtype)?;
    let x = on(x)?;
    let y = out(x.elem_count())?;
    ops::copy(&*device()?, x.wgpu_buf("copy")?, x.wgpu_len(), x.strided(), &y)?;
    Ok(Tensor::from_wgpu(y, x.elem_count(), x.shape()))
}

pub(crate) fn unary(x: &Tensor, op: Unary) -> Result<Tensor> {
    let x = dense(x)?;
    let y = out(x.elem_count())?;
    ops::unary(&*device()?, op, x.wgpu_buf("unary")?, x.elem_count(), &y)?;
    Ok(Tensor::from_wgpu(y, x.elem_count(), x.shape()))
}

pub(crate) fn binary(l: &Tensor, r: &Tensor, op: Binary, shape: &[usize]) -> Result<Tensor> {
    let (l, r) = (on(l)?, on(r)?);
    let n = shape.iter().product();
    let y = out(n)?;
    ops::binary(
        &*device()?,
        op,
        l.wgpu_buf("binary")?,
        l.wgpu_len(),
        l.strided(),
        r.wgpu_buf("binary")?,
        r.wgpu_len(),
        r.strided(),
        &y,
    )?;
    Ok(Tensor::from_wgpu(y, n, shape))
}

pub(crate) fn gemm(p: &Gemm, a: &Tensor, b: &Tensor, init: Option<&Tensor>, shape: &[usize]) -> Result<Tensor> {
    let (a, b) = (on(a)?, on(b)?);
    let n: usize = shape.iter().product();
    let c = match init {
        Some(c) => copy_as(&on(c)?, DType::F32)?,
        None => Tensor::from_wgpu(out(n)?, n, shape),
    };
    ops::gemm(
        &*device()?,
        iris_kernels::wgpu::Spec::F32,
        p,
        a.wgpu_buf("gemm")?,
        a.wgpu_len(),
        b.wgpu_buf("gemm")?,
        b.wgpu_len(),
        c.wgpu_buf("gemm")?,
        n,
    )?;
    c.reshape(shape)
}

pub(crate) fn layer_norm(x: &Tensor, w: &Tensor, b: &Tensor, eps: f32) -> Result<Tensor> {
    let (x, w, b) = (dense(x)?, dense(w)?, dense(b)?);
    let n = w.elem_count();
    let y = out(x.elem_count())?;
    ops::layer_norm(
        &*device()?,
        x.wgpu_buf("layer_norm")?,
        x.elem_count() / n,
        n,
        w.wgpu_buf("layer_norm")?,
        b.wgpu_buf("layer_norm")?,
        eps,
        &y,
    )?;
    Ok(Tensor::from_wgpu(y, x.elem_count(), x.shape()))
}

pub(crate) fn rms_norm(x: &Tensor, w: &Tensor, eps: f32) -> Result<Tensor> {
    let (x, w) = (dense(x)?, dense(w)?);
    let n = w.elem_count();
    let y = out(x.elem_count())?;
    ops::rms_norm(&*device()?, x.wgpu_buf("rms_norm")?, x.elem_count() / n, n, w.wgpu_buf("rms_norm")?, eps, &y)?;
    Ok(Tensor::from_wgpu(y, x.elem_count(), x.shape()))
}

pub(crate) fn softmax(x: &Tensor, row: usize) -> Result<Tensor> {
    let x = dense(x)?;
    let y = out(x.elem_count())?;
    ops::softmax(&*device()?, x.wgpu_buf("softmax")?, x.elem_count() / row, row, &y)?;
    Ok(Tensor::from_wgpu(y, x.elem_count(), x.shape()))
}

pub(crate) fn rope(x: &Tensor, cos: &Tensor, sin: &Tensor, p: &Rope) -> Result<Tensor> {
    let (x, c, s) = (dense(x)?, dense(cos)?, dense(sin)?);
    let y = out(x.elem_count())?;
    ops::rope(&*device()?, p, x.wgpu_buf("rope")?, c.wgpu_buf("rope")?, s.wgpu_buf("rope")?, &y)?;
    Ok(Tensor::from_wgpu(y, x.elem_count(), x.shape()))
}

pub(crate) fn im2col(x: &Tensor, p: &Im2col, shape: &[usize]) -> Result<Tensor> {
    let x = dense(x)?;
    let y = out(p.out_len())?;
    ops::im2col(&*device()?, p, x.wgpu_buf("im2col")?, x.elem_count(), &y)?;
    Ok(Tensor::from_wgpu(y, p.out_len(), shape))
}

pub(crate) fn embedding(table: &Tensor, ids: &[u32]) -> Result<Tensor> {
    let dev = device()?;
    let table = dense(table)?;
    let (rows, dim) = (table.shape()[0], table.shape()[1]);
    let id_buf = dev.upload(ids);
    let y = out(ids.len() * dim)?;
    ops::embedding(&dev, table.wgpu_buf("embedding")?, rows, dim, &id_buf, ids, &y)?;
    Ok(Tensor::from_wgpu(y, ids.len() * dim, &[ids.len(), dim]))
}

/// The mask of an attention call for the wgpu kernel.
pub(crate) enum Mask {
    None,
    Additive(Tensor, MaskLayout),
    Keep(Vec<u8>, MaskLayout),
}

pub(crate) fn attention(p: &Attention, q: &Tensor, k: &Tensor, v: &Tensor, mask: Mask) -> Result<Tensor> {
    let dev = device()?;
    let (q, k, v) = (on(q)?, on(k)?, on(v)?);
    let n = p.b * p.h * p.tq * p.d;
    let o = out(n)?;
    let lens = [q.wgpu_len(), k.wgpu_len(), v.wgpu_len(), n];
    let (qb, kb, vb) = (q.wgpu_buf("attention")?, k.wgpu_buf("attention")?, v.wgpu_buf("attention")?);
    match mask {
        Mask::None => ops::attention(&dev, p, qb, kb, vb, lens, WgpuMask::None, &o)?,
        Mask::Additive(m, l) => {
            let m = on(&m)?;
            ops::attention(
                &dev,
                p,
                qb,
                kb,
                vb,
                lens,
                WgpuMask::Additive(m.wgpu_buf("attention")?, m.wgpu_len(), l),
                &o,
            )?
        }
        Mask::Keep(bytes, l) => {
            let f: Vec<f32> = bytes.iter().map(|&b| (b != 0) as u8 as f32).collect();
            let m = dev.upload(&f);
            ops::attention(&dev, p, qb, kb, vb, lens, WgpuMask::Keep(&m, f.len(), l), &o)?
        }
    }
    Ok(Tensor::from_wgpu(o, n, &[p.b, p.h, p.tq, p.d]))
}

pub(crate) fn cat(parts: &[Tensor], dim: usize, shape: &[usize]) -> Result<Tensor> {
    let dev = device()?;
    let outer: usize = shape[..dim].iter().product();
    let inner: usize = shape[dim + 1..].iter().product();
    let n = shape.iter().product();
    let y = out(n)?;
    let mut at = 0;
    for p in parts {
        let p = dense(p)?;
        let w = p.shape()[dim] * inner;
        ops::concat(&dev, p.wgpu_buf("cat")?, outer, w, shape[dim] * inner, at, &y)?;
        at += w;
    }
    Ok(Tensor::from_wgpu(y, n, shape))
}

/// Writes dense `src` into `dst` (contiguous, on the device) at `start` along `dim`.
pub(crate) fn write_at(dst: &mut Tensor, dim: usize, start: usize, src: &Tensor) -> Result<()> {
    let src = dense(src)?;
    // Views taken earlier share the buffer: give `dst` its own first.
    if std::sync::Arc::strong_count(&dst.storage) > 1 {
        *dst = copy_as(dst, DType::F32)?;
    }
    let shape = dst.shape().to_vec();
    let outer: usize = shape[..dim].iter().product();
    let inner: usize = shape[dim + 1..].iter().product();
    let at = dst.layout().offset + start * inner;
    ops::concat(
        &*device()?,
        src.wgpu_buf("write_at")?,
        outer,
        src.shape()[dim] * inner,
        shape[dim] * inner,
        at,
        dst.wgpu_buf("write_at")?,
    )?;
    Ok(())
}
