//! Row-wise ops over the last dimension, and im2col.

use iris_kernels::Im2col;

use crate::autograd::{pause, tracking};
use crate::error::{shape_err, Result};
use crate::Tensor;

impl Tensor {
    pub(super) fn last_dim(&self, op: &'static str) -> Result<usize> {
        match self.shape().last() {
            Some(&n) if n > 0 => Ok(n),
            _ => shape_err(op, format!("needs a non-empty last dimension, shape is {:?}", self.shape())),
        }
    }

    /// (x − mean)/√(var + eps)·weight + bias over the last dimension.
    pub fn layer_norm(&self, weight: &Tensor, bias: &Tensor, eps: f32) -> Result<Tensor> {
        let _p = crate::profile::scope(|| "layer_norm".to_string());
        let n = self.last_dim("layer_norm")?;
        self.same_dtype("layer_norm", weight)?;
        self.same_dtype("layer_norm", bias)?;
        if weight.shape() != [n] || bias.shape() != [n] {
            return shape_err(
                "layer_norm",
                format!(
                    "x {:?} needs weight and bias [{n}], got {:?} and {:?}",
                    self.shape(),
                    weight.shape(),
                    bias.shape()
                ),
            );
        }
        let y = {
            let _off = pause(&[self, weight, bias]);
            let be = Tensor::backend_of("layer_norm", &[self, weight, bias])?;
            let (x, w, b) = (self.contiguous()?, weight.contiguous()?, bias.contiguous()?);
            Tensor::output(&*be, x.dtype(), x.shape(), |y| be.layer_norm(x.run(), w.run(), b.run(), eps, y))?
        };
        if !tracking(&[self, weight, bias]) {
            return Ok(y);
        }
        let (x, w) = (self.detach(), weight.detach());
        Ok(y.record("layer_norm", &[self, weight, bias], move |g| {
            let (dx, dw, db) = x.layer_norm_grad(&w, g, eps)?;
            Ok(vec![Some(dx), Some(dw), Some(db)])
        }))
    }

    /// x/√(mean(x²) + eps)·weight over the last dimension.
    pub fn rms_norm(&self, weight: &Tensor, eps: f32) -> Result<Tensor> {
        let _p = crate::profile::scope(|| "rms_norm".to_string());
        let n = self.last_dim("rms_norm")?;
        self.same_dtype("rms_norm", weight)?;
        if weight.shape() != [n] {
            return shape_err("rms_norm", format!("x {:?} needs weight [{n}], got {:?}", self.shape(), weight.shape()));
        }
        let y = {
            let _off = pause(&[self, weight]);
            let be = Tensor::backend_of("rms_norm", &[self, weight])?;
            let (x, w) = (self.contiguous()?, weight.contiguous()?);
            Tensor::output(&*be, x.dtype(), x.shape(), |y| be.rms_norm(x.run(), w.run(), eps, y))?
        };
        if !tracking(&[self, weight]) {
            return Ok(y);
        }
        let (x, w) = (self.detach(), weight.detach());
        Ok(y.record("rms_norm", &[self, weight], move |g| {
            let (dx, dw) = x.rms_norm_grad(&w, g, eps)?;
            Ok(vec![Some(dx), Some(dw)])
        }))
    }

    /// Softmax over the last dimension.
    pub fn softmax(&self) -> Result<Tensor> {
        let _p = crate::profile::scope(|| "softmax".to_string());
        let n = self.last_dim("softmax")?;
        let y = {
            let _off = pause(&[self]);
            let be = Tensor::backend_of("softmax", &[self])?;
            let x = self.contiguous()?;
            Tensor::output(&*be, x.dtype(), x.shape(), |y| be.softmax(x.run(), n, y))?
        };
        if !tracking(&[self]) {
            return Ok(y);
        }
        let out = y.clone();
        Ok(y.record("softmax", &[self], move |g| Ok(vec![Some(out.softmax_grad(g)?)])))
    }

    /// im2col of an image batch [N, C, H, W] with a square `kernel`:
    /// out [N, OH·OW, C·kernel²], columns ordered like a conv weight.
    pub fn im2col(&self, kernel: usize, stride: usize, pad: usize) -> Result<Tensor> {
        let _p = crate::profile::scope(|| "im2col".to_string());
        let &[n, c, h, w] = self.shape() else {
            return shape_err("im2col", format!("needs [N, C, H, W], got {:?}", self.shape()));
        };
        let p = Im2col { n, c, h, w, kh: kernel, kw: kernel, stride, pad };
        p.check(n * c * h * w, p.out_len())?;
        let (oh, ow) = p.out_hw();
        let y = {
            let _off = pause(&[self]);
            let be = Tensor::backend_of("im2col", &[self])?;
            let x = self.contiguous()?;
            Tensor::output(&*be, x.dtype(), &[n, oh * ow, p.cols()], |y| be.im2col(&p, x.run(), y))?
        };
        if !tracking(&[self]) {
            return Ok(y);
        }
        Ok(y.record("im2col", &[self], move |g| {
            let be = Tensor::backend_of("im2col_backward", &[g])?;
            let g = g.contiguous()?;
            Ok(vec![Some(Tensor::output(&*be, g.dtype(), &[n, c, h, w], |dx| be.im2col_backward(&p, g.run(), dx))?)])
        }))
    }
}
