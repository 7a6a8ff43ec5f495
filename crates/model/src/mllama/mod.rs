//! Llama 3.2 Vision (method B, cross-modality attention): the tiled vision
//! encoder's features, projected once, enter the decoder only through gated
//! cross-attention layers; the image never joins the token sequence.

pub mod config;
pub mod preprocess;
pub mod vision;

use std::any::Any;

use iris_tensor::{DType, Device, Tensor};
use serde_json::Value;

pub use crate::decoder::{CrossStates, RowMask};
pub use config::{MllamaConfig, MllamaVisionConfig};
pub use preprocess::TileProcessor;

use crate::decoder::Decoder;
use crate::error::Result;
use crate::family::{Family, ImageEntry, LoadContext, PatchGrid, Pixels, VisionLanguageModel};
use crate::image::RgbImage;
use crate::kv_cache::KvCache;
use crate::loader::{Linear, Loader, WeightSource};
use crate::params::{parameters, Parameters};
use crate::prompt::Prompter;
use crate::trace::Trace;
use vision::MllamaVision;

pub struct Mllama {
    pub cfg: MllamaConfig,
    /// `MllamaImageProcessor` as the checkpoint configures it.
    pub processor: TileProcessor,
    vision: MllamaVision,
    projector: Linear,
    pub text: Decoder,
}

parameters!(Mllama { vision, projector, text });

pub(crate) const FAMILY: Family = Family { model_type: "mllama", load: load_family };

fn load_family(ctx: &LoadContext) -> Result<Box<dyn VisionLanguageModel>> {
    let c = MllamaConfig::from_value(ctx.config).map_err(|e| ctx.config_err(e))?;
    let (tile, n) = (c.vision.image_size, c.vision.max_num_tiles);
    let p =
        TileProcessor::from_value(ctx.processor.unwrap_or(&Value::Null), tile, n).map_err(|e| ctx.processor_err(e))?;
    if p.tile != tile || p.max_image_tiles > n {
        return Err(ctx.processor_err(format!(
            "the processor makes {}-pixel tiles, up to {}; the model takes {tile}-pixel tiles, up to {n}",
            p.tile, p.max_image_tiles
        )));
    }
    let mut m = Mllama::load(ctx.weights, c, ctx.dtype, ctx.device)?;
    m.processor = p;
    Ok(Box::new(m))
}

impl Mllama {
    /// Loads the Hub layout (`vision_model.*`, `language_model.model.*`,
    /// `language_model.lm_head.*`, `multi_modal_projector.*`) or the in-memory
    /// one (`model.*`, `lm_head.*`).
    pub fn load(weights: &WeightSource, cfg: MllamaConfig, dtype: DType, device: Device) -> Result<Mllama> {
        let l = Loader { weights, dtype, device };
        let vp = l.prefix(&["vision_model.", "model.vision_model."], "class_embedding")?;
        let tp = l.prefix(&["language_model.model.", "model.language_model."], "embed_tokens.weight")?;
        let pp = l.prefix(&["multi_modal_projector.", "model.multi_modal_projector."], "weight")?;
        let lm = if weights.contains("language_model.lm_head.weight") {
            "language_model.lm_head.weight"
        } else {
            "lm_head.weight"
        };
        let (t, d) = (&cfg.text, cfg.text.hidden_size);
        let lm_head = (!t.tie_word_embeddings).then_some(lm);
        let (tile, n) = (cfg.vision.image_size, cfg.vision.max_num_tiles);
        Ok(Mllama {
            processor: TileProcessor::from_value(&Value::Null, tile, n).map_err(crate::Error::Unsupported)?,
            vision: MllamaVision::load(&l, &vp, &cfg.vision, cfg.vision_act)?,
            projector: Linear::load_packed(&l, pp.trim_end_matches('.'), d, cfg.vision.vision_output_dim, true)?,
            // The table has 8 rows past the vocabulary; the image token is one.
            text: Decoder::load(&l, &tp, lm_head, t, t.vocab_size + 8, &cfg.cross_attention_layers)?,
            cfg,
        })
    }

    /// Cross-attention states [T·P, Dt] of one preprocessed image (its padded
    /// tiles included, as in the reference).
    pub fn encode_image(&self, img: &Pixels, trace: &mut Trace) -> Result<Tensor> {
        Ok(self.encode_batch(&[img], trace)?.pop().expect("one image in, one out"))
    }

    /// Cross-attention states of images that share a tile grid, in one
    /// forward of the vision model.
    fn encode_batch(&self, imgs: &[&Pixels], trace: &mut Trace) -> Result<Vec<Tensor>> {
        // A frozen tower keeps nothing for backward.
        let v = {
            let _off = (!self.vision.any_trainable()).then(iris_tensor::no_grad);
            let px: Vec<&Tensor> = imgs.iter().map(|p| &p.pixels).collect();
            self.vision.forward_batch(&px, imgs[0].aspect_ratio_id, imgs[0].tiles, trace)?
        };
        v.iter()
            .map(|v| {
                let states = self.projector.forward(v)?;
                let (t, p) = (states.shape()[0], states.shape()[1]);
                trace.record(|| "cross_states".into(), &states);
                Ok(states.reshape(&[t * p, self.cfg.text.hidden_size])?)
            })
            .collect()
    }

    /// The keys and values of every cross-attention layer for image states [S, Dt].
    pub fn cross_states(&self, states: &Tensor) -> Result<CrossStates> {
        self.text.cross_states(states)
    }

    /// Token embeddings [T, D].
    pub fn embed(&self, ids: &[u32]) -> Result<Tensor> {
        self.text.embed(ids)
    }

    /// Runs x [T, D] after the cached positions; `cross` carries the image
    /// states and the mask rows of these T positions. Returns the normed hidden states.
    pub fn forward(
        &self,
        x: &Tensor,
        cache: &mut KvCache,
        cross: Option<(&CrossStates, &RowMask)>,
        trace: &mut Trace,
    ) -> Result<Tensor> {
        self.text.forward_one(x, cache, cross, trace)
    }

    /// Logits [T, V] in f32.
    pub fn logits(&self, h: &Tensor) -> Result<Tensor> {
        self.text.logits(h)
    }

    /// The processor's cross-attention mask at tile level: for each token, one
    /// flag per (image, tile). Image j is visible from its `<|image|>` token to
    /// the next image's token (consecutive image tokens share their span) or
    /// the end, on its `tiles[j]` used tiles.
    pub fn mask_rows(&self, ids: &[u32], tiles: &[usize]) -> Vec<Vec<bool>> {
        let t_max = self.cfg.vision.max_num_tiles;
        let locs: Vec<usize> =
            ids.iter().enumerate().filter(|(_, &x)| x == self.cfg.image_token_index).map(|(i, _)| i).collect();
        let mut spans: Vec<(usize, usize)> =
            locs.iter().enumerate().map(|(j, &s)| (s, locs.get(j + 1).copied().unwrap_or(ids.len()))).collect();
        let mut end = ids.len();
        for span in spans.iter_mut().rev() {
            if span.0 + 1 == span.1 {
                span.1 = end;
            }
            end = span.1;
        }
        let mut rows = vec![vec![false; tiles.len() * t_max]; ids.len()];
        for (j, &(s, e)) in spans.iter().enumerate().take(tiles.len()) {
            for row in &mut rows[s..e] {
                row[j * t_max..j * t_max + tiles[j]].iter_mut().for_each(|b| *b = true);
            }
        }
        rows
    }
}

impl VisionLanguageModel for Mllama {
    fn model_type(&self) -> &'static str {
        "mllama"
    }
    fn decoder(&self) -> &Decoder {
        &self.text
    }
    fn image_entry(&self) -> ImageEntry {
        ImageEntry::CrossAttention
    }
    fn image_token(&self) -> u32 {
        self.cfg.image_token_index
    }
    fn tokens_per_image(&self) -> usize {
        1
    }
    fn eos_token_ids(&self) -> Vec<u32> {
        self.cfg.text.eos_token_id.clone()
    }
    /// A tile's rows: its CLS token, then its patches.
    fn patch_grid(&self) -> PatchGrid {
        PatchGrid { first: 1, side: self.cfg.vision.side() }
    }
    fn preprocess(&self, image: &RgbImage) -> Result<Pixels> {
        self.processor.preprocess(image)
    }
    fn encode(&self, pixels: &Pixels, trace: &mut Trace) -> Result<Tensor> {
        self.encode_image(pixels, trace)
    }
    /// Images with the same tile grid in one forward of the vision model and the projector.
    fn encode_many(&self, pixels: &[Pixels], trace: &mut Trace) -> Result<Vec<Tensor>> {
        let mut out: Vec<Option<Tensor>> = vec![None; pixels.len()];
        for i in 0..pixels.len() {
            if out[i].is_some() {
                continue;
            }
            let key = |p: &Pixels| (p.aspect_ratio_id, p.tiles);
            let group: Vec<usize> =
                (i..pixels.len()).filter(|&j| out[j].is_none() && key(&pixels[j]) == key(&pixels[i])).collect();
            let states = self.encode_batch(&group.iter().map(|&j| &pixels[j]).collect::<Vec<_>>(), trace)?;
            for (&j, s) in group.iter().zip(states) {
                out[j] = Some(s);
            }
        }
        Ok(out.into_iter().map(|t| t.expect("every image encoded")).collect())
    }
    /// MllamaProcessor writes the BOS text itself (after leading image
    /// tokens) unless the prompt has one; nothing else is added.
    fn tokenize(&self, prompter: &Prompter, text: &str, _chat: bool) -> Result<Vec<u32>> {
        let bos = prompter.special("bos_token").filter(|b| !b.is_empty());
        let token = prompter.id_to_token(self.cfg.image_token_index).unwrap_or_default();
        let text = match bos {
            Some(b) if !text.contains(b) && !token.is_empty() => {
                let rest = text.trim_start_matches(token.as_str());
                let lead = (text.len() - rest.len()) / token.len();
                format!("{}{b}{rest}", token.repeat(lead))
            }
            _ => text.to_string(),
        };
        prompter.encode(&text, false)
    }
    fn cross_mask_rows(&self, ids: &[u32], tiles: &[usize]) -> Vec<Vec<bool>> {
        self.mask_rows(ids, tiles)
    }
    fn tile_tokens(&self) -> usize {
        self.cfg.vision.tile_tokens()
    }
    fn cross_attention_layers(&self) -> Vec<usize> {
        self.cfg.cross_attention_layers.clone()
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
}
