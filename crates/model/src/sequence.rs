//! Sequences of any family, alone or in a batch: each holds its tokens, its
//! KV cache and its encoded images (Method B: their cross-attention keys and
//! values, projected on the sequence's first step); [`advance`] feeds each
//! sequence its next tokens (a prompt, a chunk of one, or one decoded token)
//! in one forward whose linear layers run as one GEMM over all rows.

use iris_tensor::Tensor;

use crate::decoder::{CrossStates, RowMask, Segment};
use crate::error::{Error, Result};
use crate::family::{Encoded, ImageEntry, VisionLanguageModel};
use crate::kv_cache::KvCache;
use crate::trace::Trace;

pub struct Sequence {
    /// Every token fed so far.
    ids: Vec<u32>,
    cache: KvCache,
    images: Encoded,
    /// Method A: image features already spliced in.
    spliced: usize,
    /// Method B: the image keys/values, projected on the first step.
    cross: Option<CrossStates>,
}

impl Sequence {
    /// A sequence over a prompt's encoded images, its cache sized for
    /// `capacity` positions before it grows.
    pub fn new(model: &dyn VisionLanguageModel, images: Encoded, capacity: usize) -> Sequence {
        let cache = KvCache::new(model.decoder().cfg.num_hidden_layers, capacity);
        Sequence { ids: Vec::new(), cache, images, spliced: 0, cross: None }
    }

    /// Positions fed so far.
    pub fn len(&self) -> usize {
        self.ids.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    /// Input embeddings [T, D] of this sequence's next tokens.
    fn embed(&mut self, model: &dyn VisionLanguageModel, ids: &[u32]) -> Result<Tensor> {
        let d = model.decoder();
        if model.image_entry() != ImageEntry::Splice {
            return d.embed(ids);
        }
        let n = ids.iter().filter(|&&i| i == model.image_token()).count();
        let have = self.images.splice.as_ref().map_or(0, |f| f.shape()[0]);
        if self.spliced == have && !self.is_empty() {
            // Every image is in: an image token the model generates is a plain token, as in
            // transformers (whose decode steps carry no pixels).
            return d.embed(ids);
        }
        if self.spliced + n > have {
            return Err(Error::Prompt(format!(
                "{} image tokens in the prompt but {have} image features",
                self.spliced + n
            )));
        }
        let rows = match &self.images.splice {
            Some(f) if n > 0 => Some(f.narrow(0, self.spliced, n)?),
            _ => None,
        };
        self.spliced += n;
        d.embed_spliced(ids, model.image_token(), rows.as_ref())
    }
}

/// Feeds `inputs[i]` (at least one token) to `seqs[i]`, all in one forward.
/// Returns the final-normed hidden states of every new row, sequence after
/// sequence: [Σ T_i, D].
pub fn advance(
    model: &dyn VisionLanguageModel,
    seqs: &mut [&mut Sequence],
    inputs: &[&[u32]],
    trace: &mut Trace,
) -> Result<Tensor> {
    if seqs.len() != inputs.len() || inputs.iter().any(|i| i.is_empty()) {
        return Err(Error::Prompt("each sequence needs at least one new token".into()));
    }
    let d = model.decoder();
    // Embeddings: one lookup for the whole batch unless a prompt splices image features.
    let plain = model.image_entry() != ImageEntry::Splice || inputs.iter().all(|i| !i.contains(&model.image_token()));
    let x = if plain {
        d.embed(&inputs.concat())?
    } else {
        let parts = seqs.iter_mut().zip(inputs).map(|(s, i)| s.embed(model, i)).collect::<Result<Vec<_>>>()?;
        Tensor::cat(&parts.iter().collect::<Vec<_>>(), 0)?
    };
    // Method B: project a sequence's image states on its first step; the mask
    // rows of its new tokens come from all of its tokens (image spans run on).
    let mut masks = Vec::with_capacity(seqs.len());
    for (s, ids) in seqs.iter_mut().zip(inputs) {
        let Some(states) = &s.images.cross else {
            masks.push(None);
            continue;
        };
        if s.cross.is_none() {
            s.cross = Some(d.cross_states(states)?);
        }
        let all: Vec<u32> = s.ids.iter().chain(ids.iter()).copied().collect();
        let rows = model.cross_mask_rows(&all, &s.images.tiles);
        masks.push(Some(RowMask::new(&rows[s.ids.len()..], model.tile_tokens(), x.dtype(), x.device())?));
    }
    let positions: Vec<usize> =
        seqs.iter().zip(inputs).flat_map(|(s, ids)| s.cache.len()..s.cache.len() + ids.len()).collect();
    let h = {
        let mut segs: Vec<Segment> = seqs
            .iter_mut()
            .zip(inputs)
            .zip(&masks)
            .map(|((s, ids), m)| {
                let Sequence { cache, cross, .. } = &mut **s;
                Segment { rows: ids.len(), cache: Some(cache), cross: cross.as_ref().zip(m.as_ref()) }
            })
            .collect();
        d.forward(&x, &positions, &mut segs, trace)?
    };
    for (s, ids) in seqs.iter_mut().zip(inputs) {
        s.ids.extend_from_slice(ids);
    }
    Ok(h)
}

/// The rows of `h` [Σ T_i, D] that end each sequence's input: [B, D].
pub fn last_rows(h: &Tensor, inputs: &[&[u32]]) -> Result<Tensor> {
    if inputs.iter().all(|i| i.len() == 1) {
        return Ok(h.clone());
    }
    let mut r = 0;
    let rows = inputs
        .iter()
        .map(|i| {
            r += i.len();
            h.narrow(0, r - 1, 1)
        })
        .collect::<iris_tensor::Result<Vec<_>>>()?;
    Ok(Tensor::cat(&rows.iter().collect::<Vec<_>>(), 0)?)
}
