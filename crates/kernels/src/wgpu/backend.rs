//! The wgpu backend (f32; the GEMM and the casts also in f16 where the
//! adapter has SHADER_F16): buffers are storage buffers, ops are recorded
//! into the pending command encoder, nothing is read back until a download.
//! U8 buffers hold one f32 (0 or 1) per element: WGSL has no byte arrays.

use std::sync::Arc;

use super::ops::{self, WgpuMask};
use super::{Spec, WgpuDevice};
use crate::backend::{on, Backend, BufMask, Buffer, Dense, Device, Raw};
use crate::error::{Error, Result};
use crate::{Attention, Binary, DType, Gemm, Im2col, MatLayout, Reduce, Rope, Strided, Unary};

pub struct WgpuBackend {
    dev: Arc<WgpuDevice>,
}

fn buf<'a>(op: &'static str, b: &'a Buffer) -> Result<&'a wgpu::Buffer> {
    match &b.raw {
        Raw::Wgpu(w) => Ok(w),
        _ => Err(Error::WrongDevice { op, found: b.device(), expected: Device::Wgpu }),
    }
}

fn f32_only(op: &'static str, bufs: &[&Buffer]) -> Result<()> {
    match bufs.iter().find(|b| b.dtype() != DType::F32) {
        Some(b) => Err(Error::Unavailable { op, device: "wgpu".into(), dtype: Some(b.dtype()) }),
        None => Ok(()),
    }
}

fn same_len(op: &'static str, x: usize, y: usize) -> Result<()> {
    if x != y {
        return Err(Error::Shape { op, msg: format!("input of {x} elements, output of {y}") });
    }
    Ok(())
}

/// Bytes a wgpu buffer spends on one element of `dtype`.
fn stored_size(dtype: DType) -> usize {
    if dtype == DType::U8 {
        4
    } else {
        dtype.size()
    }
}

impl WgpuBackend {
    pub fn open() -> Result<WgpuBackend> {
        Ok(WgpuBackend { dev: WgpuDevice::open()? })
    }

    /// Whether buffers of `dtype` exist here.
    fn holds(&self, op: &'static str, dtype: DType) -> Result<()> {
        if dtype == DType::BF16 || dtype == DType::I64 || (dtype == DType::F16 && !self.dev.has_f16()) {
            return Err(Error::Unavailable { op, device: self.name(), dtype: Some(dtype) });
        }
        Ok(())
    }

    /// A dense f32 run as a buffer of its own (a copy unless it is all of one).
    fn dense(&self, op: &'static str, d: Dense) -> Result<wgpu::Buffer> {
        let b = buf(op, d.buf)?;
        if d.is_whole() {
            return Ok(b.clone());
        }
        f32_only(op, &[d.buf])?;
        let y = self.dev.buffer(d.len * 4);
        let s = Strided { shape: &[d.len], strides: &[1], offset: d.offset };
        ops::copy(&self.dev, b, d.buf.len(), s, &y)?;
        Ok(y)
    }
}

impl Backend for WgpuBackend {
    fn name(&self) -> String {
        format!("wgpu: {}", self.dev.name())
    }
    fn device(&self) -> Device {
        Device::Wgpu
    }
    fn dtypes(&self) -> Vec<DType> {
        if self.dev.has_f16() {
            vec![DType::F32, DType::F16]
        } else {
            vec![DType::F32]
        }
    }
    fn supports(&self, op: &str, dtype: DType) -> bool {
        let grad = crate::backend::GRAD_OPS.contains(&op);
        !grad && (dtype == DType::F32 || dtype == DType::F16 && (op == "gemm" || op == "copy") && self.dev.has_f16())
    }

    fn alloc(&self, dtype: DType, len: usize) -> Result<Buffer> {
        self.holds("alloc", dtype)?;
        Ok(Buffer::new(dtype, len, Raw::Wgpu(self.dev.buffer(len * stored_size(dtype)))))
    }
    fn upload(&self, dtype: DType, bytes: &[u8]) -> Result<Buffer> {
        self.holds("upload", dtype)?;
        let len = bytes.len() / dtype.size();
        let raw = if dtype == DType::U8 {
            let f: Vec<f32> = bytes.iter().map(|&b| (b != 0) as u8 as f32).collect();
            self.dev.upload(&f)
        } else {
            self.dev.upload(bytes)
        };
        Ok(Buffer::new(dtype, len, Raw::Wgpu(raw)))
    }
    fn download(&self, x: &Buffer) -> Result<Vec<u8>> {
        let b = buf("download", x)?;
        if x.dtype() == DType::U8 {
            let f: Vec<f32> = self.dev.download(b, x.len())?;
            return Ok(f.iter().map(|&v| (v != 0.0) as u8).collect());
        }
        self.dev.download(b, x.len() * x.dtype().size())
    }
    fn sync(&self) -> Result<()> {
        self.dev.sync()
    }

    fn copy(&self, x: &Buffer, s: Strided, y: &mut Buffer) -> Result<()> {
        on(self, "copy", &[x, y])?;
        same_len("copy", s.len(), y.len())?;
        let (xb, yb) = (buf("copy", x)?, buf("copy", y)?);
        match (x.dtype(), y.dtype()) {
            (DType::F32, DType::F32) => ops::copy(&self.dev, xb, x.len(), s, yb),
            (DType::F32, DType::F16) => ops::cast(&self.dev, xb, x.len(), s, true, yb),
            (DType::F16, DType::F32) => ops::cast(&self.dev, xb, x.len(), s, false, yb),
            (_, d) => Err(Error::Unavailable { op: "copy", device: self.name(), dtype: Some(d) }),
        }
    }

    fn concat(&self, x: Dense, outer: usize, inner_x: usize, inner_y: usize, at: usize, y: &mut Buffer) -> Result<()> {
        on(self, "concat", &[x.buf, y])?;
        f32_only("concat", &[x.buf, y])?;
        crate::params::check_concat(x.len, outer, inner_x, inner_y, at, y.len())?;
        let xb = self.dense("concat", x)?;
        ops::concat(&self.dev, &xb, outer, inner_x, inner_y, at, buf("concat", y)?)
    }

    fn unary(&self, op: Unary, x: Dense, y: &mut Buffer) -> Result<()> {
        on(self, "unary", &[x.buf, y])?;
        f32_only("unary", &[x.buf, y])?;
        same_len("unary", x.len, y.len())?;
        ops::unary(&self.dev, op, &self.dense("unary", x)?, x.len, buf("unary", y)?)
    }

    fn binary(&self, op: Binary, a: &Buffer, l: Strided, b: &Buffer, r: Strided, y: &mut Buffer) -> Result<()> {
        on(self, "binary", &[a, b, y])?;
        f32_only("binary", &[a, b, y])?;
        same_len("binary", l.len(), y.len())?;
        let (ab, bb, yb) = (buf("binary", a)?, buf("binary", b)?, buf("binary", y)?);
        ops::binary(&self.dev, op, ab, a.len(), l, bb, b.len(), r, yb)
    }

    fn gemm(&self, p: &Gemm, a: &Buffer, b: &Buffer, c: &mut Buffer) -> Result<()> {
        on(self, "gemm", &[a, b, c])?;
        let spec = match (a.dtype(), b.dtype(), c.dtype()) {
            (DType::F32, DType::F32, DType::F32) => Spec::F32,
            (DType::F16, DType::F16, DType::F16) => Spec::F16,
            (d, _, _) => return Err(Error::Unavailable { op: "gemm", device: self.name(), dtype: Some(d) }),
        };
        let (ab, bb, cb) = (buf("gemm", a)?, buf("gemm", b)?, buf("gemm", c)?);
        ops::gemm(&self.dev, spec, p, ab, a.len(), bb, b.len(), cb, c.len())
    }

    /// As passes: C = beta·C + bias, the product onto it, the activation after.
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
        f32_only("gemm_fused", &[a, b, c])?;
        let rows = p.batch * p.m;
        if bias.is_some() || act.is_some() {
            let dense_c = p.c == MatLayout::row_major(p.m, p.n) && c.len() == rows * p.n;
            if !dense_c {
                return Err(Error::Shape {
                    op: "gemm_fused",
                    msg: "a bias or activation needs a dense row-major C".into(),
                });
            }
        }
        let mut p = *p;
        if let Some(bias) = bias {
            on(self, "gemm_fused", &[bias.buf])?;
            f32_only("gemm_fused", &[bias.buf])?;
            same_len("gemm_fused bias", bias.len, p.n)?;
            let bb = buf("gemm_fused", bias.buf)?;
            let bview = Strided { shape: &[rows, p.n], strides: &[0, 1], offset: bias.offset };
            let cb = buf("gemm_fused", c)?;
            if p.beta == 0.0 {
                ops::copy(&self.dev, bb, bias.buf.len(), bview, cb)?;
            } else {
                let t = self.dev.buffer(c.len() * 4);
                let cview = Strided { shape: &[rows, p.n], strides: &[p.n, 1], offset: 0 };
                if p.beta != 1.0 {
                    ops::unary(&self.dev, Unary::Scale(p.beta), cb, c.len(), &t)?;
                    ops::copy(&self.dev, &t, c.len(), cview, cb)?;
                }
                ops::binary(&self.dev, Binary::Add, cb, c.len(), cview, bb, bias.buf.len(), bview, &t)?;
                ops::copy(&self.dev, &t, c.len(), cview, cb)?;
            }
            p.beta = 1.0;
        }
        self.gemm(&p, a, b, c)?;
        if let Some(op) = act {
            let cb = buf("gemm_fused", c)?;
            let t = self.dev.buffer(c.len() * 4);
            ops::unary(&self.dev, op, cb, c.len(), &t)?;
            let s = Strided { shape: &[c.len()], strides: &[1], offset: 0 };
            ops::copy(&self.dev, &t, c.len(), s, cb)?;
        }
        Ok(())
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
        f32_only("attention", &[q, k, v, o])?;
        let mask: WgpuMask = mask.try_map(
            |m| {
                on(self, "attention", &[m])
                    .and_then(|_| f32_only("attention", &[m]))
                    .and_then(|_| Ok((buf("attention", m)?, m.len())))
            },
            |m| on(self, "attention", &[m]).and_then(|_| Ok((buf("attention", m)?, m.len()))),
        )?;
        let lens = [q.len(), k.len(), v.len(), o.len()];
        let (qb, kb, vb, ob) = (buf("attention", q)?, buf("attention", k)?, buf("attention", v)?, buf("attention", o)?);
        ops::attention(&self.dev, p, qb, kb, vb, lens, mask, ob)
    }

    fn layer_norm(&self, x: Dense, w: Dense, b: Dense, eps: f32, y: &mut Buffer) -> Result<()> {
        on(self, "layer_norm", &[x.buf, w.buf, b.buf, y])?;
        f32_only("layer_norm", &[x.buf, w.buf, b.buf, y])?;
        let rows = crate::params::check_rows("layer_norm", x.len, w.len, y.len(), &[b.len])?;
        let (xb, wb, bb) = (self.dense("layer_norm", x)?, self.dense("layer_norm", w)?, self.dense("layer_norm", b)?);
        ops::layer_norm(&self.dev, &xb, rows, w.len, &wb, &bb, eps, buf("layer_norm", y)?)
    }

    fn rms_norm(&self, x: Dense, w: Dense, eps: f32, y: &mut Buffer) -> Result<()> {
        on(self, "rms_norm", &[x.buf, w.buf, y])?;
        f32_only("rms_norm", &[x.buf, w.buf, y])?;
        let rows = crate::params::check_rows("rms_norm", x.len, w.len, y.len(), &[])?;
        let (xb, wb) = (self.dense("rms_norm", x)?, self.dense("rms_norm", w)?);
        ops::rms_norm(&self.dev, &xb, rows, w.len, &wb, eps, buf("rms_norm", y)?)
    }

    fn softmax(&self, x: Dense, n: usize, y: &mut Buffer) -> Result<()> {
        on(self, "softmax", &[x.buf, y])?;
        f32_only("softmax", &[x.buf, y])?;
        let rows = crate::params::check_rows("softmax", x.len, n, y.len(), &[])?;
        ops::softmax(&self.dev, &self.dense("softmax", x)?, rows, n, buf("softmax", y)?)
    }

    fn reduce(&self, op: Reduce, x: Dense, n: usize, y: &mut Buffer) -> Result<()> {
        on(self, "reduce", &[x.buf, y])?;
        f32_only("reduce", &[x.buf, y])?;
        Reduce::check(x.len, n, y.len())?;
        let rows = u32::try_from(y.len()).map_err(|_| Error::Device("wgpu: too many rows".into()))?;
        let n = u32::try_from(n).map_err(|_| Error::Device("wgpu: rows too long".into()))?;
        let params = crate::wgpu::params::ReduceParams { rows, n, mean: (op == Reduce::Mean) as u32, _p0: 0 };
        let groups = (rows.clamp(1, 65_535), rows.div_ceil(65_535).max(1), 1);
        let xb = self.dense("reduce", x)?;
        self.dev.dispatch(
            "reduce.wgsl",
            "reduce",
            Spec::F32,
            &[(0, &xb), (1, buf("reduce", y)?)],
            bytemuck::bytes_of(&params),
            2,
            groups,
        )
    }

    fn rope(&self, p: &Rope, x: Dense, cos: Dense, sin: Dense, y: &mut Buffer) -> Result<()> {
        on(self, "rope", &[x.buf, cos.buf, sin.buf, y])?;
        f32_only("rope", &[x.buf, cos.buf, sin.buf, y])?;
        let n = p.outer * p.t * p.inner * p.d;
        if x.len != n || y.len() != n || cos.len != p.t * p.d / 2 || sin.len != cos.len || !p.d.is_multiple_of(2) {
            return Err(Error::Shape {
                op: "rope",
                msg: format!("{p:?} with x {}, cos {}, out {}", x.len, cos.len, y.len()),
            });
        }
        let (xb, cb, sb) = (self.dense("rope", x)?, self.dense("rope", cos)?, self.dense("rope", sin)?);
        ops::rope(&self.dev, p, &xb, &cb, &sb, buf("rope", y)?)
    }

    fn im2col(&self, p: &Im2col, x: Dense, y: &mut Buffer) -> Result<()> {
        on(self, "im2col", &[x.buf, y])?;
        f32_only("im2col", &[x.buf, y])?;
        p.check(x.len, y.len())?;
        ops::im2col(&self.dev, p, &self.dense("im2col", x)?, x.len, buf("im2col", y)?)
    }

    fn embedding(&self, table: Dense, dim: usize, ids: Dense, y: &mut Buffer) -> Result<()> {
        on(self, "embedding", &[table.buf, ids.buf, y])?;
        f32_only("embedding", &[table.buf, y])?;
        if ids.dtype() != DType::U32 || !ids.is_whole() {
            return Err(Error::Shape { op: "embedding", msg: "ids must be a whole U32 buffer".into() });
        }
        same_len("embedding", ids.len * dim, y.len())?;
        let tb = self.dense("embedding", table)?;
        let rows = table.len / dim.max(1);
        ops::embedding(&self.dev, &tb, rows, dim, buf("embedding", ids.buf)?, ids.len, buf("embedding", y)?)
    }
}
