//! The CUDA device: kernels in `cuda/*.cu` (CUDA C, no CUDA headers: bf16/f16
//! conversions and tensor-core instructions are inline PTX), embedded with
//! `include_str!` and compiled by NVRTC at run time for the device's own
//! architecture.

pub mod device;
pub mod host;
pub mod nvrtc;
pub mod ops;

pub use device::CudaDevice;

/// Every kernel source, by file name.
pub const SOURCES: &[(&str, &str)] = &[
    ("common.cuh", include_str!("../../../../cuda/common.cuh")),
    ("attention.cuh", include_str!("../../../../cuda/attention.cuh")),
    ("attention.cu", include_str!("../../../../cuda/attention.cu")),
    ("flash_attention.cu", include_str!("../../../../cuda/flash_attention.cu")),
    ("elementwise.cu", include_str!("../../../../cuda/elementwise.cu")),
    ("gemm.cu", include_str!("../../../../cuda/gemm.cu")),
    ("layout.cu", include_str!("../../../../cuda/layout.cu")),
    ("norm.cu", include_str!("../../../../cuda/norm.cu")),
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
