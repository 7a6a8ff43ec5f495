//! Launches of the `cuda/*.cu` kernels with the same parameter types as the
//! CPU kernels (`Gemm`, `Attention`, `Strided`, ...), checked the same way
//! before anything runs on the device.

use cudarc::driver::{CudaSlice, DeviceRepr, LaunchConfig, PushKernelArg, ValidAsZeroBits};
use half::{bf16, f16};

use crate::cuda::CudaDevice;
use crate::error::{Error, Result};
use crate::params::{Im2col, Rope, Strided, Unary};
use crate::{Binary, Element};

/// Element types with CUDA kernels; `SUFFIX` names their instantiation.
pub trait CudaElem: Element + DeviceRepr + ValidAsZeroBits {
    const SUFFIX: &'static str;
}
impl CudaElem for f32 {
    const SUFFIX: &'static str = "float";
}
impl CudaElem for bf16 {
    const SUFFIX: &'static str = "bf16";
}
impl CudaElem for f16 {
    const SUFFIX: &'static str = "f16";
}

mod attention;
mod gemm;

pub use attention::{attention, CudaMask};
pub use gemm::{gemm, gemm_fused};

fn launch_err(name: &str, e: impl std::fmt::Debug) -> Error {
    Error::Device(format!("cuda: launching {name}: {e:?}"))
}

/// Elements of T in one 16-byte access (the kernels' vector paths).
fn vec_len<T: CudaElem>() -> usize {
    16 / T::DTYPE.size()
}

/// Threads for n elements, `vec_len` to a thread when n is a whole number of
/// 16-byte vectors.
fn grid_vec<T: CudaElem>(n: usize) -> LaunchConfig {
    let v = vec_len::<T>();
    grid_1d(if n.is_multiple_of(v) { n / v } else { n })
}

/// An IRIS_CUDA_* variable that picks a kernel variant (to compare them),
/// read once per process: launches do not look at the environment.
fn knob(cell: &'static std::sync::OnceLock<Option<String>>, var: &str) -> Option<&'static str> {
    cell.get_or_init(|| std::env::var(var).ok()).as_deref()
}

fn grid_1d(n: usize) -> LaunchConfig {
    let blocks = n.div_ceil(256).clamp(1, 65_535 * 8) as u32;
    LaunchConfig { grid_dim: (blocks, 1, 1), block_dim: (256, 1, 1), shared_mem_bytes: 0 }
}

#[repr(C)]
#[derive(Clone, Copy)]
struct StridedC {
    shape: [i64; 6],
    strides: [i64; 6],
    offset: i64,
    dims: i32,
}
// SAFETY: plain old data laid out as `struct Strided` in common.cuh.
unsafe impl DeviceRepr for StridedC {}

fn strided(op: &'static str, s: &Strided) -> Result<StridedC> {
    if s.shape.len() > 6 {
        return Err(Error::Shape { op, msg: format!("at most 6 dimensions on cuda, got {:?}", s.shape) });
    }
    let mut c = StridedC { shape: [1; 6], strides: [0; 6], offset: s.offset as i64, dims: s.shape.len() as i32 };
    for (d, (&n, &st)) in s.shape.iter().zip(s.strides).enumerate() {
        c.shape[d] = n as i64;
        c.strides[d] = st as i64;
    }
    Ok(c)
}

/// y = op(x) over dense buffers.
pub fn unary<T: CudaElem>(dev: &CudaDevice, op: Unary, x: &CudaSlice<T>, y: &mut CudaSlice<T>) -> Result<()> {
    if x.len() != y.len() {
        return Err(Error::Shape { op: "unary", msg: format!("input {} and output {} differ", x.len(), y.len()) });
    }
    let (kind, alpha) = match op {
        Unary::Gelu => ("gelu", 0.0),
        Unary::GeluTanh => ("gelu_tanh", 0.0),
        Unary::QuickGelu => ("quick_gelu", 0.0),
        Unary::Silu => ("silu", 0.0),
        Unary::Tanh => ("tanh", 0.0),
        Unary::Scale(s) => ("scale", s),
    };
    let name = format!("unary_{kind}_{}", T::SUFFIX);
    let f = dev.function("elementwise.cu", &name)?;
    let n = x.len() as i64;
    let mut args = dev.stream.launch_builder(&f);
    args.arg(x).arg(y).arg(&n).arg(&alpha);
    // SAFETY: signature (x, y, n, alpha); lengths equal.
    unsafe { args.launch(grid_vec::<T>(x.len())) }.map_err(|e| launch_err(&name, e))?;
    Ok(())
}

/// out[i] = a[l(i)] op b[r(i)] with both views broadcast to out's shape.
pub fn binary<T: CudaElem>(
    dev: &CudaDevice,
    op: Binary,
    a: &CudaSlice<T>,
    l: Strided,
    b: &CudaSlice<T>,
    r: Strided,
    out: &mut CudaSlice<T>,
) -> Result<()> {
    l.check("binary", "lhs", a.len())?;
    r.check("binary", "rhs", b.len())?;
    if l.shape != r.shape || l.len() != out.len() {
        return Err(Error::Shape {
            op: "binary",
            msg: format!("views {:?} and {:?} for {} outputs", l.shape, r.shape, out.len()),
        });
    }
    let kind = match op {
        Binary::Add => "add",
        Binary::Sub => "sub",
        Binary::Mul => "mul",
        Binary::Div => "div",
    };
    if l.is_dense() && r.is_dense() {
        let name = format!("binary_dense_{kind}_{}", T::SUFFIX);
        let f = dev.function("elementwise.cu", &name)?;
        let n = out.len() as i64;
        let mut args = dev.stream.launch_builder(&f);
        args.arg(a).arg(b).arg(out).arg(&n);
        // SAFETY: signature (a, b, y, n); both views dense over n elements (checked).
        unsafe { args.launch(grid_vec::<T>(n as usize)) }.map_err(|e| launch_err(&name, e))?;
        return Ok(());
    }
    let name = format!("binary_{kind}_{}", T::SUFFIX);
    let f = dev.function("elementwise.cu", &name)?;
    let (sa, sb, n) = (strided("binary", &l)?, strided("binary", &r)?, out.len() as i64);
    let mut args = dev.stream.launch_builder(&f);
    args.arg(a).arg(b).arg(out).arg(&sa).arg(&sb).arg(&n);
    // SAFETY: signature (a, b, y, sa, sb, n); extents checked.
    unsafe { args.launch(grid_1d(n as usize)) }.map_err(|e| launch_err(&name, e))?;
    Ok(())
}

/// dst = src viewed through `s`, cast to D (strided copy, contiguous, cast).
pub fn copy<S: CudaElem, D: CudaElem>(
    dev: &CudaDevice,
    src: &CudaSlice<S>,
    s: Strided,
    dst: &mut CudaSlice<D>,
) -> Result<()> {
    s.check("copy", "src", src.len())?;
    if s.len() != dst.len() {
        return Err(Error::Shape { op: "copy", msg: format!("{} elements into {}", s.len(), dst.len()) });
    }
    let bytes = dst.len() * S::DTYPE.size();
    if S::DTYPE == D::DTYPE && s.is_dense() && bytes.is_multiple_of(16) {
        let f = dev.function("elementwise.cu", "copy_dense16")?;
        let n16 = (bytes / 16) as i64;
        let mut args = dev.stream.launch_builder(&f);
        args.arg(src).arg(dst).arg(&n16);
        // SAFETY: signature (x, y, n16) over raw bytes: same dtype, both buffers hold n16 × 16 bytes.
        unsafe { args.launch(grid_1d(n16 as usize)) }.map_err(|e| launch_err("copy_dense16", e))?;
        return Ok(());
    }
    let name = format!("copy_{}_{}", S::SUFFIX, D::SUFFIX);
    let f = dev.function("elementwise.cu", &name)?;
    let (sx, n) = (strided("copy", &s)?, dst.len() as i64);
    let mut args = dev.stream.launch_builder(&f);
    args.arg(src).arg(dst).arg(&sx).arg(&n);
    // SAFETY: signature (x, y, sx, n).
    unsafe { args.launch(grid_1d(n as usize)) }.map_err(|e| launch_err(&name, e))?;
    Ok(())
}

fn rows_launch<T: CudaElem>(
    dev: &CudaDevice,
    name: &str,
    rows: usize,
) -> Result<(cudarc::driver::CudaFunction, LaunchConfig)> {
    let f = dev.function("norm.cu", &format!("{name}_{}", T::SUFFIX))?;
    Ok((f, LaunchConfig { grid_dim: (rows.max(1) as u32, 1, 1), block_dim: (256, 1, 1), shared_mem_bytes: 0 }))
}

/// Layer norm over rows of `w.len()`.
pub fn layer_norm<T: CudaElem>(
    dev: &CudaDevice,
    x: &CudaSlice<T>,
    w: &CudaSlice<T>,
    b: &CudaSlice<T>,
    eps: f32,
    y: &mut CudaSlice<T>,
) -> Result<()> {
    let n = w.len();
    let rows = crate::params::check_rows("layer_norm", x.len(), n, y.len(), &[b.len()])?;
    let (f, cfg) = rows_launch::<T>(dev, "layer_norm", rows)?;
    let (r, ni) = (rows as i32, n as i32);
    let mut args = dev.stream.launch_builder(&f);
    args.arg(x).arg(w).arg(b).arg(y).arg(&r).arg(&ni).arg(&eps);
    // SAFETY: signature (x, w, b, y, rows, n, eps).
    unsafe { args.launch(cfg) }.map_err(|e| launch_err("layer_norm", e))?;
    Ok(())
}

/// RMS norm over rows of `w.len()`.
pub fn rms_norm<T: CudaElem>(
    dev: &CudaDevice,
    x: &CudaSlice<T>,
    w: &CudaSlice<T>,
    eps: f32,
    y: &mut CudaSlice<T>,
) -> Result<()> {
    let n = w.len();
    let rows = crate::params::check_rows("rms_norm", x.len(), n, y.len(), &[])?;
    let (f, cfg) = rows_launch::<T>(dev, "rms_norm", rows)?;
    let (r, ni) = (rows as i32, n as i32);
    let mut args = dev.stream.launch_builder(&f);
    args.arg(x).arg(w).arg(y).arg(&r).arg(&ni).arg(&eps);
    // SAFETY: signature (x, w, y, rows, n, eps).
    unsafe { args.launch(cfg) }.map_err(|e| launch_err("rms_norm", e))?;
    Ok(())
}

/// Softmax over rows of `n`.
pub fn softmax<T: CudaElem>(dev: &CudaDevice, x: &CudaSlice<T>, n: usize, y: &mut CudaSlice<T>) -> Result<()> {
    let rows = crate::params::check_rows("softmax", x.len(), n, y.len(), &[])?;
    let (f, cfg) = rows_launch::<T>(dev, "softmax", rows)?;
    let (r, ni) = (rows as i32, n as i32);
    let mut args = dev.stream.launch_builder(&f);
    args.arg(x).arg(y).arg(&r).arg(&ni);
    // SAFETY: signature (x, y, rows, n).
    unsafe { args.launch(cfg) }.map_err(|e| launch_err("softmax", e))?;
    Ok(())
}

/// Rotate-half RoPE (see `Rope`).
pub fn rope<T: CudaElem>(
    dev: &CudaDevice,
    p: &Rope,
    x: &CudaSlice<T>,
    cos: &CudaSlice<f32>,
    sin: &CudaSlice<f32>,
    y: &mut CudaSlice<T>,
) -> Result<()> {
    let n = p.outer * p.t * p.inner * p.d;
    if x.len() != n || y.len() != n || cos.len() != p.t * p.d / 2 || sin.len() != cos.len() || !p.d.is_multiple_of(2) {
        return Err(Error::Shape {
            op: "rope",
            msg: format!("{p:?} with x {}, cos {}, out {}", x.len(), cos.len(), y.len()),
        });
    }
    let name = format!("rope_{}", T::SUFFIX);
    let f = dev.function("rope.cu", &name)?;
    let dims = [p.outer as i32, p.t as i32, p.inner as i32, p.d as i32];
    let mut args = dev.stream.launch_builder(&f);
    args.arg(x).arg(cos).arg(sin).arg(y).arg(&dims[0]).arg(&dims[1]).arg(&dims[2]).arg(&dims[3]);
    // The kernel takes 16 bytes of pairs a thread when half of d allows.
    let v = vec_len::<T>();
    let threads = if (p.d / 2).is_multiple_of(v) { n / 2 / v } else { n / 2 };
    // SAFETY: signature (x, cos, sin, y, outer, t, inner, d).
    unsafe { args.launch(grid_1d(threads)) }.map_err(|e| launch_err(&name, e))?;
    Ok(())
}

/// im2col of [N, C, H, W] (see `Im2col`).
pub fn im2col<T: CudaElem>(dev: &CudaDevice, p: &Im2col, x: &CudaSlice<T>, y: &mut CudaSlice<T>) -> Result<()> {
    p.check(x.len(), y.len())?;
    let (oh, ow) = p.out_hw();
    if p.kh != p.kw {
        return Err(Error::Shape { op: "im2col", msg: "square kernels only on cuda".into() });
    }
    let name = format!("im2col_{}", T::SUFFIX);
    let f = dev.function("layout.cu", &name)?;
    let d = [p.n, p.c, p.h, p.w, p.kh, p.stride, p.pad, oh, ow].map(|v| v as i32);
    let mut args = dev.stream.launch_builder(&f);
    args.arg(x).arg(y);
    for v in &d {
        args.arg(v);
    }
    // SAFETY: signature (x, y, n, c, h, w, k, stride, pad, oh, ow).
    unsafe { args.launch(grid_1d(p.out_len())) }.map_err(|e| launch_err(&name, e))?;
    Ok(())
}

/// Rows of `table` [V, dim] picked by `ids` (on the device); an id ≥ V
/// gives a zero row (callers check ids where they have them, on the host).
pub fn embedding<T: CudaElem>(
    dev: &CudaDevice,
    table: &CudaSlice<T>,
    dim: usize,
    ids: &CudaSlice<u32>,
    out: &mut CudaSlice<T>,
) -> Result<()> {
    let n = out.len() / dim.max(1);
    if dim == 0 || out.len() != n * dim || ids.len() < n || !table.len().is_multiple_of(dim) {
        return Err(Error::Shape {
            op: "embedding",
            msg: format!("{} ids of {dim} into {}, table {}", ids.len(), out.len(), table.len()),
        });
    }
    let name = format!("embedding_{}", T::SUFFIX);
    let f = dev.function("elementwise.cu", &name)?;
    let (r, d, v) = (n as i32, dim as i32, (table.len() / dim) as i32);
    let cfg = LaunchConfig { grid_dim: (n.max(1) as u32, 1, 1), block_dim: (128, 1, 1), shared_mem_bytes: 0 };
    let mut args = dev.stream.launch_builder(&f);
    args.arg(table).arg(ids).arg(out).arg(&r).arg(&d).arg(&v);
    // SAFETY: signature (table, ids, y, rows, d, vocab); the kernel reads the table only below vocab.
    unsafe { args.launch(cfg) }.map_err(|e| launch_err(&name, e))?;
    Ok(())
}

/// y[o, at + i] = x[o, i] for o < outer, i < inner_x, with y rows of inner_y:
/// one part of a concatenation, or rows written into a KV cache.
pub fn concat<T: CudaElem>(
    dev: &CudaDevice,
    x: &CudaSlice<T>,
    outer: usize,
    inner_x: usize,
    inner_y: usize,
    at: usize,
    y: &mut CudaSlice<T>,
) -> Result<()> {
    crate::params::check_concat(x.len(), outer, inner_x, inner_y, at, y.len())?;
    if outer * inner_x == 0 {
        return Ok(());
    }
    let name = format!("concat_{}", T::SUFFIX);
    let f = dev.function("layout.cu", &name)?;
    let a = [outer as i64, inner_x as i64, inner_y as i64, at as i64];
    let mut args = dev.stream.launch_builder(&f);
    args.arg(x).arg(y).arg(&a[0]).arg(&a[1]).arg(&a[2]).arg(&a[3]);
    // The kernel moves 16 bytes a thread when both rows and `at` are whole vectors.
    let v = vec_len::<T>();
    let vec = inner_x.is_multiple_of(v) && inner_y.is_multiple_of(v) && at.is_multiple_of(v);
    let threads = if vec { outer * inner_x / v } else { outer * inner_x };
    // SAFETY: signature (x, y, outer, inner_x, inner_y, at); extents checked.
    unsafe { args.launch(grid_1d(threads)) }.map_err(|e| launch_err(&name, e))?;
    Ok(())
}
