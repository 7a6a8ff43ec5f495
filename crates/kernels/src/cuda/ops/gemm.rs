//! Launches of the GEMM kernels: gemm.cu (SIMT f32, mma.sync for strided
//! 16-bit operands, the cp.async-pipelined tensor-core kernels for aligned
//! ones) and, on Hopper, gemm_sm90.cu (TMA + wgmma) for a Linear's layout.

use cudarc::driver::{CudaSlice, DeviceRepr, LaunchConfig, PushKernelArg};

use super::{knob, launch_err, CudaElem};
use crate::cuda::CudaDevice;
use crate::error::{Error, Result};
use crate::params::{Gemm, Unary};

#[repr(C)]
#[derive(Clone, Copy)]
struct GemmC {
    m: i32,
    n: i32,
    k: i32,
    alpha: f32,
    beta: f32,
    a: [i64; 4],
    b: [i64; 4],
    c: [i64; 4],
    act: i32,
}
// SAFETY: plain old data laid out as `struct GemmParams` in gemm.cu.
unsafe impl DeviceRepr for GemmC {}

/// C = alpha·A·B + beta·C on the device (see `Gemm`).
pub fn gemm<T: CudaElem>(
    dev: &CudaDevice,
    p: &Gemm,
    a: &CudaSlice<T>,
    b: &CudaSlice<T>,
    c: &mut CudaSlice<T>,
) -> Result<()> {
    gemm_fused(dev, p, a, b, None, None, c)
}

/// The activations a GEMM epilogue applies (the `Act` codes of common.cuh).
fn act_code(act: Option<Unary>) -> Result<i32> {
    Ok(match act {
        None => 0,
        Some(Unary::Gelu) => 1,
        Some(Unary::GeluTanh) => 2,
        Some(Unary::QuickGelu) => 3,
        Some(Unary::Silu) => 4,
        Some(op) => return Err(Error::Shape { op: "gemm", msg: format!("{op:?} is not a GEMM epilogue on cuda") }),
    })
}

/// Which pipelined tensor-core kernel takes these operands, if one does: A's
/// rows and B's rows or columns contiguous, every offset and stride a whole
/// 16 bytes (cp.async moves 16-byte chunks). "bk": B stored [N, K] (a Linear
/// weight); "bn": B stored [K, N].
fn tc_variant(p: &Gemm) -> Option<&'static str> {
    let al = |v: usize| v.is_multiple_of(8);
    let batch_ok = |l: &crate::MatLayout| p.batch == 1 || al(l.batch_stride);
    let (a, b) = (&p.a, &p.b);
    if a.col_stride != 1 || !al(a.row_stride) || !al(a.offset) || !batch_ok(a) || !al(b.offset) || !batch_ok(b) {
        return None;
    }
    if b.row_stride == 1 && al(b.col_stride) {
        Some("bk")
    } else if b.col_stride == 1 && al(b.row_stride) {
        Some("bn")
    } else {
        None
    }
}

/// C = act(alpha·A·B + beta·C + bias) with bias [N] broadcast over the rows:
/// the epilogue of the CPU's `gemm_packed`, applied to each tile in registers.
pub fn gemm_fused<T: CudaElem>(
    dev: &CudaDevice,
    p: &Gemm,
    a: &CudaSlice<T>,
    b: &CudaSlice<T>,
    bias: Option<&CudaSlice<T>>,
    act: Option<Unary>,
    c: &mut CudaSlice<T>,
) -> Result<()> {
    p.check(a.len(), b.len(), c.len())?;
    if let Some(bias) = bias {
        crate::error::check_extent("gemm", "bias", bias.len(), 0, &[(p.n, 1)])?;
    }
    if p.batch * p.m * p.n == 0 {
        return Ok(());
    }
    let l = |m: &crate::MatLayout| [m.offset as i64, m.batch_stride as i64, m.row_stride as i64, m.col_stride as i64];
    let params = GemmC {
        m: p.m as i32,
        n: p.n as i32,
        k: p.k as i32,
        alpha: p.alpha,
        beta: p.beta,
        a: l(&p.a),
        b: l(&p.b),
        c: l(&p.c),
        act: act_code(act)?,
    };
    let variant = tc_variant(p);
    // A few rows in a Linear's layout (a decode step): the GEMV streams B once.
    if p.m <= 8 && p.k.is_multiple_of(8) && variant == Some("bk") {
        return launch(dev, p, &format!("gemv_bk_{}", T::SUFFIX), (p.n.div_ceil(8), 1), a, b, bias, &params, c);
    }
    if wgmma_fits::<T>(dev, p, variant) {
        return gemm_sm90(dev, p, a, b, bias, &params, c);
    }
    let name = match (T::SUFFIX, variant) {
        ("float", _) => "gemm_f32".to_string(),
        (s, Some(v)) => format!("gemm_tc_{s}_{v}"),
        (s, None) => format!("gemm_{s}"),
    };
    launch(dev, p, &name, (p.n.div_ceil(128), p.m.div_ceil(128)), a, b, bias, &params, c)
}

/// One gemm.cu kernel (A, B, C, p, bias) over a grid of (x, y, batch) blocks of 256.
#[allow(clippy::too_many_arguments)]
fn launch<T: CudaElem>(
    dev: &CudaDevice,
    p: &Gemm,
    name: &str,
    (x, y): (usize, usize),
    a: &CudaSlice<T>,
    b: &CudaSlice<T>,
    bias: Option<&CudaSlice<T>>,
    params: &GemmC,
    c: &mut CudaSlice<T>,
) -> Result<()> {
    let f = dev.function("gemm.cu", name)?;
    let cfg =
        LaunchConfig { grid_dim: (x as u32, y as u32, p.batch as u32), block_dim: (256, 1, 1), shared_mem_bytes: 0 };
    let mut args = dev.stream.launch_builder(&f);
    args.arg(a).arg(b).arg(c).arg(params);
    // SAFETY: (A, B, C, p) pushed as gemm.cu's kernels declare them; extents checked by the caller.
    unsafe { launch_with_bias(args, bias, cfg, name) }
}

/// Pushes the epilogue's bias, the last argument of every GEMM kernel (a
/// null pointer for none, which the kernels never read), and launches.
///
/// # Safety
/// `args` holds the kernel's other arguments, in order, with their extents checked.
unsafe fn launch_with_bias<'a, T: CudaElem>(
    mut args: cudarc::driver::LaunchArgs<'a>,
    bias: Option<&'a CudaSlice<T>>,
    cfg: LaunchConfig,
    name: &str,
) -> Result<()> {
    static NULL: u64 = 0;
    match bias {
        Some(bias) => args.arg(bias),
        None => args.arg(&NULL),
    };
    // SAFETY: the caller's arguments, then the bias the kernel declares last.
    unsafe { args.launch(cfg) }.map_err(|e| launch_err(name, e))?;
    Ok(())
}

/// Whether gemm_sm90.cu's kernel takes this product: a Hopper GPU, 16-bit
/// elements, a Linear's layout (A [M, K], B [N, K], both k-contiguous and
/// 16-byte aligned), a batch stride on each operand when batched.
/// `IRIS_CUDA_GEMM=mma` keeps Hopper on the mma.sync kernels (to compare;
/// `n128` / `n256` fix the wgmma tile width).
fn wgmma_fits<T: CudaElem>(dev: &CudaDevice, p: &Gemm, variant: Option<&str>) -> bool {
    let batch_ok = p.batch == 1 || (p.a.batch_stride > 0 && p.b.batch_stride > 0);
    dev.arch == 90 && T::SUFFIX != "float" && variant == Some("bk") && batch_ok && gemm_knob() != Some("mma")
}

/// IRIS_CUDA_GEMM: `mma`, `n128` or `n256` (see `wgmma_fits`, `sm90_width`).
fn gemm_knob() -> Option<&'static str> {
    static GEMM: std::sync::OnceLock<Option<String>> = std::sync::OnceLock::new();
    knob(&GEMM, "IRIS_CUDA_GEMM")
}

/// A TMA descriptor as the kernel takes it (`TmaMap` in sm90.cuh).
#[repr(C, align(64))]
#[derive(Clone, Copy)]
struct TmaMap([u64; 16]);
// SAFETY: plain old data laid out as `struct TmaMap` in sm90.cuh.
unsafe impl DeviceRepr for TmaMap {}

/// Dynamic shared memory of gemm_sm90.cu's kernel for tiles 128 × `bn` (its SM90_SMEM).
fn sm90_smem(bn: usize) -> usize {
    1024 + 4 * (16384 + bn * 128) + 2 * 4 * 8
}

/// The wgmma tile width: 128 columns (`IRIS_CUDA_GEMM=n256` for 256). On the
/// H200 (2026-11-30, docs/benchmarks.md) 128 × 128 tiles ran 4096³ in 0.368 ms
/// against 0.462 for 128 × 256, and 8192³ in 2.46 ms against 2.54, although
/// wide tiles read less of A and B per flop: the 256-wide consumers' epilogue
/// and register pressure cost more than the traffic saved.
fn sm90_width() -> usize {
    match gemm_knob() {
        Some("n256") => 256,
        _ => 128,
    }
}

/// A TMA map over a k-contiguous operand [batch, rows, K] at device address
/// `ptr`: boxes of 64 k × `box_rows` rows, 128-byte swizzled, zeros past the edges.
#[allow(clippy::too_many_arguments)]
fn tma_map<T: CudaElem>(
    ptr: u64,
    k: usize,
    rows: usize,
    batch: usize,
    rs: usize,
    bs: usize,
    box_rows: u32,
) -> Result<TmaMap> {
    use cudarc::driver::sys;
    let es = T::DTYPE.size() as u64;
    let dtype = match T::SUFFIX {
        "bf16" => sys::CUtensorMapDataType::CU_TENSOR_MAP_DATA_TYPE_BFLOAT16,
        _ => sys::CUtensorMapDataType::CU_TENSOR_MAP_DATA_TYPE_FLOAT16,
    };
    let dims = [k as u64, rows as u64, batch as u64];
    // A single batch still needs a valid (non-zero, 16-byte) stride.
    let batch_bytes = if batch == 1 { (rows * rs) as u64 * es } else { bs as u64 * es };
    let strides = [rs as u64 * es, batch_bytes];
    let (boxes, elems) = ([64u32, box_rows, 1], [1u32; 3]);
    let mut map = std::mem::MaybeUninit::<sys::CUtensorMap>::zeroed();
    // SAFETY: every array has the rank's length (strides one less); the
    // address and strides are 16-byte multiples (tc_variant checked them).
    unsafe {
        sys::cuTensorMapEncodeTiled(
            map.as_mut_ptr(),
            dtype,
            3,
            ptr as *mut std::ffi::c_void,
            dims.as_ptr(),
            strides.as_ptr(),
            boxes.as_ptr(),
            elems.as_ptr(),
            sys::CUtensorMapInterleave::CU_TENSOR_MAP_INTERLEAVE_NONE,
            sys::CUtensorMapSwizzle::CU_TENSOR_MAP_SWIZZLE_128B,
            sys::CUtensorMapL2promotion::CU_TENSOR_MAP_L2_PROMOTION_L2_256B,
            sys::CUtensorMapFloatOOBfill::CU_TENSOR_MAP_FLOAT_OOB_FILL_NONE,
        )
        .result()
        .map_err(|e| Error::Device(format!("cuda: cuTensorMapEncodeTiled ({rows}×{k}, batch {batch}): {e:?}")))?;
        Ok(TmaMap(map.assume_init().opaque))
    }
}

fn gemm_sm90<T: CudaElem>(
    dev: &CudaDevice,
    p: &Gemm,
    a: &CudaSlice<T>,
    b: &CudaSlice<T>,
    bias: Option<&CudaSlice<T>>,
    params: &GemmC,
    c: &mut CudaSlice<T>,
) -> Result<()> {
    use cudarc::driver::{sys, DevicePtr};
    let bn = sm90_width();
    let name = format!("gemm_wgmma_{}_n{bn}", T::SUFFIX);
    let f = dev.function("gemm_sm90.cu", &name)?;
    let attr = sys::CUfunction_attribute::CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES;
    f.set_attribute(attr, sm90_smem(bn) as i32).map_err(|e| launch_err(&name, e))?;
    let es = T::DTYPE.size() as u64;
    // The guards keep the operands' stream ordering until the launch is queued.
    let (ap, _ga) = a.device_ptr(&dev.stream);
    let (bp, _gb) = b.device_ptr(&dev.stream);
    let (a0, b0) = (ap + p.a.offset as u64 * es, bp + p.b.offset as u64 * es);
    let amap = tma_map::<T>(a0, p.k, p.m, p.batch, p.a.row_stride, p.a.batch_stride, 128)?;
    let bmap = tma_map::<T>(b0, p.k, p.n, p.batch, p.b.col_stride, p.b.batch_stride, bn as u32)?;
    let cfg = LaunchConfig {
        grid_dim: (p.n.div_ceil(bn) as u32, p.m.div_ceil(128) as u32, p.batch as u32),
        block_dim: (384, 1, 1),
        shared_mem_bytes: sm90_smem(bn) as u32,
    };
    let mut args = dev.stream.launch_builder(&f);
    args.arg(&amap).arg(&bmap).arg(c).arg(params);
    // SAFETY: (amap, bmap, C, p) as the kernel declares them; the maps cover
    // exactly A and B (p.check ran).
    unsafe { launch_with_bias(args, bias, cfg, &name) }
}
