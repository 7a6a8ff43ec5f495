//! `iris serve --preset NAME`: a model of a real checkpoint's shape
//! (`iris bench model`'s presets) with seeded random weights, and a
//! stand-in tokenizer that covers its whole vocabulary (word `t<id>` is
//! token id, any other word the unknown token `t0`) with a Llama 3 style
//! chat template: the server's load can be measured at real sizes with
//! nothing downloaded.

use std::path::Path;

use iris_model::prompt::Prompter;
use iris_model::Pipeline;
use iris_tensor::{DType, Device};
use serde_json::{json, Map, Value};

type Res<T> = Result<T, Box<dyn std::error::Error>>;

const TEMPLATE: &str = "<|begin_of_text|>{% for m in messages %}<|start_header_id|>{{ m['role'] }}<|end_header_id|> \
{% if m['content'] is string %}{{ m['content'] }}{% else %}{% for c in m['content'] %}\
{% if c['type'] == 'image' %}<image> {% else %}{{ c['text'] }}{% endif %}{% endfor %}{% endif %}<|eot_id|>{% endfor %}\
{% if add_generation_prompt %}<|start_header_id|>assistant<|end_header_id|> {% endif %}";

pub fn pipeline(name: &str, layers: Option<usize>, dtype: DType, device: Device) -> Res<Pipeline> {
    let cfg = crate::bench_model::preset(name, layers)?;
    if cfg["model_type"] != "llava" || cfg["text_config"]["num_hidden_layers"] == 0 {
        return Err(format!(
            "--preset {name}: serve takes a preset with a language model (llama-3.2-1b, llava-1.5-7b)"
        )
        .into());
    }
    let model = crate::bench_model::random_model(name, &cfg, dtype, device)?;
    let vocab = model.decoder().cfg.vocab_size;
    let specials = [
        ("<|begin_of_text|>", 128_000.min(vocab - 5)),
        ("<|start_header_id|>", 128_006.min(vocab - 4)),
        ("<|end_header_id|>", 128_007.min(vocab - 3)),
        ("<|eot_id|>", 128_009.min(vocab - 2)),
        ("<image>", model.image_token() as usize),
    ];
    let dir = std::env::temp_dir().join(format!("iris-preset-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let mut words = Map::new();
    for i in (0..vocab).filter(|i| specials.iter().all(|s| s.1 != *i)) {
        words.insert(format!("t{i}"), json!(i));
    }
    let added: Vec<Value> = specials
        .iter()
        .map(|(t, id)| {
            json!({"id": id, "content": t, "single_word": false, "lstrip": false, "rstrip": false,
                             "normalized": false, "special": true})
        })
        .collect();
    let tokenizer = json!({"version": "1.0", "truncation": null, "padding": null, "added_tokens": added,
        "normalizer": null, "pre_tokenizer": {"type": "Whitespace"}, "post_processor": null, "decoder": null,
        "model": {"type": "WordLevel", "vocab": words, "unk_token": "t0"}});
    std::fs::write(dir.join("tokenizer.json"), tokenizer.to_string())?;
    std::fs::write(
        dir.join("tokenizer_config.json"),
        json!({"bos_token": "<|begin_of_text|>", "eos_token": "<|eot_id|>"}).to_string(),
    )?;
    std::fs::write(dir.join("chat_template.jinja"), TEMPLATE)?;
    let prompter = Prompter::load(&dir)?;
    let _ = std::fs::remove_dir_all(&dir);
    let eos_ids = vec![specials[3].1 as u32];
    Ok(Pipeline { model, prompter, eos_ids, dir: Path::new(name).to_path_buf() })
}
