//! Device memory of each dtype on a CUDA device.

use cudarc::driver::{CudaSlice, DeviceRepr, ValidAsZeroBits};
use half::{bf16, f16};

use crate::Scalar;

/// A device buffer of one of the dtypes.
pub(crate) enum CudaBuf {
    F32(CudaSlice<f32>),
    BF16(CudaSlice<bf16>),
    F16(CudaSlice<f16>),
    U8(CudaSlice<u8>),
    U32(CudaSlice<u32>),
    I32(CudaSlice<i32>),
    I64(CudaSlice<i64>),
}

/// The element types a `CudaBuf` holds.
pub(crate) trait CudaTyped: Scalar + DeviceRepr + ValidAsZeroBits {
    fn get(b: &CudaBuf) -> Option<&CudaSlice<Self>>;
    fn get_mut(b: &mut CudaBuf) -> Option<&mut CudaSlice<Self>>;
    fn wrap(s: CudaSlice<Self>) -> CudaBuf;
}

macro_rules! typed {
    ($($t:ty => $v:ident),*) => {$(
        impl CudaTyped for $t {
            fn get(b: &CudaBuf) -> Option<&CudaSlice<Self>> {
                match b {
                    CudaBuf::$v(s) => Some(s),
                    _ => None,
                }
            }
            fn get_mut(b: &mut CudaBuf) -> Option<&mut CudaSlice<Self>> {
                match b {
                    CudaBuf::$v(s) => Some(s),
                    _ => None,
                }
            }
            fn wrap(s: CudaSlice<Self>) -> CudaBuf {
                CudaBuf::$v(s)
            }
        }
    )*};
}
typed!(f32 => F32, bf16 => BF16, f16 => F16, u8 => U8, u32 => U32, i32 => I32, i64 => I64);
