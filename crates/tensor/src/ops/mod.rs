//! Op methods on `Tensor`. Each checks its operands (shapes, dtypes), brings
//! them to the layout its kernel takes (views where the kernel accepts
//! strides, a copy otherwise) and runs the fast CPU kernel into a pooled
//! output, or, when an operand is on a GPU, the device's kernel (`accel`).

mod accel;
mod attention;
mod copy;
mod cuda_ops;
mod elementwise;
mod matmul;
mod norm;
mod packed;
mod wgpu_ops;
mod write;

pub(crate) use wgpu_ops::dense as wgpu_dense;

pub use attention::AttnMask;
pub use packed::PackedWeight;

use iris_kernels::Strided;

use crate::error::{Error, Result};
use crate::{Elem, Tensor};

impl Tensor {
    /// The tensor's view as the kernels' strided descriptor.
    pub(crate) fn strided(&self) -> Strided<'_> {
        let l = self.layout();
        Strided { shape: &l.shape, strides: &l.strides, offset: l.offset }
    }

    /// The elements of a contiguous tensor as one slice.
    pub(crate) fn slice<T: Elem>(&self, op: &'static str) -> Result<&[T]> {
        debug_assert!(self.is_contiguous());
        let o = self.layout().offset;
        Ok(&self.data::<T>(op)?[o..o + self.elem_count()])
    }

    pub(crate) fn same_dtype(&self, op: &'static str, other: &Tensor) -> Result<()> {
        if self.dtype() != other.dtype() {
            return Err(Error::DTypeMismatch { op, lhs: self.dtype(), rhs: other.dtype() });
        }
        Ok(())
    }
}
