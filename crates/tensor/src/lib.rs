//! iris-tensor: `Tensor` (shape, strides, offset, dtype, device), views that
//! share storage, op methods that dispatch to iris-kernels, a buffer pool so
//! op outputs reuse freed memory, and zero-copy safetensors loading.

mod cuda;
mod error;
mod layout;
mod ops;
pub mod profile;
mod rss;
mod storage;
mod tensor;
mod weights;
mod wgpu_backend;

pub use error::{Error, Result};
pub use iris_kernels::{DType, Unary};
pub use layout::Layout;
pub use ops::{AttnMask, PackedWeight};
pub use rss::{peak_rss_bytes, rss_bytes};
pub use storage::{pool_stats, PoolStats};
pub use tensor::{Device, Tensor};
pub use weights::Weights;

/// Element types a tensor can hold: the kernels' f32/f16/bf16, plain old data.
pub trait Elem: iris_kernels::Element + bytemuck::Pod {}
impl<T: iris_kernels::Element + bytemuck::Pod> Elem for T {}

/// Runs `$body` with `$T` bound to the Rust type of the dtype `$dt`.
macro_rules! with_dtype {
    ($dt:expr, $T:ident => $body:expr) => {
        match $dt {
            $crate::DType::F32 => {
                type $T = f32;
                $body
            }
            $crate::DType::F16 => {
                type $T = half::f16;
                $body
            }
            $crate::DType::BF16 => {
                type $T = half::bf16;
                $body
            }
        }
    };
}
pub(crate) use with_dtype;
