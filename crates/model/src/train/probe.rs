//! Pre-training a vision encoder on its pictures' attributes: a linear head
//! reads an image's encoded features (after the projector: what the decoder
//! receives) flattened to one row, and scores R label rows of C classes each;
//! the loss is their mean cross-entropy. The head trains with the encoder and
//! the projector and is dropped afterwards (the checkpoint keeps the model's
//! tensors only), as a classification head of a pre-trained ViT is.
//!
//! Shapes: F features of an image [S, D] → x [1, S·D]; head W [R·C, S·D];
//! logits x·Wᵀ [1, R·C] → [R, C]; a batch of B images stacks to [B·R, C].

use iris_tensor::{DType, Tensor};

use crate::error::{Error, Result};
use crate::family::{Encoded, VisionLanguageModel};
use crate::params::{Param, Parameters};

/// The head: `rows` label rows of `classes` classes over `inputs` features.
pub struct Probe {
    pub(crate) head: Param,
    pub rows: usize,
    pub classes: usize,
}

/// An image's features as the decoder receives them, flattened to [1, S·D].
fn features(images: &Encoded) -> Result<Tensor> {
    let f = images
        .splice
        .as_ref()
        .or(images.cross.as_ref())
        .ok_or_else(|| Error::Unsupported("--probe: the example has no image".into()))?;
    Ok(f.contiguous()?.reshape(&[1, f.elem_count()])?)
}

impl Probe {
    /// A zero head (the usual start of a classification head) sized for
    /// `sample`'s features.
    pub fn new(sample: &Encoded, rows: usize, classes: usize) -> Result<Probe> {
        let inputs = features(sample)?.elem_count();
        let value = Tensor::zeros(&[rows * classes, inputs], DType::F32).requires_grad();
        Ok(Probe { head: Param { name: "probe.head".into(), value }, rows, classes })
    }

    /// The mean cross-entropy of the label rows of every image of the batch.
    pub fn loss(&self, images: &[Encoded], labels: &[&[u32]]) -> Result<Tensor> {
        let mut targets = Vec::with_capacity(images.len() * self.rows);
        for l in labels {
            if l.len() != self.rows || l.iter().any(|&c| c as usize >= self.classes) {
                return Err(Error::Unsupported(format!(
                    "--probe: labels must be {} class numbers below {}, are {l:?}",
                    self.rows, self.classes
                )));
            }
            targets.extend_from_slice(l);
        }
        let xs = images.iter().map(features).collect::<Result<Vec<_>>>()?;
        let x = Tensor::cat(&xs.iter().collect::<Vec<_>>(), 0)?;
        let logits = x.linear(&self.head.value, None)?.reshape(&[images.len() * self.rows, self.classes])?;
        Ok(logits.cross_entropy(&targets)?)
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
