//! The backward kernels as tensor functions (called from the ops' recorded
//! nodes), and the reduction of a broadcast operand's gradient.

use iris_kernels::Unary;

use crate::error::{shape_err, Result};
use crate::Tensor;

impl Tensor {
    /// The gradient of an operand of `shape` that was broadcast to self's
    /// shape: self summed over the broadcast axes.
    pub(crate) fn sum_to(&self, shape: &[usize]) -> Result<Tensor> {
        let g = self.shape();
        if g == shape {
            return Ok(self.clone());
        }
        if shape.len() > g.len() {
            return shape_err("sum_to", format!("{g:?} cannot sum to {shape:?}"));
        }
        let lead = g.len() - shape.len();
        let reduced = |d: usize| d < lead || shape[d - lead] == 1 && g[d] != 1;
        let (axes, keep): (Vec<usize>, Vec<usize>) = (0..g.len()).partition(|&d| reduced(d));
        if axes.is_empty() {
            return self.reshape(shape);
        }
        let kept: usize = keep.iter().map(|&d| g[d]).product();
        let red: usize = axes.iter().map(|&d| g[d]).product();
        let perm: Vec<usize> = keep.iter().chain(&axes).copied().collect();
        self.permute(&perm)?.contiguous()?.reshape(&[kept, red])?.sum_last()?.reshape(shape)
    }

    /// dx = dy·f′(x) for x (self) and dy of one shape.
    pub(crate) fn unary_grad(&self, op: Unary, dy: &Tensor) -> Result<Tensor> {
        let be = Tensor::backend_of("unary_backward", &[self, dy])?;
        let (x, dy) = (self.contiguous()?, dy.contiguous()?);
        Tensor::output(&*be, x.dtype(), x.shape(), |dx| be.unary_backward(op, x.run(), dy.run(), dx))
    }

    /// (dx, dw) of `rms_norm(self, w, eps)`.
    pub(crate) fn rms_norm_grad(&self, w: &Tensor, dy: &Tensor, eps: f32) -> Result<(Tensor, Tensor)> {
        let be = Tensor::backend_of("rms_norm_backward", &[self, w, dy])?;
        let (x, w, dy) = (self.contiguous()?, w.contiguous()?, dy.contiguous()?);
        let mut dw = be.alloc(w.dtype(), w.elem_count())?;
        let dx = Tensor::output(&*be, x.dtype(), x.shape(), |dx| {
            be.rms_norm_backward(x.run(), w.run(), dy.run(), eps, dx, &mut dw)
        })?;
        Ok((dx, Tensor::from_buffer(dw, w.shape())))
    }

    /// (dx, dw, db) of `layer_norm(self, w, b, eps)`.
    pub(crate) fn layer_norm_grad(&self, w: &Tensor, dy: &Tensor, eps: f32) -> Result<(Tensor, Tensor, Tensor)> {
        let be = Tensor::backend_of("layer_norm_backward", &[self, w, dy])?;
        let (x, w, dy) = (self.contiguous()?, w.contiguous()?, dy.contiguous()?);
        let (mut dw, mut db) = (be.alloc(w.dtype(), w.elem_count())?, be.alloc(w.dtype(), w.elem_count())?);
        let dx = Tensor::output(&*be, x.dtype(), x.shape(), |dx| {
            be.layer_norm_backward(x.run(), w.run(), dy.run(), eps, dx, &mut dw, &mut db)
        })?;
        Ok((dx, Tensor::from_buffer(dw, w.shape()), Tensor::from_buffer(db, w.shape())))
    }

    /// dx of a softmax over the last dimension from its output y (self).
    pub(crate) fn softmax_grad(&self, dy: &Tensor) -> Result<Tensor> {
        let be = Tensor::backend_of("softmax_backward", &[self, dy])?;
        let (y, dy) = (self.contiguous()?, dy.contiguous()?);
        let n = *y.shape().last().expect("softmax has a last dimension");
        Tensor::output(&*be, y.dtype(), y.shape(), |dx| be.softmax_backward(y.run(), dy.run(), n, dx))
    }

    /// The table's gradient [rows, D] from the gathered rows' gradient dy [ids, D].
    pub(crate) fn embedding_grad(dy: &Tensor, ids: &[u32], rows: usize) -> Result<Tensor> {
        let be = Tensor::backend_of("embedding_backward", &[dy])?;
        let dy = dy.contiguous()?;
        let dim = dy.shape()[1];
        let ids = be.upload(iris_kernels::DType::U32, bytemuck::cast_slice(ids))?;
        Tensor::output(&*be, dy.dtype(), &[rows, dim], |d| be.embedding_backward(dy.run(), dim, ids.dense(), d))
    }
}
