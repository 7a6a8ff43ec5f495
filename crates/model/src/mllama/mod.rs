//! Llama 3.2 Vision (method B, cross-modality attention): the tiled vision
//! encoder's features, projected once, enter the decoder only through gated
//! cross-attention layers; the image never joins the token sequence.

pub mod config;
pub mod preprocess;
pub mod text;
pub mod vision;

use iris_tensor::{DType, Device, Tensor};

pub use config::{MllamaConfig, MllamaVisionConfig};
pub use preprocess::{TileProcessor, TiledImage};
pub use text::{CrossStates, RowMask};

use crate::error::{Error, Result};
use crate::kv_cache::KvCache;
use crate::loader::{Linear, Loader, RmsNorm, WeightSource};
use crate::rope::Rope;
use crate::trace::Trace;
use text::Layer;
use vision::MllamaVision;

pub struct Mllama {
    pub cfg: MllamaConfig,
    vision: MllamaVision,
    projector: Linear,
    embed: Tensor,
    layers: Vec<Layer>,
    norm: RmsNorm,
    lm_head: Tensor,
    rope: Rope,
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
        Ok(Mllama {
            vision: MllamaVision::load(&l, &vp, &cfg.vision, cfg.vision_act)?,
            projector: Linear::load_packed(&l, pp.trim_end_matches('.'), d, cfg.vision.vision_output_dim, true)?,
            embed: l.get(&format!("{tp}embed_tokens.weight"), &[t.vocab_size + 8, d])?,
            layers: text::load_layers(&l, &tp, t, &cfg.cross_attention_layers)?,
            norm: RmsNorm::load(&l, &format!("{tp}norm"), d, t.rms_norm_eps)?,
            lm_head: if t.tie_word_embeddings {
                l.get(&format!("{tp}embed_tokens.weight"), &[t.vocab_size + 8, d])?.narrow(0, 0, t.vocab_size)?
            } else {
                l.get(lm, &[t.vocab_size, d])?
            },
            rope: Rope::new(&t.rope, t.head_dim),
            cfg,
        })
    }

    /// Cross-attention states [T·P, Dt] of one preprocessed image (its padded
    /// tiles included, as in the reference).
    pub fn encode_image(&self, img: &TiledImage, trace: &mut Trace) -> Result<Tensor> {
        let v = self.vision.forward(&img.pixels, img.aspect_ratio_id, img.tiles, trace)?;
        let states = self.projector.forward(&v)?;
        let (t, p) = (states.shape()[0], states.shape()[1]);
        trace.record(|| "cross_states".into(), &states);
        Ok(states.reshape(&[t * p, self.cfg.text.hidden_size])?)
    }

    /// The keys and values of every cross-attention layer for image states [S, Dt].
    pub fn cross_states(&self, states: &Tensor) -> Result<CrossStates> {
        text::cross_states(&self.layers, states)
    }

    /// Token embeddings [T, D] (the table has 8 rows past the vocabulary; the image token is one).
    pub fn embed(&self, ids: &[u32]) -> Result<Tensor> {
        let rows = self.embed.shape()[0];
        if let Some(&bad) = ids.iter().find(|&&id| id as usize >= rows) {
            return Err(Error::Prompt(format!("token id {bad} is outside the embedding table of {rows}")));
        }
        Ok(Tensor::embedding(&self.embed, ids)?)
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
        let (t, pos) = (x.shape()[0], cache.len());
        let max = self.cfg.text.max_position_embeddings;
        if pos + t > max {
            return Err(Error::Prompt(format!("{} positions exceed max_position_embeddings {max}", pos + t)));
        }
        let (cos, sin) = self.rope.tables(pos, t, x.device())?;
        let x = text::forward_layers(&self.layers, x, &cos, &sin, cache, cross, trace)?;
        cache.advance(t);
        self.norm.forward(&x)
    }

    /// Logits [T, V] in f32.
    pub fn logits(&self, h: &Tensor) -> Result<Tensor> {
        Ok(h.linear(&self.lm_head, None)?.to_dtype(DType::F32)?)
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
