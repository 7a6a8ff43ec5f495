//! The training loop: batches drawn in a seeded order (reshuffled each
//! epoch), gradient accumulation, clipping, AdamW at the schedule's rate;
//! and its state, saved so that a resumed run ends bit-identical to an
//! uninterrupted one (`checkpoint.rs` writes it).

use std::collections::BTreeSet;

use iris_tensor::Tensor;

use super::data::Record;
use super::optim::{clip_coef, grad_norm, AdamW, AdamWConfig, Schedule};
use super::pixels::{PixelCache, DEFAULT_BUDGET};
use super::probe::{Probe, WithProbe};
use super::{batch_loss, set_trainable, Example};
use crate::error::{Error, Result};
use crate::pipeline::Pipeline;

/// How to train.
#[derive(Clone, Debug)]
pub struct TrainConfig {
    /// Optimizer steps to run in all.
    pub steps: u64,
    /// Examples per forward.
    pub batch_size: usize,
    /// Forwards (of `batch_size` examples) per optimizer step.
    pub grad_accum: usize,
    pub lr: f64,
    pub schedule: Schedule,
    pub adamw: AdamWConfig,
    /// Clip the gradients' global norm to this (None: no clipping).
    pub grad_clip: Option<f32>,
    /// Seeds the order of the examples.
    pub seed: u64,
}

/// Sees a step's loss and every trainable gradient (by name) before clipping.
pub type OnGrads<'a> = dyn FnMut(f32, &[(String, Tensor)]) + 'a;

/// What one optimizer step did.
pub struct StepReport {
    /// The step's loss (the mean over its accumulated forwards).
    pub loss: f32,
    /// The learning rate it used.
    pub lr: f64,
    /// Tokens it ran (prompts and answers).
    pub tokens: usize,
    /// The gradients' global norm before clipping.
    pub grad_norm: f32,
}

pub struct Trainer {
    pub pipe: Pipeline,
    pub cfg: TrainConfig,
    pub data: Vec<Record>,
    /// The checkpoint names of the parameters that learn.
    pub names: BTreeSet<String>,
    pub opt: AdamW,
    /// Optimizer steps done.
    pub step: u64,
    /// The epoch the next example comes from, and how many of it were used.
    pub epoch: u64,
    pub cursor: usize,
    order: Vec<usize>,
    /// With a probe, steps train on the images' labels (`probe.rs`), not on the answers.
    pub probe: Option<Probe>,
    /// The examples' pictures, preprocessed once (`pixels.rs`; replace it to set the budget).
    pub pixels: PixelCache,
}

/// splitmix64: the seeded stream behind the example order.
pub fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The order of `n` examples in `epoch` (Fisher–Yates over the seeded stream).
fn order(n: usize, seed: u64, epoch: u64) -> Vec<usize> {
    let mut v: Vec<usize> = (0..n).collect();
    let mut s = mix(seed ^ mix(epoch));
    for i in (1..n).rev() {
        s = mix(s);
        v.swap(i, (s % (i as u64 + 1)) as usize);
    }
    v
}

impl Trainer {
    /// A run over `data` training the parameters in `names` of `pipe`'s model.
    pub fn new(mut pipe: Pipeline, data: Vec<Record>, names: BTreeSet<String>, cfg: TrainConfig) -> Result<Trainer> {
        if cfg.batch_size == 0 || cfg.grad_accum == 0 {
            return Err(Error::Unsupported("--batch-size and --grad-accum must be at least 1".into()));
        }
        if pipe.eos_ids.is_empty() {
            return Err(Error::Unsupported("the checkpoint names no eos token to end the answers with".into()));
        }
        if names.is_empty() {
            return Err(Error::Unsupported("no parameter would train".into()));
        }
        if pipe.model.decoder().dtype() != iris_tensor::DType::F32 {
            return Err(Error::Unsupported("training runs in f32 (load the checkpoint with --dtype f32)".into()));
        }
        set_trainable(pipe.model_mut(), &names);
        let order = order(data.len(), cfg.seed, 0);
        let opt = AdamW::new(cfg.adamw);
        Ok(Trainer {
            pipe,
            cfg,
            data,
            names,
            opt,
            step: 0,
            epoch: 0,
            cursor: 0,
            order,
            probe: None,
            pixels: PixelCache::new(DEFAULT_BUDGET),
        })
    }

    /// Trains on every example's patch labels (of `classes` classes) through
    /// a fresh linear head, instead of on its answer.
    pub fn use_probe(&mut self, classes: usize) -> Result<()> {
        if let Some(r) = self.data.iter().find(|r| r.labels.is_none()) {
            return Err(Error::Unsupported(format!("--probe: line {} has no `labels`", r.line)));
        }
        let sample = self.pipe.model.encode_images(&self.data[0].load_images()?)?;
        self.probe = Some(Probe::new(&*self.pipe.model, &sample, classes)?);
        Ok(())
    }

    /// Moves the example order to `epoch`, `cursor` (a resumed run).
    pub fn seek(&mut self, epoch: u64, cursor: usize) {
        self.order = order(self.data.len(), self.cfg.seed, epoch);
        (self.epoch, self.cursor) = (epoch, cursor.min(self.data.len()));
    }

    /// The next `batch_size` examples, reshuffling at each epoch's end.
    fn next_batch(&mut self) -> Vec<usize> {
        let mut out = Vec::with_capacity(self.cfg.batch_size);
        while out.len() < self.cfg.batch_size {
            if self.cursor == self.data.len() {
                self.seek(self.epoch + 1, 0);
            }
            out.push(self.order[self.cursor]);
            self.cursor += 1;
        }
        out
    }

    /// The examples `idx`, their images encoded by the model as it is now.
    fn examples(&self, idx: &[usize]) -> Result<Vec<Example>> {
        examples(&self.pipe, &self.pixels, &idx.iter().map(|&i| &self.data[i]).collect::<Vec<_>>())
    }

    /// Runs one optimizer step. `on_grads` sees the loss and every trainable
    /// gradient (by name) before clipping.
    pub fn train_step(&mut self, on_grads: Option<&mut OnGrads<'_>>) -> Result<StepReport> {
        let lr = self.cfg.lr * self.cfg.schedule.factor(self.step) as f64;
        let (mut loss_sum, mut tokens) = (0f32, 0);
        let k = self.cfg.grad_accum;
        for _ in 0..k {
            let idx = self.next_batch();
            let batch = self.examples(&idx)?;
            tokens += batch.iter().map(|e| e.ids.len()).sum::<usize>();
            let loss = match &self.probe {
                Some(p) => {
                    let labels: Vec<&[u32]> =
                        idx.iter().map(|&i| self.data[i].labels.as_deref().unwrap_or(&[])).collect();
                    let images: Vec<_> = batch.into_iter().map(|e| e.images).collect();
                    p.loss(&images, &labels)?
                }
                None => batch_loss(&*self.pipe.model, &batch)?,
            };
            loss_sum += loss.to_vec::<f32>()?[0] / k as f32;
            let loss = if k > 1 { loss.scale(1.0 / k as f32)? } else { loss };
            loss.backward()?;
        }
        if let Some(f) = on_grads {
            let params = self.pipe.model.named_parameters();
            let grads: Vec<(String, Tensor)> =
                self.names.iter().filter_map(|n| params.get(n)?.grad().map(|g| (n.clone(), g))).collect();
            f(loss_sum, &grads);
        }
        let scale_of = |n: f32| self.cfg.grad_clip.map_or(1.0, |c| clip_coef(n, c));
        let grad_norm = match self.probe.as_mut() {
            Some(probe) => {
                let mut both = WithProbe { model: self.pipe.model_mut(), probe };
                let n = grad_norm(&both)?;
                self.opt.step(&mut both, lr, scale_of(n))?;
                n
            }
            None => {
                let n = grad_norm(&*self.pipe.model)?;
                self.opt.step(self.pipe.model_mut(), lr, scale_of(n))?;
                n
            }
        };
        self.step += 1;
        Ok(StepReport { loss: loss_sum, lr, tokens, grad_norm })
    }

    /// The mean loss over `records` with the model as it is (no gradients).
    pub fn eval_loss(&self, records: &[Record]) -> Result<f32> {
        loss_over(&self.pipe, &self.pixels, records)
    }
}

/// The mean loss per answer token (and eos) over `records`, with `pipe`'s
/// model as it is (no gradients), 16 examples a forward.
pub fn mean_loss(pipe: &Pipeline, records: &[Record]) -> Result<f32> {
    loss_over(pipe, &PixelCache::new(0), records)
}

/// `mean_loss` with the pictures from `pixels`.
fn loss_over(pipe: &Pipeline, pixels: &PixelCache, records: &[Record]) -> Result<f32> {
    let _off = iris_tensor::no_grad();
    let (mut sum, mut count) = (0f64, 0usize);
    for chunk in records.chunks(16) {
        let batch = examples(pipe, pixels, &chunk.iter().collect::<Vec<_>>())?;
        let n: usize = batch.iter().map(Example::answer_tokens).sum();
        sum += batch_loss(&*pipe.model, &batch)?.to_vec::<f32>()?[0] as f64 * n as f64;
        count += n;
    }
    Ok((sum / count.max(1) as f64) as f32)
}

/// `records` as examples, every image among them (preprocessed through
/// `pixels`) encoded in one batch by `pipe`'s model as it is now.
fn examples(pipe: &Pipeline, pixels: &PixelCache, records: &[&Record]) -> Result<Vec<Example>> {
    let eos = *pipe.eos_ids.first().ok_or_else(|| Error::Unsupported("the checkpoint names no eos token".into()))?;
    let model = &*pipe.model;
    let sets = records
        .iter()
        .map(|r| r.images.iter().map(|p| pixels.get(model, p)).collect())
        .collect::<Result<Vec<Vec<_>>>>()?;
    let encoded = pipe.model.encode_pixel_sets(&sets)?;
    Ok(records.iter().zip(encoded).map(|(r, images)| Example::new(&r.prompt_ids, &r.answer_ids, eos, images)).collect())
}
