//! The CUDA backend: buffers in device memory, ops launched from
//! `cuda::ops` on the device's stream. Nothing returns to the host until a
//! download.

use std::sync::Arc;

use cudarc::driver::{CudaSlice, LaunchConfig, PushKernelArg};

use super::buffer::CudaTyped;
use super::ops;
use super::CudaDevice;
use crate::backend::{on, Backend, BufMask, Buffer, Dense, Device, Raw};
use crate::error::{Error, Result};
use crate::{with_float, with_scalar, Attention, Binary, DType, Gemm, Im2col, Reduce, Rope, Strided, Unary};

pub struct CudaBackend {
    dev: Arc<CudaDevice>,
    ordinal: usize,
}

impl CudaBackend {
    pub fn open(ordinal: usize) -> Result<CudaBackend> {
        Ok(CudaBackend { dev: CudaDevice::open(ordinal)?, ordinal })
    }

    fn wrap<T: CudaTyped>(&self, s: CudaSlice<T>, len: usize) -> Buffer {
        Buffer::new(T::DTYPE, len, Raw::Cuda { buf: T::wrap(s), ordinal: self.ordinal })
    }
}

/// The device slice of a buffer of dtype T.
fn slice<'a, T: CudaTyped>(op: &'static str, b: &'a Buffer) -> Result<&'a CudaSlice<T>> {
    match &b.raw {
        Raw::Cuda { buf, .. } => T::get(buf).ok_or(Error::DTypeMismatch { op, expected: T::DTYPE, found: b.dtype() }),
        _ => Err(Error::WrongDevice { op, found: b.device(), expected: Device::Cuda(0) }),
    }
}

fn slice_mut<'a, T: CudaTyped>(op: &'static str, b: &'a mut Buffer) -> Result<&'a mut CudaSlice<T>> {
    let (dtype, device) = (b.dtype(), b.device());
    match &mut b.raw {
        Raw::Cuda { buf, .. } => T::get_mut(buf).ok_or(Error::DTypeMismatch { op, expected: T::DTYPE, found: dtype }),
        _ => Err(Error::WrongDevice { op, found: device, expected: Device::Cuda(0) }),
    }
}

impl CudaBackend {
    /// A dense run as a slice of its own: the buffer itself when the run is
    /// all of it, else a copy of the run in `tmp` (the kernels size their
    /// work by the buffer).
    fn dense<'a, T: CudaTyped>(
        &self,
        op: &'static str,
        d: Dense<'a>,
        tmp: &'a mut Option<CudaSlice<T>>,
    ) -> Result<&'a CudaSlice<T>> {
        let s = slice::<T>(op, d.buf)?;
        if d.is_whole() {
            return Ok(s);
        }
        let view = s.slice(d.offset..d.offset + d.len);
        let copy = self.dev.stream.clone_dtod(&view).map_err(|e| Error::Device(format!("cuda: {op}: {e:?}")))?;
        Ok(tmp.insert(copy))
    }
}

/// `let x = dense!(self, op, T, d);` binds the dense slice of `d`.
macro_rules! dense {
    ($self:ident, $op:literal, $T:ty, $d:expr, $tmp:ident) => {{
        $self.dense::<$T>($op, $d, &mut $tmp)?
    }};
}

impl Backend for CudaBackend {
    fn name(&self) -> String {
        format!("{} (sm_{})", self.dev.name(), self.dev.arch)
    }
    fn device(&self) -> Device {
        Device::Cuda(self.ordinal)
    }
    fn alloc(&self, dtype: DType, len: usize) -> Result<Buffer> {
        with_scalar!(dtype, T => Ok(self.wrap(self.dev.alloc::<T>(len)?, len)))
    }
    fn upload(&self, dtype: DType, bytes: &[u8]) -> Result<Buffer> {
        if !bytes.len().is_multiple_of(dtype.size()) {
            return Err(Error::Shape { op: "upload", msg: format!("{} bytes are not whole {dtype}", bytes.len()) });
        }
        with_scalar!(dtype, T => {
            let host: Vec<T> = bytemuck::pod_collect_to_vec(bytes);
            Ok(self.wrap(self.dev.upload(&host)?, host.len()))
        })
    }
    fn download(&self, x: &Buffer) -> Result<Vec<u8>> {
        on(self, "download", &[x])?;
        with_scalar!(x.dtype(), T => {
            let host = self.dev.download(slice::<T>("download", x)?)?;
            Ok(bytemuck::cast_slice(&host[..x.len()]).to_vec())
        })
    }
    fn sync(&self) -> Result<()> {
        self.dev.stream.synchronize().map_err(|e| Error::Device(format!("cuda: synchronize: {e:?}")))
    }

    fn copy(&self, x: &Buffer, s: Strided, y: &mut Buffer) -> Result<()> {
        on(self, "copy", &[x, y])?;
        with_float!(x.dtype(), "copy", S => with_float!(y.dtype(), "copy", D => {
            ops::copy(&self.dev, slice::<S>("copy", x)?, s, slice_mut::<D>("copy", y)?)
        }))
    }

    fn concat(&self, x: Dense, outer: usize, inner_x: usize, inner_y: usize, at: usize, y: &mut Buffer) -> Result<()> {
        on(self, "concat", &[x.buf, y])?;
        with_float!(x.dtype(), "concat", T => {
            let mut t = None;
            let xs = dense!(self, "concat", T, x, t);
            ops::concat(&self.dev, xs, outer, inner_x, inner_y, at, slice_mut::<T>("concat", y)?)
        })
    }

    fn unary(&self, op: Unary, x: Dense, y: &mut Buffer) -> Result<()> {
        on(self, "unary", &[x.buf, y])?;
        with_float!(x.dtype(), "unary", T => {
            let mut t = None;
            ops::unary(&self.dev, op, dense!(self, "unary", T, x, t), slice_mut::<T>("unary", y)?)
        })
    }

    fn binary(&self, op: Binary, a: &Buffer, l: Strided, b: &Buffer, r: Strided, y: &mut Buffer) -> Result<()> {
        on(self, "binary", &[a, b, y])?;
        with_float!(a.dtype(), "binary", T => {
            ops::binary(&self.dev, op, slice::<T>("binary", a)?, l, slice::<T>("binary", b)?, r, slice_mut::<T>("binary", y)?)
        })
    }

    fn gemm(&self, p: &Gemm, a: &Buffer, b: &Buffer, c: &mut Buffer) -> Result<()> {
        on(self, "gemm", &[a, b, c])?;
        with_float!(a.dtype(), "gemm", T => {
            ops::gemm(&self.dev, p, slice::<T>("gemm", a)?, slice::<T>("gemm", b)?, slice_mut::<T>("gemm", c)?)
        })
    }

    fn gemm_fused(
        &self,
        p: &Gemm,
        a: &Buffer,
        b: &Buffer,
        bias: Option<Dense>,
        act: Option<Unary>,
        c: &mut Buffer,
    ) -> Result<()> {
        on(self, "gemm_fused", &[a, b, c])?;
        if let Some(d) = &bias {
            on(self, "gemm_fused", &[d.buf])?;
        }
        with_float!(a.dtype(), "gemm_fused", T => {
            let mut t = None;
            let bias = match bias {
                Some(d) => Some(self.dense::<T>("gemm_fused", d, &mut t)?),
                None => None,
            };
            let (ad, bd) = (slice::<T>("gemm_fused", a)?, slice::<T>("gemm_fused", b)?);
            ops::gemm_fused(&self.dev, p, ad, bd, bias, act, slice_mut::<T>("gemm_fused", c)?)
        })
    }

    fn attention(
        &self,
        p: &Attention,
        q: &Buffer,
        k: &Buffer,
        v: &Buffer,
        mask: BufMask,
        o: &mut Buffer,
    ) -> Result<()> {
        on(self, "attention", &[q, k, v, o])?;
        let mask = mask.try_map(
            |m| on(self, "attention", &[m]).and_then(|_| slice::<f32>("attention", m)),
            |m| on(self, "attention", &[m]).and_then(|_| slice::<u8>("attention", m)),
        )?;
        with_float!(q.dtype(), "attention", T => {
            let (qd, kd, vd) = (slice::<T>("attention", q)?, slice::<T>("attention", k)?, slice::<T>("attention", v)?);
            ops::attention(&self.dev, p, qd, kd, vd, mask, slice_mut::<T>("attention", o)?)
        })
    }

    fn layer_norm(&self, x: Dense, w: Dense, b: Dense, eps: f32, y: &mut Buffer) -> Result<()> {
        on(self, "layer_norm", &[x.buf, w.buf, b.buf, y])?;
        with_float!(x.dtype(), "layer_norm", T => {
            let (mut t1, mut t2, mut t3) = (None, None, None);
            let (xd, wd, bd) = (
                dense!(self, "layer_norm", T, x, t1),
                dense!(self, "layer_norm", T, w, t2),
                dense!(self, "layer_norm", T, b, t3),
            );
            ops::layer_norm(&self.dev, xd, wd, bd, eps, slice_mut::<T>("layer_norm", y)?)
        })
    }

    fn rms_norm(&self, x: Dense, w: Dense, eps: f32, y: &mut Buffer) -> Result<()> {
        on(self, "rms_norm", &[x.buf, w.buf, y])?;
        with_float!(x.dtype(), "rms_norm", T => {
            let (mut t1, mut t2) = (None, None);
            let (xd, wd) = (dense!(self, "rms_norm", T, x, t1), dense!(self, "rms_norm", T, w, t2));
            ops::rms_norm(&self.dev, xd, wd, eps, slice_mut::<T>("rms_norm", y)?)
        })
    }

    fn softmax(&self, x: Dense, n: usize, y: &mut Buffer) -> Result<()> {
        on(self, "softmax", &[x.buf, y])?;
        with_float!(x.dtype(), "softmax", T => {
            let mut t = None;
            ops::softmax(&self.dev, dense!(self, "softmax", T, x, t), n, slice_mut::<T>("softmax", y)?)
        })
    }

    fn reduce(&self, op: Reduce, x: Dense, n: usize, y: &mut Buffer) -> Result<()> {
        on(self, "reduce", &[x.buf, y])?;
        Reduce::check(x.len, n, y.len())?;
        with_float!(x.dtype(), "reduce", T => {
            let mut t = None;
            let xs = dense!(self, "reduce", T, x, t);
            let kind = if op == Reduce::Sum { "sum" } else { "mean" };
            let name = format!("reduce_{kind}_{}", <T as ops::CudaElem>::SUFFIX);
            let f = self.dev.function("reduce.cu", &name)?;
            let (rows, ni) = (y.len() as i32, n as i32);
            let cfg = LaunchConfig { grid_dim: (y.len().max(1) as u32, 1, 1), block_dim: (256, 1, 1), shared_mem_bytes: 0 };
            let mut args = self.dev.stream.launch_builder(&f);
            args.arg(xs).arg(slice_mut::<T>("reduce", y)?).arg(&rows).arg(&ni);
            // SAFETY: signature (x, y, rows, n); x holds rows × n elements, y rows (checked).
            unsafe { args.launch(cfg) }.map_err(|e| Error::Device(format!("cuda: launching {name}: {e:?}")))?;
            Ok(())
        })
    }

    fn rope(&self, p: &Rope, x: Dense, cos: Dense, sin: Dense, y: &mut Buffer) -> Result<()> {
        on(self, "rope", &[x.buf, cos.buf, sin.buf, y])?;
        let (mut tc, mut ts) = (None, None);
        let (c, s) = (dense!(self, "rope", f32, cos, tc), dense!(self, "rope", f32, sin, ts));
        with_float!(x.dtype(), "rope", T => {
            let mut t = None;
            ops::rope(&self.dev, p, dense!(self, "rope", T, x, t), c, s, slice_mut::<T>("rope", y)?)
        })
    }

    fn im2col(&self, p: &Im2col, x: Dense, y: &mut Buffer) -> Result<()> {
        on(self, "im2col", &[x.buf, y])?;
        with_float!(x.dtype(), "im2col", T => {
            let mut t = None;
            ops::im2col(&self.dev, p, dense!(self, "im2col", T, x, t), slice_mut::<T>("im2col", y)?)
        })
    }

    fn embedding(&self, table: Dense, dim: usize, ids: Dense, y: &mut Buffer) -> Result<()> {
        on(self, "embedding", &[table.buf, ids.buf, y])?;
        let mut ti = None;
        let id = dense!(self, "embedding", u32, ids, ti);
        with_float!(table.dtype(), "embedding", T => {
            let mut t = None;
            let table = dense!(self, "embedding", T, table, t);
            ops::embedding(&self.dev, table, dim, id, slice_mut::<T>("embedding", y)?)
        })
    }
}
