//! The CLIP vision transformer of LLaVA: patch embedding (im2col + GEMM), CLS
//! and position embeddings, `pre_layrnorm`, pre-LN encoder layers.
//!
//! Shapes: N images, C channels, S pixels a side, p patch, P = (S/p)² patches,
//! T = P + 1 tokens, D width, H heads of dh.

use iris_tensor::{AttnMask, Tensor};

use crate::config::{Activation, ClipVisionConfig};
use crate::error::{Error, Result};
use crate::loader::{LayerNorm, Linear, Loader};
use crate::params::{parameters, Param};
use crate::trace::Trace;

/// Bidirectional multi-head self-attention with biased q/k/v/out projections.
pub(crate) struct ClipAttention {
    q: Linear,
    k: Linear,
    v: Linear,
    out: Linear,
    heads: usize,
}

parameters!(ClipAttention { q, k, v, out });

impl ClipAttention {
    pub fn load(l: &Loader, prefix: &str, d: usize, heads: usize) -> Result<ClipAttention> {
        let p = |n: &str| format!("{prefix}{n}");
        Ok(ClipAttention {
            q: Linear::load_packed(l, &p("q_proj"), d, d, true)?,
            k: Linear::load_packed(l, &p("k_proj"), d, d, true)?,
            v: Linear::load_packed(l, &p("v_proj"), d, d, true)?,
            out: Linear::load_packed(l, &p("out_proj"), d, d, true)?,
            heads,
        })
    }

    /// residual + attn(x), x and residual [N, T, D].
    pub fn forward(&self, x: &Tensor, residual: &Tensor) -> Result<Tensor> {
        let (n, t, d) = (x.shape()[0], x.shape()[1], x.shape()[2]);
        let (h, dh) = (self.heads, d / self.heads);
        let heads =
            |p: &Linear| -> Result<Tensor> { Ok(p.forward(x)?.reshape(&[n, t, h, dh])?.permute(&[0, 2, 1, 3])?) };
        let a = Tensor::attention(
            &heads(&self.q)?,
            &heads(&self.k)?,
            &heads(&self.v)?,
            AttnMask::None,
            (dh as f32).powf(-0.5),
        )?;
        self.out.forward_residual(&a.permute(&[0, 2, 1, 3])?.contiguous()?.reshape(&[n, t, d])?, residual)
    }
}

/// residual + fc2(act(fc1(x))).
pub(crate) struct ClipMlp {
    fc1: Linear,
    fc2: Linear,
    act: Activation,
}

parameters!(ClipMlp { fc1, fc2 });

impl ClipMlp {
    pub fn load(l: &Loader, prefix: &str, d: usize, f: usize, act: Activation) -> Result<ClipMlp> {
        Ok(ClipMlp {
            fc1: Linear::load_packed(l, &format!("{prefix}fc1"), f, d, true)?,
            fc2: Linear::load_packed(l, &format!("{prefix}fc2"), d, f, true)?,
            act,
        })
    }

    pub fn forward(&self, x: &Tensor, residual: &Tensor) -> Result<Tensor> {
        self.fc2.forward_residual(&self.fc1.forward_act(x, self.act)?, residual)
    }
}

/// A pre-LN encoder layer: x + attn(ln1(x)), then x + mlp(ln2(x)).
struct ClipEncoderLayer {
    layer_norm1: LayerNorm,
    self_attn: ClipAttention,
    layer_norm2: LayerNorm,
    mlp: ClipMlp,
}

parameters!(ClipEncoderLayer { layer_norm1, self_attn, layer_norm2, mlp });

impl ClipEncoderLayer {
    fn load(l: &Loader, prefix: &str, c: &ClipVisionConfig) -> Result<ClipEncoderLayer> {
        let (d, eps) = (c.hidden_size, c.layer_norm_eps);
        Ok(ClipEncoderLayer {
            layer_norm1: LayerNorm::load(l, &format!("{prefix}layer_norm1"), d, eps)?,
            self_attn: ClipAttention::load(l, &format!("{prefix}self_attn."), d, c.num_attention_heads)?,
            layer_norm2: LayerNorm::load(l, &format!("{prefix}layer_norm2"), d, eps)?,
            mlp: ClipMlp::load(l, &format!("{prefix}mlp."), d, c.intermediate_size, c.hidden_act)?,
        })
    }

    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let x = self.self_attn.forward(&self.layer_norm1.forward(x)?, x)?;
        self.mlp.forward(&self.layer_norm2.forward(&x)?, &x)
    }
}

pub struct ClipVision {
    cfg: ClipVisionConfig,
    /// The conv weight [D, C, p, p] (viewed as [D, C·p·p], im2col's column order).
    patch: Param,
    class: Param,
    position: Param,
    pre_ln: LayerNorm,
    layers: Vec<ClipEncoderLayer>,
}

parameters!(ClipVision { patch, class, position, pre_ln, layers });

impl ClipVision {
    /// Loads the tower under `prefix` (e.g. `vision_tower.vision_model.`), only
    /// the first `depth` encoder layers (the ones the selected features need).
    pub(crate) fn load(l: &Loader, prefix: &str, cfg: &ClipVisionConfig, depth: usize) -> Result<ClipVision> {
        let (d, c, p) = (cfg.hidden_size, cfg.num_channels, cfg.patch_size);
        let eps = cfg.layer_norm_eps;
        let e = |n: &str| format!("{prefix}embeddings.{n}");
        let patch = l.param(&e("patch_embedding.weight"), &[d, c, p, p])?;
        let layer = |i: usize| ClipEncoderLayer::load(l, &format!("{prefix}encoder.layers.{i}."), cfg);
        Ok(ClipVision {
            cfg: cfg.clone(),
            patch,
            class: l.param(&e("class_embedding"), &[d])?,
            position: l.param(&e("position_embedding.weight"), &[cfg.patches() + 1, d])?,
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
        let patch = &self.patch.value;
        let cols =
            pixels.to_device(patch.device())?.to_dtype(patch.dtype())?.im2col(cfg.patch_size, cfg.patch_size, 0)?;
        let patches = cols.linear(&patch.reshape(&[d, patch.elem_count() / d])?, None)?; // [N, P, D]
        let class = self.class.value.reshape(&[1, 1, d])?.broadcast_as(&[n, 1, d])?;
        let x = Tensor::cat(&[&class, &patches], 1)?.add(&self.position.value)?;
        let mut x = self.pre_ln.forward(&x)?;
        trace.record(|| "vision_embed".into(), &x);
        let mut states = vec![x.clone()];
        for (i, layer) in self.layers.iter().enumerate() {
            let _p = iris_tensor::profile::scope(|| format!("layer: vision {i}"));
            x = layer.forward(&x)?;
            trace.record(|| format!("vision_layer.{i}"), &x);
            states.push(x.clone());
        }
        Ok(states)
    }
}
