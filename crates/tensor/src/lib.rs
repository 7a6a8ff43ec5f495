//! iris-tensor: `Tensor` (shape, strides, offset, dtype, device), views that
//! share storage, op methods that dispatch to iris-kernels, a buffer pool so
//! op outputs reuse freed memory, and zero-copy safetensors loading.

mod autograd;
mod device;
mod error;
mod layout;
mod ops;
pub mod profile;
mod rss;
mod tensor;
mod weights;

pub use autograd::{is_grad_enabled, no_grad, NoGrad};
pub use error::{Error, Result};
pub use iris_kernels::cpu::{pool_stats, PoolStats};
pub use iris_kernels::{DType, Device, Unary};
pub use layout::Layout;
pub use ops::{AttnMask, PackedWeight, IGNORE};
pub use rss::{peak_rss_bytes, rss_bytes};
pub use tensor::Tensor;
pub use weights::Weights;

/// Element types a tensor can hold: the kernels' floats, and the integers
/// of masks and ids; each converts to and from f32.
pub trait Elem: iris_kernels::Scalar {
    fn to_f32(self) -> f32;
    fn from_f32(x: f32) -> Self;
}

macro_rules! elem_float {
    ($($t:ty),*) => {$(
        impl Elem for $t {
            fn to_f32(self) -> f32 {
                iris_kernels::Element::to_f32(self)
            }
            fn from_f32(x: f32) -> Self {
                iris_kernels::Element::from_f32(x)
            }
        }
    )*};
}
elem_float!(f32, half::f16, half::bf16);

macro_rules! elem_int {
    ($($t:ty),*) => {$(
        impl Elem for $t {
            fn to_f32(self) -> f32 {
                self as f32
            }
            fn from_f32(x: f32) -> Self {
                x as $t
            }
        }
    )*};
}
elem_int!(u8, u32, i32, i64);

/// Runs `$body` with `$T` bound to the Rust type of the dtype `$dt`.
pub(crate) use iris_kernels::with_scalar as with_dtype;
