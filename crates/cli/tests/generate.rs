//! `iris generate` as a user runs it: the reference's greedy text on stdout,
//! `--logits-out` equal to transformers, and one clear line (never a panic)
//! for every kind of bad input.

mod common;

use std::path::Path;

use common::{fails_with, fixture, iris, meta, scratch, scratch_path, FIXTURES};
use iris_kernels::testing::rel_err;
use safetensors::SafeTensors;

fn f32s(st: &SafeTensors, name: &str) -> Vec<f32> {
    st.tensor(name).unwrap().data().chunks_exact(4).map(|b| f32::from_le_bytes(b.try_into().unwrap())).collect()
}

fn i64s(st: &SafeTensors, name: &str) -> Vec<i64> {
    st.tensor(name).unwrap().data().chunks_exact(8).map(|b| i64::from_le_bytes(b.try_into().unwrap())).collect()
}

#[test]
fn generate_prints_the_reference_greedy_text_and_writes_its_logits() {
    for name in FIXTURES {
        let (dir, m) = (fixture(name), meta(name));
        let out_file = std::env::temp_dir().join(format!("iris-logits-{}-{name}.safetensors", std::process::id()));
        let reference = std::fs::read(dir.join("reference.safetensors")).unwrap();
        let reference = SafeTensors::deserialize(&reference).unwrap();
        let n = reference.tensor("greedy_ids").unwrap().shape()[0].to_string();
        let mut args: Vec<String> =
            ["generate", "--model", dir.to_str().unwrap(), "--prompt", m["prompt"].as_str().unwrap()]
                .map(String::from)
                .to_vec();
        for img in ["image.png", "image2.png"].map(|f| dir.join(f)).iter().filter(|p| p.is_file()) {
            args.extend(["--image".to_string(), img.to_str().unwrap().to_string()]);
        }
        args.extend(["--max-new-tokens", &n, "--logits-out", out_file.to_str().unwrap()].map(String::from));
        let o = iris(&args.iter().map(String::as_str).collect::<Vec<_>>());
        let stderr = String::from_utf8_lossy(&o.stderr);
        assert!(o.status.success(), "{name}: {stderr}");
        assert_eq!(String::from_utf8_lossy(&o.stdout), m["greedy_text"].as_str().unwrap(), "{name}: stdout");
        assert!(stderr.contains("image encode") && stderr.contains("tok/s"), "{name}: timings on stderr: {stderr}");
        let written = std::fs::read(&out_file).unwrap();
        let written = SafeTensors::deserialize(&written).unwrap();
        assert_eq!(written.tensor("logits").unwrap().shape(), reference.tensor("logits").unwrap().shape());
        let e = rel_err(&f32s(&written, "logits"), &f32s(&reference, "logits"));
        assert!(e <= 1e-4, "{name}: logits relative error {e:.2e}");
        assert_eq!(i64s(&written, "generated_ids"), i64s(&reference, "greedy_ids"), "{name}");
        let _ = std::fs::remove_file(out_file);
    }
}

#[test]
fn bad_input_gets_one_clear_line_and_a_non_zero_exit() {
    let name = "llava-gqa";
    let (dir, img) = (fixture(name), fixture(name).join("image.png"));
    let prompt = meta(name)["prompt"].as_str().unwrap().to_string();
    let none = Path::new("");

    // Images: missing, not an image.
    fails_with(&dir, &dir.join("nope.png"), &prompt, &[], &["nope.png", "cannot open"]);
    fails_with(&dir, &dir.join("config.json"), &prompt, &[], &["config.json", "not an image"]);
    // Prompts: no <image> for the image, more <image> than images, too long.
    fails_with(&dir, &img, "USER: hello ASSISTANT:", &[], &["no <image>"]);
    fails_with(&dir, &img, "<image> and <image>", &[], &["2 <image>", "1 image"]);
    fails_with(&dir, none, &prompt, &[], &["1 <image>", "0 image"]);
    let long = format!("{prompt} {}", "picture ".repeat(300));
    fails_with(&dir, &img, &long, &[], &["max_position_embeddings 256"]);
    fails_with(&dir, &img, &prompt, &["--device", "tpu"], &["unknown device"]);

    // Folders without config.json or tokenizer.json.
    let d = scratch(name, "noconfig");
    std::fs::remove_file(d.join("config.json")).unwrap();
    fails_with(&d, &img, &prompt, &[], &["config.json", "not found"]);
    let d = scratch(name, "notok");
    std::fs::remove_file(d.join("tokenizer.json")).unwrap();
    fails_with(&d, &img, &prompt, &[], &["tokenizer.json", "not found"]);

    // Weights: one missing, one of the wrong shape (both shapes named).
    let original = std::fs::read(dir.join("model.safetensors")).unwrap();
    let st = SafeTensors::deserialize(&original).unwrap();
    let rewrite = |tag: &str, drop: &str, reshape: Option<(&str, Vec<usize>)>| {
        let d = scratch(name, tag);
        let mut views = Vec::new();
        for (n, v) in st.tensors() {
            if n == drop {
                continue;
            }
            let (shape, data) = match &reshape {
                Some((r, s)) if *r == n => (s.clone(), &v.data()[..s.iter().product::<usize>() * 4]),
                _ => (v.shape().to_vec(), v.data()),
            };
            views.push((n, safetensors::tensor::TensorView::new(v.dtype(), shape, data).unwrap()));
        }
        safetensors::serialize_to_file(views, None, &d.join("model.safetensors")).unwrap();
        d
    };
    let d = rewrite("missing", "multi_modal_projector.linear_2.bias", None);
    fails_with(&d, &img, &prompt, &[], &["multi_modal_projector.linear_2.bias", "not found"]);
    let w = "language_model.model.layers.1.mlp.up_proj.weight";
    let d = rewrite("misshaped", "", Some((w, vec![128, 63])));
    fails_with(&d, &img, &prompt, &[], &[w, "[128, 63]", "[128, 64]"]);

    // Mllama: an image without its <|image|> token; a config whose vision_output_dim disagrees.
    let mdir = fixture("mllama-4tile");
    let mimg = mdir.join("image.png");
    fails_with(&mdir, &mimg, "What is this?", &[], &["no <|image|>"]);
    let d = scratch("mllama-4tile", "outdim");
    let cfg = std::fs::read_to_string(d.join("config.json")).unwrap();
    std::fs::write(d.join("config.json"), cfg.replace("\"vision_output_dim\": 96", "\"vision_output_dim\": 90"))
        .unwrap();
    fails_with(&d, &mimg, "<|image|>Hi", &[], &["vision_output_dim 90", "= 96"]);
    let _ = std::fs::remove_dir_all(d);
    for tag in ["noconfig", "notok", "missing", "misshaped"] {
        let _ = std::fs::remove_dir_all(scratch_path(name, tag));
    }
}

#[test]
fn sampling_is_reproducible_from_its_seed() {
    let name = "llava-crop";
    let dir = fixture(name);
    let prompt = meta(name)["prompt"].as_str().unwrap().to_string();
    let run = |seed: &str| {
        let img = dir.join("image.png");
        let o = iris(&[
            "generate",
            "--model",
            dir.to_str().unwrap(),
            "--image",
            img.to_str().unwrap(),
            "--prompt",
            &prompt,
            "--max-new-tokens",
            "12",
            "--temperature",
            "1.5",
            "--top-k",
            "50",
            "--top-p",
            "0.95",
            "--seed",
            seed,
        ]);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        o.stdout
    };
    assert_eq!(run("1"), run("1"), "same seed, same text");
    let texts: std::collections::HashSet<Vec<u8>> = ["1", "2", "3", "4"].iter().map(|s| run(s)).collect();
    assert!(texts.len() > 1, "different seeds should not all give the same 12 tokens");
}
