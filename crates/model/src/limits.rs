//! Sizes past any checkpoint's: a config naming one is refused before
//! anything is allocated from it.

use crate::config::ClipVisionConfig;

/// Sizes past these are no checkpoint's (the largest models have hidden sizes
/// of a few 10⁴, vocabularies of a few 10⁵, contexts of 10⁶–10⁷ and a few
/// hundred layers): a config naming one is refused before anything is
/// allocated from it, rather than ending in an out-of-memory kill.
pub fn within_limits(what: &str, sizes: &[(&str, usize, usize)]) -> std::result::Result<(), String> {
    match sizes.iter().find(|(_, v, max)| v > max) {
        Some((k, v, max)) => Err(format!("{what}{k} {v} is beyond any checkpoint's (at most {max})")),
        None => Ok(()),
    }
}

impl ClipVisionConfig {
    pub(crate) fn within_limits(&self) -> std::result::Result<(), String> {
        within_limits(
            "vision_config: ",
            &[
                ("hidden_size", self.hidden_size, 1 << 16),
                ("intermediate_size", self.intermediate_size, 1 << 18),
                ("num_hidden_layers", self.num_hidden_layers, 1 << 10),
                ("num_attention_heads", self.num_attention_heads, 1 << 10),
                ("num_channels", self.num_channels, 16),
                ("image_size", self.image_size, 1 << 14),
            ],
        )
    }
}
