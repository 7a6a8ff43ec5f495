//! candle as a peer of `iris bench model`: candle-transformers' CLIP vision tower and Llama
//! built at the presets' shapes with seeded random weights (nothing downloaded), timed the
//! way iris times them, one JSON object on stdout like iris's `--json`.
//!
//!   iris-candle-peer PRESET [--threads N] [--dtype f32|bf16]
//!
//! Presets: clip-vit-l-336 (image encode), llama-3.2-1b (64-token prefill, decode).

use std::time::Instant;

use candle_core::{DType, Device, Tensor};
use candle_nn::{VarBuilder, VarMap};
use candle_transformers::models::clip::vision_model::{ClipVisionConfig, ClipVisionTransformer};
use candle_transformers::models::llama::{Cache, Llama, Llama3RopeConfig, Llama3RopeType, LlamaConfig};
use serde_json::json;

type Res<T> = Result<T, Box<dyn std::error::Error>>;

/// Every variable the model asked for, refilled with uniform ±0.02 (norm weights with 1), as
/// iris's and PyTorch's benchmark models are.
fn randomise(vars: &VarMap, dtype: DType) -> Res<()> {
    for (name, var) in vars.data().lock().unwrap().iter() {
        let shape = var.shape().clone();
        let value = if name.contains("norm") && name.ends_with("weight") {
            Tensor::ones(shape, dtype, &Device::Cpu)?
        } else {
            Tensor::rand(-0.02f32, 0.02, shape, &Device::Cpu)?.to_dtype(dtype)?
        };
        var.set(&value)?;
    }
    Ok(())
}

/// Median of `reps` timed calls after one warm-up, in milliseconds.
fn median_ms(reps: usize, mut f: impl FnMut() -> Res<()>) -> Res<f64> {
    f()?;
    let mut times = Vec::with_capacity(reps);
    for _ in 0..reps {
        let t = Instant::now();
        f()?;
        times.push(t.elapsed().as_secs_f64() * 1e3);
    }
    times.sort_by(f64::total_cmp);
    Ok(times[reps / 2])
}

fn clip(dtype: DType) -> Res<f64> {
    let vars = VarMap::new();
    let vb = VarBuilder::from_varmap(&vars, dtype, &Device::Cpu);
    let cfg = ClipVisionConfig::clip_vit_large_patch14_336();
    let model = ClipVisionTransformer::new(vb.pp("vision_model"), &cfg)?;
    randomise(&vars, dtype)?;
    let px = Tensor::randn(0f32, 1., (1, 3, 336, 336), &Device::Cpu)?.to_dtype(dtype)?;
    // LLaVA takes the penultimate layer's states: run the whole tower as candle's LLaVA does.
    median_ms(3, || {
        model.output_hidden_states(&px)?;
        Ok(())
    })
}

fn llama_1b(dtype: DType) -> Res<(f64, f64, f64)> {
    let cfg = LlamaConfig {
        hidden_size: 2048,
        intermediate_size: 8192,
        vocab_size: 128256,
        num_hidden_layers: 16,
        num_attention_heads: 32,
        num_key_value_heads: Some(8),
        rms_norm_eps: 1e-5,
        rope_theta: 500000.0,
        bos_token_id: None,
        eos_token_id: None,
        rope_scaling: Some(Llama3RopeConfig {
            factor: 32.0,
            low_freq_factor: 1.0,
            high_freq_factor: 4.0,
            original_max_position_embeddings: 8192,
            rope_type: Llama3RopeType::Llama3,
        }),
        max_position_embeddings: 131072,
        tie_word_embeddings: Some(true),
    }
    .into_config(false);
    let vars = VarMap::new();
    let vb = VarBuilder::from_varmap(&vars, dtype, &Device::Cpu);
    let model = Llama::load(vb, &cfg)?;
    randomise(&vars, dtype)?;
    let prompt: Vec<u32> = (0..64u32).map(|i| (i * 7919) % (128256 - 10) + 5).collect();
    let prompt = Tensor::new(prompt.as_slice(), &Device::Cpu)?.unsqueeze(0)?;
    let (mut best_prefill, mut best_decode) = (f64::INFINITY, f64::INFINITY);
    for _ in 0..2 {
        let mut cache = Cache::new(true, dtype, &cfg, &Device::Cpu)?;
        let t = Instant::now();
        model.forward(&prompt, 0, &mut cache)?;
        best_prefill = best_prefill.min(t.elapsed().as_secs_f64());
        let t = Instant::now();
        for i in 0..16u32 {
            let id = Tensor::new(&[[i * 31 + 7]], &Device::Cpu)?;
            model.forward(&id, 64 + i as usize, &mut cache)?;
        }
        best_decode = best_decode.min(t.elapsed().as_secs_f64() / 16.0);
    }
    Ok((64.0, 64.0 / best_prefill, 1.0 / best_decode))
}

/// VmHWM (peak) or VmRSS (now) in MB.
fn status_mb(key: &str) -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let kb = status
        .lines()
        .find_map(|l| l.strip_prefix(key))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok());
    kb.map_or(0.0, |kb| kb / 1e3)
}

fn main() -> Res<()> {
    let baseline = status_mb("VmRSS:");
    let args: Vec<String> = std::env::args().skip(1).collect();
    let flag = |name: &str| args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).cloned();
    let preset = args.first().cloned().ok_or("usage: iris-candle-peer PRESET [--threads N] [--dtype f32|bf16]")?;
    let threads: usize = flag("--threads").map_or(Ok(2), |t| t.parse())?;
    let dtype_name = flag("--dtype").unwrap_or_else(|| "f32".into());
    let dtype = match dtype_name.as_str() {
        "f32" => DType::F32,
        "bf16" => DType::BF16,
        "f16" => DType::F16,
        other => return Err(format!("unknown dtype {other}").into()),
    };
    // candle's CPU matmul and its rayon pool both read RAYON_NUM_THREADS; set it before either starts.
    std::env::set_var("RAYON_NUM_THREADS", threads.to_string());
    let mut rec = json!({"preset": preset, "device": "cpu", "dtype": dtype_name, "threads": threads, "peer": "candle"});
    match preset.as_str() {
        "clip-vit-l-336" => rec["encode_ms"] = json!(clip(dtype)?),
        "llama-3.2-1b" => {
            let (tokens, prefill, decode) = llama_1b(dtype)?;
            rec["prefill_tokens"] = json!(tokens);
            rec["prefill_tok_s"] = json!(prefill);
            rec["decode_tok_s"] = json!(decode);
        }
        other => return Err(format!("candle peer has no preset `{other}` (clip-vit-l-336, llama-3.2-1b)").into()),
    }
    // Above the resident set at the start, as iris and the PyTorch peer report theirs.
    rec["peak_mem_mb"] = json!(status_mb("VmHWM:") - baseline);
    println!("{rec}");
    Ok(())
}
