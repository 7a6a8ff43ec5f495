//! Dispatches of the `shaders/*.wgsl` kernels with the CPU kernels'
//! parameter types and checks (f32; buffers hold elements from offset 0).

use crate::error::{Error, Result};
use crate::params::{Attention, Gemm, Heads, Im2col, MaskLayout, MatLayout, Rope, Strided, Unary};
use crate::wgpu::params::{self as wp, AttentionParams, GemmParams, LayoutParams, NormParams, RopeParams};
use crate::wgpu::{Spec, WgpuDevice};
use crate::Binary;

type Buf = wgpu::Buffer;

/// Workgroups of 256 covering n, spilling into y past the per-dimension limit.
fn groups(n: usize) -> (u32, u32, u32) {
    let g = n.div_ceil(256).max(1);
    let x = g.min(65_535);
    (x as u32, g.div_ceil(x) as u32, 1)
}

fn u(x: usize) -> Result<u32> {
    u32::try_from(x).map_err(|_| Error::Device(format!("wgpu: {x} does not fit 32-bit indexing")))
}

/// The uniform block of elementwise.wgsl and cast.wgsl (`Strided`), for up to 8 dims.
fn strided_params(n: usize, op: u32, alpha: f32, a: &Strided, b: Option<&Strided>) -> Result<wp::Strided> {
    if a.shape.len() > 8 {
        return Err(Error::Shape { op: "wgpu", msg: format!("at most 8 dims, got {:?}", a.shape) });
    }
    let pad8 = |v: &[usize], fill: usize| -> Result<[[u32; 4]; 2]> {
        let mut o = [[0u32; 4]; 2];
        for i in 0..8 {
            o[i / 4][i % 4] = u(v.get(i).copied().unwrap_or(fill))?;
        }
        Ok(o)
    };
    Ok(wp::Strided {
        n: u(n)?,
        op,
        dims: a.shape.len() as u32,
        a_off: u(a.offset)?,
        b_off: u(b.map_or(0, |b| b.offset))?,
        alpha,
        shape: pad8(a.shape, 1)?,
        a_str: pad8(a.strides, 0)?,
        b_str: pad8(b.map_or(&[][..], |b| b.strides), 0)?,
        ..Default::default()
    })
}

fn bytes<T: bytemuck::Pod>(p: &T) -> &[u8] {
    bytemuck::bytes_of(p)
}

pub fn unary(dev: &WgpuDevice, op: Unary, x: &Buf, n: usize, y: &Buf) -> Result<()> {
    let (code, alpha) = match op {
        Unary::Gelu => (0, 0.0),
        Unary::GeluTanh => (1, 0.0),
        Unary::QuickGelu => (2, 0.0),
        Unary::Silu => (3, 0.0),
        Unary::Tanh => (4, 0.0),
        Unary::Scale(s) => (5, s),
    };
    let s = Strided { shape: &[n], strides: &[1], offset: 0 };
    let p = strided_params(n, code, alpha, &s, None)?;
    dev.dispatch("elementwise.wgsl", "unary", Spec::F32, &[(0, x), (2, y)], bytes(&p), 3, groups(n))
}

#[allow(clippy::too_many_arguments)]
pub fn binary(
    dev: &WgpuDevice,
    op: Binary,
    a: &Buf,
    a_len: usize,
    l: Strided,
    b: &Buf,
    b_len: usize,
    r: Strided,
    y: &Buf,
) -> Result<()> {
    l.check("binary", "lhs", a_len)?;
    r.check("binary", "rhs", b_len)?;
    if l.shape != r.shape {
        return Err(Error::Shape { op: "binary", msg: format!("views {:?} and {:?} differ", l.shape, r.shape) });
    }
    let code = match op {
        Binary::Add => 0,
        Binary::Sub => 1,
        Binary::Mul => 2,
        Binary::Div => 3,
    };
    let n = l.len();
    let p = strided_params(n, code, 0.0, &l, Some(&r))?;
    dev.dispatch("elementwise.wgsl", "binary", Spec::F32, &[(0, a), (1, b), (2, y)], bytes(&p), 3, groups(n))
}

/// y = the elements of x's view `s`, dense.
pub fn copy(dev: &WgpuDevice, x: &Buf, x_len: usize, s: Strided, y: &Buf) -> Result<()> {
    s.check("copy", "src", x_len)?;
    let n = s.len();
    let p = strided_params(n, 0, 0.0, &s, None)?;
    dev.dispatch("elementwise.wgsl", "copy", Spec::F32, &[(0, x), (2, y)], bytes(&p), 3, groups(n))
}

/// y = the elements of x's view `s`, dense, cast between f32 and f16
/// (`to_f16`: f32 → f16, else f16 → f32). Needs SHADER_F16.
pub fn cast(dev: &WgpuDevice, x: &Buf, x_len: usize, s: Strided, to_f16: bool, y: &Buf) -> Result<()> {
    s.check("cast", "src", x_len)?;
    let n = s.len();
    let p = strided_params(n, 0, 0.0, &s, None)?;
    let (entry, bufs) = if to_f16 { ("f32_to_f16", [(0, x), (2, y)]) } else { ("f16_to_f32", [(1, x), (3, y)]) };
    dev.dispatch("cast.wgsl", entry, Spec::F32, &bufs, bytes(&p), 4, groups(n))
}

/// y[r, :] = table[ids[r], :] for `n_ids` u32 ids; an id ≥ `rows` (the
/// table's) gives a zero row (callers check ids where they have them).
pub fn embedding(
    dev: &WgpuDevice,
    table: &Buf,
    rows: usize,
    dim: usize,
    ids: &Buf,
    n_ids: usize,
    y: &Buf,
) -> Result<()> {
    let n = n_ids * dim;
    // p.op holds the table's rows, p.dims the row width.
    let p = wp::Strided { n: u(n)?, op: u(rows)?, dims: u(dim)?, ..Default::default() };
    dev.dispatch("elementwise.wgsl", "embedding", Spec::F32, &[(0, table), (1, ids), (2, y)], bytes(&p), 3, groups(n))
}

fn norm_params(rows: usize, n: usize, eps: f32) -> Result<NormParams> {
    Ok(NormParams { rows: u(rows)?, n: u(n)?, eps, _p0: 0 })
}

fn row_groups(rows: usize) -> (u32, u32, u32) {
    let x = rows.clamp(1, 65_535);
    (x as u32, rows.div_ceil(x).max(1) as u32, 1)
}

pub fn layer_norm(dev: &WgpuDevice, x: &Buf, rows: usize, n: usize, w: &Buf, b: &Buf, eps: f32, y: &Buf) -> Result<()> {
    let p = norm_params(rows, n, eps)?;
    dev.dispatch(
        "norm.wgsl",
        "layer_norm",
        Spec::F32,
        &[(0, x), (1, w), (2, b), (3, y)],
        bytes(&p),
        4,
        row_groups(rows),
    )
}

pub fn rms_norm(dev: &WgpuDevice, x: &Buf, rows: usize, n: usize, w: &Buf, eps: f32, y: &Buf) -> Result<()> {
    let p = norm_params(rows, n, eps)?;
    dev.dispatch("norm.wgsl", "rms_norm", Spec::F32, &[(0, x), (1, w), (3, y)], bytes(&p), 4, row_groups(rows))
}

pub fn softmax(dev: &WgpuDevice, x: &Buf, rows: usize, n: usize, y: &Buf) -> Result<()> {
    let p = norm_params(rows, n, 0.0)?;
    dev.dispatch("norm.wgsl", "softmax", Spec::F32, &[(0, x), (3, y)], bytes(&p), 4, row_groups(rows))
}

pub fn rope(dev: &WgpuDevice, r: &Rope, x: &Buf, cos: &Buf, sin: &Buf, y: &Buf) -> Result<()> {
    let rows = r.outer * r.t * r.inner;
    let p = RopeParams { rows: u(rows)?, t: u(r.t)?, inner: u(r.inner)?, d: u(r.d)? };
    let bufs = [(0, x), (1, cos), (2, sin), (3, y)];
    dev.dispatch("rope.wgsl", "rope", Spec::F32, &bufs, bytes(&p), 4, groups(rows * r.d / 2))
}

pub fn im2col(dev: &WgpuDevice, p: &Im2col, x: &Buf, x_len: usize, y: &Buf) -> Result<()> {
    p.check(x_len, p.out_len())?;
    if p.kh != p.kw {
        return Err(Error::Shape { op: "im2col", msg: "square kernels only on wgpu".into() });
    }
    let (oh, ow) = p.out_hw();
    let params = LayoutParams {
        n: u(p.n)?,
        c: u(p.c)?,
        h: u(p.h)?,
        w: u(p.w)?,
        k: u(p.kh)?,
        stride: u(p.stride)?,
        pad: u(p.pad)?,
        oh: u(oh)?,
        ow: u(ow)?,
        total: u(p.out_len())?,
        ..Default::default()
    };
    dev.dispatch("layout.wgsl", "im2col", Spec::F32, &[(0, x), (1, y)], bytes(&params), 2, groups(p.out_len()))
}

/// y[o·inner_y + at + i] = x[o·inner_x + i]: a concatenation part, or KV-cache rows.
pub fn concat(
    dev: &WgpuDevice,
    x: &Buf,
    outer: usize,
    inner_x: usize,
    inner_y: usize,
    at: usize,
    y: &Buf,
) -> Result<()> {
    let total = outer * inner_x;
    let params =
        LayoutParams { total: u(total)?, inner_x: u(inner_x)?, inner_y: u(inner_y)?, at: u(at)?, ..Default::default() };
    dev.dispatch("layout.wgsl", "concat", Spec::F32, &[(0, x), (1, y)], bytes(&params), 2, groups(total))
}

/// GEMM over f32 buffers, or f16 ones with `spec` F16 (f32 accumulation).
#[allow(clippy::too_many_arguments)]
pub fn gemm(
    dev: &WgpuDevice,
    spec: Spec,
    p: &Gemm,
    a: &Buf,
    a_len: usize,
    b: &Buf,
    b_len: usize,
    c: &Buf,
    c_len: usize,
) -> Result<()> {
    p.check(a_len, b_len, c_len)?;
    if p.batch * p.m * p.n == 0 {
        return Ok(());
    }
    let l = |m: &MatLayout| -> Result<[u32; 4]> {
        Ok([u(m.offset)?, u(m.batch_stride)?, u(m.row_stride)?, u(m.col_stride)?])
    };
    let params = GemmParams {
        m: u(p.m)?,
        n: u(p.n)?,
        k: u(p.k)?,
        batch: u(p.batch)?,
        alpha: p.alpha,
        beta: p.beta,
        a: l(&p.a)?,
        b: l(&p.b)?,
        c: l(&p.c)?,
        ..Default::default()
    };
    dev.dispatch(
        "gemm.wgsl",
        "gemm",
        spec,
        &[(0, a), (1, b), (2, c)],
        bytes(&params),
        3,
        (u(p.n.div_ceil(64))?, u(p.m.div_ceil(64))?, u(p.batch)?),
    )
}

/// The mask of an attention dispatch (buffer and its length in elements):
/// none, additive f32, or keep (1/0 as f32).
pub type WgpuMask<'a> = crate::MaskOf<(&'a Buf, usize), (&'a Buf, usize)>;

#[allow(clippy::too_many_arguments)]
pub fn attention(
    dev: &WgpuDevice,
    p: &Attention,
    q: &Buf,
    k: &Buf,
    v: &Buf,
    lens: [usize; 4],
    mask: WgpuMask,
    o: &Buf,
) -> Result<()> {
    p.check(lens[0], lens[1], lens[2], lens[3], mask.map(|m| m.1, |m| m.1))?;
    if p.d > 256 {
        return Err(Error::Shape { op: "attention", msg: format!("head dim {} > 256 on wgpu", p.d) });
    }
    if p.b * p.h * p.tq * p.d == 0 {
        return Ok(());
    }
    let (kind, mbuf, ml) = match mask {
        WgpuMask::None => (0, q, MaskLayout::shared(0)),
        WgpuMask::Additive((m, _), l) => (1, m, l),
        WgpuMask::Keep((m, _), l) => (2, m, l),
    };
    let h = |x: &Heads| -> Result<[u32; 4]> { Ok([u(x.offset)?, u(x.b_stride)?, u(x.h_stride)?, u(x.t_stride)?]) };
    let params = AttentionParams {
        b: u(p.b)?,
        h: u(p.h)?,
        hkv: u(p.hkv)?,
        tq: u(p.tq)?,
        tk: u(p.tk)?,
        d: u(p.d)?,
        scale: p.scale,
        causal: p.causal as u32,
        mask_kind: kind,
        q: h(&p.q)?,
        k: h(&p.k)?,
        v: h(&p.v)?,
        o: h(&p.o)?,
        m: [u(ml.offset)?, u(ml.b_stride)?, u(ml.h_stride)?, u(ml.q_stride)?],
        ..Default::default()
    };
    // Without a mask the shader never reads binding 3; q stands in for it.
    let bufs = [(0, q), (1, k), (2, v), (3, mbuf), (4, o)];
    dev.dispatch("attention.wgsl", "attention", Spec::F32, &bufs, bytes(&params), 5, (u(p.tq)?, u(p.h)?, u(p.b)?))
}
