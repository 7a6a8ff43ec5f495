//! `mllama` config.json (MllamaConfig, MllamaVisionConfig, MllamaTextConfig)
//! with transformers' defaults and its consistency rules.

use serde::Deserialize;
use serde_json::{json, Value};

use crate::config::{Activation, LlamaConfig};

/// The tiled vision encoder's settings.
#[derive(Clone, Debug, Deserialize)]
#[serde(default)]
pub struct MllamaVisionConfig {
    pub hidden_size: usize,
    pub hidden_act: String,
    pub num_hidden_layers: usize,
    pub num_global_layers: usize,
    pub attention_heads: usize,
    pub num_channels: usize,
    pub intermediate_size: usize,
    pub vision_output_dim: usize,
    pub image_size: usize,
    pub patch_size: usize,
    pub norm_eps: f64,
    pub max_num_tiles: usize,
    pub intermediate_layers_indices: Vec<usize>,
    pub supported_aspect_ratios: Vec<[usize; 2]>,
}

impl Default for MllamaVisionConfig {
    fn default() -> Self {
        MllamaVisionConfig {
            hidden_size: 1280,
            hidden_act: "gelu".into(),
            num_hidden_layers: 32,
            num_global_layers: 8,
            attention_heads: 16,
            num_channels: 3,
            intermediate_size: 5120,
            vision_output_dim: 7680,
            image_size: 448,
            patch_size: 14,
            norm_eps: 1e-5,
            max_num_tiles: 4,
            intermediate_layers_indices: vec![3, 7, 15, 23, 30],
            supported_aspect_ratios: vec![[1, 1], [1, 2], [1, 3], [1, 4], [2, 1], [2, 2], [3, 1], [4, 1]],
        }
    }
}

impl MllamaVisionConfig {
    /// Patches per side of a tile.
    pub fn side(&self) -> usize {
        self.image_size / self.patch_size
    }

    /// Tokens per tile: patches + CLS.
    pub fn tile_tokens(&self) -> usize {
        self.side().pow(2) + 1
    }
}

/// `mllama` (MllamaForConditionalGeneration).
#[derive(Clone, Debug)]
pub struct MllamaConfig {
    pub vision: MllamaVisionConfig,
    pub vision_act: Activation,
    /// The decoder; its `vocab_size` excludes the image token (the table has 8 more rows).
    pub text: LlamaConfig,
    pub cross_attention_layers: Vec<usize>,
    pub image_token_index: u32,
}

/// The (rows, cols) tile grids of at most `n` tiles, in the processor's order.
pub fn tile_grids(n: usize) -> Vec<(usize, usize)> {
    (1..=n).flat_map(|a| (1..=n).filter(move |b| a * b <= n).map(move |b| (a, b))).collect()
}

impl MllamaConfig {
    pub fn from_value(v: &Value) -> std::result::Result<MllamaConfig, String> {
        let vision: MllamaVisionConfig = match v.get("vision_config") {
            Some(x) if !x.is_null() => serde_json::from_value(x.clone()).map_err(|e| format!("vision_config: {e}"))?,
            _ => MllamaVisionConfig::default(),
        };
        let vision_act = Activation::parse(&vision.hidden_act).map_err(|e| format!("vision_config: {e}"))?;
        crate::limits::within_limits(
            "vision_config: ",
            &[
                ("hidden_size", vision.hidden_size, 1 << 16),
                ("intermediate_size", vision.intermediate_size, 1 << 18),
                ("num_hidden_layers", vision.num_hidden_layers, 1 << 10),
                ("num_global_layers", vision.num_global_layers, 1 << 10),
                ("attention_heads", vision.attention_heads, 1 << 10),
                ("image_size", vision.image_size, 1 << 14),
                ("max_num_tiles", vision.max_num_tiles, 64),
                ("vision_output_dim", vision.vision_output_dim, 1 << 20),
            ],
        )?;
        let k = vision.intermediate_layers_indices.len();
        if vision.vision_output_dim != vision.hidden_size * (1 + k) {
            return Err(format!(
                "vision_config: vision_output_dim {} disagrees with hidden_size {} × (1 + {k} intermediate layers) = {}",
                vision.vision_output_dim,
                vision.hidden_size,
                vision.hidden_size * (1 + k)
            ));
        }
        if let Some(&bad) = vision.intermediate_layers_indices.iter().find(|&&i| i >= vision.num_hidden_layers) {
            return Err(format!(
                "vision_config: intermediate layer {bad} ≥ num_hidden_layers {}",
                vision.num_hidden_layers
            ));
        }
        let grids = tile_grids(vision.max_num_tiles).len();
        if vision.supported_aspect_ratios.len() != grids {
            return Err(format!(
                "vision_config: {} supported_aspect_ratios, but max_num_tiles {} gives {grids} tile grids",
                vision.supported_aspect_ratios.len(),
                vision.max_num_tiles
            ));
        }
        if vision.patch_size == 0 || vision.image_size < vision.patch_size || vision.attention_heads == 0 {
            return Err(format!(
                "vision_config: image_size {} and patch_size {}",
                vision.image_size, vision.patch_size
            ));
        }
        // MllamaTextConfig's defaults under the file's keys; head_dim is always hidden/heads, no biases.
        let mut text = json!({
            "vocab_size": 128256, "hidden_size": 4096, "hidden_act": "silu", "num_hidden_layers": 40,
            "num_attention_heads": 32, "num_key_value_heads": 8, "intermediate_size": 14336,
            "rms_norm_eps": 1e-5, "max_position_embeddings": 131072, "tie_word_embeddings": false,
            "eos_token_id": 128001,
        });
        if let Some(Value::Object(t)) = v.get("text_config") {
            for (key, val) in t {
                text[key] = val.clone();
            }
        }
        let cross: Vec<usize> = match text.get("cross_attention_layers") {
            Some(x) if !x.is_null() => serde_json::from_value(x.clone()).map_err(|e| format!("text_config: {e}"))?,
            _ => vec![3, 8, 13, 18, 23, 28, 33, 38],
        };
        let obj = text.as_object_mut().expect("built as an object");
        for key in ["head_dim", "attention_bias", "mlp_bias"] {
            obj.remove(key);
        }
        let text = LlamaConfig::from_value(&text).map_err(|e| format!("text_config: {e}"))?;
        if let Some(&bad) = cross.iter().find(|&&i| i >= text.num_hidden_layers) {
            return Err(format!(
                "text_config: cross-attention layer {bad} ≥ num_hidden_layers {}",
                text.num_hidden_layers
            ));
        }
        let image_token_index = v.get("image_token_index").and_then(Value::as_u64).unwrap_or(128256) as u32;
        Ok(MllamaConfig { vision, vision_act, text, cross_attention_layers: cross, image_token_index })
    }
}
