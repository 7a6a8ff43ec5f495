//! `iris bench train --preset P [--layers K] --seq T --batch B [--stage 1|2]`:
//! one full training step (image encode, forward, backward, clipping, AdamW)
//! at a real checkpoint's shape with seeded random weights, f32 on the CPU:
//! the median of three steps after a warm-up, by phase, and peak memory
//! above the start (benches/peers/train.py times PyTorch on the same step).

use std::path::Path;
use std::time::Instant;

use iris_model::train::optim::{clip_coef, grad_norm, AdamW, AdamWConfig};
use iris_model::train::{batch_loss, set_trainable, stage_parameters, Example};
use iris_model::{load_model, LoadContext, WeightSource};
use iris_tensor::{DType, Device};
use serde_json::json;

use crate::bench_model::{noise_image, preset, profile, prompt};

type Res<T> = Result<T, Box<dyn std::error::Error>>;

pub fn run(name: &str, layers: Option<usize>, seq: usize, batch: usize, stage: u8, json_out: bool) -> Res<()> {
    let baseline = iris_tensor::rss_bytes();
    let cfg = preset(name, layers)?;
    let here = Path::new(name);
    let mut m = load_model(&LoadContext {
        config: &cfg,
        config_path: here,
        processor: None,
        processor_path: here,
        weights: &WeightSource::Random { seed: 1 },
        dtype: DType::F32,
        device: Device::Cpu,
    })?;
    let names = stage_parameters(&*m, stage)?;
    set_trainable(&mut *m, &names);
    let trainable: usize =
        m.named_parameters().iter().filter(|(n, _)| names.contains(*n)).map(|(_, t)| t.elem_count()).sum();
    let side = 2 * cfg["vision_config"]["image_size"].as_u64().ok_or("preset without an image size")? as usize;
    let image = noise_image(side);
    let vocab = m.decoder().cfg.vocab_size;
    let slots = m.tokens_per_image();
    if seq < slots + 8 {
        return Err(format!("--seq {seq} leaves no room beside the image's {slots} tokens").into());
    }
    // A quarter of the sequence is the answer the loss is over.
    let answer: Vec<u32> = (0..seq / 4).map(|i| (i * 104_729 % (vocab - 10) + 5) as u32).collect();
    let ids = prompt(seq - slots - answer.len() - 1, slots, m.image_token(), vocab);
    let mut opt = AdamW::new(AdamWConfig { weight_decay: 0.1, ..AdamWConfig::default() });
    let mut phases: Vec<[f64; 4]> = Vec::new();
    for step in 0..4 {
        iris_tensor::profile::reset();
        let t0 = Instant::now();
        let px = image.clone();
        let examples = (0..batch)
            .map(|_| Ok(Example::new(&ids, &answer, 2, m.encode_images(std::slice::from_ref(&px))?)))
            .collect::<Res<Vec<_>>>()?;
        let t1 = Instant::now();
        let loss = batch_loss(&*m, &examples)?;
        loss.to_vec::<f32>()?;
        let t2 = Instant::now();
        loss.backward()?;
        // The graph goes with the loss: the parameters' buffers are the model's alone again.
        drop(loss);
        let t3 = Instant::now();
        let coef = clip_coef(grad_norm(&*m)?, 1.0);
        opt.step(&mut *m, 1e-4, coef)?;
        let t4 = Instant::now();
        let ms = |a: Instant, b: Instant| (b - a).as_secs_f64() * 1e3;
        if step > 0 {
            phases.push([ms(t0, t1), ms(t1, t2), ms(t2, t3), ms(t3, t4)]);
        }
        if step == 3 {
            profile("training step");
        }
    }
    let med = |i: usize| {
        let mut v: Vec<f64> = phases.iter().map(|p| p[i]).collect();
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let step_ms = {
        let mut v: Vec<f64> = phases.iter().map(|p| p.iter().sum()).collect();
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let peak = iris_tensor::peak_rss_bytes().zip(baseline).map(|(p, b)| p.saturating_sub(b) as f64 / 1e6);
    let mut rec = json!({"preset": name, "device": "cpu", "dtype": "f32", "threads": rayon::current_num_threads(),
        "stage": stage, "seq": seq, "batch": batch, "trainable": trainable, "step_ms": step_ms, "encode_ms": med(0),
        "forward_ms": med(1), "backward_ms": med(2), "optimizer_ms": med(3), "peak_mem_mb": peak});
    if let Some(l) = layers {
        rec["layers"] = json!(l);
    }
    if json_out {
        println!("{rec}");
    } else {
        println!(
            "{name} train stage {stage} seq {seq} batch {batch}: step {step_ms:.1} ms (encode {:.1}, forward {:.1}, \
             backward {:.1}, optimizer {:.1}), peak {:.0} MB",
            med(0),
            med(1),
            med(2),
            med(3),
            peak.unwrap_or(0.0)
        );
    }
    Ok(())
}
