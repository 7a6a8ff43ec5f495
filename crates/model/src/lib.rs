//! iris-model: vision-language models from unmodified Hugging Face
//! checkpoints, written on iris-tensor ops.
//!
//! - [`Pipeline`] loads a checkpoint folder (config.json, safetensors,
//!   tokenizer.json, processor and generation configs) and generates text
//!   from images and a prompt;
//! - [`llava::Llava`] is method A: CLIP features projected into the token
//!   sequence of a Llama decoder;
//! - [`mllama::Mllama`] is method B: tiled vision features reach the decoder
//!   only through gated cross-attention layers, projected once per prompt;
//! - [`image`] preprocesses images as the reference processors do (PIL's
//!   resampling, bit for bit);
//! - [`Trace`] records every stage of a forward pass for comparison with the
//!   reference.
//!
//! ```no_run
//! use iris_model::{image::RgbImage, LoadOptions, Pipeline, Request, SamplingOptions};
//! let pipe = Pipeline::load("llava-1.5-7b-hf", LoadOptions::default())?;
//! let image = RgbImage::open("cat.png".as_ref())?;
//! let req = Request {
//!     prompt: "USER: <image>\nWhat is in the picture? ASSISTANT:",
//!     images: std::slice::from_ref(&image),
//!     chat: false,
//!     max_new_tokens: 32,
//!     sampling: SamplingOptions::default(),
//!     prompt_logits: false,
//! };
//! let out = pipe.generate(&req, &mut |piece| print!("{piece}"))?;
//! eprintln!("{} tokens", out.ids.len());
//! # Ok::<(), iris_model::Error>(())
//! ```

pub mod clip;
pub mod config;
pub mod decoder;
mod error;
pub mod family;
mod generate;
pub mod image;
pub mod kv_cache;
mod limits;
pub mod llava;
mod loader;
pub mod mllama;
pub mod params;
mod pipeline;
pub mod prompt;
pub mod rope;
pub mod sampling;
pub mod sequence;
mod trace;
pub mod train;

pub use error::{Error, Result};
pub use family::{load_model, Encoded, ImageEntry, LoadContext, PatchGrid, Pixels, VisionLanguageModel, FAMILIES};
pub use kv_cache::KvCache;
pub use loader::WeightSource;
pub use params::Parameters;
pub use pipeline::{LoadOptions, Output, Pipeline, Request, Stats};
pub use sampling::SamplingOptions;
pub use sequence::{advance, Sequence};
pub use trace::Trace;
