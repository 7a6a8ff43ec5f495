//! Element-wise ops: activations, scaling, and binary ops with numpy broadcasting.

use iris_kernels::cpu::fast;
use iris_kernels::{Binary, Unary};

use crate::error::Result;
use crate::layout::broadcast_shape;
use crate::{with_dtype, Tensor};

impl Tensor {
    pub(crate) fn unary(&self, op: Unary) -> Result<Tensor> {
        // By op kind: `Scale(0.5)` and `Scale(2.0)` are one row of the profile.
        let _p = crate::profile::scope(|| format!("{op:?}").split('(').next().unwrap_or_default().to_lowercase());
        if let Some(n) = Tensor::gpu(&[self]) {
            return super::accel::unary(self, n, op);
        }
        let x = self.contiguous()?;
        with_dtype!(x.dtype(), T => {
            let src = x.slice::<T>("unary")?;
            Tensor::build(x.shape(), |o: &mut [T]| Ok(fast::unary(op, src, o)?))
        })
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
        let (l, r) = (self.broadcast_as(&shape)?, rhs.broadcast_as(&shape)?);
        if let Some(n) = Tensor::gpu(&[self, rhs]) {
            return super::accel::binary(&l, &r, n, op, &shape);
        }
        with_dtype!(self.dtype(), T => {
            let (a, b) = (l.data::<T>(name)?, r.data::<T>(name)?);
            Tensor::build(&shape, |o: &mut [T]| Ok(fast::binary(op, a, l.strided(), b, r.strided(), o)?))
        })
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
