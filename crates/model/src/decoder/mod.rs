//! The decoder stack both families share: a Llama decoder whose layers are
//! self-attention layers or (Method B) gated cross-attention layers, run over
//! a batch of sequences at explicit positions.
//!
//! Shapes: R rows in the batch (the new tokens of each sequence in turn), D
//! width, V vocabulary.

mod cross_attn;
mod self_attn;

use iris_tensor::{DType, Tensor};

pub use cross_attn::{CrossStates, RowMask};

use crate::config::LlamaConfig;
use crate::error::{Error, Result};
use crate::kv_cache::KvCache;
use crate::loader::{Loader, RmsNorm};
use crate::params::{parameters, Param, Parameters};
use crate::rope::Rope;
use crate::trace::Trace;
use cross_attn::CrossAttentionLayer;
use self_attn::SelfAttentionLayer;

/// One sequence's part of a batched forward: its next `rows` rows of x, the
/// cache they extend (None in training: the rows are the whole sequence and
/// attend to each other), and (Method B) its image keys/values with the
/// cross-attention mask of these rows.
pub struct Segment<'a> {
    pub rows: usize,
    pub cache: Option<&'a mut KvCache>,
    pub cross: Option<(&'a CrossStates, &'a RowMask)>,
}

enum Layer {
    SelfAttention(Box<SelfAttentionLayer>),
    CrossAttention(Box<CrossAttentionLayer>),
}

pub struct Decoder {
    pub cfg: LlamaConfig,
    embed: Param,
    layers: Vec<Layer>,
    norm: RmsNorm,
    /// None when tied to the embedding table (its first `vocab_size` rows).
    lm_head: Option<Param>,
    rope: Rope,
}

impl Decoder {
    /// Loads the layers under `prefix` (…`model.`), an embedding table of
    /// `embed_rows` rows (at least the vocabulary), the layers listed in
    /// `cross` as cross-attention layers, and `lm_head` from `lm_head` or,
    /// when None, tied to the embedding table.
    pub(crate) fn load(
        l: &Loader,
        prefix: &str,
        lm_head: Option<&str>,
        cfg: &LlamaConfig,
        embed_rows: usize,
        cross: &[usize],
    ) -> Result<Decoder> {
        let d = cfg.hidden_size;
        let layer = |i: usize| -> Result<Layer> {
            let p = format!("{prefix}layers.{i}.");
            Ok(if cross.contains(&i) {
                Layer::CrossAttention(Box::new(CrossAttentionLayer::load(l, &p, cfg)?))
            } else {
                Layer::SelfAttention(Box::new(SelfAttentionLayer::load(l, &p, cfg)?))
            })
        };
        Ok(Decoder {
            cfg: cfg.clone(),
            embed: l.param(&format!("{prefix}embed_tokens.weight"), &[embed_rows, d])?,
            layers: (0..cfg.num_hidden_layers).map(layer).collect::<Result<_>>()?,
            norm: RmsNorm::load(l, &format!("{prefix}norm"), d, cfg.rms_norm_eps)?,
            lm_head: lm_head.map(|n| l.param(n, &[cfg.vocab_size, d])).transpose()?,
            rope: Rope::new(&cfg.rope, cfg.head_dim),
        })
    }

    pub fn dtype(&self) -> DType {
        self.embed.value.dtype()
    }

    /// Token embeddings [T, D]; ids outside the table are an error.
    pub fn embed(&self, ids: &[u32]) -> Result<Tensor> {
        let rows = self.embed.value.shape()[0];
        if let Some(&bad) = ids.iter().find(|&&id| id as usize >= rows) {
            return Err(Error::Prompt(format!("token id {bad} is outside the embedding table of {rows}")));
        }
        Ok(Tensor::embedding(&self.embed.value, ids)?)
    }

    /// Embeddings [T, D] of `ids` whose `image_id` tokens are replaced, in
    /// order, by the rows of `features` [N, D] (N = their count). The image
    /// id may lie outside the table (as in llava-hf): row 0 stands in for it.
    pub fn embed_spliced(&self, ids: &[u32], image_id: u32, features: Option<&Tensor>) -> Result<Tensor> {
        let slots = ids.iter().filter(|&&i| i == image_id).count();
        let have = features.map_or(0, |f| f.shape()[0]);
        if slots != have {
            return Err(Error::Prompt(format!("{slots} image tokens in the prompt but {have} image features")));
        }
        let (Some(all), true) = (features, slots > 0) else { return self.embed(ids) };
        let text = self.embed(&ids.iter().map(|&i| if i == image_id { 0 } else { i }).collect::<Vec<_>>())?;
        let mut parts = Vec::new();
        let (mut i, mut used) = (0, 0);
        while i < ids.len() {
            let is_image = ids[i] == image_id;
            let run = ids[i..].iter().take_while(|&&x| (x == image_id) == is_image).count();
            parts.push(if is_image { all.narrow(0, used, run)? } else { text.narrow(0, i, run)? });
            used += if is_image { run } else { 0 };
            i += run;
        }
        Ok(Tensor::cat(&parts.iter().collect::<Vec<_>>(), 0)?)
    }

    /// Projects one sequence's image states [S, D] through every
    /// cross-attention layer.
    pub fn cross_states(&self, states: &Tensor) -> Result<CrossStates> {
        let kv = self
            .layers
            .iter()
            .map(|l| match l {
                Layer::CrossAttention(c) => c.project(states).map(Some),
                Layer::SelfAttention(_) => Ok(None),
            })
            .collect::<Result<_>>()?;
        Ok(CrossStates { kv })
    }

    /// Runs the rows x [R, D] of every segment, in order, at `positions` (one
    /// per row), through every layer; each segment's keys and values extend
    /// its cache. Cross-attention layers run only when some segment has image
    /// states (without, they are skipped, as in the reference). Returns the
    /// final-normed hidden states [R, D].
    pub fn forward(&self, x: &Tensor, positions: &[usize], segs: &mut [Segment], trace: &mut Trace) -> Result<Tensor> {
        let r = x.shape()[0];
        if segs.iter().map(|s| s.rows).sum::<usize>() != r || positions.len() != r {
            return Err(Error::Prompt(format!(
                "{r} rows, {} positions and {} in the segments",
                positions.len(),
                segs.iter().map(|s| s.rows).sum::<usize>()
            )));
        }
        let max = self.cfg.max_position_embeddings;
        if let Some(&p) = positions.iter().find(|&&p| p >= max) {
            return Err(Error::Prompt(format!("{} positions exceed max_position_embeddings {max}", p + 1)));
        }
        let (cos, sin) = self.rope.tables_at(positions, x.device())?;
        let images = segs.iter().any(|s| s.cross.is_some());
        let mut x = x.clone();
        for (i, layer) in self.layers.iter().enumerate() {
            let _p = iris_tensor::profile::scope(|| format!("layer: text {i}"));
            match layer {
                Layer::SelfAttention(l) => x = l.forward(&x, &cos, &sin, segs, i)?,
                Layer::CrossAttention(l) if images => x = l.forward(&x, segs, i)?,
                Layer::CrossAttention(_) => continue,
            }
            trace.record(|| format!("text_layer.{i}"), &x);
        }
        for s in segs.iter_mut() {
            if let Some(c) = s.cache.as_deref_mut() {
                c.advance(s.rows);
            }
        }
        self.norm.forward(&x)
    }

    /// One sequence's T new rows x [T, D] after its cached positions.
    pub fn forward_one(
        &self,
        x: &Tensor,
        cache: &mut KvCache,
        cross: Option<(&CrossStates, &RowMask)>,
        trace: &mut Trace,
    ) -> Result<Tensor> {
        let t = x.shape()[0];
        let positions: Vec<usize> = (cache.len()..cache.len() + t).collect();
        self.forward(x, &positions, &mut [Segment { rows: t, cache: Some(cache), cross }], trace)
    }

    /// Logits [R, V] in f32 of final-normed hidden states [R, D].
    pub fn logits(&self, h: &Tensor) -> Result<Tensor> {
        let head = match &self.lm_head {
            Some(p) => p.value.clone(),
            // Tied: the table itself when it is the vocabulary (its gradient then flows
            // straight in), else its first rows.
            None if self.embed.value.shape()[0] == self.cfg.vocab_size => self.embed.value.clone(),
            None => self.embed.value.narrow(0, 0, self.cfg.vocab_size)?,
        };
        Ok(h.linear(&head, None)?.to_dtype(DType::F32)?)
    }
}

impl Parameters for Layer {
    fn visit(&self, f: &mut dyn FnMut(&str, &Tensor)) {
        match self {
            Layer::SelfAttention(l) => l.visit(f),
            Layer::CrossAttention(l) => l.visit(f),
        }
    }
    fn any_trainable(&self) -> bool {
        match self {
            Layer::SelfAttention(l) => l.any_trainable(),
            Layer::CrossAttention(l) => l.any_trainable(),
        }
    }
    fn visit_mut(&mut self, f: &mut dyn FnMut(&str, &mut Tensor)) {
        match self {
            Layer::SelfAttention(l) => l.visit_mut(f),
            Layer::CrossAttention(l) => l.visit_mut(f),
        }
    }
}

parameters!(Decoder { embed, layers, norm, lm_head });
