//! Element-wise ops: activations, scaling, and binary ops with numpy broadcasting.

use iris_kernels::{Binary, Unary};

use crate::autograd::{pause, tracking};
use crate::error::Result;
use crate::layout::broadcast_shape;
use crate::Tensor;

impl Tensor {
    pub(crate) fn unary(&self, op: Unary) -> Result<Tensor> {
        // By op kind: `Scale(0.5)` and `Scale(2.0)` are one row of the profile.
        let _p = crate::profile::scope(|| format!("{op:?}").split('(').next().unwrap_or_default().to_lowercase());
        let y = {
            let _off = pause(&[self]);
            let be = Tensor::backend_of("unary", &[self])?;
            let x = self.contiguous()?;
            Tensor::output(&*be, x.dtype(), x.shape(), |y| be.unary(op, x.run(), y))?
        };
        if !tracking(&[self]) {
            return Ok(y);
        }
        let x = self.detach();
        Ok(y.record("unary", &[self], move |g| Ok(vec![Some(x.unary_grad(op, g)?)])))
    }

    /// x·Φ(x) with the exact (erf) Φ.
    pub fn gelu(&self) -> Result<Tensor> {
        self.unary(Unary::Gelu)
    }
    /// The tanh approximation of gelu.
    pub fn gelu_tanh(&self) -> Result<Tensor> {
        self.unary(Unary::GeluTanh)
    }
    /// x·σ(1.702·x) (CLIP).
    pub fn quick_gelu(&self) -> Result<Tensor> {
        self.unary(Unary::QuickGelu)
    }
    /// x·σ(x).
    pub fn silu(&self) -> Result<Tensor> {
        self.unary(Unary::Silu)
    }
    pub fn tanh(&self) -> Result<Tensor> {
        self.unary(Unary::Tanh)
    }
    /// x·s.
    pub fn scale(&self, s: f32) -> Result<Tensor> {
        self.unary(Unary::Scale(s))
    }

    fn binary(&self, op: Binary, name: &'static str, rhs: &Tensor) -> Result<Tensor> {
        let _p = crate::profile::scope(|| name.to_string());
        self.same_dtype(name, rhs)?;
        let shape = broadcast_shape(name, self.shape(), rhs.shape())?;
        let y = {
            let _off = pause(&[self, rhs]);
            let (l, r) = (self.broadcast_as(&shape)?, rhs.broadcast_as(&shape)?);
            let be = Tensor::backend_of(name, &[self, rhs])?;
            Tensor::output(&*be, self.dtype(), &shape, |y| {
                be.binary(op, l.buffer(), l.strided(), r.buffer(), r.strided(), y)
            })?
        };
        if !tracking(&[self, rhs]) {
            return Ok(y);
        }
        let (a, b, ta, tb) = (self.detach(), rhs.detach(), self.is_tracked(), rhs.is_tracked());
        Ok(y.record(name, &[self, rhs], move |g| {
            // Each operand's gradient, summed over the axes it was broadcast along.
            let (da, db) = match op {
                Binary::Add => (g.clone(), g.clone()),
                Binary::Sub => (g.clone(), g.scale(-1.0)?),
                Binary::Mul => (g.mul(&b)?, g.mul(&a)?),
                Binary::Div => (g.div(&b)?, g.mul(&a)?.div(&b.mul(&b)?)?.scale(-1.0)?),
            };
            Ok(vec![ta.then(|| da.sum_to(a.shape())).transpose()?, tb.then(|| db.sum_to(b.shape())).transpose()?])
        }))
    }

    pub fn add(&self, rhs: &Tensor) -> Result<Tensor> {
        self.binary(Binary::Add, "add", rhs)
    }
    pub fn sub(&self, rhs: &Tensor) -> Result<Tensor> {
        self.binary(Binary::Sub, "sub", rhs)
    }
    pub fn mul(&self, rhs: &Tensor) -> Result<Tensor> {
        self.binary(Binary::Mul, "mul", rhs)
    }
    pub fn div(&self, rhs: &Tensor) -> Result<Tensor> {
        self.binary(Binary::Div, "div", rhs)
    }
}
