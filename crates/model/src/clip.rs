//! The CLIP vision transformer of LLaVA: patch embedding (im2col + GEMM), CLS
//! and position embeddings, `pre_layrnorm`, pre-LN encoder layers.
//!
//! Shapes: N images, C channels, S pixels a side, p patch, P = (S/p)² patches,
//! T = P + 1 tokens, D width, H heads of dh.

use iris_tensor::{AttnMask, Tensor};

use crate::config::ClipVisionConfig;
use crate::error::{Error, Result};
use crate::loader::{LayerNorm, Linear, Loader};
use crate::trace::Trace;

struct Layer {
    ln1: LayerNorm,
    q: Linear,
    k: Linear,
    v: Linear,
    out: Linear,
    ln2: LayerNorm,
    fc1: Linear,
    fc2: Linear,
}

pub struct ClipVision {
    cfg: ClipVisionConfig,
    /// The conv weight [D, C, p, p] viewed as [D, C·p·p] (im2col's column order).
    patch: Tensor,
    class: Tensor,
    position: Tensor,
    pre_ln: LayerNorm,
    layers: Vec<Layer>,
}

impl ClipVision {
    /// Loads the tower under `prefix` (e.g. `vision_tower.vision_model.`), only
    /// the first `depth` encoder layers (the ones the selected features need).
    pub(crate) fn load(l: &Loader, prefix: &str, cfg: &ClipVisionConfig, depth: usize) -> Result<ClipVision> {
        let (d, c, p) = (cfg.hidden_size, cfg.num_channels, cfg.patch_size);
        let eps = cfg.layer_norm_eps;
        let e = |n: &str| format!("{prefix}embeddings.{n}");
        let patch = l.get(&e("patch_embedding.weight"), &[d, c, p, p])?.reshape(&[d, c * p * p])?;
        let layer = |i: usize| -> Result<Layer> {
            let n = |s: &str| format!("{prefix}encoder.layers.{i}.{s}");
            Ok(Layer {
                ln1: LayerNorm::load(l, &n("layer_norm1"), d, eps)?,
                q: Linear::load(l, &n("self_attn.q_proj"), d, d, true)?,
                k: Linear::load(l, &n("self_attn.k_proj"), d, d, true)?,
                v: Linear::load(l, &n("self_attn.v_proj"), d, d, true)?,
                out: Linear::load(l, &n("self_attn.out_proj"), d, d, true)?,
                ln2: LayerNorm::load(l, &n("layer_norm2"), d, eps)?,
                fc1: Linear::load(l, &n("mlp.fc1"), cfg.intermediate_size, d, true)?,
                fc2: Linear::load(l, &n("mlp.fc2"), d, cfg.intermediate_size, true)?,
            })
        };
        Ok(ClipVision {
            cfg: cfg.clone(),
            patch,
            class: l.get(&e("class_embedding"), &[d])?,
            position: l.get(&e("position_embedding.weight"), &[cfg.patches() + 1, d])?,
            pre_ln: LayerNorm::load(l, &format!("{prefix}pre_layrnorm"), d, eps)?,
            layers: (0..depth).map(layer).collect::<Result<_>>()?,
        })
    }

    /// CLIP's hidden states 0..=depth for pixels [N, C, S, S]: entry 0 is the
    /// pre-layernormed embeddings, entry i the output of layer i − 1; each [N, T, D].
    pub fn hidden_states(&self, pixels: &Tensor, trace: &mut Trace) -> Result<Vec<Tensor>> {
        let cfg = &self.cfg;
        let (s, c) = (cfg.image_size, cfg.num_channels);
        let &[n, pc, ph, pw] = pixels.shape() else {
            return Err(Error::Unsupported(format!("pixels must be [N, C, H, W], got {:?}", pixels.shape())));
        };
        if (pc, ph, pw) != (c, s, s) {
            return Err(Error::Unsupported(format!(
                "pixels {:?} do not fit the tower's [N, {c}, {s}, {s}]",
                pixels.shape()
            )));
        }
        let d = cfg.hidden_size;
        let cols = pixels.to_dtype(self.patch.dtype())?.im2col(cfg.patch_size, cfg.patch_size, 0)?;
        let patches = cols.linear(&self.patch, None)?; // [N, P, D]
        let class = self.class.reshape(&[1, 1, d])?.broadcast_as(&[n, 1, d])?;
        let x = Tensor::cat(&[&class, &patches], 1)?.add(&self.position)?;
        let mut x = self.pre_ln.forward(&x)?;
        trace.record(|| "vision_embed".into(), &x);
        let mut states = vec![x.clone()];
        for (i, layer) in self.layers.iter().enumerate() {
            x = self.layer(layer, &x)?;
            trace.record(|| format!("vision_layer.{i}"), &x);
            states.push(x.clone());
        }
        Ok(states)
    }

    fn layer(&self, w: &Layer, x: &Tensor) -> Result<Tensor> {
        let (h, d) = (self.cfg.num_attention_heads, self.cfg.hidden_size);
        let (n, t, dh) = (x.shape()[0], x.shape()[1], d / h);
        let y = w.ln1.forward(x)?;
        let heads =
            |p: &Linear| -> Result<Tensor> { Ok(p.forward(&y)?.reshape(&[n, t, h, dh])?.permute(&[0, 2, 1, 3])?) };
        let (q, k, v) = (heads(&w.q)?, heads(&w.k)?, heads(&w.v)?);
        let a = Tensor::attention(&q, &k, &v, AttnMask::None, (dh as f32).powf(-0.5))?;
        let a = a.permute(&[0, 2, 1, 3])?.contiguous()?.reshape(&[n, t, d])?;
        let x = x.add(&w.out.forward(&a)?)?;
        let y = w.ln2.forward(&x)?;
        let y = w.fc2.forward(&self.cfg.hidden_act.apply(&w.fc1.forward(&y)?)?)?;
        Ok(x.add(&y)?)
    }
}
