//! Named parameters: every module lists its tensors under the names they have
//! in the checkpoint it was loaded from, and hands them out mutably, so
//! training can freeze, update and save them by name.

use std::collections::BTreeMap;

use iris_tensor::Tensor;

use crate::error::{Error, Result};

/// A module's parameters by checkpoint name.
pub trait Parameters {
    /// Calls `f` with each parameter's name and value, in a fixed order.
    fn visit(&self, f: &mut dyn FnMut(&str, &Tensor));

    /// Calls `f` with each parameter's name and value to update in place
    /// (same shape and dtype). A weight packed for the CPU GEMM is unpacked
    /// into a plain one first, and values derived from a parameter (a gate's
    /// tanh) are refreshed after `f` returns.
    fn visit_mut(&mut self, f: &mut dyn FnMut(&str, &mut Tensor));

    /// Whether any parameter is a trainable leaf (gradients flow into it).
    fn any_trainable(&self) -> bool {
        let mut any = false;
        self.visit(&mut |_, t| any |= t.is_tracked());
        any
    }

    /// Every parameter, name → value (the tensors share their storage).
    fn named_parameters(&self) -> BTreeMap<String, Tensor> {
        let mut out = BTreeMap::new();
        self.visit(&mut |n, t| {
            out.insert(n.to_string(), t.clone());
        });
        out
    }

    /// Sets the parameter `name` to `value` (its shape; cast to its dtype
    /// and device).
    fn set_parameter(&mut self, name: &str, value: &Tensor) -> Result<()> {
        let mut res = Err(Error::Weight { name: name.into(), msg: "is not a parameter of this model".into() });
        self.visit_mut(&mut |n, t| {
            if n == name {
                res = if t.shape() != value.shape() {
                    Err(Error::Weight {
                        name: name.into(),
                        msg: format!("has shape {:?}, the new value {:?}", t.shape(), value.shape()),
                    })
                } else {
                    value.to_dtype(t.dtype()).and_then(|v| v.to_device(t.device())).map(|v| *t = v).map_err(Into::into)
                };
            }
        });
        res
    }
}

/// Visits a list of modules in order.
impl<P: Parameters> Parameters for Vec<P> {
    fn visit(&self, f: &mut dyn FnMut(&str, &Tensor)) {
        self.iter().for_each(|p| p.visit(f));
    }
    fn any_trainable(&self) -> bool {
        self.iter().any(P::any_trainable)
    }
    fn visit_mut(&mut self, f: &mut dyn FnMut(&str, &mut Tensor)) {
        self.iter_mut().for_each(|p| p.visit_mut(f));
    }
}

/// An optional module (a bias, an untied head).
impl<P: Parameters> Parameters for Option<P> {
    fn visit(&self, f: &mut dyn FnMut(&str, &Tensor)) {
        self.iter().for_each(|p| p.visit(f));
    }
    fn any_trainable(&self) -> bool {
        self.as_ref().is_some_and(P::any_trainable)
    }
    fn visit_mut(&mut self, f: &mut dyn FnMut(&str, &mut Tensor)) {
        self.iter_mut().for_each(|p| p.visit_mut(f));
    }
}

impl<P: Parameters + ?Sized> Parameters for Box<P> {
    fn visit(&self, f: &mut dyn FnMut(&str, &Tensor)) {
        (**self).visit(f)
    }
    fn any_trainable(&self) -> bool {
        (**self).any_trainable()
    }
    fn visit_mut(&mut self, f: &mut dyn FnMut(&str, &mut Tensor)) {
        (**self).visit_mut(f)
    }
}

/// `impl Parameters for Type { fields... }`: the fields' parameters, in order.
macro_rules! parameters {
    ($ty:ty { $($field:ident),* $(,)? }) => {
        impl $crate::params::Parameters for $ty {
            fn visit(&self, f: &mut dyn FnMut(&str, &iris_tensor::Tensor)) {
                $( $crate::params::Parameters::visit(&self.$field, f); )*
            }
            fn visit_mut(&mut self, f: &mut dyn FnMut(&str, &mut iris_tensor::Tensor)) {
                $( $crate::params::Parameters::visit_mut(&mut self.$field, f); )*
            }
            fn any_trainable(&self) -> bool {
                false $( || $crate::params::Parameters::any_trainable(&self.$field) )*
            }
        }
    };
}
pub(crate) use parameters;

/// A plain tensor parameter and its checkpoint name.
pub(crate) struct Param {
    pub name: String,
    pub value: Tensor,
}

impl Parameters for Param {
    fn visit(&self, f: &mut dyn FnMut(&str, &Tensor)) {
        f(&self.name, &self.value)
    }
    fn visit_mut(&mut self, f: &mut dyn FnMut(&str, &mut Tensor)) {
        f(&self.name, &mut self.value)
    }
}

/// A gate parameter [1] and its tanh, read once at load (not per step) and
/// again after each update.
pub(crate) struct Gate {
    pub param: Param,
    pub tanh: f32,
}

impl Gate {
    pub fn new(param: Param) -> Result<Gate> {
        let tanh = Gate::tanh_of(&param.value)?;
        Ok(Gate { param, tanh })
    }

    /// tanh(gate)·x: the cached scalar, or (a trainable gate) the op on the
    /// parameter, so its gradient flows.
    pub fn apply(&self, x: &Tensor) -> Result<Tensor> {
        Ok(match self.param.value.is_tracked() {
            true => x.mul(&self.param.value.tanh()?)?,
            false => x.scale(self.tanh)?,
        })
    }

    fn tanh_of(t: &Tensor) -> Result<f32> {
        Ok(t.to_dtype(iris_tensor::DType::F32)?.to_vec::<f32>()?[0].tanh())
    }
}

impl Parameters for Gate {
    fn visit(&self, f: &mut dyn FnMut(&str, &Tensor)) {
        self.param.visit(f)
    }
    fn visit_mut(&mut self, f: &mut dyn FnMut(&str, &mut Tensor)) {
        self.param.visit_mut(f);
        self.tanh = Gate::tanh_of(&self.param.value).expect("a gate is one float");
    }
}
