//! AdamW exactly as `torch.optim.AdamW`, gradient clipping exactly as
//! `torch.nn.utils.clip_grad_norm_`, and the learning-rate schedules
//! (constant; linear warm-up then cosine, as transformers'
//! `get_cosine_schedule_with_warmup`). The arithmetic is f32 in torch's
//! order, on the host.
//!
//! One step for a parameter p with gradient g, step t from 1:
//!   p ← p·(1 − lr·wd)                 (wd only for parameters of ≥ 2 dims)
//!   m ← m + (1 − β1)·(g − m)          (torch's lerp)
//!   v ← β2·v + (1 − β2)·g²
//!   p ← p − lr/(1 − β1^t) · m / (√v / √(1 − β2^t) + eps)

use std::collections::BTreeMap;

use iris_tensor::Tensor;
use rayon::prelude::*;

use crate::error::Result;
use crate::params::Parameters;

/// Elements per parallel task of the update.
const CHUNK: usize = 1 << 16;

/// The optimizer's settings (torch's defaults but the weight decay).
#[derive(Clone, Copy, Debug)]
pub struct AdamWConfig {
    pub beta1: f64,
    pub beta2: f64,
    pub eps: f64,
    pub weight_decay: f64,
}

impl Default for AdamWConfig {
    fn default() -> Self {
        AdamWConfig { beta1: 0.9, beta2: 0.999, eps: 1e-8, weight_decay: 0.0 }
    }
}

/// One parameter's moments.
#[derive(Clone)]
pub struct Moments {
    pub m: Vec<f32>,
    pub v: Vec<f32>,
}

/// AdamW's state: the step count and each trained parameter's moments, by name.
pub struct AdamW {
    pub cfg: AdamWConfig,
    pub step: u64,
    pub state: BTreeMap<String, Moments>,
}

impl AdamW {
    pub fn new(cfg: AdamWConfig) -> AdamW {
        AdamW { cfg, step: 0, state: BTreeMap::new() }
    }

    /// Updates every trainable parameter of `model` from its gradient times
    /// `grad_scale` (the clipping coefficient, `clip_coef`; 1 without
    /// clipping) at learning rate `lr`; the parameters come back as fresh
    /// leaves without gradients. A trainable parameter without a gradient
    /// (unused by the loss) is left as it is.
    pub fn step<P: Parameters + ?Sized>(&mut self, model: &mut P, lr: f64, grad_scale: f32) -> Result<()> {
        self.step += 1;
        let t = self.step as i32;
        let c = self.cfg;
        // Scalars in f64 as torch computes them in Python, applied to f32 tensors as f32.
        let (bc1, bc2) = (1.0 - c.beta1.powi(t), 1.0 - c.beta2.powi(t));
        let (step_size, bc2_sqrt) = ((lr / bc1) as f32, bc2.sqrt() as f32);
        let (b2, eps) = (c.beta2 as f32, c.eps as f32);
        let (one_minus_b1, one_minus_b2) = ((1.0 - c.beta1) as f32, (1.0 - c.beta2) as f32);
        let mut failed = None;
        model.visit_mut(&mut |name, p| {
            let Some(g) = p.grad() else { return };
            let res = (|| -> Result<Tensor> {
                let (shape, dims, n) = (p.shape().to_vec(), p.dims(), p.elem_count());
                // Read in place when the gradient is a host f32 run (no copy of a 1 GB table).
                let owned;
                let g: &[f32] = match g.host_slice::<f32>() {
                    Some(s) => s,
                    None => {
                        owned = g.to_vec::<f32>()?;
                        &owned
                    }
                };
                let s =
                    self.state.entry(name.to_string()).or_insert_with(|| Moments { m: vec![0.0; n], v: vec![0.0; n] });
                let decay = (dims >= 2 && c.weight_decay != 0.0).then_some((1.0 - lr * c.weight_decay) as f32);
                // Element by element, so the chunks (in parallel) change nothing in the result.
                let update = |w: &mut [f32]| {
                    w.par_chunks_mut(CHUNK)
                        .zip(g.par_chunks(CHUNK))
                        .zip(s.m.par_chunks_mut(CHUNK).zip(s.v.par_chunks_mut(CHUNK)))
                        .for_each(|((w, g), (m, v))| {
                            for i in 0..w.len() {
                                if let Some(k) = decay {
                                    w[i] *= k;
                                }
                                // As clip_grad_norm_ scales the gradient in place (an f32 product).
                                let gi = if grad_scale != 1.0 { g[i] * grad_scale } else { g[i] };
                                m[i] += one_minus_b1 * (gi - m[i]);
                                v[i] = v[i] * b2 + one_minus_b2 * (gi * gi);
                                let denom = v[i].sqrt() / bc2_sqrt + eps;
                                w[i] += -step_size * (m[i] / denom);
                            }
                        })
                };
                // In place when the parameter owns its buffer (every step after the first);
                // else a fresh one (the first step's weights are views of the checkpoint).
                let mut w = std::mem::replace(p, Tensor::zeros(&[0], iris_tensor::DType::F32));
                let mut pending = Some(update);
                if !w.update_host_f32(|x| (pending.take().expect("runs once"))(x)) {
                    let mut v = match w.to_vec::<f32>() {
                        Ok(v) => v,
                        Err(e) => {
                            *p = w;
                            return Err(e.into());
                        }
                    };
                    (pending.take().expect("not run in place"))(&mut v);
                    w = Tensor::from_vec(v, &shape)?.to_device(w.device())?;
                }
                Ok(w.detach().requires_grad())
            })();
            match res {
                Ok(new) => *p = new,
                Err(e) => failed = failed.take().or(Some(e)),
            }
        });
        failed.map_or(Ok(()), Err)
    }
}

/// The global L2 norm of every trainable gradient of `model`, as
/// `clip_grad_norm_` computes it (the norm of the per-tensor norms).
pub fn grad_norm<P: Parameters + ?Sized>(model: &P) -> Result<f32> {
    let mut norms = Vec::new();
    let mut failed = None;
    model.visit(&mut |_, p| {
        if let Some(g) = p.grad() {
            match g.to_vec::<f32>() {
                Ok(v) => {
                    norms.push(v.par_chunks(CHUNK).map(|c| c.iter().map(|x| x * x).sum::<f32>()).sum::<f32>().sqrt())
                }
                Err(e) => failed = Some(e),
            }
        }
    });
    if let Some(e) = failed {
        return Err(e.into());
    }
    Ok(norms.iter().map(|n| n * n).sum::<f32>().sqrt())
}

/// `clip_grad_norm_`'s coefficient for a global norm `total`: max_norm /
/// (total + 1e-6), at most 1 (the gradients are scaled by it always).
pub fn clip_coef(total: f32, max_norm: f32) -> f32 {
    (max_norm / (total + 1e-6)).min(1.0)
}

/// The learning-rate schedule.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Schedule {
    Constant,
    /// Linear warm-up over `warmup` steps from 0, then a half cosine to 0 at `total`.
    Cosine {
        warmup: u64,
        total: u64,
    },
}

impl Schedule {
    /// The multiplier of the base rate at optimizer step `step` (from 0).
    pub fn factor(&self, step: u64) -> f32 {
        match *self {
            Schedule::Constant => 1.0,
            Schedule::Cosine { warmup, total } => {
                if step < warmup {
                    return step as f32 / warmup.max(1) as f32;
                }
                let progress = (step - warmup) as f64 / total.saturating_sub(warmup).max(1) as f64;
                (0.5 * (1.0 + (std::f64::consts::PI * progress).cos())).max(0.0) as f32
            }
        }
    }
}
