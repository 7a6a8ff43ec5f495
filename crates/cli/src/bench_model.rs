//! `iris bench model --preset NAME`: whole models at the shapes of real
//! checkpoints with seeded random weights (nothing downloaded): image-encode
//! time, prefill and decode tokens/s, peak memory above the process's
//! resident set at the start (the peers report theirs the same way).

use std::time::Instant;

use iris_model::image::RgbImage;
use iris_model::{
    advance, load_model, Encoded, ImageEntry, LoadContext, Sequence, Trace, VisionLanguageModel, WeightSource,
};
use iris_tensor::{DType, Device};
use serde_json::{json, Value};

type Res<T> = Result<T, Box<dyn std::error::Error>>;

/// Tensors kept for `--out` (name, shape, values as f32).
type Kept = Vec<(&'static str, Vec<usize>, Vec<f32>)>;

/// Keeps (the latest) `name`: values already on the host, so a timed step
/// downloads its logits once.
fn keep(kept: &mut Kept, name: &'static str, shape: &[usize], values: Vec<f32>) {
    kept.retain(|k| k.0 != name);
    kept.push((name, shape.to_vec(), values));
}

/// Writes the kept tensors as one F32 safetensors file.
fn write(path: &std::path::Path, kept: &Kept) -> Res<()> {
    use safetensors::tensor::TensorView;
    let bytes: Vec<Vec<u8>> = kept.iter().map(|k| k.2.iter().flat_map(|x| x.to_le_bytes()).collect()).collect();
    let mut views = Vec::new();
    for (k, b) in kept.iter().zip(&bytes) {
        views.push((k.0, TensorView::new(safetensors::Dtype::F32, k.1.clone(), b)?));
    }
    safetensors::serialize_to_file(views, None, path).map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(())
}

/// The presets' config.json, as the real checkpoints have them.
pub fn preset(name: &str, layers: Option<usize>) -> Res<Value> {
    let llama2_7b = json!({"model_type": "llama", "hidden_size": 4096, "intermediate_size": 11008,
        "num_hidden_layers": layers.unwrap_or(32), "num_attention_heads": 32, "num_key_value_heads": 32,
        "vocab_size": 32064, "max_position_embeddings": 4096, "rms_norm_eps": 1e-5});
    let clip_l_336 = json!({"model_type": "clip_vision_model", "hidden_size": 1024, "intermediate_size": 4096,
        "num_hidden_layers": 24, "num_attention_heads": 16, "image_size": 336, "patch_size": 14});
    // The CLIP preset times the whole tower (24 layers), as the peers run it; LLaVA-1.5 itself
    // stops a layer early (vision_feature_layer -2), which the llava-1.5-7b preset keeps.
    let tiny_vision = json!({"model_type": "clip_vision_model", "hidden_size": 64, "intermediate_size": 128,
        "num_hidden_layers": 2, "num_attention_heads": 2, "image_size": 28, "patch_size": 14});
    Ok(match name {
        "clip-vit-l-336" => json!({"model_type": "llava", "vision_config": clip_l_336, "vision_feature_layer": -1,
            "text_config": {"hidden_size": 4096, "num_hidden_layers": 0, "num_attention_heads": 32, "vocab_size": 32064}}),
        "llava-1.5-7b" => json!({"model_type": "llava", "vision_config": clip_l_336, "text_config": llama2_7b}),
        "llama-3.2-1b" => json!({"model_type": "llava", "vision_config": tiny_vision, "text_config": {
            "hidden_size": 2048, "intermediate_size": 8192, "num_hidden_layers": layers.unwrap_or(16),
            "num_attention_heads": 32, "num_key_value_heads": 8, "head_dim": 64, "vocab_size": 128256,
            "max_position_embeddings": 131072, "rms_norm_eps": 1e-5, "tie_word_embeddings": true,
            "rope_parameters": {"rope_type": "llama3", "rope_theta": 500000.0, "factor": 32.0, "low_freq_factor": 1.0,
                "high_freq_factor": 4.0, "original_max_position_embeddings": 8192}}}),
        "mllama-11b-vision" => {
            let n = layers.unwrap_or(40);
            let cross: Vec<usize> = [3, 8, 13, 18, 23, 28, 33, 38].into_iter().filter(|&l| l < n).collect();
            json!({"model_type": "mllama", "vision_config": {"hidden_size": 1280, "image_size": 560, "patch_size": 14,
                "num_hidden_layers": 32, "num_global_layers": 8, "attention_heads": 16, "intermediate_size": 5120,
                "vision_output_dim": 7680, "max_num_tiles": 4, "intermediate_layers_indices": [3, 7, 15, 23, 30]},
             "text_config": {"num_hidden_layers": n, "cross_attention_layers": cross,
                "rope_parameters": {"rope_type": "llama3", "rope_theta": 500000.0, "factor": 8.0, "low_freq_factor": 1.0,
                    "high_freq_factor": 4.0, "original_max_position_embeddings": 8192}}})
        }
        other => {
            return Err(format!(
                "unknown preset `{other}` (clip-vit-l-336, llava-1.5-7b, mllama-11b-vision, llama-3.2-1b)"
            )
            .into())
        }
    })
}

/// With IRIS_PROFILE=1: time by op, then by layer, of the phase just run,
/// on stderr; then a fresh table.
pub(crate) fn profile(phase: &str) {
    let rows = iris_tensor::profile::report();
    if rows.is_empty() {
        return;
    }
    let (layers, ops): (Vec<_>, Vec<_>) = rows.into_iter().partition(|r| r.0.starts_with("layer: "));
    for (what, rows) in [("op", ops), ("layer", layers)] {
        let total: f64 = rows.iter().map(|r| r.1).sum();
        eprintln!("profile: {phase}, by {what} ({total:.0} ms)");
        for (name, ms, n) in rows {
            let name = name.trim_start_matches("layer: ");
            eprintln!("  {name:<24} {ms:>10.1} ms {:>5.1}% {n:>8} calls", 100.0 * ms / total.max(1e-9));
        }
    }
    iris_tensor::profile::reset();
}

fn median(mut runs: Vec<f64>) -> f64 {
    runs.sort_by(f64::total_cmp);
    runs[runs.len() / 2]
}

fn time(reps: usize, mut f: impl FnMut() -> Res<()>) -> Res<f64> {
    f()?; // warm-up
    let mut v = Vec::new();
    for _ in 0..reps.max(1) {
        let t = Instant::now();
        f()?;
        v.push(t.elapsed().as_secs_f64() * 1e3);
    }
    Ok(median(v))
}

/// Prompt ids: BOS, `text - 1` ordinary tokens, and `images` slots after the first.
pub(crate) fn prompt(text: usize, image_slots: usize, image_id: u32, vocab: usize) -> Vec<u32> {
    let mut ids: Vec<u32> = (0..text).map(|i| (i * 7919 % (vocab - 10) + 5) as u32).collect();
    ids.splice(1..1, std::iter::repeat_n(image_id, image_slots));
    ids
}

/// A seeded noise image twice the encoder's input side: CLIP resizes and
/// crops it to one input, Mllama's processor tiles it 2×2.
pub(crate) fn noise_image(side: usize) -> RgbImage {
    let mut x = 0x2545_f491_4f6c_dd1du64;
    let data = (0..side * side * 3)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 56) as u8
        })
        .collect();
    RgbImage { width: side, height: side, data }
}

/// Preset `name`'s model (config `cfg`) with seeded random weights.
pub(crate) fn random_model(name: &str, cfg: &Value, dtype: DType, device: Device) -> Res<Box<dyn VisionLanguageModel>> {
    let here = std::path::Path::new(name);
    Ok(load_model(&LoadContext {
        config: cfg,
        config_path: here,
        processor: None,
        processor_path: here,
        weights: &WeightSource::Random { seed: 1 },
        dtype,
        device,
    })?)
}

/// Any family through the model trait: encode one image, then prefill a
/// 64-token prompt and decode 16 steps through a `Sequence`.
fn model(p: &str, cfg: Value, dtype: DType, device: Device, reps: usize, rec: &mut Value, kept: &mut Kept) -> Res<()> {
    let m = random_model(p, &cfg, dtype, device)?;
    let m = &*m;
    let text = &m.decoder().cfg;
    let (layers, vocab) = (text.num_hidden_layers, text.vocab_size);
    let mut encoded = Encoded::default();
    // llama-3.2-1b is the decoder alone: its tiny vision tower is not timed.
    if p != "llama-3.2-1b" {
        let side = 2 * cfg["vision_config"]["image_size"].as_u64().ok_or("preset without an image size")? as usize;
        let px = m.preprocess(&noise_image(side))?;
        let mut out = None;
        rec["encode_ms"] = json!(time(reps, || {
            out = Some(m.encode(&px, &mut Trace::off())?);
            Ok(())
        })?);
        let f = out.expect("encoded");
        keep(kept, "image_features", f.shape(), f.to_vec_f32()?);
        encoded = match m.image_entry() {
            ImageEntry::Splice => Encoded { splice: Some(f), cross: None, tiles: vec![px.tiles] },
            ImageEntry::CrossAttention => Encoded { splice: None, cross: Some(f), tiles: vec![px.tiles] },
        };
        profile(&format!("image encode, {} runs", reps + 1));
    }
    if layers == 0 {
        return Ok(());
    }
    let images = encoded.tiles.len();
    let ids = prompt(64, images * m.tokens_per_image(), m.image_token(), vocab);
    // Prefill then decode, twice; the faster of each (the first run warms the buffer pool).
    let steps = 16;
    let (mut prefill, mut decode) = (f64::INFINITY, f64::INFINITY);
    for round in 0..2 {
        // The profile shows the second round: one prefill, then the decode steps.
        iris_tensor::profile::reset();
        let mut seq = Sequence::new(m, encoded.clone(), ids.len() + steps);
        let t0 = Instant::now();
        let h = advance(m, &mut [&mut seq], &[&ids], &mut Trace::off())?;
        let logits = m.decoder().logits(&h.narrow(0, ids.len() - 1, 1)?)?;
        let values = logits.to_vec::<f32>()?;
        prefill = prefill.min(t0.elapsed().as_secs_f64());
        keep(kept, "prefill_logits", logits.shape(), values);
        if round == 1 {
            profile("prefill");
        }
        let t1 = Instant::now();
        for i in 0..steps {
            let h = advance(m, &mut [&mut seq], &[&[(i * 31 + 7) as u32]], &mut Trace::off())?;
            let logits = m.decoder().logits(&h)?;
            let values = logits.to_vec::<f32>()?;
            if i == steps - 1 {
                keep(kept, "decode_logits", logits.shape(), values);
            }
        }
        decode = decode.min(t1.elapsed().as_secs_f64() / steps as f64);
        if round == 1 {
            profile(&format!("decode, {steps} steps"));
        }
    }
    rec["prefill_tokens"] = json!(ids.len());
    rec["prefill_tok_s"] = json!(ids.len() as f64 / prefill);
    rec["decode_tok_s"] = json!(1.0 / decode);
    Ok(())
}

/// `out`: where to write the image features and the last prompt position's and
/// the last decode step's logits (F32), to compare devices and dtypes on the
/// same seeded weights.
pub fn run(
    name: &str,
    layers: Option<usize>,
    dtype: DType,
    device: Device,
    json_out: bool,
    out: Option<&std::path::Path>,
) -> Res<()> {
    // Peak memory is reported above this baseline (the binary and its runtime), as the peers do.
    let baseline = iris_tensor::rss_bytes();
    let cfg = preset(name, layers)?;
    let mut rec = json!({"preset": name, "device": device.to_string(), "dtype": dtype.to_string(),
        "threads": rayon::current_num_threads()});
    if let Some(l) = layers {
        rec["layers"] = json!(l);
    }
    // A 4-tile Llama 3.2 Vision encode takes about a minute on 2 cores: warm-up and one timed run.
    let reps = if cfg["model_type"] == "mllama" { 1 } else { 3 };
    let mut kept = Kept::new();
    model(name, cfg, dtype, device, reps, &mut rec, &mut kept)?;
    if let Some(path) = out {
        write(path, &kept)?;
    }
    let peak = iris_tensor::peak_rss_bytes().zip(baseline).map(|(p, b)| p.saturating_sub(b) as f64 / 1e6);
    rec["peak_mem_mb"] = json!(peak);
    if json_out {
        println!("{rec}");
    } else {
        let f = |k: &str, unit: &str| rec[k].as_f64().map_or(String::new(), |v| format!(" {k} {v:.2}{unit}"));
        println!(
            "{name} {device} {dtype}{}{}{}{}",
            f("encode_ms", " ms"),
            f("prefill_tok_s", " tok/s"),
            f("decode_tok_s", " tok/s"),
            f("peak_mem_mb", " MB")
        );
    }
    Ok(())
}
