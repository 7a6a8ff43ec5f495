//! LLaVA (method A, the unified embedding decoder): CLIP features of the
//! selected layer(s) → projector → spliced in place of the `<image>` tokens of
//! a Llama decoder's input.
//!
//! Shapes: N image features (patches, + CLS with the `full` strategy), Dv CLIP
//! width, k feature layers, Dt text width, T prompt tokens.

use iris_tensor::{DType, Device, Tensor};

use crate::clip::ClipVision;
use crate::config::{LlavaConfig, SelectStrategy};
use crate::error::{Error, Result};
use crate::kv_cache::KvCache;
use crate::llama::Llama;
use crate::loader::{Linear, Loader, WeightSource};
use crate::trace::Trace;

pub struct Llava {
    pub cfg: LlavaConfig,
    vision: ClipVision,
    /// Hidden-state indices (0 = embeddings) of the feature layers.
    feature_layers: Vec<usize>,
    linear_1: Linear,
    linear_2: Linear,
    pub text: Llama,
}

impl Llava {
    /// Loads every weight by its name in any of the three layouts: the hub's
    /// (`vision_tower.vision_model.*`, `language_model.model.*`), transformers
    /// 5's `save_pretrained` (`vision_tower.*`) and the in-memory one (`model.*`).
    pub fn load(weights: &WeightSource, cfg: LlavaConfig, dtype: DType, device: Device) -> Result<Llava> {
        let l = Loader { weights, dtype, device };
        let vision_prefix = l.prefix(
            &["vision_tower.vision_model.", "vision_tower.", "model.vision_tower.vision_model.", "model.vision_tower."],
            "embeddings.patch_embedding.weight",
        )?;
        let text_prefix =
            l.prefix(&["language_model.model.", "model.language_model.", "language_model."], "embed_tokens.weight")?;
        let proj = l.prefix(&["multi_modal_projector.", "model.multi_modal_projector."], "linear_1.weight")?;
        let lm_head = ["language_model.lm_head.weight", "lm_head.weight"].into_iter().find(|n| weights.contains(n));
        let tied = cfg.tie_word_embeddings || cfg.text.tie_word_embeddings;
        let lm_head = match (lm_head, tied) {
            (Some(n), false) => Some(n),
            (_, true) => None,
            (None, false) => {
                return Err(Error::Weight {
                    name: "language_model.lm_head.weight".into(),
                    msg: "not found (nor `lm_head.weight`), and tie_word_embeddings is false".into(),
                })
            }
        };
        let n = cfg.vision.num_hidden_layers as i64;
        let feature_layers: Vec<usize> =
            cfg.vision_feature_layer.iter().map(|&i| if i < 0 { n + 1 + i } else { i } as usize).collect();
        let depth = *feature_layers.iter().max().expect("config ensures one layer");
        let (dv, dt) = (cfg.vision.hidden_size * feature_layers.len(), cfg.text.hidden_size);
        let bias = cfg.multimodal_projector_bias;
        Ok(Llava {
            vision: ClipVision::load(&l, &vision_prefix, &cfg.vision, depth)?,
            linear_1: Linear::load_packed(&l, &format!("{proj}linear_1"), dt, dv, bias)?,
            linear_2: Linear::load_packed(&l, &format!("{proj}linear_2"), dt, dt, bias)?,
            text: Llama::load(&l, &text_prefix, lm_head, &cfg.text)?,
            feature_layers,
            cfg,
        })
    }

    /// Projected image features [N, Dt] of one image's pixels [1, 3, S, S].
    pub fn encode_image(&self, pixels: &Tensor, trace: &mut Trace) -> Result<Tensor> {
        let states = self.vision.hidden_states(pixels, trace)?;
        let skip = (self.cfg.vision_feature_select_strategy == SelectStrategy::Default) as usize;
        let picked: Vec<Tensor> = self
            .feature_layers
            .iter()
            .map(|&i| {
                let s = &states[i];
                Ok(s.narrow(1, skip, s.shape()[1] - skip)?)
            })
            .collect::<Result<_>>()?;
        let features = Tensor::cat(&picked.iter().collect::<Vec<_>>(), 2)?.squeeze(0)?;
        trace.record(|| "image_features".into(), &features);
        let h = self.linear_1.forward_act(&features, self.cfg.projector_hidden_act)?;
        let projected = self.linear_2.forward(&h)?;
        trace.record(|| "projected".into(), &projected);
        Ok(projected)
    }

    /// Input embeddings [T, Dt] of `ids`, whose image tokens (already expanded)
    /// are replaced in order by the rows of `images` (each [N, Dt]).
    pub fn embed(&self, ids: &[u32], images: &[Tensor], trace: &mut Trace) -> Result<Tensor> {
        let image_id = self.cfg.image_token_index;
        let slots = ids.iter().filter(|&&i| i == image_id).count();
        let features: usize = images.iter().map(|t| t.shape()[0]).sum();
        if slots != features {
            return Err(Error::Prompt(format!(
                "{slots} image tokens in the prompt but {features} image features ({} images)",
                images.len()
            )));
        }
        // The image id may lie outside the table (as in llava-hf): embed 0 there; it is replaced.
        let text_ids: Vec<u32> = ids.iter().map(|&i| if i == image_id { 0 } else { i }).collect();
        let text = self.text.embed(&text_ids)?;
        let x = if images.is_empty() {
            text
        } else {
            let all = Tensor::cat(&images.iter().collect::<Vec<_>>(), 0)?;
            let mut parts = Vec::new();
            let (mut i, mut used) = (0, 0);
            while i < ids.len() {
                let is_image = ids[i] == image_id;
                let run = ids[i..].iter().take_while(|&&x| (x == image_id) == is_image).count();
                parts.push(if is_image { all.narrow(0, used, run)? } else { text.narrow(0, i, run)? });
                used += if is_image { run } else { 0 };
                i += run;
            }
            Tensor::cat(&parts.iter().collect::<Vec<_>>(), 0)?
        };
        trace.record(|| "text_embed".into(), &x);
        Ok(x)
    }

    /// Runs `x` [T, Dt] through the decoder after the cached positions.
    pub fn forward(&self, x: &Tensor, cache: &mut KvCache, trace: &mut Trace) -> Result<Tensor> {
        self.text.forward(x, cache, trace)
    }
}
