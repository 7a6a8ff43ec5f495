//! Launches of attention.cu (the fused prefill/cross kernels on CUDA cores
//! and the split-K decode with its combine) and of flash_attention.cu (the
//! tensor-core kernels for 16-bit types with D 64 or 128).

use cudarc::driver::{CudaSlice, DeviceRepr, LaunchConfig, PushKernelArg};

use super::{knob, launch_err, vec_len, CudaElem};
use crate::cuda::CudaDevice;
use crate::error::{Error, Result};
use crate::params::{Attention, Heads, MaskLayout};

#[repr(C)]
#[derive(Clone, Copy)]
struct AttnC {
    b: i32,
    h: i32,
    hkv: i32,
    tq: i32,
    tk: i32,
    d: i32,
    scale: f32,
    causal: i32,
    heads: [[i64; 4]; 4],
    mask: [i64; 4],
    has_mask: i32,
}
// SAFETY: plain old data laid out as `struct AttnParams` in attention.cu.
unsafe impl DeviceRepr for AttnC {}

fn attn_params(p: &Attention, mask: Option<&MaskLayout>) -> AttnC {
    let h = |x: &Heads| [x.offset as i64, x.b_stride as i64, x.h_stride as i64, x.t_stride as i64];
    let m = mask.map_or([0; 4], |m| [m.offset as i64, m.b_stride as i64, m.h_stride as i64, m.q_stride as i64]);
    AttnC {
        b: p.b as i32,
        h: p.h as i32,
        hkv: p.hkv as i32,
        tq: p.tq as i32,
        tk: p.tk as i32,
        d: p.d as i32,
        scale: p.scale,
        causal: p.causal as i32,
        heads: [h(&p.q), h(&p.k), h(&p.v), h(&p.o)],
        mask: m,
        has_mask: mask.is_some() as i32,
    }
}

/// What masks the scores on the device.
pub type CudaMask<'a> = crate::MaskOf<&'a CudaSlice<f32>, &'a CudaSlice<u8>>;

/// Fused attention (see `Attention`); D ≤ 128. A decode step (Tq = 1, no
/// mask) over more than 256 keys is split over the keys.
pub fn attention<T: CudaElem>(
    dev: &CudaDevice,
    p: &Attention,
    q: &CudaSlice<T>,
    k: &CudaSlice<T>,
    v: &CudaSlice<T>,
    mask: CudaMask,
    o: &mut CudaSlice<T>,
) -> Result<()> {
    if p.d > 128 {
        return Err(Error::Shape { op: "attention", msg: format!("head dim {} > 128 is not supported on cuda", p.d) });
    }
    p.check(q.len(), k.len(), v.len(), o.len(), mask.map(|m| m.len(), |m| m.len()))?;
    if p.b * p.h * p.tq * p.d == 0 {
        return Ok(());
    }
    let s = T::SUFFIX;
    if p.tq == 1 && p.tk > 256 && matches!(mask, CudaMask::None) {
        return decode(dev, p, q, k, v, o);
    }
    // IRIS_CUDA_FLASH_WARPS=8: 128 query rows a flash block instead of 64 (to compare).
    static WARPS: std::sync::OnceLock<Option<String>> = std::sync::OnceLock::new();
    let w8 = knob(&WARPS, "IRIS_CUDA_FLASH_WARPS") == Some("8");
    let (rows, threads, pre, post) = match (flash_fits::<T>(p), w8) {
        (true, false) => (64, 128, "flash_", format!("{s}_d{}", p.d)),
        (true, true) => (128, 256, "flash_", format!("{s}_d{}_w8", p.d)),
        (false, _) => (8, 256, "", s.to_string()),
    };
    let cfg = LaunchConfig {
        grid_dim: (p.tq.div_ceil(rows) as u32, p.h as u32, p.b as u32),
        block_dim: (threads, 1, 1),
        shared_mem_bytes: 0,
    };
    let (name, layout) = match &mask {
        CudaMask::Keep(_, l) => (format!("{pre}cross_attention_{post}"), Some(l)),
        CudaMask::Additive(_, l) => (format!("{pre}attention_{post}"), Some(l)),
        CudaMask::None => (format!("{pre}attention_{post}"), None),
    };
    let params = attn_params(p, layout);
    let file = if pre == "flash_" { "flash_attention.cu" } else { "attention.cu" };
    let f = dev.function(file, &name)?;
    let mut args = dev.stream.launch_builder(&f);
    args.arg(q).arg(k).arg(v).arg(o);
    // Without a mask the kernel never reads its mask pointer: a null one goes in.
    let null = 0u64;
    match &mask {
        CudaMask::Additive(m, _) => args.arg(*m),
        CudaMask::Keep(m, _) => args.arg(*m),
        CudaMask::None => args.arg(&null),
    };
    args.arg(&params);
    // SAFETY: argument types and count match the kernel; extents checked above.
    unsafe { args.launch(cfg) }.map_err(|e| launch_err(&name, e))?;
    Ok(())
}

/// Whether flash_attention.cu takes this case: 16-bit elements, D 64 or 128,
/// and every stride and offset of q, k, v, o a whole 16 bytes (tiles move by
/// cp.async in 16-byte chunks).
fn flash_fits<T: CudaElem>(p: &Attention) -> bool {
    let al = |h: &Heads| [h.offset, h.b_stride, h.h_stride, h.t_stride].iter().all(|v| v.is_multiple_of(8));
    T::SUFFIX != "float" && matches!(p.d, 64 | 128) && [&p.q, &p.k, &p.v, &p.o].into_iter().all(al)
}

/// Whether attention_decode_vec takes this decode step: 16-byte rows of K and
/// V (D a whole number of vectors, a power of two of them) at 16-byte
/// aligned strides and offsets.
fn decode_vec_fits<T: CudaElem>(p: &Attention) -> bool {
    let ve = vec_len::<T>();
    let al = |h: &Heads| [h.offset, h.b_stride, h.h_stride, h.t_stride].iter().all(|v| v.is_multiple_of(ve));
    p.d.is_multiple_of(ve) && (p.d / ve).is_power_of_two() && p.d / ve <= 256 && al(&p.k) && al(&p.v)
}

fn decode<T: CudaElem>(
    dev: &CudaDevice,
    p: &Attention,
    q: &CudaSlice<T>,
    k: &CudaSlice<T>,
    v: &CudaSlice<T>,
    o: &mut CudaSlice<T>,
) -> Result<()> {
    let chunk = 256usize;
    let splits = p.tk.div_ceil(chunk);
    let mut part = dev.alloc::<f32>(p.b * p.h * splits * (p.d + 2))?;
    let params = attn_params(p, None);
    let vec = decode_vec_fits::<T>(p);
    let name = format!("attention_decode{}_{}", if vec { "_vec" } else { "" }, T::SUFFIX);
    let f = dev.function("attention.cu", &name)?;
    let cfg =
        LaunchConfig { grid_dim: (splits as u32, p.h as u32, p.b as u32), block_dim: (256, 1, 1), shared_mem_bytes: 0 };
    let chunk_i = chunk as i32;
    let mut args = dev.stream.launch_builder(&f);
    args.arg(q).arg(k).arg(v).arg(&mut part).arg(&params);
    if !vec {
        args.arg(&chunk_i);
    }
    // SAFETY: as above; `part` holds every split's partial.
    unsafe { args.launch(cfg) }.map_err(|e| launch_err(&name, e))?;
    let name = format!("attention_combine_{}", T::SUFFIX);
    let f = dev.function("attention.cu", &name)?;
    let cfg = LaunchConfig { grid_dim: (p.h as u32, p.b as u32, 1), block_dim: (128, 1, 1), shared_mem_bytes: 0 };
    let splits_i = splits as i32;
    let mut args = dev.stream.launch_builder(&f);
    args.arg(&part).arg(o).arg(&params).arg(&splits_i);
    // SAFETY: as above.
    unsafe { args.launch(cfg) }.map_err(|e| launch_err(&name, e))?;
    Ok(())
}
