//! The library API: load a checkpoint folder onto a device and dtype, then
//! generate from images and a prompt with a callback per piece of text, or
//! get the logits of every prompt position.

use std::path::{Path, PathBuf};

use iris_tensor::{DType, Device, Tensor, Weights};
use serde_json::Value;

use crate::config::read_json;
use crate::error::{Error, Result};
use crate::family::{load_model, LoadContext, VisionLanguageModel};
use crate::image::RgbImage;
use crate::llava::Llava;
use crate::loader::WeightSource;
use crate::mllama::Mllama;
use crate::prompt::{expand_image_tokens, Prompter};
use crate::sampling::SamplingOptions;
use crate::sequence::{advance, Sequence};
use crate::trace::Trace;

/// Where and in what precision the weights and activations live.
#[derive(Clone, Copy, Debug)]
pub struct LoadOptions {
    /// Where the weights and activations live (the CPU in this build).
    pub device: Device,
    /// The precision of weights and activations; checkpoints in another dtype are converted at load.
    pub dtype: DType,
}

impl Default for LoadOptions {
    fn default() -> Self {
        LoadOptions { device: Device::Cpu, dtype: DType::F32 }
    }
}

/// One generation: the prompt (used as given, or wrapped in the chat
/// template), its images, and how to pick tokens.
#[derive(Clone, Debug)]
pub struct Request<'a> {
    /// The prompt with one `<image>` per image, or with `chat` the user's message.
    pub prompt: &'a str,
    /// The images, in the order of the prompt's `<image>` tokens.
    pub images: &'a [RgbImage],
    /// Wrap the prompt in the checkpoint's chat template.
    pub chat: bool,
    /// Stop after this many new tokens (or at an eos token, or at the context's end).
    pub max_new_tokens: usize,
    /// Greedy or sampled decoding.
    pub sampling: SamplingOptions,
    /// Keep the logits of every prompt position (`Output::prompt_logits`).
    pub prompt_logits: bool,
}

/// Where the time went, in seconds.
#[derive(Clone, Debug, Default)]
pub struct Stats {
    /// Preprocessing and encoding every image.
    pub encode_s: f64,
    /// Prompt positions run in the prefill (image tokens included).
    pub prefill_tokens: usize,
    /// The prefill, up to the first token's logits.
    pub prefill_s: f64,
    /// Single-token decoder steps after the prefill.
    pub decode_tokens: usize,
    /// The decode loop (steps, sampling, detokenizing).
    pub decode_s: f64,
}

/// What a generation produced.
pub struct Output {
    /// The prompt's token ids after `<image>` expansion.
    pub prompt_ids: Vec<u32>,
    /// New tokens, the stop token included when one was produced.
    pub ids: Vec<u32>,
    /// The new tokens' text, special tokens skipped.
    pub text: String,
    /// f32 [prompt_len, vocab] when the request asked for it.
    pub prompt_logits: Option<Tensor>,
    pub stats: Stats,
}

/// A loaded checkpoint: model (with its image processor), tokenizer, stop tokens.
pub struct Pipeline {
    /// The network, of the family config.json's `model_type` names.
    pub model: Box<dyn VisionLanguageModel>,
    /// Tokenizer and chat template.
    pub prompter: Prompter,
    /// Tokens that end a generation.
    pub eos_ids: Vec<u32>,
    /// The checkpoint folder.
    pub dir: PathBuf,
}

fn ids_of(v: Option<&Value>) -> Vec<u32> {
    match v {
        Some(Value::Number(n)) => n.as_u64().map(|x| vec![x as u32]).unwrap_or_default(),
        Some(Value::Array(a)) => a.iter().filter_map(Value::as_u64).map(|x| x as u32).collect(),
        _ => Vec::new(),
    }
}

impl Pipeline {
    /// Loads config.json, the safetensors weights (one file or sharded),
    /// tokenizer.json, the processor and generation configs from `dir`.
    pub fn load(dir: impl AsRef<Path>, opts: LoadOptions) -> Result<Pipeline> {
        let dir = dir.as_ref().to_path_buf();
        if opts.device == Device::Wgpu && opts.dtype != DType::F32 {
            return Err(Error::Unsupported(format!("--device wgpu runs f32 in this build, not {}", opts.dtype)));
        }
        let cfg_path = dir.join("config.json");
        if !cfg_path.is_file() {
            return Err(Error::File { path: cfg_path, msg: "not found: is this a model folder?".into() });
        }
        let cfg = read_json(&cfg_path)?;
        let prompter = Prompter::load(&dir)?;
        let weights = Weights::open(&dir)?;
        let (processor_path, processor) = processor_config(&dir)?;
        let model = load_model(&LoadContext {
            config: &cfg,
            config_path: &cfg_path,
            processor: processor.as_ref(),
            processor_path: &processor_path,
            weights: &WeightSource::Checkpoint(&weights),
            dtype: opts.dtype,
            device: opts.device,
        })?;
        let gen_path = dir.join("generation_config.json");
        let mut eos_ids = if gen_path.is_file() { ids_of(read_json(&gen_path)?.get("eos_token_id")) } else { vec![] };
        if eos_ids.is_empty() {
            eos_ids = model.eos_token_ids();
        }
        Ok(Pipeline { model, prompter, eos_ids, dir })
    }

    /// The model, to update its parameters (`Parameters::visit_mut`).
    pub fn model_mut(&mut self) -> &mut dyn VisionLanguageModel {
        &mut *self.model
    }

    /// The LLaVA model; panics for another architecture (tests and tools).
    pub fn llava(&self) -> &Llava {
        self.model.as_any().downcast_ref().expect("not a LLaVA checkpoint")
    }

    /// The Mllama model; panics for another architecture (tests and tools).
    pub fn mllama(&self) -> &Mllama {
        self.model.as_any().downcast_ref().expect("not an Mllama checkpoint")
    }

    /// Prompt token ids after the chat template (if asked) and `<image>`
    /// expansion; checks the image count against the prompt's image tokens.
    pub fn prompt_ids(&self, prompt: &str, n_images: usize, chat: bool) -> Result<Vec<u32>> {
        let text = if chat { self.prompter.render_chat(prompt, n_images)? } else { prompt.to_string() };
        self.text_ids(&text, n_images, chat)
    }

    /// Prompt token ids of a whole conversation through the chat template
    /// (`Prompter::render_messages`), checked and expanded as `prompt_ids`.
    /// One user turn of images then text gives what `prompt_ids` gives with
    /// `chat`.
    pub fn conversation_ids(&self, messages: &Value, n_images: usize) -> Result<Vec<u32>> {
        self.text_ids(&self.prompter.render_messages(messages)?, n_images, true)
    }

    fn text_ids(&self, text: &str, n_images: usize, chat: bool) -> Result<Vec<u32>> {
        let m = &self.model;
        let (image_id, per_image, max) =
            (m.image_token(), m.tokens_per_image(), m.decoder().cfg.max_position_embeddings);
        let ids = m.tokenize(&self.prompter, text, chat)?;
        let slots = ids.iter().filter(|&&i| i == image_id).count();
        if slots != n_images {
            let token = self.prompter.id_to_token(image_id).unwrap_or_else(|| "<image>".into());
            return Err(Error::Prompt(match (slots, n_images) {
                (0, _) => format!("the prompt has no {token} token for the {n_images} image(s) given"),
                _ => format!("the prompt has {slots} {token} token(s) but {n_images} image(s) were given"),
            }));
        }
        let ids = expand_image_tokens(&ids, image_id, per_image);
        if ids.is_empty() {
            return Err(Error::Prompt("the prompt is empty (and the tokenizer adds no BOS token)".into()));
        }
        if ids.len() > max {
            return Err(Error::Prompt(format!(
                "the prompt is {} tokens after image expansion, longer than max_position_embeddings {max}",
                ids.len()
            )));
        }
        Ok(ids)
    }

    /// Teacher forcing: the logits [n, V] (F32) that choose each of the n
    /// `forced` tokens (the last prompt position's, then those after each
    /// forced token but the last), through the same prefill and KV-cached
    /// decode steps as `generate`.
    pub fn forced_logits(&self, prompt: &str, images: &[RgbImage], chat: bool, forced: &[u32]) -> Result<Tensor> {
        let prompt_ids = self.prompt_ids(prompt, images.len(), chat)?;
        let m = &*self.model;
        let mut seq = Sequence::new(m, m.encode_images(images)?, prompt_ids.len() + forced.len());
        let h = advance(m, &mut [&mut seq], &[&prompt_ids], &mut Trace::off())?;
        let mut rows = vec![m.decoder().logits(&h.narrow(0, prompt_ids.len() - 1, 1)?)?];
        for &id in &forced[..forced.len().saturating_sub(1)] {
            let h = advance(m, &mut [&mut seq], &[&[id]], &mut Trace::off())?;
            rows.push(m.decoder().logits(&h)?);
        }
        Ok(Tensor::cat(&rows.iter().collect::<Vec<_>>(), 0)?)
    }
}

/// The image processor's settings: preprocessor_config.json (Hub), or the
/// `image_processor` of processor_config.json (transformers 5); None when
/// neither exists (the class defaults apply).
fn processor_config(dir: &Path) -> Result<(PathBuf, Option<Value>)> {
    for (file, key) in [("preprocessor_config.json", None), ("processor_config.json", Some("image_processor"))] {
        let path = dir.join(file);
        if !path.is_file() {
            continue;
        }
        let v = read_json(&path)?;
        match key {
            Some(k) => {
                if let Some(x) = v.get(k) {
                    return Ok((path, Some(x.clone())));
                }
            }
            None => return Ok((path, Some(v))),
        }
    }
    Ok((dir.join("preprocessor_config.json"), None))
}
