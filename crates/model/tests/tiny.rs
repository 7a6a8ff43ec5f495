//! The two shipped models (models/tiny-llava, models/tiny-mllama; bf16, made
//! by scripts/train-tiny.sh) give transformers' numbers: the prompt's ids,
//! every prompt position's logits within 1e-4, and the greedy answer, on the
//! bundled example picture (reference by `tools/tiny/tiny.py check`, in
//! fixtures/tiny/).

use std::path::{Path, PathBuf};

use iris_model::image::RgbImage;
use iris_model::{LoadOptions, Pipeline, Request, SamplingOptions};
use iris_tensor::Weights;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

#[test]
fn shipped_models_equal_transformers() {
    let meta: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(repo().join("crates/model/tests/fixtures/tiny/meta.json")).unwrap(),
    )
    .unwrap();
    let image = RgbImage::open(&repo().join("models/examples/shapes.png")).unwrap();
    let question = meta["question"].as_str().unwrap();
    for name in ["tiny-llava", "tiny-mllama"] {
        let pipe = Pipeline::load(repo().join("models").join(name), LoadOptions::default()).unwrap();
        let r = Weights::open(repo().join(format!("crates/model/tests/fixtures/tiny/{name}.safetensors"))).unwrap();
        let bytes = std::fs::read(repo().join(format!("crates/model/tests/fixtures/tiny/{name}.safetensors"))).unwrap();
        let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
        // Token ids are I64, which Weights (float tensors) does not load.
        let ids = |k: &str| -> Vec<u32> {
            st.tensor(k)
                .unwrap()
                .data()
                .chunks_exact(8)
                .map(|b| i64::from_le_bytes(b.try_into().unwrap()) as u32)
                .collect()
        };
        let req = Request {
            prompt: question,
            images: std::slice::from_ref(&image),
            chat: true,
            max_new_tokens: 16,
            sampling: SamplingOptions::default(),
            prompt_logits: true,
        };
        let out = pipe.generate(&req, &mut |_| {}).unwrap();
        assert_eq!(out.prompt_ids, ids("input_ids"), "{name}: prompt ids");
        let (got, want) =
            (out.prompt_logits.unwrap().to_vec_f32().unwrap(), r.get("logits").unwrap().to_vec_f32().unwrap());
        assert_eq!(got.len(), want.len(), "{name}: logits shape");
        let err = got.iter().zip(&want).map(|(a, b)| (a - b).abs()).fold(0f32, f32::max);
        assert!(err <= 1e-4, "{name}: logits differ from transformers' by {err:.2e}");
        assert_eq!(out.ids, ids("greedy_ids"), "{name}: greedy answer {:?}", out.text);
        assert_eq!(out.text.trim(), meta[name].as_str().unwrap(), "{name}");
    }
}
