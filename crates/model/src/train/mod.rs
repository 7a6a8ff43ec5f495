//! Training: which parameters learn (by checkpoint name, per stage of the
//! two-stage recipe), the loss of a batch of examples through the model
//! trait, and the optimizer (`optim`).
//!
//! Stage 1 trains the projector (`multi_modal_projector.*`) and, in Method
//! B, every parameter of the decoder layers in `cross_attention_layers`;
//! stage 2 also every other language-model parameter (embeddings and LM head
//! included). The vision tower never trains unless a caller adds its names.

pub mod checkpoint;
pub mod data;
pub mod optim;
pub mod pixels;
pub mod probe;
pub mod trainer;

use std::collections::BTreeSet;

use iris_tensor::{Tensor, IGNORE};

use crate::decoder::{RowMask, Segment};
use crate::error::{Error, Result};
use crate::family::{Encoded, ImageEntry, VisionLanguageModel};
use crate::trace::Trace;

/// Where a parameter sits in the recipe.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Group {
    Vision,
    Projector,
    /// A decoder layer listed in `cross_attention_layers` (Method B).
    CrossAttention,
    Language,
}

/// The group of the parameter `name` (a checkpoint name) of `model`.
pub fn group(model: &dyn VisionLanguageModel, name: &str) -> Group {
    if name.contains("vision_tower.") || name.contains("vision_model.") {
        Group::Vision
    } else if name.contains("multi_modal_projector.") {
        Group::Projector
    } else if model.cross_attention_layers().iter().any(|i| name.contains(&format!("layers.{i}."))) {
        Group::CrossAttention
    } else {
        Group::Language
    }
}

/// The names of the parameters that learn in `stage` (1 or 2).
pub fn stage_parameters(model: &dyn VisionLanguageModel, stage: u8) -> Result<BTreeSet<String>> {
    if !(1..=2).contains(&stage) {
        return Err(Error::Unsupported(format!("stage {stage}: the recipe has stages 1 and 2")));
    }
    let mut out = BTreeSet::new();
    model.visit(&mut |n, _| {
        let learns = match group(model, n) {
            Group::Vision => false,
            Group::Projector | Group::CrossAttention => true,
            Group::Language => stage == 2,
        };
        if learns {
            out.insert(n.to_string());
        }
    });
    Ok(out)
}

/// Makes the parameters in `names` leaves that accumulate gradients, and
/// every other parameter a plain (frozen) tensor: no gradient buffer, no
/// optimizer state, no activations kept for it.
pub fn set_trainable(model: &mut dyn VisionLanguageModel, names: &BTreeSet<String>) {
    model.visit_mut(&mut |n, t| {
        *t = if names.contains(n) { t.detach().requires_grad() } else { t.detach() };
    });
}

/// One training example: its tokens, the token each position predicts
/// (`IGNORE` where it predicts nothing: the prompt), and its images, encoded.
pub struct Example {
    pub ids: Vec<u32>,
    pub targets: Vec<u32>,
    pub images: Encoded,
}

impl Example {
    /// The prompt's ids exactly as generation builds them, then the answer's
    /// (tokenized alone, no special tokens), then `eos`: each answer token and
    /// the eos is predicted from the position before it.
    pub fn new(prompt: &[u32], answer: &[u32], eos: u32, images: Encoded) -> Example {
        let mut ids = prompt.to_vec();
        ids.extend_from_slice(answer);
        ids.push(eos);
        let targets = (0..ids.len())
            .map(|i| if i + 1 >= prompt.len() && i + 1 < ids.len() { ids[i + 1] } else { IGNORE })
            .collect();
        Example { ids, targets, images }
    }
}

impl Example {
    /// The positions that count in the loss (the answer's tokens and eos).
    pub fn answer_tokens(&self) -> usize {
        self.targets.iter().filter(|&&t| t != IGNORE).count()
    }
}

/// The batch's loss: the cross-entropy summed over every answer token (and
/// eos) of every example, over their count; one forward over all examples
/// (each a segment attending to itself, no cache), an F32 [1]. Gradients
/// flow to the model's trainable parameters.
pub fn batch_loss(model: &dyn VisionLanguageModel, batch: &[Example]) -> Result<Tensor> {
    let d = model.decoder();
    let mut xs = Vec::with_capacity(batch.len());
    let mut cross = Vec::with_capacity(batch.len());
    for ex in batch {
        if ex.ids.len() > d.cfg.max_position_embeddings {
            return Err(Error::Prompt(format!(
                "an example of {} tokens is longer than max_position_embeddings {}",
                ex.ids.len(),
                d.cfg.max_position_embeddings
            )));
        }
        xs.push(match model.image_entry() {
            ImageEntry::Splice => d.embed_spliced(&ex.ids, model.image_token(), ex.images.splice.as_ref())?,
            ImageEntry::CrossAttention => d.embed(&ex.ids)?,
        });
        cross.push(match &ex.images.cross {
            Some(states) => {
                let rows = model.cross_mask_rows(&ex.ids, &ex.images.tiles);
                let x = xs.last().expect("pushed above");
                Some((d.cross_states(states)?, RowMask::new(&rows, model.tile_tokens(), x.dtype(), x.device())?))
            }
            None => None,
        });
    }
    let x = Tensor::cat(&xs.iter().collect::<Vec<_>>(), 0)?;
    let positions: Vec<usize> = batch.iter().flat_map(|ex| 0..ex.ids.len()).collect();
    let mut segs: Vec<Segment> = batch
        .iter()
        .zip(&cross)
        .map(|(ex, c)| Segment { rows: ex.ids.len(), cache: None, cross: c.as_ref().map(|(s, m)| (s, m)) })
        .collect();
    let h = d.forward(&x, &positions, &mut segs, &mut Trace::off())?;
    let targets: Vec<u32> = batch.iter().flat_map(|ex| ex.targets.iter().copied()).collect();
    Ok(d.logits(&h)?.cross_entropy(&targets)?)
}
