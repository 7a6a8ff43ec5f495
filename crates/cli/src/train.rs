//! `iris train`: the two-stage recipe on a checkpoint folder and a JSONL
//! dataset, on the CPU: a progress bar, a JSONL log of every step, a
//! complete checkpoint folder in `--out` (resumable; Ctrl-C saves one too).

use std::collections::BTreeSet;
use std::io::Write;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

use clap::ValueEnum;
use indicatif::{ProgressBar, ProgressStyle};
use iris_model::train::data::read_jsonl;
use iris_model::train::optim::{AdamWConfig, Schedule};
use iris_model::train::pixels::{PixelCache, DEFAULT_BUDGET};
use iris_model::train::stage_parameters;
use iris_model::train::trainer::{TrainConfig, Trainer};
use iris_model::{LoadOptions, Parameters, Pipeline};
use serde_json::json;

type Res<T> = Result<T, Box<dyn std::error::Error>>;

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Sched {
    Constant,
    Cosine,
}

#[derive(clap::Args)]
pub struct TrainArgs {
    /// The checkpoint folder to start from.
    #[arg(long)]
    model: PathBuf,
    /// JSONL, one example a line: {"image": PATH, "prompt": TEXT, "answer": TEXT}.
    #[arg(long)]
    data: PathBuf,
    /// 1: the projector (and Mllama's cross-attention layers); 2: also the language model.
    #[arg(long, value_parser = clap::value_parser!(u8).range(1..=2))]
    stage: u8,
    /// Optimizer steps.
    #[arg(long)]
    steps: u64,
    #[arg(long, default_value_t = 8)]
    batch_size: usize,
    /// Forwards of --batch-size examples per optimizer step.
    #[arg(long, default_value_t = 1)]
    grad_accum: usize,
    #[arg(long, default_value_t = 1e-3)]
    lr: f64,
    #[arg(long, value_enum, default_value = "cosine")]
    schedule: Sched,
    /// Warm-up steps (cosine).
    #[arg(long, default_value_t = 0)]
    warmup: u64,
    /// On parameters of two or more dimensions only.
    #[arg(long, default_value_t = 0.0)]
    weight_decay: f64,
    /// Clip the gradients' global norm (0: no clipping).
    #[arg(long, default_value_t = 1.0)]
    grad_clip: f32,
    #[arg(long, default_value_t = 0.9)]
    beta1: f64,
    #[arg(long, default_value_t = 0.999)]
    beta2: f64,
    #[arg(long, default_value_t = 1e-8)]
    eps: f64,
    /// Seeds the order of the examples.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Also train the parameters whose checkpoint names match (glob; repeatable).
    #[arg(long = "train")]
    train: Vec<String>,
    /// Freeze the parameters whose names match (glob; repeatable; after --train).
    #[arg(long = "freeze")]
    freeze: Vec<String>,
    /// The checkpoint folder to write (and the log, and the resume state).
    #[arg(long)]
    out: PathBuf,
    /// Write the first step's loss and gradients (before clipping) here.
    #[arg(long)]
    grads_out: Option<PathBuf>,
    /// JSONL examples to report the loss on at the end.
    #[arg(long)]
    eval: Option<PathBuf>,
    /// Also save every N steps.
    #[arg(long)]
    save_every: Option<u64>,
    /// Pre-train the vision encoder (with the projector and what --train adds) on each example's
    /// `labels` — one class of N per patch of the image, row by row over the model's patch grid —
    /// through a linear head over each patch token's features, which is kept in the resume state
    /// only; the answers are not used. `iris data shapes` writes such labels.
    #[arg(long, value_name = "N")]
    probe: Option<usize>,
    /// Keep up to this many MiB of preprocessed pictures in memory, so that later epochs do not
    /// decode them again (0: decode every time; the numbers are the same either way).
    #[arg(long, default_value_t = DEFAULT_BUDGET >> 20)]
    image_cache_mb: usize,
    /// Continue the run saved in this folder (same data and seed).
    #[arg(long)]
    resume: Option<PathBuf>,
    /// Training runs on the CPU in this build.
    #[arg(long, default_value = "cpu")]
    device: String,
}

/// `names` with every parameter matching a --train pattern added and every
/// one matching a --freeze pattern removed.
fn adjust(all: &[String], mut names: BTreeSet<String>, train: &[String], freeze: &[String]) -> Res<BTreeSet<String>> {
    for (pats, add) in [(train, true), (freeze, false)] {
        for p in pats {
            let g = glob::Pattern::new(p).map_err(|e| format!("pattern `{p}`: {e}"))?;
            let hits: Vec<&String> = all.iter().filter(|n| g.matches(n)).collect();
            if hits.is_empty() {
                return Err(format!("pattern `{p}` matches no parameter").into());
            }
            for n in hits {
                if add {
                    names.insert(n.clone());
                } else {
                    names.remove(n);
                }
            }
        }
    }
    Ok(names)
}

pub fn run(a: &TrainArgs) -> Res<()> {
    if a.device != "cpu" {
        return Err(format!("training runs on the CPU in this build, not `{}`", a.device).into());
    }
    let pipe = Pipeline::load(&a.model, LoadOptions::default())?;
    // Every line is checked before any step runs.
    let data = read_jsonl(&a.data, &pipe)?;
    let eval = a.eval.as_ref().map(|p| read_jsonl(p, &pipe)).transpose()?;
    let all: Vec<String> = pipe.model.named_parameters().into_keys().collect();
    let names = adjust(&all, stage_parameters(&*pipe.model, a.stage)?, &a.train, &a.freeze)?;
    let schedule = match a.schedule {
        Sched::Constant => Schedule::Constant,
        Sched::Cosine => Schedule::Cosine { warmup: a.warmup, total: a.steps },
    };
    let cfg = TrainConfig {
        steps: a.steps,
        batch_size: a.batch_size,
        grad_accum: a.grad_accum,
        lr: a.lr,
        schedule,
        adamw: AdamWConfig { beta1: a.beta1, beta2: a.beta2, eps: a.eps, weight_decay: a.weight_decay },
        grad_clip: (a.grad_clip > 0.0).then_some(a.grad_clip),
        seed: a.seed,
    };
    let examples = data.len();
    let mut t = Trainer::new(pipe, data, names, cfg)?;
    t.pixels = PixelCache::new(a.image_cache_mb << 20);
    if let Some(classes) = a.probe {
        t.use_probe(classes)?;
    }
    if let Some(dir) = &a.resume {
        t.resume(dir)?;
    }
    let trainable: usize =
        t.pipe.model.named_parameters().iter().filter(|(n, _)| t.names.contains(*n)).map(|(_, p)| p.elem_count()).sum();
    eprintln!(
        "stage {}: {} tensors ({trainable} values) train, {examples} examples, step {} of {}",
        a.stage,
        t.names.len(),
        t.step,
        a.steps
    );
    let stop = Arc::new(AtomicBool::new(false));
    let flag = stop.clone();
    ctrlc::set_handler(move || flag.store(true, Ordering::SeqCst)).map_err(|e| format!("Ctrl-C handler: {e}"))?;
    std::fs::create_dir_all(&a.out)?;
    let mut log = std::fs::OpenOptions::new().create(true).append(true).open(a.out.join("log.jsonl"))?;
    let bar = ProgressBar::new(a.steps).with_position(t.step);
    bar.set_style(ProgressStyle::with_template("{bar:30} {pos}/{len} {msg} ETA {eta}")?);
    let started = Instant::now();
    while t.step < a.steps {
        let first = t.step == 0 && a.grads_out.is_some();
        let mut dump = |loss: f32, grads: &[(String, iris_tensor::Tensor)]| {
            if let Some(path) = &a.grads_out {
                if let Err(e) = write_grads(path, loss, grads) {
                    eprintln!("iris: --grads-out: {e}");
                }
            }
        };
        let t0 = Instant::now();
        let r = t.train_step(if first { Some(&mut dump) } else { None })?;
        let secs = t0.elapsed().as_secs_f64();
        let rec = json!({"step": t.step, "loss": r.loss, "lr": r.lr, "grad_norm": r.grad_norm, "tokens": r.tokens,
            "seconds": secs});
        writeln!(log, "{rec}")?;
        bar.set_position(t.step);
        bar.set_message(format!("loss {:.4} lr {:.2e} {:.0} tok/s", r.loss, r.lr, r.tokens as f64 / secs));
        if a.save_every.is_some_and(|n| n > 0 && t.step % n == 0) {
            t.save(&a.out)?;
        }
        if stop.load(Ordering::SeqCst) {
            t.save(&a.out)?;
            bar.abandon();
            eprintln!("interrupted at step {}: saved to {} (continue with --resume)", t.step, a.out.display());
            return Ok(());
        }
    }
    bar.finish();
    t.save(&a.out)?;
    eprintln!("{} steps in {:.1} s; checkpoint in {}", t.step, started.elapsed().as_secs_f64(), a.out.display());
    if let Some(eval) = &eval {
        eprintln!("eval loss {:.4} over {} examples", t.eval_loss(eval)?, eval.len());
    }
    Ok(())
}

/// `loss` and each gradient (f32, by checkpoint name) as one safetensors file.
fn write_grads(path: &std::path::Path, loss: f32, grads: &[(String, iris_tensor::Tensor)]) -> Res<()> {
    use safetensors::tensor::{Dtype, TensorView};
    let mut bufs: Vec<(String, Vec<usize>, Vec<u8>)> = vec![("loss".into(), vec![1], loss.to_le_bytes().to_vec())];
    for (n, g) in grads {
        bufs.push((n.clone(), g.shape().to_vec(), g.to_vec_f32()?.iter().flat_map(|v| v.to_le_bytes()).collect()));
    }
    let mut views = Vec::new();
    for (n, s, b) in &bufs {
        views.push((n.as_str(), TensorView::new(Dtype::F32, s.clone(), b)?));
    }
    safetensors::serialize_to_file(views, None, path)?;
    Ok(())
}
