//! Rotate-half RoPE over a tensor's last dimension.

use iris_kernels::Rope;

use crate::autograd::{pause, tracking};
use crate::error::{shape_err, Result};
use crate::{DType, Tensor};

impl Tensor {
    /// Rotate-half RoPE. `t_dim` is the time dimension of x (1 for [B, T, H, D],
    /// 2 for [B, H, T, D]); cos and sin are f32 [T, D/2].
    pub fn rope(&self, cos: &Tensor, sin: &Tensor, t_dim: usize) -> Result<Tensor> {
        let _p = crate::profile::scope(|| "rope".to_string());
        let d = self.last_dim("rope")?;
        if t_dim + 1 >= self.dims() {
            return shape_err("rope", format!("time dimension {t_dim} must precede the last of {:?}", self.shape()));
        }
        let s = self.shape();
        let p = Rope {
            outer: s[..t_dim].iter().product(),
            t: s[t_dim],
            inner: s[t_dim + 1..s.len() - 1].iter().product(),
            d,
        };
        if cos.shape() != [p.t, d / 2] || sin.shape() != cos.shape() {
            return shape_err(
                "rope",
                format!("x {s:?} needs cos/sin [{}, {}], got {:?} and {:?}", p.t, d / 2, cos.shape(), sin.shape()),
            );
        }
        let y = {
            let _off = pause(&[self]);
            let be = Tensor::backend_of("rope", &[self, cos, sin])?;
            let (x, c, sn) =
                (self.contiguous()?, cos.to_dtype(DType::F32)?.contiguous()?, sin.to_dtype(DType::F32)?.contiguous()?);
            Tensor::output(&*be, x.dtype(), x.shape(), |y| be.rope(&p, x.run(), c.run(), sn.run(), y))?
        };
        if !tracking(&[self]) {
            return Ok(y);
        }
        // The rotation's transpose is the rotation by −θ: the same kernel with −sin.
        let (cos, sin) = (cos.detach(), sin.detach());
        Ok(y.record("rope", &[self], move |g| Ok(vec![Some(g.rope(&cos, &sin.scale(-1.0)?, t_dim)?)])))
    }
}
