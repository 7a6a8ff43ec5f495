//! The wgpu kernels on host buffers (upload, dispatch, read back), for the
//! parity list and `iris check --device wgpu`. f32 only.

use std::sync::Arc;

use crate::cuda::ops::CudaElem;
use crate::error::{Error, Result};
use crate::parity::KernelDevice;
use crate::wgpu::ops::{self, WgpuMask};
use crate::wgpu::{Spec, WgpuDevice};
use crate::{Attention, Binary, DType, Gemm, Im2col, Mask, Rope, Strided, Unary};
use half::f16;

pub struct WgpuKernels(pub Arc<WgpuDevice>);

fn f32s<T: CudaElem>(op: &'static str, x: &[T]) -> Result<Vec<f32>> {
    if T::DTYPE != DType::F32 {
        return Err(Error::DType { op, dtype: T::DTYPE });
    }
    Ok(x.iter().map(|v| v.to_f32()).collect())
}

impl WgpuKernels {
    fn up<T: CudaElem>(&self, op: &'static str, x: &[T]) -> Result<wgpu::Buffer> {
        Ok(self.0.upload(&f32s(op, x)?))
    }
    fn back<T: CudaElem>(&self, buf: &wgpu::Buffer, out: &mut [T]) -> Result<()> {
        let v: Vec<f32> = self.0.download(buf, out.len())?;
        out.iter_mut().zip(v).for_each(|(o, x)| *o = T::from_f32(x));
        Ok(())
    }
    fn out(&self, n: usize) -> wgpu::Buffer {
        self.0.buffer(n * 4)
    }
}

impl KernelDevice for WgpuKernels {
    fn name(&self) -> String {
        format!("wgpu: {}", self.0.name())
    }
    fn dtypes(&self) -> Vec<DType> {
        if self.0.has_f16() {
            vec![DType::F32, DType::F16]
        } else {
            vec![DType::F32]
        }
    }
    /// Every kernel in f32; the GEMM and the casts also in f16 where the adapter has SHADER_F16.
    fn supports(&self, op: &str, dtype: DType) -> bool {
        op != "gemm_fused"
            && (dtype == DType::F32 || dtype == DType::F16 && (op == "gemm" || op == "copy") && self.0.has_f16())
    }
    fn gemm<T: CudaElem>(&self, p: &Gemm, a: &[T], b: &[T], c: &mut [T]) -> Result<()> {
        if T::DTYPE == DType::F16 {
            let h = |x: &[T]| -> Vec<f16> { x.iter().map(|v| f16::from_f32(v.to_f32())).collect() };
            let (ab, bb, cb) = (self.0.upload(&h(a)), self.0.upload(&h(b)), self.0.upload(&h(c)));
            ops::gemm(&self.0, Spec::F16, p, &ab, a.len(), &bb, b.len(), &cb, c.len())?;
            let out: Vec<f16> = self.0.download(&cb, c.len())?;
            c.iter_mut().zip(out).for_each(|(o, x)| *o = T::from_f32(x.to_f32()));
            return Ok(());
        }
        let (ab, bb, cb) = (self.up("gemm", a)?, self.up("gemm", b)?, self.up("gemm", c)?);
        ops::gemm(&self.0, Spec::F32, p, &ab, a.len(), &bb, b.len(), &cb, c.len())?;
        self.back(&cb, c)
    }
    fn attention<T: CudaElem>(&self, p: &Attention, q: &[T], k: &[T], v: &[T], mask: Mask, o: &mut [T]) -> Result<()> {
        let (qb, kb, vb, ob) =
            (self.up("attention", q)?, self.up("attention", k)?, self.up("attention", v)?, self.out(o.len()));
        let lens = [q.len(), k.len(), v.len(), o.len()];
        match mask {
            Mask::None => ops::attention(&self.0, p, &qb, &kb, &vb, lens, WgpuMask::None, &ob)?,
            Mask::Additive(m, l) => {
                let mb = self.0.upload(m);
                ops::attention(&self.0, p, &qb, &kb, &vb, lens, WgpuMask::Additive(&mb, m.len(), l), &ob)?
            }
            Mask::Keep(m, l) => {
                let mf: Vec<f32> = m.iter().map(|&x| (x != 0) as u8 as f32).collect();
                let mb = self.0.upload(&mf);
                ops::attention(&self.0, p, &qb, &kb, &vb, lens, WgpuMask::Keep(&mb, m.len(), l), &ob)?
            }
        }
        self.back(&ob, o)
    }
    fn unary<T: CudaElem>(&self, op: Unary, x: &[T], y: &mut [T]) -> Result<()> {
        let (xb, yb) = (self.up("unary", x)?, self.out(y.len()));
        ops::unary(&self.0, op, &xb, x.len(), &yb)?;
        self.back(&yb, y)
    }
    fn binary<T: CudaElem>(&self, op: Binary, a: &[T], l: Strided, b: &[T], r: Strided, y: &mut [T]) -> Result<()> {
        let (ab, bb, yb) = (self.up("binary", a)?, self.up("binary", b)?, self.out(y.len()));
        ops::binary(&self.0, op, &ab, a.len(), l, &bb, b.len(), r, &yb)?;
        self.back(&yb, y)
    }
    fn copy<S: CudaElem, D: CudaElem>(&self, x: &[S], s: Strided, y: &mut [D]) -> Result<()> {
        match (S::DTYPE, D::DTYPE) {
            (DType::F32, DType::F32) => {
                let (xb, yb) = (self.up("copy", x)?, self.out(y.len()));
                ops::copy(&self.0, &xb, x.len(), s, &yb)?;
                self.back(&yb, y)
            }
            (DType::F32, DType::F16) => {
                let (xb, yb) = (self.up("copy", x)?, self.0.buffer(y.len() * 2));
                ops::cast(&self.0, &xb, x.len(), s, true, &yb)?;
                let out: Vec<f16> = self.0.download(&yb, y.len())?;
                y.iter_mut().zip(out).for_each(|(o, v)| *o = D::from_f32(v.to_f32()));
                Ok(())
            }
            (DType::F16, DType::F32) => {
                let h: Vec<f16> = x.iter().map(|v| f16::from_f32(v.to_f32())).collect();
                let (xb, yb) = (self.0.upload(&h), self.out(y.len()));
                ops::cast(&self.0, &xb, x.len(), s, false, &yb)?;
                self.back(&yb, y)
            }
            (_, d) => Err(Error::DType { op: "copy", dtype: d }),
        }
    }
    fn layer_norm<T: CudaElem>(&self, x: &[T], w: &[T], b: &[T], eps: f32, y: &mut [T]) -> Result<()> {
        let (xb, wb, bb, yb) =
            (self.up("layer_norm", x)?, self.up("layer_norm", w)?, self.up("layer_norm", b)?, self.out(y.len()));
        ops::layer_norm(&self.0, &xb, x.len() / w.len(), w.len(), &wb, &bb, eps, &yb)?;
        self.back(&yb, y)
    }
    fn rms_norm<T: CudaElem>(&self, x: &[T], w: &[T], eps: f32, y: &mut [T]) -> Result<()> {
        let (xb, wb, yb) = (self.up("rms_norm", x)?, self.up("rms_norm", w)?, self.out(y.len()));
        ops::rms_norm(&self.0, &xb, x.len() / w.len(), w.len(), &wb, eps, &yb)?;
        self.back(&yb, y)
    }
    fn softmax<T: CudaElem>(&self, x: &[T], n: usize, y: &mut [T]) -> Result<()> {
        let (xb, yb) = (self.up("softmax", x)?, self.out(y.len()));
        ops::softmax(&self.0, &xb, x.len() / n, n, &yb)?;
        self.back(&yb, y)
    }
    fn rope<T: CudaElem>(&self, p: &Rope, x: &[T], cos: &[f32], sin: &[f32], y: &mut [T]) -> Result<()> {
        let (xb, cb, sb, yb) = (self.up("rope", x)?, self.0.upload(cos), self.0.upload(sin), self.out(y.len()));
        ops::rope(&self.0, p, &xb, &cb, &sb, &yb)?;
        self.back(&yb, y)
    }
    fn im2col<T: CudaElem>(&self, p: &Im2col, x: &[T], y: &mut [T]) -> Result<()> {
        let (xb, yb) = (self.up("im2col", x)?, self.out(y.len()));
        ops::im2col(&self.0, p, &xb, x.len(), &yb)?;
        self.back(&yb, y)
    }
    fn embedding<T: CudaElem>(&self, table: &[T], dim: usize, ids: &[u32], y: &mut [T]) -> Result<()> {
        let (tb, ib, yb) = (self.up("embedding", table)?, self.0.upload(ids), self.out(y.len()));
        ops::embedding(&self.0, &tb, table.len() / dim, dim, &ib, ids, &yb)?;
        self.back(&yb, y)
    }
}
