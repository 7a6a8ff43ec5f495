//! The CUDA device: kernels in `cuda/*.cu` (CUDA C, no CUDA headers: bf16/f16
//! conversions and tensor-core instructions are inline PTX), embedded with
//! `include_str!` and compiled by NVRTC at run time for the device's own
//! architecture.

pub mod backend;
pub(crate) mod buffer;
pub mod device;
pub mod nvrtc;
pub mod ops;

pub use device::CudaDevice;

/// Every kernel source, by file name.
pub const SOURCES: &[(&str, &str)] = &[
    ("common.cuh", include_str!("../../../../cuda/common.cuh")),
    ("gemm.cuh", include_str!("../../../../cuda/gemm.cuh")),
    ("sm90.cuh", include_str!("../../../../cuda/sm90.cuh")),
    ("attention.cuh", include_str!("../../../../cuda/attention.cuh")),
    ("attention.cu", include_str!("../../../../cuda/attention.cu")),
    ("flash_attention.cu", include_str!("../../../../cuda/flash_attention.cu")),
    ("elementwise.cu", include_str!("../../../../cuda/elementwise.cu")),
    ("gemm.cu", include_str!("../../../../cuda/gemm.cu")),
    ("gemm_sm90.cu", include_str!("../../../../cuda/gemm_sm90.cu")),
    ("layout.cu", include_str!("../../../../cuda/layout.cu")),
    ("norm.cu", include_str!("../../../../cuda/norm.cu")),
    ("reduce.cu", include_str!("../../../../cuda/reduce.cu")),
    ("rope.cu", include_str!("../../../../cuda/rope.cu")),
];

fn text(name: &str) -> Option<&'static str> {
    SOURCES.iter().find(|(n, _)| *n == name).map(|(_, s)| *s)
}

/// A kernel file with the shared header pasted in front and each
/// `#include "x.cuh"` of one of ours replaced by that header (NVRTC sees one
/// translation unit; nothing is looked up on disk).
pub fn source(file: &str) -> Option<String> {
    let mut out = format!("{}\n", text("common.cuh").unwrap_or(""));
    for line in text(file)?.lines() {
        let header = line.strip_prefix("#include \"").and_then(|r| r.strip_suffix('"'));
        match header.and_then(text) {
            Some(h) => out.push_str(h),
            None => out.push_str(line),
        }
        out.push('\n');
    }
    Some(out)
}

/// The `.cu` files (not the header).
pub fn kernel_files() -> impl Iterator<Item = &'static str> {
    SOURCES.iter().map(|(n, _)| *n).filter(|n| n.ends_with(".cu"))
}

/// The NVRTC target of `file` on an `sm_{arch}` device: files named
/// `*_sm90.cu` use Hopper's arch-specific instructions (wgmma) and build for
/// `sm_90a` only; the rest build for the device's own architecture.
pub fn target(file: &str, arch: u32) -> Option<String> {
    match file.ends_with("_sm90.cu") {
        true => (arch == 90).then(|| "sm_90a".to_string()),
        false => Some(format!("sm_{arch}")),
    }
}
