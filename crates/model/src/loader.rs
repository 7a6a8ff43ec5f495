//! Weights by their Hugging Face names: shape-checked, cast to the model's
//! dtype, and found under whichever prefix the checkpoint's layout uses.

use iris_tensor::{DType, Device, Tensor, Weights};

use crate::error::{Error, Result};

pub(crate) struct Loader<'a> {
    pub weights: &'a Weights,
    pub dtype: DType,
    pub device: Device,
}

impl Loader<'_> {
    /// The tensor `name` with exactly `shape`, in the model's dtype.
    pub fn get(&self, name: &str, shape: &[usize]) -> Result<Tensor> {
        if !self.weights.contains(name) {
            return Err(Error::Weight { name: name.into(), msg: "not found in the checkpoint".into() });
        }
        let t = self.weights.get(name)?;
        if t.shape() != shape {
            return Err(Error::Weight {
                name: name.into(),
                msg: format!("has shape {:?}, the config needs {shape:?}", t.shape()),
            });
        }
        Ok(t.to_dtype(self.dtype)?.to_device(self.device)?)
    }

    /// `get` when `present`, else None (optional biases).
    pub fn get_if(&self, present: bool, name: &str, shape: &[usize]) -> Result<Option<Tensor>> {
        present.then(|| self.get(name, shape)).transpose()
    }

    /// The first of `prefixes` under which `probe` exists.
    pub fn prefix(&self, prefixes: &[&str], probe: &str) -> Result<String> {
        prefixes.iter().map(|p| format!("{p}{probe}")).position(|n| self.weights.contains(&n)).map_or_else(
            || {
                let tried: Vec<String> = prefixes.iter().map(|p| format!("`{p}{probe}`")).collect();
                Err(Error::Weight {
                    name: tried[0].trim_matches('`').into(),
                    msg: format!("not found (looked for {})", tried.join(", ")),
                })
            },
            |i| Ok(prefixes[i].to_string()),
        )
    }
}

/// A Linear layer as stored: weight [out, in], optional bias [out].
pub(crate) struct Linear {
    pub weight: Tensor,
    pub bias: Option<Tensor>,
}

impl Linear {
    pub fn load(l: &Loader, name: &str, out: usize, inp: usize, bias: bool) -> Result<Linear> {
        Ok(Linear {
            weight: l.get(&format!("{name}.weight"), &[out, inp])?,
            bias: l.get_if(bias, &format!("{name}.bias"), &[out])?,
        })
    }

    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        Ok(x.linear(&self.weight, self.bias.as_ref())?)
    }
}

/// LayerNorm weight and bias.
pub(crate) struct LayerNorm {
    pub weight: Tensor,
    pub bias: Tensor,
    pub eps: f32,
}

impl LayerNorm {
    pub fn load(l: &Loader, name: &str, n: usize, eps: f64) -> Result<LayerNorm> {
        Ok(LayerNorm {
            weight: l.get(&format!("{name}.weight"), &[n])?,
            bias: l.get(&format!("{name}.bias"), &[n])?,
            eps: eps as f32,
        })
    }

    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        Ok(x.layer_norm(&self.weight, &self.bias, self.eps)?)
    }
}

/// RMSNorm weight (computed in f32 inside the kernel, as transformers does).
pub(crate) struct RmsNorm {
    pub weight: Tensor,
    pub eps: f32,
}

impl RmsNorm {
    pub fn load(l: &Loader, name: &str, n: usize, eps: f64) -> Result<RmsNorm> {
        Ok(RmsNorm { weight: l.get(&format!("{name}.weight"), &[n])?, eps: eps as f32 })
    }

    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        Ok(x.rms_norm(&self.weight, self.eps)?)
    }
}
