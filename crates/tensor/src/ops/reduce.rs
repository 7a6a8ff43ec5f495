//! Reductions over the last dimension: [..., n] → [...].

use iris_kernels::Reduce;

use crate::autograd::{pause, tracking};
use crate::error::{shape_err, Result};
use crate::Tensor;

impl Tensor {
    fn reduce(&self, op: Reduce, name: &'static str) -> Result<Tensor> {
        let _p = crate::profile::scope(|| name.to_string());
        let Some((&n, outer)) = self.shape().split_last().filter(|(&n, _)| n > 0) else {
            return shape_err(name, format!("needs a non-empty last dimension, shape is {:?}", self.shape()));
        };
        let y = {
            let _off = pause(&[self]);
            let be = Tensor::backend_of(name, &[self])?;
            let x = self.contiguous()?;
            Tensor::output(&*be, x.dtype(), outer, |y| be.reduce(op, x.run(), n, y))?
        };
        if !tracking(&[self]) {
            return Ok(y);
        }
        // Every element of a row gets the row's gradient (over n for the mean).
        let shape = self.shape().to_vec();
        let f = if op == Reduce::Mean { 1.0 / n as f32 } else { 1.0 };
        Ok(y.record(name, &[self], move |g| {
            let mut row = shape.clone();
            *row.last_mut().expect("rank ≥ 1") = 1;
            let g = if f != 1.0 { g.scale(f)? } else { g.clone() };
            Ok(vec![Some(g.reshape(&row)?.broadcast_as(&shape)?.contiguous()?)])
        }))
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
