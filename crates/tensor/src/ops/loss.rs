//! The training loss: cross-entropy of logits against target ids, fused (the
//! backward recomputes the softmax from the logits; no [R, V] probability
//! tensor is kept).

use iris_kernels::DType;

use crate::autograd::{pause, tracking};
use crate::error::{shape_err, Result};
use crate::Tensor;

/// The target of a row that does not count (a prompt position).
pub const IGNORE: u32 = iris_kernels::cpu::IGNORE;

impl Tensor {
    /// The mean cross-entropy of logits [R, V] (self) against one target id
    /// per row, over the rows whose target is not `IGNORE`: an F32 [1].
    pub fn cross_entropy(&self, targets: &[u32]) -> Result<Tensor> {
        let _p = crate::profile::scope(|| "cross_entropy".to_string());
        let &[rows, v] = self.shape() else {
            return shape_err("cross_entropy", format!("logits must be [R, V], are {:?}", self.shape()));
        };
        if targets.len() != rows {
            return shape_err("cross_entropy", format!("{rows} rows of logits, {} targets", targets.len()));
        }
        let count = targets.iter().filter(|&&t| t != IGNORE).count();
        if count == 0 {
            return shape_err("cross_entropy", "every target is IGNORE: no token to learn from");
        }
        let track = tracking(&[self]);
        let loss = {
            let _off = pause(&[self]);
            let be = Tensor::backend_of("cross_entropy", &[self])?;
            let x = self.contiguous()?;
            let t = be.upload(DType::U32, bytemuck::cast_slice(targets))?;
            let per_row = Tensor::output(&*be, DType::F32, &[rows], |l| be.cross_entropy(x.run(), v, t.dense(), l))?;
            per_row.sum_last()?.scale(1.0 / count as f32)?.reshape(&[1])?
        };
        if !track {
            return Ok(loss);
        }
        let (x, targets) = (self.detach(), targets.to_vec());
        Ok(loss.record("cross_entropy", &[self], move |g| {
            // g is the loss's own gradient (1 from backward()): it scales every row.
            let scale = g.to_vec_f32()?[0] / count as f32;
            let be = Tensor::backend_of("cross_entropy_backward", &[&x])?;
            let xc = x.contiguous()?;
            let t = be.upload(DType::U32, bytemuck::cast_slice(&targets))?;
            let dx = Tensor::output(&*be, x.dtype(), x.shape(), |d| {
                be.cross_entropy_backward(xc.run(), v, t.dense(), scale, d)
            })?;
            Ok(vec![Some(dx)])
        }))
    }
}
