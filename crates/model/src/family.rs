//! The model interface: what a vision-language family provides (its image
//! preprocessing and encoder, its prompt rules, how images enter the
//! decoder), and the registry that picks a family by config.json's
//! `model_type`. Everything else (prompt checks, sequences, batching,
//! generation, benchmarks) is written once over the trait.

use std::any::Any;
use std::path::Path;

use iris_tensor::{DType, Device, Tensor};
use serde_json::Value;

use crate::decoder::Decoder;
use crate::error::{Error, Result};
use crate::image::RgbImage;
use crate::loader::WeightSource;
use crate::params::Parameters;
use crate::prompt::Prompter;
use crate::trace::Trace;

/// One preprocessed image.
#[derive(Clone)]
pub struct Pixels {
    /// [tiles_max, 3, S, S] (one tile for CLIP); tiles past `tiles` are zeros.
    pub pixels: Tensor,
    /// The tile grid's index among the supported ones, plus 1 (0 untiled).
    pub aspect_ratio_id: usize,
    /// Tiles in use (rows · cols; 1 untiled).
    pub tiles: usize,
}

/// How encoded images reach the decoder.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ImageEntry {
    /// Method A: the features replace the image tokens in the input sequence.
    Splice,
    /// Method B: the decoder's cross-attention layers attend to them.
    CrossAttention,
}

/// A prompt's images, encoded.
#[derive(Clone, Default)]
pub struct Encoded {
    /// Method A: every image's features [N, D] in prompt order, rows concatenated.
    pub splice: Option<Tensor>,
    /// Method B: every image's cross-attention states [S, D], rows concatenated.
    pub cross: Option<Tensor>,
    /// Each image's used tiles.
    pub tiles: Vec<usize>,
}

/// Where an image's patch tokens lie among its encoded feature rows (of its
/// first tile): `side` × `side` rows in row-major order from row `first`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PatchGrid {
    pub first: usize,
    pub side: usize,
}

/// A vision-language model family.
pub trait VisionLanguageModel: Parameters + Send + Sync {
    /// config.json's `model_type`.
    fn model_type(&self) -> &'static str;
    /// The language model.
    fn decoder(&self) -> &Decoder;
    /// How images enter the decoder.
    fn image_entry(&self) -> ImageEntry;
    /// The prompt token that stands for an image.
    fn image_token(&self) -> u32;
    /// Positions each image token expands to in the prompt (1 for Method B).
    fn tokens_per_image(&self) -> usize;
    /// Stop tokens from config.json (generation_config.json's take precedence).
    fn eos_token_ids(&self) -> Vec<u32>;
    /// Where each image's patch tokens lie in its encoded features.
    fn patch_grid(&self) -> PatchGrid;
    /// The checkpoint's image preprocessing.
    fn preprocess(&self, image: &RgbImage) -> Result<Pixels>;
    /// One image's features (Method A, [N, D]) or cross-attention states
    /// (Method B, [S, D]).
    fn encode(&self, pixels: &Pixels, trace: &mut Trace) -> Result<Tensor>;
    /// Token ids of a prompt text, with the family's rules for special tokens
    /// (`chat`: the text is a rendered chat template).
    fn tokenize(&self, prompter: &Prompter, text: &str, chat: bool) -> Result<Vec<u32>>;
    /// Method B: for each of `ids`, which (image, tile) it may attend to.
    fn cross_mask_rows(&self, _ids: &[u32], _tiles: &[usize]) -> Vec<Vec<bool>> {
        Vec::new()
    }
    /// The decoder layers that are cross-attention layers (Method B).
    fn cross_attention_layers(&self) -> Vec<usize> {
        Vec::new()
    }
    /// Image tokens per cross-attention tile (Method B).
    fn tile_tokens(&self) -> usize {
        0
    }
    /// The concrete model, for tools and tests that need its own methods.
    fn as_any(&self) -> &dyn Any;

    /// Encodes several preprocessed images: what `encode` gives for each.
    /// A family whose encoder takes a batch runs them in one forward.
    fn encode_many(&self, pixels: &[Pixels], trace: &mut Trace) -> Result<Vec<Tensor>> {
        pixels.iter().map(|p| self.encode(p, trace)).collect()
    }

    /// Preprocesses and encodes a prompt's images.
    fn encode_images(&self, images: &[RgbImage]) -> Result<Encoded> {
        let mut sets = self.encode_image_sets(std::slice::from_ref(&images))?;
        Ok(sets.pop().expect("one set in, one out"))
    }

    /// The images of several prompts (or training examples), preprocessed
    /// and encoded together (`encode_many`), then grouped back per prompt.
    fn encode_image_sets(&self, sets: &[&[RgbImage]]) -> Result<Vec<Encoded>> {
        let px = sets.iter().map(|s| s.iter().map(|img| self.preprocess(img)).collect()).collect::<Result<Vec<_>>>()?;
        self.encode_pixel_sets(&px)
    }

    /// `encode_image_sets` of images already preprocessed (training's, from
    /// its cache: `train::pixels`).
    fn encode_pixel_sets(&self, sets: &[Vec<Pixels>]) -> Result<Vec<Encoded>> {
        let px: Vec<Pixels> = sets.iter().flatten().cloned().collect();
        let mut feats = self.encode_many(&px, &mut Trace::off())?.into_iter();
        let mut tiles = px.iter().map(|p| p.tiles);
        let mut out = Vec::with_capacity(sets.len());
        for set in sets {
            let f: Vec<Tensor> = feats.by_ref().take(set.len()).collect();
            let t: Vec<usize> = tiles.by_ref().take(set.len()).collect();
            let all = if f.is_empty() { None } else { Some(Tensor::cat(&f.iter().collect::<Vec<_>>(), 0)?) };
            out.push(match self.image_entry() {
                ImageEntry::Splice => Encoded { splice: all, cross: None, tiles: t },
                ImageEntry::CrossAttention => Encoded { splice: None, cross: all, tiles: t },
            });
        }
        Ok(out)
    }
}

/// What a family's loader gets.
pub struct LoadContext<'a> {
    /// config.json, parsed, and its path (for errors).
    pub config: &'a Value,
    pub config_path: &'a Path,
    /// The image processor's settings (None: the class defaults) and their file.
    pub processor: Option<&'a Value>,
    pub processor_path: &'a Path,
    pub weights: &'a WeightSource<'a>,
    pub dtype: DType,
    pub device: Device,
}

impl LoadContext<'_> {
    pub fn config_err(&self, msg: String) -> Error {
        Error::Config { path: self.config_path.to_path_buf(), msg }
    }
    pub fn processor_err(&self, msg: String) -> Error {
        Error::Config { path: self.processor_path.to_path_buf(), msg }
    }
}

/// A registered family: its `model_type` and its loader.
pub struct Family {
    pub model_type: &'static str,
    pub load: fn(&LoadContext) -> Result<Box<dyn VisionLanguageModel>>,
}

/// The families iris runs. A new one adds its folder and a line here.
pub const FAMILIES: &[Family] = &[crate::llava::FAMILY, crate::mllama::FAMILY];

/// Loads the family named by the config's `model_type`.
pub fn load_model(ctx: &LoadContext) -> Result<Box<dyn VisionLanguageModel>> {
    let model_type = ctx.config.get("model_type").and_then(Value::as_str).unwrap_or("");
    match FAMILIES.iter().find(|f| f.model_type == model_type) {
        Some(f) => (f.load)(ctx),
        None => {
            let known: Vec<&str> = FAMILIES.iter().map(|f| f.model_type).collect();
            Err(ctx.config_err(format!("model_type `{model_type}` is not supported ({})", known.join(", "))))
        }
    }
}
