//! The library API: load a checkpoint folder onto a device and dtype, then
//! generate from images and a prompt with a callback per piece of text, or
//! get the logits of every prompt position.

use std::path::{Path, PathBuf};
use std::time::Instant;

use iris_tensor::{DType, Device, Tensor, Weights};
use serde_json::Value;

use crate::config::{read_json, LlavaConfig};
use crate::error::{Error, Result};
use crate::image::{ClipProcessor, RgbImage};
use crate::llava::Llava;
use crate::loader::WeightSource;
use crate::mllama::{Mllama, MllamaConfig, TileProcessor};
use crate::prompt::{expand_image_tokens, Prompter};
use crate::sampling::{Sampler, SamplingOptions};
use crate::session::{Encoded, Session};
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

/// The architectures iris runs, chosen by config.json's `model_type`.
pub enum Model {
    /// CLIP + projector + Llama (`llava`).
    Llava(Box<Llava>),
    /// Tiled vision encoder + cross-attention Llama (`mllama`).
    Mllama(Box<Mllama>),
}

/// The checkpoint's image preprocessing, per architecture.
pub enum ImageProcessor {
    /// `CLIPImageProcessor` (LLaVA).
    Clip(ClipProcessor),
    /// `MllamaImageProcessor`: tiles.
    Tiles(TileProcessor),
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

/// A loaded checkpoint: model, tokenizer, image processor, stop tokens.
pub struct Pipeline {
    /// The network.
    pub model: Model,
    /// Tokenizer and chat template.
    pub prompter: Prompter,
    /// The checkpoint's image preprocessing.
    pub image_processor: ImageProcessor,
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
        let cfg_err = |msg: String| Error::Config { path: cfg_path.clone(), msg };
        let model_type = cfg.get("model_type").and_then(Value::as_str).unwrap_or("");
        let prompter = Prompter::load(&dir)?;
        let weights = Weights::open(&dir)?;
        let processor_json = processor_config(&dir)?;
        let proc_err = |msg: String| Error::Config { path: processor_json.0.clone(), msg };
        let (model, image_processor, text_eos) = match model_type {
            "llava" => {
                let c = LlavaConfig::from_value(&cfg).map_err(cfg_err)?;
                let size = c.vision.image_size;
                let p = match &processor_json.1 {
                    Some(v) => ClipProcessor::from_value(v, size).map_err(proc_err)?,
                    None => ClipProcessor::for_size(size),
                };
                let eos = c.text.eos_token_id.clone();
                (
                    Model::Llava(Box::new(Llava::load(
                        &WeightSource::Checkpoint(&weights),
                        c,
                        opts.dtype,
                        opts.device,
                    )?)),
                    ImageProcessor::Clip(p),
                    eos,
                )
            }
            "mllama" => {
                let c = MllamaConfig::from_value(&cfg).map_err(cfg_err)?;
                let (tile, n) = (c.vision.image_size, c.vision.max_num_tiles);
                let p = TileProcessor::from_value(processor_json.1.as_ref().unwrap_or(&Value::Null), tile, n)
                    .map_err(proc_err)?;
                if p.tile != tile || p.max_image_tiles > n {
                    return Err(proc_err(format!(
                        "the processor makes {}-pixel tiles, up to {}; the model takes {tile}-pixel tiles, up to {n}",
                        p.tile, p.max_image_tiles
                    )));
                }
                let eos = c.text.eos_token_id.clone();
                (
                    Model::Mllama(Box::new(Mllama::load(
                        &WeightSource::Checkpoint(&weights),
                        c,
                        opts.dtype,
                        opts.device,
                    )?)),
                    ImageProcessor::Tiles(p),
                    eos,
                )
            }
            other => return Err(cfg_err(format!("model_type `{other}` is not supported (llava, mllama)"))),
        };
        let gen_path = dir.join("generation_config.json");
        let mut eos_ids = if gen_path.is_file() { ids_of(read_json(&gen_path)?.get("eos_token_id")) } else { vec![] };
        if eos_ids.is_empty() {
            eos_ids = text_eos;
        }
        Ok(Pipeline { model, prompter, image_processor, eos_ids, dir })
    }

    /// The LLaVA model; panics for another architecture (tests and tools).
    pub fn llava(&self) -> &Llava {
        match &self.model {
            Model::Llava(m) => m,
            _ => panic!("not a LLaVA checkpoint"),
        }
    }

    /// The Mllama model; panics for another architecture (tests and tools).
    pub fn mllama(&self) -> &Mllama {
        match &self.model {
            Model::Mllama(m) => m,
            _ => panic!("not an Mllama checkpoint"),
        }
    }

    fn image_token(&self) -> (u32, usize, usize) {
        match &self.model {
            Model::Llava(m) => (m.cfg.image_token_index, m.cfg.image_features(), m.text.cfg.max_position_embeddings),
            Model::Mllama(m) => (m.cfg.image_token_index, 1, m.cfg.text.max_position_embeddings),
        }
    }

    /// Prompt token ids after the chat template (if asked) and `<image>`
    /// expansion; checks the image count against the prompt's image tokens.
    pub fn prompt_ids(&self, prompt: &str, n_images: usize, chat: bool) -> Result<Vec<u32>> {
        let (image_id, per_image, max) = self.image_token();
        let text = if chat { self.prompter.render_chat(prompt, n_images)? } else { prompt.to_string() };
        let bos = self.prompter.special("bos_token").filter(|b| !b.is_empty());
        let ids = match &self.model {
            Model::Llava(_) => {
                let add_special = !(chat && bos.is_some_and(|b| text.starts_with(b)));
                self.prompter.encode(&text, add_special)?
            }
            // MllamaProcessor writes the BOS text itself (after leading image
            // tokens) unless the prompt has one; nothing else is added.
            Model::Mllama(_) => {
                let token = self.prompter.id_to_token(image_id).unwrap_or_default();
                let text = match bos {
                    Some(b) if !text.contains(b) && !token.is_empty() => {
                        let rest = text.trim_start_matches(token.as_str());
                        let lead = (text.len() - rest.len()) / token.len();
                        format!("{}{b}{rest}", token.repeat(lead))
                    }
                    _ => text,
                };
                self.prompter.encode(&text, false)?
            }
        };
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

    fn encode_images(&self, images: &[RgbImage]) -> Result<Encoded> {
        match (&self.model, &self.image_processor) {
            (Model::Llava(m), ImageProcessor::Clip(p)) => Ok(Encoded::Features(
                images
                    .iter()
                    .map(|img| m.encode_image(&p.preprocess(img)?, &mut Trace::off()))
                    .collect::<Result<_>>()?,
            )),
            (Model::Mllama(m), ImageProcessor::Tiles(p)) => {
                let mut states = Vec::new();
                let mut tiles = Vec::new();
                for img in images {
                    let tiled = p.preprocess(img)?;
                    tiles.push(tiled.tiles);
                    states.push(m.encode_image(&tiled, &mut Trace::off())?);
                }
                let all =
                    if states.is_empty() { None } else { Some(Tensor::cat(&states.iter().collect::<Vec<_>>(), 0)?) };
                Ok(Encoded::States(all, tiles))
            }
            _ => unreachable!("load pairs each model with its processor"),
        }
    }

    fn session(&self, capacity: usize, encoded: Encoded) -> Session<'_> {
        match &self.model {
            Model::Llava(m) => Session::llava(m, capacity, encoded),
            Model::Mllama(m) => Session::mllama(m, capacity, encoded),
        }
    }

    /// Teacher forcing: the logits [n, V] (F32) that choose each of the n
    /// `forced` tokens (the last prompt position's, then those after each
    /// forced token but the last), through the same prefill and KV-cached
    /// decode steps as `generate`.
    pub fn forced_logits(&self, prompt: &str, images: &[RgbImage], chat: bool, forced: &[u32]) -> Result<Tensor> {
        let prompt_ids = self.prompt_ids(prompt, images.len(), chat)?;
        let mut session = self.session(prompt_ids.len() + forced.len(), self.encode_images(images)?);
        let h = session.prefill(&prompt_ids)?;
        let mut rows = vec![session.logits(&h.narrow(0, prompt_ids.len() - 1, 1)?)?];
        for &id in &forced[..forced.len().saturating_sub(1)] {
            let h = session.step(id)?;
            rows.push(session.logits(&h)?);
        }
        Ok(Tensor::cat(&rows.iter().collect::<Vec<_>>(), 0)?)
    }

    /// Generates up to `req.max_new_tokens` tokens, calling `on_text` with
    /// each new piece of text as soon as it decodes to whole characters.
    pub fn generate(&self, req: &Request, on_text: &mut dyn FnMut(&str)) -> Result<Output> {
        let prompt_ids = self.prompt_ids(req.prompt, req.images.len(), req.chat)?;
        let mut stats = Stats::default();
        let t0 = Instant::now();
        let encoded = self.encode_images(req.images)?;
        stats.encode_s = t0.elapsed().as_secs_f64();

        let t1 = Instant::now();
        let max_pos = self.image_token().2;
        let budget = req.max_new_tokens.min(max_pos.saturating_sub(prompt_ids.len()));
        // The KV cache starts at the prompt plus a few steps and doubles as it fills, so a large
        // --max-new-tokens does not reserve the whole context up front.
        let mut session = self.session(prompt_ids.len() + budget.min(256), encoded);
        let h = session.prefill(&prompt_ids)?;
        let t = prompt_ids.len();
        let (prompt_logits, mut last) = if req.prompt_logits {
            let all = session.logits(&h)?;
            let last = all.narrow(0, t - 1, 1)?.to_vec::<f32>()?;
            (Some(all), last)
        } else {
            (None, session.logits(&h.narrow(0, t - 1, 1)?)?.to_vec::<f32>()?)
        };
        stats.prefill_tokens = t;
        stats.prefill_s = t1.elapsed().as_secs_f64();

        let t2 = Instant::now();
        let mut sampler = Sampler::new(req.sampling.clone());
        let mut ids = Vec::new();
        let mut shown = 0;
        while ids.len() < budget {
            let next = sampler.sample(&last);
            ids.push(next);
            let text = self.prompter.decode(&ids)?;
            if text.len() > shown && text.is_char_boundary(shown) && !text.ends_with('\u{FFFD}') {
                on_text(&text[shown..]);
                shown = text.len();
            }
            if self.eos_ids.contains(&next) || ids.len() == budget {
                break;
            }
            let h = session.step(next)?;
            last = session.logits(&h)?.to_vec::<f32>()?;
            stats.decode_tokens += 1;
        }
        stats.decode_s = t2.elapsed().as_secs_f64();
        let text = self.prompter.decode(&ids)?;
        if text.len() > shown && text.is_char_boundary(shown) {
            on_text(&text[shown..]);
        }
        Ok(Output { prompt_ids, ids, text, prompt_logits, stats })
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
