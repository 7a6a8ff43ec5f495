//! RoPE tables: inverse frequencies as transformers computes them (f32, with
//! linear or llama3 rescaling), and the cos/sin rows of a span of positions.

use iris_tensor::{Result, Tensor};

use crate::config::{RopeConfig, RopeScaling};

/// Inverse frequencies of a rotate-half RoPE over `head_dim`.
#[derive(Clone, Debug)]
pub struct Rope {
    inv_freq: Vec<f32>,
}

impl Rope {
    pub fn new(cfg: &RopeConfig, head_dim: usize) -> Rope {
        // As torch: base ** (arange(0, dim, 2) / dim) in f32.
        let base = cfg.theta as f32;
        let plain = (0..head_dim / 2).map(|i| 1.0 / base.powf((2 * i) as f32 / head_dim as f32));
        let inv_freq = match cfg.scaling {
            RopeScaling::Default => plain.collect(),
            RopeScaling::Linear { factor } => plain.map(|f| f / factor as f32).collect(),
            RopeScaling::Llama3 { factor, low_freq_factor, high_freq_factor, original_max_position_embeddings } => {
                let (old, low, high) = (original_max_position_embeddings, low_freq_factor, high_freq_factor);
                let (low_wavelen, high_wavelen) = (old / low, old / high);
                plain
                    .map(|f| {
                        let f = f as f64;
                        let wavelen = 2.0 * std::f64::consts::PI / f;
                        let scaled = if wavelen > low_wavelen { f / factor } else { f };
                        if wavelen < high_wavelen || wavelen > low_wavelen {
                            scaled as f32
                        } else {
                            let smooth = (old / wavelen - low) / (high - low);
                            ((1.0 - smooth) * scaled / factor + smooth * scaled) as f32
                        }
                    })
                    .collect()
            }
        };
        Rope { inv_freq }
    }

    /// The inverse frequencies, one per rotated pair.
    pub fn inv_freq(&self) -> &[f32] {
        &self.inv_freq
    }

    /// cos and sin, f32 [R, head_dim/2], one row per position (a batch's
    /// rows each at its own sequence's position), on `device` (built once per
    /// forward, shared by every layer).
    pub fn tables_at(&self, positions: &[usize], device: iris_tensor::Device) -> Result<(Tensor, Tensor)> {
        let (half, len) = (self.inv_freq.len(), positions.len());
        let (mut cos, mut sin) = (Vec::with_capacity(len * half), Vec::with_capacity(len * half));
        for &p in positions {
            for &f in &self.inv_freq {
                let angle = p as f32 * f;
                cos.push(angle.cos());
                sin.push(angle.sin());
            }
        }
        let on = |v: Vec<f32>| -> Result<Tensor> { Tensor::from_vec(v, &[len, half])?.to_device(device) };
        Ok((on(cos)?, on(sin)?))
    }
}
