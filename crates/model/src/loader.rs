//! Weights by their Hugging Face names: shape-checked, cast to the model's
//! dtype, and found under whichever prefix the checkpoint's layout uses.

use half::{bf16, f16};
use iris_tensor::{DType, Device, PackedWeight, Tensor, Weights};
use rayon::prelude::*;

use crate::config::Activation;
use crate::error::{Error, Result};
use crate::params::{parameters, Param, Parameters};

/// Where a model's weights come from: a checkpoint, or seeded random values
/// of whatever shape the config asks for (benchmarks at real sizes, no download).
pub enum WeightSource<'a> {
    Checkpoint(&'a Weights),
    Random { seed: u64 },
}

impl WeightSource<'_> {
    pub fn contains(&self, name: &str) -> bool {
        match self {
            WeightSource::Checkpoint(w) => w.contains(name),
            WeightSource::Random { .. } => true,
        }
    }
}

/// Seeded values in ±0.02 (norm weights 1), made in parallel straight in `dtype`.
fn random(name: &str, shape: &[usize], dtype: DType, seed: u64) -> Result<Tensor> {
    let n: usize = shape.iter().product();
    let key = name.bytes().fold(seed ^ 0xcbf2_9ce4_8422_2325, |h, b| (h ^ b as u64).wrapping_mul(0x100_0000_01b3));
    let is_norm = name.contains("norm") && name.ends_with("weight");
    let value = move |i: usize| -> f32 {
        if is_norm {
            return 1.0;
        }
        let mut z = key.wrapping_add((i as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15));
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        ((z >> 40) as f32 / (1u64 << 24) as f32 - 0.5) * 0.04
    };
    Ok(match dtype {
        DType::F32 => Tensor::from_vec((0..n).into_par_iter().map(value).collect::<Vec<f32>>(), shape)?,
        DType::BF16 => {
            Tensor::from_vec((0..n).into_par_iter().map(|i| bf16::from_f32(value(i))).collect::<Vec<_>>(), shape)?
        }
        DType::F16 => {
            Tensor::from_vec((0..n).into_par_iter().map(|i| f16::from_f32(value(i))).collect::<Vec<_>>(), shape)?
        }
        d => {
            return Err(iris_tensor::Error::Shape { op: "random weights", msg: format!("floats only, not {d}") }.into())
        }
    })
}

pub(crate) struct Loader<'a> {
    pub weights: &'a WeightSource<'a>,
    pub dtype: DType,
    pub device: Device,
}

impl Loader<'_> {
    /// The tensor `name` with exactly `shape`, in the model's dtype.
    pub fn get(&self, name: &str, shape: &[usize]) -> Result<Tensor> {
        let weights = match self.weights {
            WeightSource::Checkpoint(w) => *w,
            WeightSource::Random { seed } => return Ok(random(name, shape, self.dtype, *seed)?.to_device(self.device)?),
        };
        if !weights.contains(name) {
            return Err(Error::Weight { name: name.into(), msg: "not found in the checkpoint".into() });
        }
        let t = weights.get(name)?;
        if t.shape() != shape {
            return Err(Error::Weight {
                name: name.into(),
                msg: format!("has shape {:?}, the config needs {shape:?}", t.shape()),
            });
        }
        Ok(t.to_dtype(self.dtype)?.to_device(self.device)?)
    }

    /// `get`, kept with its name.
    pub fn param(&self, name: &str, shape: &[usize]) -> Result<Param> {
        Ok(Param { name: name.to_string(), value: self.get(name, shape)? })
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

/// A Linear layer: weight [out, in] as stored, or packed for the CPU GEMM; optional bias [out].
pub(crate) struct Linear {
    /// The checkpoint name without `.weight`/`.bias`.
    name: String,
    weight: LinearWeight,
    bias: Option<Tensor>,
}

enum LinearWeight {
    Dense(Tensor),
    Packed(PackedWeight),
}

impl Linear {
    pub fn load(l: &Loader, name: &str, out: usize, inp: usize, bias: bool) -> Result<Linear> {
        Ok(Linear {
            name: name.to_string(),
            weight: LinearWeight::Dense(l.get(&format!("{name}.weight"), &[out, inp])?),
            bias: l.get_if(bias, &format!("{name}.bias"), &[out])?,
        })
    }

    /// `load`, with the weight packed once where the CPU GEMM takes it packed
    /// (f32 on the CPU): for layers that only ever see many rows at a time
    /// (vision towers), so no call re-packs the weight. Decoder layers stay
    /// dense, since decoding's one-row products stream the weight as stored.
    pub fn load_packed(l: &Loader, name: &str, out: usize, inp: usize, bias: bool) -> Result<Linear> {
        let mut lin = Linear::load(l, name, out, inp, bias)?;
        if let LinearWeight::Dense(w) = &lin.weight {
            if let Some(p) = PackedWeight::new(w)? {
                lin.weight = LinearWeight::Packed(p);
            }
        }
        Ok(lin)
    }

    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        Ok(match &self.weight {
            LinearWeight::Dense(w) => x.linear(w, self.bias.as_ref())?,
            LinearWeight::Packed(w) => x.linear_packed(w, self.bias.as_ref())?,
        })
    }

    /// `residual + self.forward(x)`, the product accumulated onto the residual
    /// in the GEMM (no pass of its own).
    pub fn forward_residual(&self, x: &Tensor, residual: &Tensor) -> Result<Tensor> {
        Ok(match &self.weight {
            LinearWeight::Dense(w) => x.linear_residual(w, self.bias.as_ref(), residual)?,
            LinearWeight::Packed(w) => x.linear_packed_residual(w, self.bias.as_ref(), residual)?,
        })
    }

    /// `act(self.forward(x))`; a packed weight (CPU) and a CUDA product apply the
    /// activation in the product's epilogue.
    pub fn forward_act(&self, x: &Tensor, act: Activation) -> Result<Tensor> {
        Ok(match &self.weight {
            LinearWeight::Dense(w) => x.linear_act(w, self.bias.as_ref(), Some(act.unary()))?,
            LinearWeight::Packed(w) => x.linear_packed_act(w, self.bias.as_ref(), Some(act.unary()))?,
        })
    }
}

impl Parameters for Linear {
    fn visit(&self, f: &mut dyn FnMut(&str, &Tensor)) {
        let w = format!("{}.weight", self.name);
        match &self.weight {
            LinearWeight::Dense(t) => f(&w, t),
            LinearWeight::Packed(p) => f(&w, &p.to_tensor().expect("an unpacked weight has its packed shape")),
        }
        if let Some(b) = &self.bias {
            f(&format!("{}.bias", self.name), b);
        }
    }

    fn any_trainable(&self) -> bool {
        // A packed weight is frozen by construction (trainable ones are unpacked).
        let w = matches!(&self.weight, LinearWeight::Dense(t) if t.is_tracked());
        w || self.bias.as_ref().is_some_and(Tensor::is_tracked)
    }

    fn visit_mut(&mut self, f: &mut dyn FnMut(&str, &mut Tensor)) {
        if let LinearWeight::Packed(p) = &self.weight {
            self.weight = LinearWeight::Dense(p.to_tensor().expect("an unpacked weight has its packed shape"));
        }
        if let LinearWeight::Dense(t) = &mut self.weight {
            f(&format!("{}.weight", self.name), t);
        }
        if let Some(b) = &mut self.bias {
            f(&format!("{}.bias", self.name), b);
        }
    }
}

/// LayerNorm weight and bias.
pub(crate) struct LayerNorm {
    pub weight: Param,
    pub bias: Param,
    pub eps: f32,
}

impl LayerNorm {
    pub fn load(l: &Loader, name: &str, n: usize, eps: f64) -> Result<LayerNorm> {
        Ok(LayerNorm {
            weight: l.param(&format!("{name}.weight"), &[n])?,
            bias: l.param(&format!("{name}.bias"), &[n])?,
            eps: eps as f32,
        })
    }

    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        Ok(x.layer_norm(&self.weight.value, &self.bias.value, self.eps)?)
    }
}

parameters!(LayerNorm { weight, bias });

/// RMSNorm weight (computed in f32 inside the kernel, as transformers does).
pub(crate) struct RmsNorm {
    pub weight: Param,
    pub eps: f32,
}

impl RmsNorm {
    pub fn load(l: &Loader, name: &str, n: usize, eps: f64) -> Result<RmsNorm> {
        Ok(RmsNorm { weight: l.param(&format!("{name}.weight"), &[n])?, eps: eps as f32 })
    }

    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        Ok(x.rms_norm(&self.weight.value, self.eps)?)
    }
}

parameters!(RmsNorm { weight });
