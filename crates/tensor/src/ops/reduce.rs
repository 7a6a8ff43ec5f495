//! Reductions over the last dimension: [..., n] → [...].

use iris_kernels::Reduce;

use crate::error::{shape_err, Result};
use crate::Tensor;

impl Tensor {
    fn reduce(&self, op: Reduce, name: &'static str) -> Result<Tensor> {
        let _p = crate::profile::scope(|| name.to_string());
        let Some((&n, outer)) = self.shape().split_last().filter(|(&n, _)| n > 0) else {
            return shape_err(name, format!("needs a non-empty last dimension, shape is {:?}", self.shape()));
        };
        let be = Tensor::backend_of(name, &[self])?;
        let x = self.contiguous()?;
        Tensor::output(&*be, x.dtype(), outer, |y| be.reduce(op, x.run(), n, y))
    }

    /// Σ over the last dimension.
    pub fn sum_last(&self) -> Result<Tensor> {
        self.reduce(Reduce::Sum, "sum")
    }

    /// The mean over the last dimension.
    pub fn mean_last(&self) -> Result<Tensor> {
        self.reduce(Reduce::Mean, "mean")
    }
}
