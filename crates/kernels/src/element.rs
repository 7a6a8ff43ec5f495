//! The element types kernels compute on. Arithmetic is always f32 (or f64 in
//! the references); f16 and bf16 are storage formats, widened on load.

use half::{bf16, f16};

/// The floats kernels compute in, and the integer and boolean types that
/// masks (U8: 0 hides, non-zero keeps) and token ids (U32) are held in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DType {
    F32,
    F16,
    BF16,
    U8,
    U32,
    I32,
    I64,
}

impl DType {
    pub fn size(self) -> usize {
        match self {
            DType::U8 => 1,
            DType::F16 | DType::BF16 => 2,
            DType::F32 | DType::U32 | DType::I32 => 4,
            DType::I64 => 8,
        }
    }

    pub fn is_float(self) -> bool {
        matches!(self, DType::F32 | DType::F16 | DType::BF16)
    }
}

impl std::fmt::Display for DType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            DType::F32 => "f32",
            DType::F16 => "f16",
            DType::BF16 => "bf16",
            DType::U8 => "u8",
            DType::U32 => "u32",
            DType::I32 => "i32",
            DType::I64 => "i64",
        })
    }
}

/// A plain-old-data value of one dtype: what buffers are made of.
pub trait Scalar: bytemuck::Pod + Send + Sync + Default + std::fmt::Debug + 'static {
    const DTYPE: DType;
}

macro_rules! scalar {
    ($($t:ty => $d:ident),*) => {
        $(impl Scalar for $t { const DTYPE: DType = DType::$d; })*
    };
}
scalar!(f32 => F32, f16 => F16, bf16 => BF16, u8 => U8, u32 => U32, i32 => I32, i64 => I64);

/// The float types kernels compute on (widened to f32).
pub trait Element: Scalar {
    fn to_f32(self) -> f32;
    fn from_f32(x: f32) -> Self;
}

impl Element for f32 {
    #[inline(always)]
    fn to_f32(self) -> f32 {
        self
    }
    #[inline(always)]
    fn from_f32(x: f32) -> Self {
        x
    }
}

impl Element for f16 {
    #[inline(always)]
    fn to_f32(self) -> f32 {
        f16::to_f32(self)
    }
    #[inline(always)]
    fn from_f32(x: f32) -> Self {
        f16::from_f32(x)
    }
}

impl Element for bf16 {
    #[inline(always)]
    fn to_f32(self) -> f32 {
        // bf16 is the top half of an f32: widening is a shift.
        f32::from_bits((self.to_bits() as u32) << 16)
    }
    #[inline(always)]
    fn from_f32(x: f32) -> Self {
        bf16::from_f32(x)
    }
}

/// Runs `$body` with `$T` bound to the Rust type of the float dtype `$dt`;
/// an integer dtype returns "`$op`: dtype not supported" from the caller.
#[macro_export]
macro_rules! with_float {
    ($dt:expr, $op:expr, $T:ident => $body:expr) => {
        match $dt {
            $crate::DType::F32 => {
                type $T = f32;
                $body
            }
            $crate::DType::F16 => {
                type $T = $crate::half::f16;
                $body
            }
            $crate::DType::BF16 => {
                type $T = $crate::half::bf16;
                $body
            }
            d => return Err($crate::Error::DType { op: $op, dtype: d }),
        }
    };
}

/// Runs `$body` with `$T` bound to the Rust type of any dtype `$dt`.
#[macro_export]
macro_rules! with_scalar {
    ($dt:expr, $T:ident => $body:expr) => {
        match $dt {
            $crate::DType::U8 => {
                type $T = u8;
                $body
            }
            $crate::DType::U32 => {
                type $T = u32;
                $body
            }
            $crate::DType::I32 => {
                type $T = i32;
                $body
            }
            $crate::DType::I64 => {
                type $T = i64;
                $body
            }
            $crate::DType::F32 => {
                type $T = f32;
                $body
            }
            $crate::DType::F16 => {
                type $T = $crate::half::f16;
                $body
            }
            $crate::DType::BF16 => {
                type $T = $crate::half::bf16;
                $body
            }
        }
    };
}
