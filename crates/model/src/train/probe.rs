//! Pre-training a vision encoder on what each patch of its pictures shows:
//! a linear head, shared by every patch token, reads the token's encoded
//! features (after the projector: what the decoder receives) and scores the
//! patch's label among C classes; the loss is the mean cross-entropy over
//! the patches. Dense labels keep each token's features about its own patch
//! (a shape's colour and kind where the shape lies), which the decoder then
//! finds by attending to it; a head over a whole picture let the encoder
//! spread what it knows over all tokens, and the decoder learned nothing
//! from it (docs/training.md). The head trains with the encoder and the
//! projector and is dropped afterwards (the checkpoint keeps the model's
//! tensors only), as a pre-trained ViT's classification head is.
//!
//! Shapes: an image's features F [S, D], its G × G patch rows from row
//! `first` (`PatchGrid`) → x [G², D]; head W [C, D]; logits x·Wᵀ [G², C];
//! a batch of B images stacks to [B·G², C] against B·G² labels.

use iris_tensor::{DType, Tensor};

use crate::error::{Error, Result};
use crate::family::{Encoded, PatchGrid, VisionLanguageModel};
use crate::params::{Param, Parameters};

/// The head: `classes` classes per patch of a `grid`.
pub struct Probe {
    pub(crate) head: Param,
    pub grid: PatchGrid,
    pub classes: usize,
}

/// An image's patch-token features [G², D] (its only tile).
fn patches(images: &Encoded, grid: PatchGrid) -> Result<Tensor> {
    let f = images
        .splice
        .as_ref()
        .or(images.cross.as_ref())
        .ok_or_else(|| Error::Unsupported("--probe: the example has no image".into()))?;
    if images.tiles != [1] {
        return Err(Error::Unsupported(format!(
            "--probe: each example needs one image of one tile, not tiles {:?}",
            images.tiles
        )));
    }
    let n = grid.side * grid.side;
    if f.shape()[0] < grid.first + n {
        return Err(Error::Unsupported(format!("--probe: {} feature rows hold no {n} patches", f.shape()[0])));
    }
    Ok(f.narrow(0, grid.first, n)?)
}

impl Probe {
    /// A zero head (the usual start of a classification head) for `model`'s
    /// patch features, as wide as `sample`'s.
    pub fn new(model: &dyn VisionLanguageModel, sample: &Encoded, classes: usize) -> Result<Probe> {
        let grid = model.patch_grid();
        let width = patches(sample, grid)?.shape()[1];
        let value = Tensor::zeros(&[classes, width], DType::F32).requires_grad();
        Ok(Probe { head: Param { name: "probe.head".into(), value }, grid, classes })
    }

    /// The mean cross-entropy of every patch label of every image of the batch.
    pub fn loss(&self, images: &[Encoded], labels: &[&[u32]]) -> Result<Tensor> {
        let n = self.grid.side * self.grid.side;
        let mut targets = Vec::with_capacity(images.len() * n);
        for l in labels {
            if l.len() != n || l.iter().any(|&c| c as usize >= self.classes) {
                return Err(Error::Unsupported(format!(
                    "--probe: labels must be {n} class numbers below {} (a {s}×{s} patch grid, row by row), are {l:?}",
                    self.classes,
                    s = self.grid.side
                )));
            }
            targets.extend_from_slice(l);
        }
        let xs = images.iter().map(|e| patches(e, self.grid)).collect::<Result<Vec<_>>>()?;
        let x = Tensor::cat(&xs.iter().collect::<Vec<_>>(), 0)?;
        Ok(x.linear(&self.head.value, None)?.cross_entropy(&targets)?)
    }
}

/// A model and a probe's head as one set of parameters (for the optimizer).
pub struct WithProbe<'a> {
    pub model: &'a mut dyn VisionLanguageModel,
    pub probe: &'a mut Probe,
}

impl Parameters for WithProbe<'_> {
    fn visit(&self, f: &mut dyn FnMut(&str, &Tensor)) {
        self.model.visit(f);
        self.probe.head.visit(f);
    }
    fn visit_mut(&mut self, f: &mut dyn FnMut(&str, &mut Tensor)) {
        self.model.visit_mut(f);
        self.probe.head.visit_mut(f);
    }
}
