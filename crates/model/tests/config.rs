//! config.json as transformers reads it: defaults, legacy and transformers-5
//! RoPE keys, llama3 scaling — against what transformers resolved for the
//! same files (tests/fixtures/configs.json, made by tools/fixtures).

mod common;

use iris_kernels::testing::rel_err;
use iris_model::config::{Activation, LlavaConfig, SelectStrategy};
use iris_model::rope::Rope;
use serde_json::Value;

fn act(name: &Value) -> Activation {
    Activation::parse(name.as_str().unwrap()).unwrap()
}

#[test]
fn configs_resolve_as_transformers_resolves_them() {
    let text = std::fs::read_to_string(common::fixture("configs.json")).unwrap();
    let cases: serde_json::Map<String, Value> = serde_json::from_str(&text).unwrap();
    assert!(cases.len() >= 5);
    for (name, case) in &cases {
        let c = LlavaConfig::from_value(&case["config"]).unwrap_or_else(|e| panic!("{name}: {e}"));
        let (t, v, l) = (&case["text"], &case["vision"], &case["llava"]);
        let n = |x: &Value| x.as_u64().unwrap() as usize;
        let text_got = [
            c.text.vocab_size,
            c.text.hidden_size,
            c.text.intermediate_size,
            c.text.num_hidden_layers,
            c.text.num_attention_heads,
            c.text.num_key_value_heads,
            c.text.head_dim,
            c.text.max_position_embeddings,
        ];
        let text_keys = [
            "vocab_size",
            "hidden_size",
            "intermediate_size",
            "num_hidden_layers",
            "num_attention_heads",
            "num_key_value_heads",
            "head_dim",
            "max_position_embeddings",
        ];
        for (k, got) in text_keys.iter().zip(text_got) {
            assert_eq!(got, n(&t[k]), "{name}: text {k}");
        }
        assert_eq!(c.text.rms_norm_eps, t["rms_norm_eps"].as_f64().unwrap(), "{name}");
        assert_eq!(c.text.hidden_act, act(&t["hidden_act"]), "{name}");
        let vision_got = [
            c.vision.hidden_size,
            c.vision.intermediate_size,
            c.vision.num_hidden_layers,
            c.vision.num_attention_heads,
            c.vision.image_size,
            c.vision.patch_size,
        ];
        let vision_keys = [
            "hidden_size",
            "intermediate_size",
            "num_hidden_layers",
            "num_attention_heads",
            "image_size",
            "patch_size",
        ];
        for (k, got) in vision_keys.iter().zip(vision_got) {
            assert_eq!(got, n(&v[k]), "{name}: vision {k}");
        }
        assert_eq!(c.vision.hidden_act, act(&v["hidden_act"]), "{name}");
        assert_eq!(c.vision.layer_norm_eps, v["layer_norm_eps"].as_f64().unwrap(), "{name}");
        assert_eq!(c.image_token_index as u64, l["image_token_index"].as_u64().unwrap(), "{name}");
        assert_eq!(c.projector_hidden_act, act(&l["projector_hidden_act"]), "{name}");
        let full = l["vision_feature_select_strategy"] == "full";
        assert_eq!(c.vision_feature_select_strategy == SelectStrategy::Full, full, "{name}");
        let layers: Vec<i64> = match &l["vision_feature_layer"] {
            Value::Array(a) => a.iter().map(|x| x.as_i64().unwrap()).collect(),
            x => vec![x.as_i64().unwrap()],
        };
        assert_eq!(c.vision_feature_layer, layers, "{name}");
        assert_eq!(c.multimodal_projector_bias, l["multimodal_projector_bias"].as_bool().unwrap(), "{name}");
        let want: Vec<f32> = case["inv_freq"].as_array().unwrap().iter().map(|x| x.as_f64().unwrap() as f32).collect();
        let rope = Rope::new(&c.text.rope, c.text.head_dim);
        let e = rel_err(rope.inv_freq(), &want);
        assert!(e < 1e-6, "{name}: RoPE inverse frequencies differ by {e:.2e}");
    }
}

#[test]
fn bad_configs_are_errors_not_panics() {
    let bad = [
        (r#"{"text_config": {"rope_scaling": {"rope_type": "yarn", "factor": 2}}}"#, "yarn"),
        (r#"{"text_config": {"rope_scaling": {"rope_type": "llama3", "factor": 8}}}"#, "low_freq_factor"),
        (r#"{"text_config": {"num_attention_heads": 6, "num_key_value_heads": 4, "hidden_size": 48}}"#, "multiple"),
        (r#"{"vision_feature_layer": 30}"#, "outside"),
        (r#"{"projector_hidden_act": "mish"}"#, "mish"),
        (r#"{"vision_config": {"patch_size": 0}}"#, "patch"),
    ];
    for (json, expect) in bad {
        let err = LlavaConfig::from_value(&serde_json::from_str(json).unwrap()).unwrap_err();
        assert!(err.contains(expect), "{json}: `{err}` should mention {expect}");
    }
}

#[test]
fn chat_templates_render_as_transformers_renders_them() {
    // The Hub's LLaVA-1.5 and LLaVA-OneVision templates verbatim (with transformers'
    // {% generation %} tag), the fixtures' own, and Llama 4's (the Llama 3 family's
    // structure: date, tools, system message, images).
    let text = std::fs::read_to_string(common::fixture("chat_templates.json")).unwrap();
    let cases: Vec<Value> = serde_json::from_str(&text).unwrap();
    assert!(cases.len() >= 17);
    for c in &cases {
        if let Some(messages) = c.get("messages") {
            // A whole conversation through a Hub template: the text and its {% generation %} spans.
            let (got, spans) = iris_model::prompt::render_conversation(
                c["template"].as_str().unwrap(),
                messages,
                false,
                "<s>",
                "</s>",
            )
            .unwrap_or_else(|e| panic!("{}: {e}", c["name"]));
            assert_eq!(got, c["rendered"].as_str().unwrap(), "{} conversation", c["name"]);
            let marked: Vec<&str> = spans.iter().map(|r| &got[r.clone()]).collect();
            let want: Vec<&str> = c["generation"].as_array().unwrap().iter().map(|v| v.as_str().unwrap()).collect();
            assert_eq!(marked, want, "{} generation spans", c["name"]);
            continue;
        }
        let got = iris_model::prompt::render_chat_template(
            c["template"].as_str().unwrap(),
            c["text"].as_str().unwrap(),
            c["images"].as_u64().unwrap() as usize,
            "<s>",
            "</s>",
        )
        .unwrap_or_else(|e| panic!("{}: {e}", c["name"]));
        assert_eq!(got, c["rendered"].as_str().unwrap(), "{} with {} images", c["name"], c["images"]);
    }
}
