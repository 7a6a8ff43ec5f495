//! Model configs as transformers reads config.json: the same keys, the same
//! defaults (transformers 5), RoPE from `rope_parameters` or the legacy
//! `rope_theta` / `rope_scaling`.

use std::path::Path;

use serde::Deserialize;
use serde_json::Value;

use crate::error::{Error, Result};

/// An activation named by a config (`hidden_act`, `projector_hidden_act`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Activation {
    /// Exact erf GELU (`gelu`).
    Gelu,
    /// Tanh-approximated GELU (`gelu_pytorch_tanh`, `gelu_new`, `gelu_fast`).
    GeluTanh,
    /// x·σ(1.702x) (`quick_gelu`).
    QuickGelu,
    /// x·σ(x) (`silu`, `swish`).
    Silu,
}

impl Activation {
    pub fn parse(name: &str) -> std::result::Result<Activation, String> {
        Ok(match name {
            "gelu" => Activation::Gelu,
            "gelu_pytorch_tanh" | "gelu_new" | "gelu_fast" => Activation::GeluTanh,
            "quick_gelu" => Activation::QuickGelu,
            "silu" | "swish" => Activation::Silu,
            other => return Err(format!("activation `{other}` is not supported")),
        })
    }
}

fn activation<'de, D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Activation, D::Error> {
    Activation::parse(&String::deserialize(d)?).map_err(serde::de::Error::custom)
}

/// The CLIP vision tower (`clip_vision_model`), transformers' defaults.
#[derive(Clone, Debug, Deserialize)]
#[serde(default)]
pub struct ClipVisionConfig {
    pub hidden_size: usize,
    pub intermediate_size: usize,
    pub num_hidden_layers: usize,
    pub num_attention_heads: usize,
    pub num_channels: usize,
    pub image_size: usize,
    pub patch_size: usize,
    #[serde(deserialize_with = "activation")]
    pub hidden_act: Activation,
    pub layer_norm_eps: f64,
}

impl Default for ClipVisionConfig {
    fn default() -> Self {
        ClipVisionConfig {
            hidden_size: 768,
            intermediate_size: 3072,
            num_hidden_layers: 12,
            num_attention_heads: 12,
            num_channels: 3,
            image_size: 224,
            patch_size: 32,
            hidden_act: Activation::QuickGelu,
            layer_norm_eps: 1e-5,
        }
    }
}

impl ClipVisionConfig {
    /// What `LlavaConfig` builds when config.json has no `vision_config` at all.
    fn llava_default() -> Self {
        ClipVisionConfig {
            hidden_size: 1024,
            intermediate_size: 4096,
            num_hidden_layers: 24,
            num_attention_heads: 16,
            image_size: 336,
            patch_size: 14,
            ..Default::default()
        }
    }

    /// Patches per side of the image.
    pub fn side(&self) -> usize {
        self.image_size / self.patch_size
    }

    /// Patches in all.
    pub fn patches(&self) -> usize {
        self.side().pow(2)
    }
}

/// How RoPE's inverse frequencies are made.
#[derive(Clone, Debug, PartialEq)]
pub enum RopeScaling {
    Default,
    /// Frequencies divided by `factor`.
    Linear {
        factor: f64,
    },
    /// Llama 3.1's piecewise rescaling of the low frequencies.
    Llama3 {
        factor: f64,
        low_freq_factor: f64,
        high_freq_factor: f64,
        original_max_position_embeddings: f64,
    },
}

#[derive(Clone, Debug, PartialEq)]
pub struct RopeConfig {
    pub theta: f64,
    pub scaling: RopeScaling,
}

/// A Llama decoder (`llama`), transformers' defaults.
#[derive(Clone, Debug)]
pub struct LlamaConfig {
    pub vocab_size: usize,
    pub hidden_size: usize,
    pub intermediate_size: usize,
    pub num_hidden_layers: usize,
    pub num_attention_heads: usize,
    pub num_key_value_heads: usize,
    pub head_dim: usize,
    pub hidden_act: Activation,
    pub max_position_embeddings: usize,
    pub rms_norm_eps: f64,
    pub attention_bias: bool,
    pub mlp_bias: bool,
    pub tie_word_embeddings: bool,
    pub rope: RopeConfig,
    /// Stop tokens when generation_config.json names none.
    pub eos_token_id: Vec<u32>,
}

#[derive(Deserialize)]
#[serde(default)]
struct LlamaRaw {
    vocab_size: usize,
    hidden_size: usize,
    intermediate_size: usize,
    num_hidden_layers: usize,
    num_attention_heads: usize,
    num_key_value_heads: Option<usize>,
    head_dim: Option<usize>,
    hidden_act: String,
    max_position_embeddings: usize,
    rms_norm_eps: f64,
    attention_bias: bool,
    mlp_bias: bool,
    tie_word_embeddings: bool,
    rope_theta: Option<f64>,
    rope_parameters: Option<Value>,
    rope_scaling: Option<Value>,
    eos_token_id: Option<Value>,
}

impl Default for LlamaRaw {
    fn default() -> Self {
        LlamaRaw {
            vocab_size: 32000,
            hidden_size: 4096,
            intermediate_size: 11008,
            num_hidden_layers: 32,
            num_attention_heads: 32,
            num_key_value_heads: None,
            head_dim: None,
            hidden_act: "silu".into(),
            max_position_embeddings: 2048,
            rms_norm_eps: 1e-6,
            attention_bias: false,
            mlp_bias: false,
            tie_word_embeddings: false,
            rope_theta: None,
            rope_parameters: None,
            rope_scaling: None,
            eos_token_id: Some(Value::from(2)),
        }
    }
}

fn rope(raw: &LlamaRaw) -> std::result::Result<RopeConfig, String> {
    // transformers: `rope_scaling` (legacy) wins over `rope_parameters`; theta
    // from the dict, else the top-level `rope_theta`, else 10000.
    let params = raw.rope_scaling.as_ref().filter(|v| !v.is_null()).or(raw.rope_parameters.as_ref());
    let get = |k: &str| params.and_then(|p| p.get(k)).and_then(Value::as_f64);
    let theta = get("rope_theta").or(raw.rope_theta).unwrap_or(10_000.0);
    let kind =
        params.and_then(|p| p.get("rope_type").or_else(|| p.get("type"))).and_then(Value::as_str).unwrap_or("default");
    let need = |k: &str| get(k).ok_or_else(|| format!("rope type `{kind}` needs `{k}`"));
    let scaling = match kind {
        "default" => RopeScaling::Default,
        "linear" => RopeScaling::Linear { factor: need("factor")? },
        "llama3" => RopeScaling::Llama3 {
            factor: need("factor")?,
            low_freq_factor: need("low_freq_factor")?,
            high_freq_factor: need("high_freq_factor")?,
            original_max_position_embeddings: get("original_max_position_embeddings")
                .unwrap_or(raw.max_position_embeddings as f64),
        },
        other => return Err(format!("rope type `{other}` is not supported (default, linear, llama3)")),
    };
    Ok(RopeConfig { theta, scaling })
}

impl LlamaConfig {
    pub fn from_value(v: &Value) -> std::result::Result<LlamaConfig, String> {
        let raw: LlamaRaw = serde_json::from_value(v.clone()).map_err(|e| e.to_string())?;
        crate::limits::within_limits(
            "",
            &[
                ("vocab_size", raw.vocab_size, 1 << 22),
                ("hidden_size", raw.hidden_size, 1 << 17),
                ("intermediate_size", raw.intermediate_size, 1 << 19),
                ("num_hidden_layers", raw.num_hidden_layers, 1 << 11),
                ("num_attention_heads", raw.num_attention_heads, 1 << 12),
                ("head_dim", raw.head_dim.unwrap_or(0), 1 << 12),
                ("max_position_embeddings", raw.max_position_embeddings, 1 << 25),
            ],
        )?;
        if raw.num_attention_heads == 0
            || !raw.hidden_size.is_multiple_of(raw.num_attention_heads) && raw.head_dim.is_none()
        {
            return Err(format!(
                "hidden_size {} is not a multiple of num_attention_heads {}",
                raw.hidden_size, raw.num_attention_heads
            ));
        }
        let kv = raw.num_key_value_heads.unwrap_or(raw.num_attention_heads);
        if kv == 0 || !raw.num_attention_heads.is_multiple_of(kv) {
            return Err(format!(
                "num_attention_heads {} is not a multiple of num_key_value_heads {kv}",
                raw.num_attention_heads
            ));
        }
        Ok(LlamaConfig {
            vocab_size: raw.vocab_size,
            hidden_size: raw.hidden_size,
            intermediate_size: raw.intermediate_size,
            num_hidden_layers: raw.num_hidden_layers,
            num_attention_heads: raw.num_attention_heads,
            num_key_value_heads: kv,
            head_dim: raw.head_dim.unwrap_or(raw.hidden_size / raw.num_attention_heads),
            hidden_act: Activation::parse(&raw.hidden_act)?,
            max_position_embeddings: raw.max_position_embeddings,
            rms_norm_eps: raw.rms_norm_eps,
            attention_bias: raw.attention_bias,
            mlp_bias: raw.mlp_bias,
            tie_word_embeddings: raw.tie_word_embeddings,
            rope: rope(&raw)?,
            eos_token_id: match &raw.eos_token_id {
                Some(Value::Number(n)) => n.as_u64().map(|x| vec![x as u32]).unwrap_or_default(),
                Some(Value::Array(a)) => a.iter().filter_map(Value::as_u64).map(|x| x as u32).collect(),
                _ => Vec::new(),
            },
        })
    }
}

/// Which CLIP hidden states feed the projector.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SelectStrategy {
    /// Drop the CLS token.
    Default,
    /// Keep it.
    Full,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(untagged)]
enum OneOrMany {
    One(i64),
    Many(Vec<i64>),
}

/// `llava` (LlavaForConditionalGeneration).
#[derive(Clone, Debug)]
pub struct LlavaConfig {
    pub vision: ClipVisionConfig,
    pub text: LlamaConfig,
    pub image_token_index: u32,
    pub projector_hidden_act: Activation,
    pub vision_feature_select_strategy: SelectStrategy,
    /// Indices into CLIP's hidden states (0 = embeddings; negative from the end),
    /// concatenated on the feature axis when more than one.
    pub vision_feature_layer: Vec<i64>,
    pub multimodal_projector_bias: bool,
    pub tie_word_embeddings: bool,
}

#[derive(Deserialize)]
#[serde(default)]
struct LlavaRaw {
    vision_config: Option<ClipVisionConfig>,
    text_config: Option<Value>,
    #[serde(alias = "image_token_id")]
    image_token_index: u32,
    #[serde(deserialize_with = "activation")]
    projector_hidden_act: Activation,
    vision_feature_select_strategy: SelectStrategy,
    vision_feature_layer: OneOrMany,
    multimodal_projector_bias: bool,
    tie_word_embeddings: bool,
}

impl Default for LlavaRaw {
    fn default() -> Self {
        LlavaRaw {
            vision_config: None,
            text_config: None,
            image_token_index: 32000,
            projector_hidden_act: Activation::Gelu,
            vision_feature_select_strategy: SelectStrategy::Default,
            vision_feature_layer: OneOrMany::One(-2),
            multimodal_projector_bias: true,
            tie_word_embeddings: false,
        }
    }
}

impl LlavaConfig {
    pub fn from_value(v: &Value) -> std::result::Result<LlavaConfig, String> {
        let raw: LlavaRaw = serde_json::from_value(v.clone()).map_err(|e| e.to_string())?;
        let text = LlamaConfig::from_value(raw.text_config.as_ref().unwrap_or(&Value::Object(Default::default())))
            .map_err(|e| format!("text_config: {e}"))?;
        let vision = raw.vision_config.unwrap_or_else(ClipVisionConfig::llava_default);
        vision.within_limits()?;
        if vision.patch_size == 0 || vision.image_size < vision.patch_size || vision.num_attention_heads == 0 {
            return Err(format!(
                "vision_config: image_size {} and patch_size {} make no patches",
                vision.image_size, vision.patch_size
            ));
        }
        let layers = match raw.vision_feature_layer {
            OneOrMany::One(l) => vec![l],
            OneOrMany::Many(v) if !v.is_empty() => v,
            OneOrMany::Many(_) => return Err("vision_feature_layer is an empty list".into()),
        };
        let n = vision.num_hidden_layers as i64;
        if let Some(bad) = layers.iter().find(|&&l| l > n || l < -(n + 1)) {
            return Err(format!("vision_feature_layer {bad} is outside the {} CLIP hidden states", n + 1));
        }
        Ok(LlavaConfig {
            vision,
            text,
            image_token_index: raw.image_token_index,
            projector_hidden_act: raw.projector_hidden_act,
            vision_feature_select_strategy: raw.vision_feature_select_strategy,
            vision_feature_layer: layers,
            multimodal_projector_bias: raw.multimodal_projector_bias,
            tie_word_embeddings: raw.tie_word_embeddings,
        })
    }

    /// Image features per image: the patches, plus CLS with the `full` strategy.
    pub fn image_features(&self) -> usize {
        self.vision.patches() + (self.vision_feature_select_strategy == SelectStrategy::Full) as usize
    }
}

/// Reads a JSON file, naming the file in every error.
pub fn read_json(path: &Path) -> Result<Value> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| Error::File { path: path.into(), msg: format!("cannot read: {e}") })?;
    serde_json::from_str(&text).map_err(|e| Error::Config { path: path.into(), msg: format!("invalid JSON: {e}") })
}

impl Activation {
    /// The kernels' op for this activation.
    pub fn unary(self) -> iris_tensor::Unary {
        match self {
            Activation::Gelu => iris_tensor::Unary::Gelu,
            Activation::GeluTanh => iris_tensor::Unary::GeluTanh,
            Activation::QuickGelu => iris_tensor::Unary::QuickGelu,
            Activation::Silu => iris_tensor::Unary::Silu,
        }
    }

    pub fn apply(self, x: &iris_tensor::Tensor) -> iris_tensor::Result<iris_tensor::Tensor> {
        match self {
            Activation::Gelu => x.gelu(),
            Activation::GeluTanh => x.gelu_tanh(),
            Activation::QuickGelu => x.quick_gelu(),
            Activation::Silu => x.silu(),
        }
    }
}
