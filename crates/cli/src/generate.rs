//! `iris generate`: text from a checkpoint folder, images and a prompt.
//! stdout carries only the generated text, streamed as it decodes; stderr
//! the timings.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::time::Instant;

use iris_model::image::RgbImage;
use iris_model::{LoadOptions, Pipeline, Request, SamplingOptions};
use iris_tensor::{DType, Device};

use crate::bench::Dt;

#[derive(clap::Args)]
pub struct GenerateArgs {
    /// A checkpoint folder (config.json, *.safetensors, tokenizer.json, ...) or a bundled model:
    /// tiny-llava (the default) or tiny-mllama.
    #[arg(long)]
    model: Option<String>,
    /// An image for the prompt's `<image>` token; repeat for several.
    #[arg(long)]
    image: Vec<PathBuf>,
    /// The prompt, used as given (it must hold one `<image>` per image), or
    /// with `--chat` the user's message.
    #[arg(long)]
    prompt: String,
    /// Wrap the prompt in the checkpoint's chat template.
    #[arg(long)]
    chat: bool,
    #[arg(long, default_value_t = 256)]
    max_new_tokens: usize,
    /// 0 picks the most likely token (greedy).
    #[arg(long, default_value_t = 0.0, allow_negative_numbers = true)]
    temperature: f32,
    /// Sample among the k most likely tokens (0 = all).
    #[arg(long, default_value_t = 0)]
    top_k: usize,
    /// Sample among the most likely tokens whose probability adds up to p.
    #[arg(long, default_value_t = 1.0, allow_negative_numbers = true)]
    top_p: f32,
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// cpu, cuda (cuda:N for another GPU); wgpu comes with its backend.
    #[arg(long, default_value = "cpu")]
    device: String,
    #[arg(long, value_enum, default_value = "f32")]
    dtype: Dt,
    /// Write `logits` (F32 [prompt_len, vocab]) and `generated_ids` (I64 [n]) to this safetensors file.
    #[arg(long)]
    logits_out: Option<PathBuf>,
}

pub fn parse_device(s: &str) -> Result<Device, String> {
    match s {
        "cpu" => Ok(Device::Cpu),
        "wgpu" => Ok(Device::Wgpu),
        "cuda" => Ok(Device::Cuda(0)),
        _ => s
            .strip_prefix("cuda:")
            .and_then(|n| n.parse().ok())
            .map(Device::Cuda)
            .ok_or_else(|| format!("unknown device `{s}` (cpu, cuda, cuda:N, wgpu)")),
    }
}

pub fn run(a: &GenerateArgs) -> Result<(), Box<dyn std::error::Error>> {
    if !(a.temperature >= 0.0 && a.temperature.is_finite()) {
        return Err(format!("--temperature {}: must be a finite number ≥ 0 (0 is greedy)", a.temperature).into());
    }
    if !(a.top_p > 0.0 && a.top_p <= 1.0) {
        return Err(format!("--top-p {}: must be in (0, 1]", a.top_p).into());
    }
    let device = parse_device(&a.device)?;
    let dtype = match a.dtype {
        Dt::F32 => DType::F32,
        Dt::F16 => DType::F16,
        Dt::Bf16 => DType::BF16,
    };
    // Read the images before the weights, so a bad path fails at once.
    let images: Vec<RgbImage> = a.image.iter().map(|p| RgbImage::open(p)).collect::<Result<_, _>>()?;
    let t0 = Instant::now();
    let dir = crate::bundled::resolve(a.model.as_deref())?;
    let pipe = Pipeline::load(&dir, LoadOptions { device, dtype })?;
    eprintln!("iris: loaded {} in {:.2} s ({device}, {dtype})", dir.display(), t0.elapsed().as_secs_f64());
    let req = Request {
        prompt: &a.prompt,
        images: &images,
        chat: a.chat,
        max_new_tokens: a.max_new_tokens,
        sampling: SamplingOptions { temperature: a.temperature, top_k: a.top_k, top_p: a.top_p, seed: a.seed },
        prompt_logits: a.logits_out.is_some(),
    };
    let mut stdout = std::io::stdout().lock();
    let out = pipe.generate(&req, &mut |piece| {
        // A closed pipe (`| head`) is not an error worth a panic.
        let _ = stdout.write_all(piece.as_bytes()).and_then(|_| stdout.flush());
    })?;
    if stdout.is_terminal() {
        let _ = writeln!(stdout);
    }
    let s = &out.stats;
    let rate = |n: usize, t: f64| if t > 0.0 { n as f64 / t } else { 0.0 };
    eprintln!(
        "iris: image encode {:.1} ms; prefill {} tokens at {:.1} tok/s; decode {} tokens at {:.1} tok/s",
        s.encode_s * 1e3,
        s.prefill_tokens,
        rate(s.prefill_tokens, s.prefill_s),
        s.decode_tokens,
        rate(s.decode_tokens, s.decode_s),
    );
    if let (Some(path), Some(logits)) = (&a.logits_out, &out.prompt_logits) {
        write_logits(path, logits, &out.ids)?;
    }
    Ok(())
}

fn write_logits(
    path: &std::path::Path,
    logits: &iris_tensor::Tensor,
    ids: &[u32],
) -> Result<(), Box<dyn std::error::Error>> {
    use safetensors::tensor::TensorView;
    let l: Vec<u8> = logits.to_vec::<f32>()?.iter().flat_map(|x| x.to_le_bytes()).collect();
    let g: Vec<u8> = ids.iter().flat_map(|&x| (x as i64).to_le_bytes()).collect();
    let views = [
        ("logits", TensorView::new(safetensors::Dtype::F32, logits.shape().to_vec(), &l)?),
        ("generated_ids", TensorView::new(safetensors::Dtype::I64, vec![ids.len()], &g)?),
    ];
    safetensors::serialize_to_file(views, None, path).map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(())
}
