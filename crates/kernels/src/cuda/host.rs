//! The CUDA kernels on host buffers (upload, launch, download), for the
//! parity list and `iris check --device cuda`.

use std::sync::Arc;

use crate::cuda::ops::{self, CudaElem, CudaMask};
use crate::cuda::CudaDevice;
use crate::error::Result;
use crate::parity::KernelDevice;
use crate::{Attention, Binary, Gemm, Im2col, Mask, Rope, Strided, Unary};

pub struct CudaKernels(pub Arc<CudaDevice>);

impl CudaKernels {
    fn finish<T: CudaElem>(&self, dev_out: &cudarc::driver::CudaSlice<T>, host: &mut [T]) -> Result<()> {
        host.copy_from_slice(&self.0.download(dev_out)?);
        Ok(())
    }
}

impl KernelDevice for CudaKernels {
    fn name(&self) -> String {
        format!("{} (sm_{})", self.0.name(), self.0.arch)
    }
    fn gemm<T: CudaElem>(&self, p: &Gemm, a: &[T], b: &[T], c: &mut [T]) -> Result<()> {
        let d = &self.0;
        let (a, b, mut cd) = (d.upload(a)?, d.upload(b)?, d.upload(c)?);
        ops::gemm(d, p, &a, &b, &mut cd)?;
        self.finish(&cd, c)
    }
    fn gemm_fused<T: CudaElem>(
        &self,
        p: &Gemm,
        a: &[T],
        b: &[T],
        bias: &[T],
        act: Option<Unary>,
        c: &mut [T],
    ) -> Result<()> {
        let d = &self.0;
        let (a, b, bias, mut cd) = (d.upload(a)?, d.upload(b)?, d.upload(bias)?, d.upload(c)?);
        ops::gemm_fused(d, p, &a, &b, Some(&bias), act, &mut cd)?;
        self.finish(&cd, c)
    }
    fn attention<T: CudaElem>(&self, p: &Attention, q: &[T], k: &[T], v: &[T], mask: Mask, o: &mut [T]) -> Result<()> {
        let d = &self.0;
        let (q, k, v, mut od) = (d.upload(q)?, d.upload(k)?, d.upload(v)?, d.upload(o)?);
        match mask {
            Mask::None => ops::attention(d, p, &q, &k, &v, CudaMask::None, &mut od)?,
            Mask::Additive(m, l) => ops::attention(d, p, &q, &k, &v, CudaMask::Additive(&d.upload(m)?, l), &mut od)?,
            Mask::Keep(m, l) => ops::attention(d, p, &q, &k, &v, CudaMask::Keep(&d.upload(m)?, l), &mut od)?,
        }
        self.finish(&od, o)
    }
    fn unary<T: CudaElem>(&self, op: Unary, x: &[T], y: &mut [T]) -> Result<()> {
        let d = &self.0;
        let (x, mut yd) = (d.upload(x)?, d.alloc::<T>(y.len())?);
        ops::unary(d, op, &x, &mut yd)?;
        self.finish(&yd, y)
    }
    fn binary<T: CudaElem>(&self, op: Binary, a: &[T], l: Strided, b: &[T], r: Strided, y: &mut [T]) -> Result<()> {
        let d = &self.0;
        let (a, b, mut yd) = (d.upload(a)?, d.upload(b)?, d.alloc::<T>(y.len())?);
        ops::binary(d, op, &a, l, &b, r, &mut yd)?;
        self.finish(&yd, y)
    }
    fn copy<S: CudaElem, D: CudaElem>(&self, x: &[S], s: Strided, y: &mut [D]) -> Result<()> {
        let d = &self.0;
        let (x, mut yd) = (d.upload(x)?, d.alloc::<D>(y.len())?);
        ops::copy(d, &x, s, &mut yd)?;
        self.finish(&yd, y)
    }
    fn layer_norm<T: CudaElem>(&self, x: &[T], w: &[T], b: &[T], eps: f32, y: &mut [T]) -> Result<()> {
        let d = &self.0;
        let (x, w, b, mut yd) = (d.upload(x)?, d.upload(w)?, d.upload(b)?, d.alloc::<T>(y.len())?);
        ops::layer_norm(d, &x, &w, &b, eps, &mut yd)?;
        self.finish(&yd, y)
    }
    fn rms_norm<T: CudaElem>(&self, x: &[T], w: &[T], eps: f32, y: &mut [T]) -> Result<()> {
        let d = &self.0;
        let (x, w, mut yd) = (d.upload(x)?, d.upload(w)?, d.alloc::<T>(y.len())?);
        ops::rms_norm(d, &x, &w, eps, &mut yd)?;
        self.finish(&yd, y)
    }
    fn softmax<T: CudaElem>(&self, x: &[T], n: usize, y: &mut [T]) -> Result<()> {
        let d = &self.0;
        let (x, mut yd) = (d.upload(x)?, d.alloc::<T>(y.len())?);
        ops::softmax(d, &x, n, &mut yd)?;
        self.finish(&yd, y)
    }
    fn rope<T: CudaElem>(&self, p: &Rope, x: &[T], cos: &[f32], sin: &[f32], y: &mut [T]) -> Result<()> {
        let d = &self.0;
        let (x, c, s, mut yd) = (d.upload(x)?, d.upload(cos)?, d.upload(sin)?, d.alloc::<T>(y.len())?);
        ops::rope(d, p, &x, &c, &s, &mut yd)?;
        self.finish(&yd, y)
    }
    fn im2col<T: CudaElem>(&self, p: &Im2col, x: &[T], y: &mut [T]) -> Result<()> {
        let d = &self.0;
        let (x, mut yd) = (d.upload(x)?, d.alloc::<T>(y.len())?);
        ops::im2col(d, p, &x, &mut yd)?;
        self.finish(&yd, y)
    }
    fn embedding<T: CudaElem>(&self, table: &[T], dim: usize, ids: &[u32], y: &mut [T]) -> Result<()> {
        let d = &self.0;
        let (t, i, mut yd) = (d.upload(table)?, d.upload(ids)?, d.alloc::<T>(y.len())?);
        ops::embedding(d, &t, dim, &i, ids, &mut yd)?;
        self.finish(&yd, y)
    }
}
