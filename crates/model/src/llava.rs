//! LLaVA (method A, the unified embedding decoder): CLIP features of the
//! selected layer(s) → projector → spliced in place of the `<image>` tokens of
//! a Llama decoder's input.
//!
//! Shapes: N image features (patches, + CLS with the `full` strategy), Dv CLIP
//! width, k feature layers, Dt text width, T prompt tokens.

use std::any::Any;

use iris_tensor::{DType, Device, Tensor};

use crate::clip::ClipVision;
use crate::config::{LlavaConfig, SelectStrategy};
use crate::decoder::Decoder;
use crate::error::{Error, Result};
use crate::family::{Family, ImageEntry, LoadContext, PatchGrid, Pixels, VisionLanguageModel};
use crate::image::{ClipProcessor, RgbImage};
use crate::kv_cache::KvCache;
use crate::loader::{Linear, Loader, WeightSource};
use crate::params::{parameters, Parameters};
use crate::prompt::Prompter;
use crate::trace::Trace;

pub struct Llava {
    pub cfg: LlavaConfig,
    /// `CLIPImageProcessor` as the checkpoint configures it.
    pub processor: ClipProcessor,
    vision: ClipVision,
    /// Hidden-state indices (0 = embeddings) of the feature layers.
    feature_layers: Vec<usize>,
    linear_1: Linear,
    linear_2: Linear,
    pub text: Decoder,
}

pub(crate) const FAMILY: Family = Family { model_type: "llava", load: load_family };

fn load_family(ctx: &LoadContext) -> Result<Box<dyn VisionLanguageModel>> {
    let c = LlavaConfig::from_value(ctx.config).map_err(|e| ctx.config_err(e))?;
    let size = c.vision.image_size;
    let processor = match ctx.processor {
        Some(v) => ClipProcessor::from_value(v, size).map_err(|e| ctx.processor_err(e))?,
        None => ClipProcessor::for_size(size),
    };
    let mut m = Llava::load(ctx.weights, c, ctx.dtype, ctx.device)?;
    m.processor = processor;
    Ok(Box::new(m))
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
            processor: ClipProcessor::for_size(cfg.vision.image_size),
            vision: ClipVision::load(&l, &vision_prefix, &cfg.vision, depth)?,
            linear_1: Linear::load_packed(&l, &format!("{proj}linear_1"), dt, dv, bias)?,
            linear_2: Linear::load_packed(&l, &format!("{proj}linear_2"), dt, dt, bias)?,
            text: Decoder::load(&l, &text_prefix, lm_head, &cfg.text, cfg.text.vocab_size, &[])?,
            feature_layers,
            cfg,
        })
    }

    /// Projected image features [N, Dt] of one image's pixels [1, 3, S, S].
    pub fn encode_image(&self, pixels: &Tensor, trace: &mut Trace) -> Result<Tensor> {
        Ok(self.encode_batch(pixels, trace)?.squeeze(0)?)
    }

    /// The projected features [N, T', Dt] of N images' pixels [N, 3, S, S], in one forward of
    /// the tower and the projector.
    pub fn encode_batch(&self, pixels: &Tensor, trace: &mut Trace) -> Result<Tensor> {
        // A frozen tower keeps nothing for backward.
        let states = {
            let _off = (!self.vision.any_trainable()).then(iris_tensor::no_grad);
            self.vision.hidden_states(pixels, trace)?
        };
        let skip = (self.cfg.vision_feature_select_strategy == SelectStrategy::Default) as usize;
        let picked: Vec<Tensor> = self
            .feature_layers
            .iter()
            .map(|&i| {
                let s = &states[i];
                Ok(s.narrow(1, skip, s.shape()[1] - skip)?)
            })
            .collect::<Result<_>>()?;
        let features = Tensor::cat(&picked.iter().collect::<Vec<_>>(), 2)?;
        trace.record(|| "image_features".into(), &features);
        let h = self.linear_1.forward_act(&features, self.cfg.projector_hidden_act)?;
        let projected = self.linear_2.forward(&h)?;
        trace.record(|| "projected".into(), &projected);
        Ok(projected)
    }

    /// Input embeddings [T, Dt] of `ids`, whose image tokens (already expanded)
    /// are replaced in order by the rows of `images` (each [N, Dt]).
    pub fn embed(&self, ids: &[u32], images: &[Tensor], trace: &mut Trace) -> Result<Tensor> {
        let all = if images.is_empty() { None } else { Some(Tensor::cat(&images.iter().collect::<Vec<_>>(), 0)?) };
        let x = self.text.embed_spliced(ids, self.cfg.image_token_index, all.as_ref())?;
        trace.record(|| "text_embed".into(), &x);
        Ok(x)
    }

    /// Runs `x` [T, Dt] through the decoder after the cached positions.
    pub fn forward(&self, x: &Tensor, cache: &mut KvCache, trace: &mut Trace) -> Result<Tensor> {
        self.text.forward_one(x, cache, None, trace)
    }
}

impl VisionLanguageModel for Llava {
    fn model_type(&self) -> &'static str {
        "llava"
    }
    fn decoder(&self) -> &Decoder {
        &self.text
    }
    fn image_entry(&self) -> ImageEntry {
        ImageEntry::Splice
    }
    fn image_token(&self) -> u32 {
        self.cfg.image_token_index
    }
    fn tokens_per_image(&self) -> usize {
        self.cfg.image_features()
    }
    fn eos_token_ids(&self) -> Vec<u32> {
        self.cfg.text.eos_token_id.clone()
    }
    /// The tower's patches, after its CLS token unless the select strategy drops it.
    fn patch_grid(&self) -> PatchGrid {
        let first = usize::from(self.cfg.vision_feature_select_strategy != SelectStrategy::Default);
        PatchGrid { first, side: self.cfg.vision.side() }
    }
    fn preprocess(&self, image: &RgbImage) -> Result<Pixels> {
        Ok(Pixels { pixels: self.processor.preprocess(image)?, aspect_ratio_id: 0, tiles: 1 })
    }
    fn encode(&self, pixels: &Pixels, trace: &mut Trace) -> Result<Tensor> {
        self.encode_image(&pixels.pixels, trace)
    }
    /// Every image in one forward of the tower and the projector.
    fn encode_many(&self, pixels: &[Pixels], trace: &mut Trace) -> Result<Vec<Tensor>> {
        if pixels.is_empty() {
            return Ok(Vec::new());
        }
        let all = Tensor::cat(&pixels.iter().map(|p| &p.pixels).collect::<Vec<_>>(), 0)?;
        let f = self.encode_batch(&all, trace)?;
        (0..pixels.len()).map(|i| Ok(f.narrow(0, i, 1)?.squeeze(0)?)).collect()
    }
    /// The tokenizer's special tokens (BOS), unless a rendered chat template
    /// already starts with BOS.
    fn tokenize(&self, prompter: &Prompter, text: &str, chat: bool) -> Result<Vec<u32>> {
        let bos = prompter.special("bos_token").filter(|b| !b.is_empty());
        prompter.encode(text, !(chat && bos.is_some_and(|b| text.starts_with(b))))
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
}

parameters!(Llava { vision, linear_1, linear_2, text });
