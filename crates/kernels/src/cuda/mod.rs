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
    ("attention.cu", include_str!("../../../../cuda/attention.cu")),
    ("elementwise.cu", include_str!("../../../../cuda/elementwise.cu")),
    ("gemm.cu", include_str!("../../../../cuda/gemm.cu")),
    ("layout.cu", include_str!("../../../../cuda/layout.cu")),
    ("norm.cu", include_str!("../../../../cuda/norm.cu")),
];

/// A kernel file with the shared header pasted in front (NVRTC sees one
/// translation unit; nothing is looked up on disk).
pub fn source(file: &str) -> Option<String> {
    let common = SOURCES.iter().find(|(n, _)| *n == "common.cuh").map(|(_, s)| *s).unwrap_or("");
    SOURCES.iter().find(|(n, _)| *n == file).map(|(_, s)| format!("{common}\n{s}"))
}

/// The `.cu` files (not the header).
pub fn kernel_files() -> impl Iterator<Item = &'static str> {
    SOURCES.iter().map(|(n, _)| *n).filter(|n| n.ends_with(".cu"))
}
