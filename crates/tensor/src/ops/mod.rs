//! Op methods on `Tensor`. Each checks its operands (shapes, dtypes, one
//! device), brings them to the layout its kernel takes (views where the
//! kernel accepts strides, a copy otherwise) and calls the op once on the
//! backend of their device (`iris_kernels::Backend`), into a fresh output.

mod attention;
mod copy;
mod elementwise;
mod grad;
mod loss;
mod matmul;
mod norm;
mod packed;
mod reduce;
mod rope;
mod write;

pub use attention::AttnMask;
pub use loss::IGNORE;
pub use packed::PackedWeight;

use iris_kernels::Strided;

use crate::error::{Error, Result};
use crate::Tensor;

impl Tensor {
    /// The tensor's view as the kernels' strided descriptor.
    pub(crate) fn strided(&self) -> Strided<'_> {
        let l = self.layout();
        Strided { shape: &l.shape, strides: &l.strides, offset: l.offset }
    }

    pub(crate) fn same_dtype(&self, op: &'static str, other: &Tensor) -> Result<()> {
        if self.dtype() != other.dtype() {
            return Err(Error::DTypeMismatch { op, lhs: self.dtype(), rhs: other.dtype() });
        }
        Ok(())
    }
}
