//! The CPU backend over host buffers: `CpuBackend::FAST` runs the fast
//! kernels (what the engine runs), `CpuBackend::REFERENCE` the reference
//! ones (what parity holds every backend to). One impl serves both: the two
//! kernel modules export the same functions.

use crate::backend::{on, Backend, BufMask, Buffer, Dense, Device};
use crate::cpu::{fast, reference};
use crate::error::{Error, Result};
use crate::{
    with_float, Attention, Binary, DType, Element, Gemm, Im2col, MatLayout, Reduce, Rope, Scalar, Strided, Unary,
};

pub struct CpuBackend {
    reference: bool,
}

impl CpuBackend {
    pub const FAST: CpuBackend = CpuBackend { reference: false };
    pub const REFERENCE: CpuBackend = CpuBackend { reference: true };
}

/// `kernel!(self, name(args))`: the reference or the fast kernel.
macro_rules! kernel {
    ($s:ident, $f:ident($($a:expr),*)) => {
        if $s.reference { reference::$f($($a),*) } else { fast::$f($($a),*) }
    };
}

/// Same-dtype strided copy of any scalar (integer tensors; floats take `copy`).
fn copy_pod<T: Scalar>(x: &[T], s: Strided, y: &mut [T]) -> Result<()> {
    s.check("copy", "src", x.len())?;
    if s.len() != y.len() {
        return Err(Error::Shape { op: "copy", msg: format!("view {:?} into {} elements", s.shape, y.len()) });
    }
    let mut idx = vec![0usize; s.shape.len()];
    for o in y.iter_mut() {
        *o = x[s.offset + idx.iter().zip(s.strides).map(|(i, st)| i * st).sum::<usize>()];
        for d in (0..idx.len()).rev() {
            idx[d] += 1;
            if idx[d] < s.shape[d] {
                break;
            }
            idx[d] = 0;
        }
    }
    Ok(())
}

impl CpuBackend {
    /// C = act(alpha·A·B + beta·C + bias) as passes around a plain GEMM: C
    /// starts as beta·C + bias, the product accumulates onto it, the
    /// activation runs over the result (C dense row-major for a bias or an
    /// activation).
    fn gemm_epilogue<T: Element>(
        &self,
        p: &Gemm,
        (a, b): (&[T], &[T]),
        bias: Option<&[T]>,
        act: Option<Unary>,
        c: &mut [T],
    ) -> Result<()> {
        let mut p = *p;
        let rows = p.batch * p.m;
        if (bias.is_some() || act.is_some()) && (p.c != MatLayout::row_major(p.m, p.n) || c.len() != rows * p.n) {
            return Err(Error::Shape {
                op: "gemm_fused",
                msg: "a bias or activation needs a dense row-major C".into(),
            });
        }
        if let Some(bias) = bias {
            if bias.len() != p.n {
                return Err(Error::Shape {
                    op: "gemm_fused",
                    msg: format!("bias of {} for {} columns", bias.len(), p.n),
                });
            }
            let shape = [rows, p.n];
            let each_row = Strided { shape: &shape, strides: &[0, 1], offset: 0 };
            if p.beta == 0.0 {
                kernel!(self, copy(bias, each_row, c))?;
            } else {
                let mut start = c.to_vec();
                if p.beta != 1.0 {
                    start.iter_mut().for_each(|v| *v = T::from_f32(p.beta * v.to_f32()));
                }
                let dense = Strided { shape: &shape, strides: &[p.n, 1], offset: 0 };
                kernel!(self, binary(Binary::Add, &start, dense, bias, each_row, c))?;
            }
            p.beta = 1.0;
        }
        kernel!(self, gemm(&p, a, b, c))?;
        if let Some(op) = act {
            let product = c.to_vec();
            kernel!(self, unary(op, &product, c))?;
        }
        Ok(())
    }
}

impl Backend for CpuBackend {
    fn name(&self) -> String {
        let kind = if self.reference { "reference" } else { "fast" };
        let isa = crate::cpu::isa::isa();
        let widened = isa >= crate::cpu::isa::Isa::Avx512Bf16 && !crate::cpu::isa::bf16_dots();
        format!("cpu {kind} ({isa:?}{})", if widened { ", bf16 GEMM widened to f32" } else { "" })
    }
    fn device(&self) -> Device {
        Device::Cpu
    }
    fn supports(&self, _op: &str, _dtype: DType) -> bool {
        true
    }
    fn alloc(&self, dtype: DType, len: usize) -> Result<Buffer> {
        Ok(Buffer::host_uninit(dtype, len))
    }
    fn upload(&self, dtype: DType, bytes: &[u8]) -> Result<Buffer> {
        Buffer::host_bytes_of(dtype, bytes)
    }
    fn download(&self, x: &Buffer) -> Result<Vec<u8>> {
        Ok(x.host_bytes("download")?.to_vec())
    }

    fn copy(&self, x: &Buffer, s: Strided, y: &mut Buffer) -> Result<()> {
        on(self, "copy", &[x, y])?;
        let (sd, dd) = (x.dtype(), y.dtype());
        if !sd.is_float() || !dd.is_float() {
            if sd != dd {
                return Err(Error::Unavailable { op: "copy", device: format!("cpu from {sd}"), dtype: Some(dd) });
            }
            return match sd {
                DType::U8 => copy_pod(x.host::<u8>("copy")?, s, y.host_mut("copy")?),
                DType::U32 => copy_pod(x.host::<u32>("copy")?, s, y.host_mut("copy")?),
                DType::I32 => copy_pod(x.host::<i32>("copy")?, s, y.host_mut("copy")?),
                _ => copy_pod(x.host::<i64>("copy")?, s, y.host_mut("copy")?),
            };
        }
        with_float!(sd, "copy", S => with_float!(dd, "copy", D => {
            kernel!(self, copy(x.host::<S>("copy")?, s, y.host_mut::<D>("copy")?))
        }))
    }

    fn concat(&self, x: Dense, outer: usize, inner_x: usize, inner_y: usize, at: usize, y: &mut Buffer) -> Result<()> {
        on(self, "concat", &[x.buf, y])?;
        if x.dtype() != y.dtype() {
            return Err(Error::DTypeMismatch { op: "concat", expected: y.dtype(), found: x.dtype() });
        }
        let es = x.dtype().size();
        crate::params::check_concat(x.len, outer, inner_x, inner_y, at, y.len())?;
        let src = &x.buf.host_bytes("concat")?[x.offset * es..];
        let dst = y.host_bytes_mut("concat")?;
        for o in 0..outer {
            dst[(o * inner_y + at) * es..][..inner_x * es].copy_from_slice(&src[o * inner_x * es..][..inner_x * es]);
        }
        Ok(())
    }

    fn unary(&self, op: Unary, x: Dense, y: &mut Buffer) -> Result<()> {
        on(self, "unary", &[x.buf, y])?;
        with_float!(x.dtype(), "unary", T => kernel!(self, unary(op, x.host::<T>("unary")?, y.host_mut::<T>("unary")?)))
    }

    fn binary(&self, op: Binary, a: &Buffer, l: Strided, b: &Buffer, r: Strided, y: &mut Buffer) -> Result<()> {
        on(self, "binary", &[a, b, y])?;
        with_float!(a.dtype(), "binary", T => {
            kernel!(self, binary(op, a.host::<T>("binary")?, l, b.host::<T>("binary")?, r, y.host_mut::<T>("binary")?))
        })
    }

    fn gemm(&self, p: &Gemm, a: &Buffer, b: &Buffer, c: &mut Buffer) -> Result<()> {
        on(self, "gemm", &[a, b, c])?;
        with_float!(a.dtype(), "gemm", T => {
            kernel!(self, gemm(p, a.host::<T>("gemm")?, b.host::<T>("gemm")?, c.host_mut::<T>("gemm")?))
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
        with_float!(a.dtype(), "gemm_fused", T => {
            let (ad, bd) = (a.host::<T>("gemm_fused")?, b.host::<T>("gemm_fused")?);
            let bias = bias.map(|d| d.host::<T>("gemm_fused")).transpose()?;
            self.gemm_epilogue(p, (ad, bd), bias, act, c.host_mut::<T>("gemm_fused")?)
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
        let mask = mask.try_map(|m| m.host::<f32>("attention"), |m| m.host::<u8>("attention"))?;
        with_float!(q.dtype(), "attention", T => {
            let (qd, kd, vd) = (q.host::<T>("attention")?, k.host::<T>("attention")?, v.host::<T>("attention")?);
            kernel!(self, attention(p, qd, kd, vd, mask, o.host_mut::<T>("attention")?))
        })
    }

    fn layer_norm(&self, x: Dense, w: Dense, b: Dense, eps: f32, y: &mut Buffer) -> Result<()> {
        on(self, "layer_norm", &[x.buf, w.buf, b.buf, y])?;
        with_float!(x.dtype(), "layer_norm", T => {
            let (xd, wd, bd) = (x.host::<T>("layer_norm")?, w.host::<T>("layer_norm")?, b.host::<T>("layer_norm")?);
            kernel!(self, layer_norm(xd, wd, bd, eps, y.host_mut::<T>("layer_norm")?))
        })
    }

    fn rms_norm(&self, x: Dense, w: Dense, eps: f32, y: &mut Buffer) -> Result<()> {
        on(self, "rms_norm", &[x.buf, w.buf, y])?;
        with_float!(x.dtype(), "rms_norm", T => {
            kernel!(self, rms_norm(x.host::<T>("rms_norm")?, w.host::<T>("rms_norm")?, eps, y.host_mut::<T>("rms_norm")?))
        })
    }

    fn softmax(&self, x: Dense, n: usize, y: &mut Buffer) -> Result<()> {
        on(self, "softmax", &[x.buf, y])?;
        with_float!(x.dtype(), "softmax", T => kernel!(self, softmax(x.host::<T>("softmax")?, n, y.host_mut::<T>("softmax")?)))
    }

    fn reduce(&self, op: Reduce, x: Dense, n: usize, y: &mut Buffer) -> Result<()> {
        on(self, "reduce", &[x.buf, y])?;
        with_float!(x.dtype(), "reduce", T => kernel!(self, reduce(op, x.host::<T>("reduce")?, n, y.host_mut::<T>("reduce")?)))
    }

    fn rope(&self, p: &Rope, x: Dense, cos: Dense, sin: Dense, y: &mut Buffer) -> Result<()> {
        on(self, "rope", &[x.buf, cos.buf, sin.buf, y])?;
        let (c, s) = (cos.host::<f32>("rope")?, sin.host::<f32>("rope")?);
        with_float!(x.dtype(), "rope", T => kernel!(self, rope(p, x.host::<T>("rope")?, c, s, y.host_mut::<T>("rope")?)))
    }

    fn im2col(&self, p: &Im2col, x: Dense, y: &mut Buffer) -> Result<()> {
        on(self, "im2col", &[x.buf, y])?;
        with_float!(x.dtype(), "im2col", T => kernel!(self, im2col(p, x.host::<T>("im2col")?, y.host_mut::<T>("im2col")?)))
    }

    fn embedding(&self, table: Dense, dim: usize, ids: Dense, y: &mut Buffer) -> Result<()> {
        on(self, "embedding", &[table.buf, ids.buf, y])?;
        let ids = ids.host::<u32>("embedding")?;
        with_float!(table.dtype(), "embedding", T => {
            kernel!(self, embedding(table.host::<T>("embedding")?, dim, ids, y.host_mut::<T>("embedding")?))
        })
    }

    fn attention_backward(
        &self,
        p: &Attention,
        q: &Buffer,
        k: &Buffer,
        v: &Buffer,
        o: &Buffer,
        dout: &Buffer,
        mask: BufMask,
        dq: &mut Buffer,
        dk: &mut Buffer,
        dv: &mut Buffer,
    ) -> Result<()> {
        let n = "attention_backward";
        on(self, n, &[q, k, v, o, dout, dq, dk, dv])?;
        let mask = mask.try_map(|m| m.host::<f32>(n), |m| m.host::<u8>(n))?;
        with_float!(q.dtype(), n, T => {
            let (qd, kd, vd) = (q.host::<T>(n)?, k.host::<T>(n)?, v.host::<T>(n)?);
            let (od, dod) = (o.host::<T>(n)?, dout.host::<T>(n)?);
            let (dqd, dkd, dvd) = (dq.host_mut::<T>(n)?, dk.host_mut::<T>(n)?, dv.host_mut::<T>(n)?);
            kernel!(self, attention_backward(p, qd, kd, vd, od, dod, mask, dqd, dkd, dvd))
        })
    }

    fn im2col_backward(&self, p: &Im2col, dy: Dense, dx: &mut Buffer) -> Result<()> {
        let n = "im2col_backward";
        on(self, n, &[dy.buf, dx])?;
        with_float!(dy.dtype(), n, T => kernel!(self, im2col_backward(p, dy.host::<T>(n)?, dx.host_mut::<T>(n)?)))
    }

    fn unary_backward(&self, op: Unary, x: Dense, dy: Dense, dx: &mut Buffer) -> Result<()> {
        let n = "unary_backward";
        on(self, n, &[x.buf, dy.buf, dx])?;
        with_float!(x.dtype(), n, T => kernel!(self, unary_backward(op, x.host::<T>(n)?, dy.host::<T>(n)?, dx.host_mut::<T>(n)?)))
    }

    fn rms_norm_backward(
        &self,
        x: Dense,
        w: Dense,
        dy: Dense,
        eps: f32,
        dx: &mut Buffer,
        dw: &mut Buffer,
    ) -> Result<()> {
        let n = "rms_norm_backward";
        on(self, n, &[x.buf, w.buf, dy.buf, dx, dw])?;
        with_float!(x.dtype(), n, T => {
            let (xd, wd, dyd) = (x.host::<T>(n)?, w.host::<T>(n)?, dy.host::<T>(n)?);
            kernel!(self, rms_norm_backward(xd, wd, dyd, eps, dx.host_mut::<T>(n)?, dw.host_mut::<T>(n)?))
        })
    }

    fn layer_norm_backward(
        &self,
        x: Dense,
        w: Dense,
        dy: Dense,
        eps: f32,
        dx: &mut Buffer,
        dw: &mut Buffer,
        db: &mut Buffer,
    ) -> Result<()> {
        let n = "layer_norm_backward";
        on(self, n, &[x.buf, w.buf, dy.buf, dx, dw, db])?;
        with_float!(x.dtype(), n, T => {
            let (xd, wd, dyd) = (x.host::<T>(n)?, w.host::<T>(n)?, dy.host::<T>(n)?);
            let (dxd, dwd, dbd) = (dx.host_mut::<T>(n)?, dw.host_mut::<T>(n)?, db.host_mut::<T>(n)?);
            kernel!(self, layer_norm_backward(xd, wd, dyd, eps, dxd, dwd, dbd))
        })
    }

    fn softmax_backward(&self, y: Dense, dy: Dense, len: usize, dx: &mut Buffer) -> Result<()> {
        let n = "softmax_backward";
        on(self, n, &[y.buf, dy.buf, dx])?;
        with_float!(y.dtype(), n, T => kernel!(self, softmax_backward(y.host::<T>(n)?, dy.host::<T>(n)?, len, dx.host_mut::<T>(n)?)))
    }

    fn cross_entropy(&self, x: Dense, v: usize, targets: Dense, loss: &mut Buffer) -> Result<()> {
        let n = "cross_entropy";
        on(self, n, &[x.buf, targets.buf, loss])?;
        let t = targets.host::<u32>(n)?;
        with_float!(x.dtype(), n, T => kernel!(self, cross_entropy(x.host::<T>(n)?, v, t, loss.host_mut::<f32>(n)?)))
    }

    fn cross_entropy_backward(&self, x: Dense, v: usize, targets: Dense, scale: f32, dx: &mut Buffer) -> Result<()> {
        let n = "cross_entropy_backward";
        on(self, n, &[x.buf, targets.buf, dx])?;
        let t = targets.host::<u32>(n)?;
        with_float!(x.dtype(), n, T => kernel!(self, cross_entropy_backward(x.host::<T>(n)?, v, t, scale, dx.host_mut::<T>(n)?)))
    }

    fn embedding_backward(&self, dy: Dense, dim: usize, ids: Dense, dtable: &mut Buffer) -> Result<()> {
        let n = "embedding_backward";
        on(self, n, &[dy.buf, ids.buf, dtable])?;
        let ids = ids.host::<u32>(n)?;
        with_float!(dy.dtype(), n, T => kernel!(self, embedding_backward(dy.host::<T>(n)?, dim, ids, dtable.host_mut::<T>(n)?)))
    }
}
