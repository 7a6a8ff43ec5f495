//! The Mllama vision model: per-tile patch embedding (im2col + GEMM), gated
//! pre-tile embedding, CLS, gated position + tile-position embeddings,
//! `layernorm_pre`, each tile padded to a multiple of 8 tokens, the local
//! encoder over all tiles jointly, `layernorm_post`, gated post-tile
//! embedding, the global encoder (tanh-gated residuals), padding stripped,
//! and the local layers' intermediate outputs interleaved after the global
//! output.
//!
//! Shapes: T tiles (max_num_tiles), P = patches + CLS, Lp = P padded to a
//! multiple of 8, D width, k intermediate layers; out [T, P, D·(1 + k)].

use iris_tensor::{AttnMask, Tensor};

use crate::error::Result;
use crate::loader::{LayerNorm, Linear, Loader};
use crate::mllama::config::MllamaVisionConfig;
use crate::params::{parameters, Gate, Param};
use crate::trace::Trace;

/// Self-attention without biases (padding rows see only the real tokens).
struct VisionAttention {
    q: Linear,
    k: Linear,
    v: Linear,
    o: Linear,
    heads: usize,
}

parameters!(VisionAttention { q, k, v, o });

/// `transformer.layers.{i}` / `global_transformer.layers.{i}`: pre-LN, with
/// tanh gates on both residual branches in the global encoder.
struct VisionLayer {
    input_layernorm: LayerNorm,
    self_attn: VisionAttention,
    post_attention_layernorm: LayerNorm,
    fc1: Linear,
    fc2: Linear,
    /// gate_attn and gate_ffn of a global layer.
    gate_attn: Option<Gate>,
    gate_ffn: Option<Gate>,
}

parameters!(VisionLayer { input_layernorm, self_attn, post_attention_layernorm, fc1, fc2, gate_attn, gate_ffn });

fn gate(l: &Loader, name: &str) -> Result<Gate> {
    Gate::new(l.param(name, &[1])?)
}

impl VisionLayer {
    fn load(l: &Loader, p: &str, c: &MllamaVisionConfig, gated: bool) -> Result<VisionLayer> {
        let (d, f, eps) = (c.hidden_size, c.intermediate_size, c.norm_eps);
        let lin = |n: &str, o: usize, i: usize, b: bool| Linear::load_packed(l, &format!("{p}{n}"), o, i, b);
        Ok(VisionLayer {
            input_layernorm: LayerNorm::load(l, &format!("{p}input_layernorm"), d, eps)?,
            self_attn: VisionAttention {
                q: lin("self_attn.q_proj", d, d, false)?,
                k: lin("self_attn.k_proj", d, d, false)?,
                v: lin("self_attn.v_proj", d, d, false)?,
                o: lin("self_attn.o_proj", d, d, false)?,
                heads: c.attention_heads,
            },
            post_attention_layernorm: LayerNorm::load(l, &format!("{p}post_attention_layernorm"), d, eps)?,
            fc1: lin("mlp.fc1", f, d, true)?,
            fc2: lin("mlp.fc2", d, f, true)?,
            gate_attn: gated.then(|| gate(l, &format!("{p}gate_attn"))).transpose()?,
            gate_ffn: gated.then(|| gate(l, &format!("{p}gate_ffn"))).transpose()?,
        })
    }

    /// x [B, N, D] (B images, each with its real tokens first): the first
    /// `real` rows (all of them when None) attend to every token of their
    /// image, the padding rows after them to its real tokens only (padding
    /// never sees padding, as in the reference).
    fn forward(&self, x: &Tensor, real: Option<usize>, act: crate::config::Activation) -> Result<Tensor> {
        let (b, n, d) = (x.shape()[0], x.shape()[1], x.shape()[2]);
        let a = &self.self_attn;
        let (h, dh) = (a.heads, d / a.heads);
        let y = self.input_layernorm.forward(x)?;
        let heads =
            |p: &Linear| -> Result<Tensor> { Ok(p.forward(&y)?.reshape(&[b, n, h, dh])?.permute(&[0, 2, 1, 3])?) };
        let (q, k, v) = (heads(&a.q)?, heads(&a.k)?, heads(&a.v)?);
        let scale = (dh as f32).powf(-0.5);
        let o = match real {
            Some(r) if r < n => {
                let all = Tensor::attention(&q.narrow(2, 0, r)?, &k, &v, AttnMask::None, scale)?;
                let (kr, vr) = (k.narrow(2, 0, r)?, v.narrow(2, 0, r)?);
                let pad = Tensor::attention(&q.narrow(2, r, n - r)?, &kr, &vr, AttnMask::None, scale)?;
                Tensor::cat(&[&all, &pad], 2)?
            }
            _ => Tensor::attention(&q, &k, &v, AttnMask::None, scale)?,
        };
        let o = o.permute(&[0, 2, 1, 3])?.contiguous()?.reshape(&[b, n, d])?;
        // Ungated layers add the residual in the products; gated ones scale first.
        let x = match &self.gate_attn {
            Some(g) => x.add(&g.apply(&a.o.forward(&o)?)?)?,
            None => a.o.forward_residual(&o, x)?,
        };
        let m = self.fc1.forward_act(&self.post_attention_layernorm.forward(&x)?, act)?;
        match &self.gate_ffn {
            Some(g) => Ok(x.add(&g.apply(&self.fc2.forward(&m)?)?)?),
            None => self.fc2.forward_residual(&m, &x),
        }
    }
}

pub struct MllamaVision {
    cfg: MllamaVisionConfig,
    act: crate::config::Activation,
    /// The conv weight [D, C, p, p] (viewed as [D, C·p·p]).
    patch: Param,
    class: Param,
    /// The gated position embedding: (1 − tanh g)·position + tanh g·tile_position.
    position: Param,
    tile_position: Param,
    position_gate: Gate,
    pre_tile: Param,
    pre_tile_gate: Gate,
    post_tile: Param,
    post_tile_gate: Gate,
    layernorm_pre: LayerNorm,
    layernorm_post: LayerNorm,
    local: Vec<VisionLayer>,
    global: Vec<VisionLayer>,
}

parameters!(MllamaVision {
    patch,
    class,
    position,
    tile_position,
    position_gate,
    pre_tile,
    pre_tile_gate,
    post_tile,
    post_tile_gate,
    layernorm_pre,
    layernorm_post,
    local,
    global
});

impl MllamaVision {
    pub(crate) fn load(l: &Loader, p: &str, c: &MllamaVisionConfig, act: crate::config::Activation) -> Result<Self> {
        let (d, ps, t, pt) = (c.hidden_size, c.patch_size, c.max_num_tiles, c.tile_tokens());
        let ids = c.supported_aspect_ratios.len() + 1;
        let n = |s: &str| format!("{p}{s}");
        Ok(MllamaVision {
            patch: l.param(&n("patch_embedding.weight"), &[d, c.num_channels, ps, ps])?,
            class: l.param(&n("class_embedding"), &[d])?,
            position: l.param(&n("gated_positional_embedding.embedding"), &[pt, d])?,
            tile_position: l.param(&n("gated_positional_embedding.tile_embedding.weight"), &[ids, t * pt * d])?,
            position_gate: gate(l, &n("gated_positional_embedding.gate"))?,
            pre_tile: l.param(&n("pre_tile_positional_embedding.embedding.weight"), &[ids, t * d])?,
            pre_tile_gate: gate(l, &n("pre_tile_positional_embedding.gate"))?,
            post_tile: l.param(&n("post_tile_positional_embedding.embedding.weight"), &[ids, t * d])?,
            post_tile_gate: gate(l, &n("post_tile_positional_embedding.gate"))?,
            layernorm_pre: LayerNorm::load(l, &n("layernorm_pre"), d, 1e-5)?,
            layernorm_post: LayerNorm::load(l, &n("layernorm_post"), d, 1e-5)?,
            local: (0..c.num_hidden_layers)
                .map(|i| VisionLayer::load(l, &n(&format!("transformer.layers.{i}.")), c, false))
                .collect::<Result<_>>()?,
            global: (0..c.num_global_layers)
                .map(|i| VisionLayer::load(l, &n(&format!("global_transformer.layers.{i}.")), c, true))
                .collect::<Result<_>>()?,
            cfg: c.clone(),
            act,
        })
    }

    /// Vision features [T, P, D·(1 + k)] of one image's tiles [T, C, S, S].
    pub fn forward(&self, pixels: &Tensor, aspect_ratio_id: usize, tiles: usize, trace: &mut Trace) -> Result<Tensor> {
        let mut out = self.forward_batch(&[pixels], aspect_ratio_id, tiles, trace)?;
        Ok(out.pop().expect("one image in, one out"))
    }

    /// The features of B images that share a tile grid (`aspect_ratio_id`,
    /// `tiles`): each embedded alone, the encoders run over all of them as a
    /// batch ([B, T·Lp, D]; attention stays within an image).
    pub fn forward_batch(
        &self,
        pixels: &[&Tensor],
        aspect_ratio_id: usize,
        tiles: usize,
        trace: &mut Trace,
    ) -> Result<Vec<Tensor>> {
        let c = &self.cfg;
        let (t, d, p, b) = (c.max_num_tiles, c.hidden_size, c.tile_tokens(), pixels.len());
        let lp = p.div_ceil(8) * 8;
        let row = |table: &Tensor, shape: &[usize]| -> Result<Tensor> {
            Ok(table.narrow(0, aspect_ratio_id, 1)?.reshape(shape)?)
        };
        // Padding (each tile's tokens past P, and unused tiles) only hides
        // pad→pad pairs. From the per-token flags, the tokens are reordered
        // once, real ones first: each layer's attention is then two unmasked
        // products (real rows over all keys, padding rows over the real keys),
        // and the order is undone at the end. Attention is the only step that
        // mixes tokens, and it does not depend on their order. Every image of
        // the batch has the same tiles, so the same order.
        let pad = |i: usize| i / lp >= tiles || i % lp >= p;
        let order: Vec<u32> =
            (0..t * lp).filter(|&i| !pad(i)).chain((0..t * lp).filter(|&i| pad(i))).map(|i| i as u32).collect();
        let real = (0..t * lp).filter(|&i| !pad(i)).count();
        let mut undo = vec![0u32; order.len()];
        for (k, &i) in order.iter().enumerate() {
            undo[i as usize] = k as u32;
        }
        // The rows of every image of x [B·T·Lp, W] (any shape of that many rows) picked by `idx`.
        let permute = |x: &Tensor, idx: &[u32]| -> Result<Tensor> {
            let w = x.shape()[x.dims() - 1];
            let all: Vec<u32> = (0..b).flat_map(|j| idx.iter().map(move |&i| i + (j * t * lp) as u32)).collect();
            Ok(Tensor::embedding(&x.reshape(&[b * t * lp, w])?, &all)?)
        };
        // What every image adds alike: the gated tile and position embeddings, the CLS token.
        let patch = &self.patch.value;
        let weight = patch.reshape(&[d, patch.elem_count() / d])?;
        let pre_tile = row(&self.pre_tile.value, &[t, 1, d])?.scale(self.pre_tile_gate.tanh)?;
        let class = self.class.value.reshape(&[1, 1, d])?.broadcast_as(&[t, 1, d])?;
        let position = self.position.value.scale(1.0 - self.position_gate.tanh)?;
        let tile_position = row(&self.tile_position.value, &[t, p, d])?.scale(self.position_gate.tanh)?;
        let mut xs = Vec::with_capacity(b);
        for px in pixels {
            let x = px
                .to_device(patch.device())?
                .to_dtype(patch.dtype())?
                .im2col(c.patch_size, c.patch_size, 0)?
                .linear(&weight, None)?;
            let x = Tensor::cat(&[&class, &x.add(&pre_tile)?], 1)?.add(&position)?.add(&tile_position)?;
            let x = self.layernorm_pre.forward(&x)?;
            let zeros = Tensor::zeros(&[t, lp - p, d], x.dtype()).to_device(x.device())?;
            xs.push(Tensor::cat(&[&x, &zeros], 1)?.reshape(&[t * lp, d])?);
        }
        let x = Tensor::cat(&xs.iter().collect::<Vec<_>>(), 0)?;
        let mut x = permute(&x, &order)?.reshape(&[b, t * lp, d])?;
        let real = Some(real);
        let mut inter = Vec::new();
        for (i, layer) in self.local.iter().enumerate() {
            let _p = iris_tensor::profile::scope(|| format!("layer: vision local {i}"));
            x = layer.forward(&x, real, self.act)?;
            if c.intermediate_layers_indices.contains(&i) {
                inter.push((i, x.clone()));
            }
        }
        let x = permute(&x, &undo)?;
        trace.record(|| "vision_local".into(), &x);
        let x = self.layernorm_post.forward(&x)?.reshape(&[b, t, lp, d])?;
        let x = x.add(&row(&self.post_tile.value, &[t, 1, d])?.scale(self.post_tile_gate.tanh)?)?;
        let mut x = permute(&x, &order)?.reshape(&[b, t * lp, d])?;
        for (i, layer) in self.global.iter().enumerate() {
            let _p = iris_tensor::profile::scope(|| format!("layer: vision global {i}"));
            x = layer.forward(&x, real, self.act)?;
        }
        let x = permute(&x, &undo)?;
        trace.record(|| "vision_global".into(), &x);
        // Intermediates in the config's order, interleaved: feature d·k + j.
        let stacked: Vec<Tensor> = c
            .intermediate_layers_indices
            .iter()
            .map(|i| {
                let x = &inter.iter().find(|(j, _)| j == i).expect("recorded above").1;
                Ok(permute(x, &undo)?.reshape(&[b * t, lp, d, 1])?)
            })
            .collect::<Result<_>>()?;
        let k = stacked.len();
        let x = x.reshape(&[b * t, lp, d])?;
        let out = if k > 0 {
            let inter = Tensor::cat(&stacked.iter().collect::<Vec<_>>(), 3)?.reshape(&[b * t, lp, d * k])?;
            Tensor::cat(&[&x, &inter], 2)?
        } else {
            x
        };
        let out = out.narrow(1, 0, p)?.contiguous()?;
        trace.record(|| "vision_output".into(), &out);
        (0..b).map(|j| Ok(out.narrow(0, j * t, t)?.contiguous()?)).collect()
    }
}
