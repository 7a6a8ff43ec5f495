//! Bad input tried as a new user would: each case ends in success or in one
//! clear `iris: ...` line with exit code 1, never a panic, an abort or an
//! out-of-memory kill.

mod common;

use std::path::Path;

use common::{fails_with, fixture, iris, meta, png, scratch, scratch_path};

/// `iris ARGS` fails with one line naming every part of `expect`.
fn cli_fails(args: &[&str], expect: &[&str]) {
    let o = iris(args);
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{args:?} should fail cleanly: {stderr}");
    assert!(!stderr.contains("panicked"), "{args:?} panicked: {stderr}");
    assert_eq!(stderr.lines().count(), 1, "{args:?}: one line, got {stderr}");
    for e in expect {
        assert!(stderr.contains(e), "{args:?}: `{stderr}` should mention `{e}`");
    }
}

#[test]
fn bench_parameters_are_checked_not_unwrapped() {
    cli_fails(&["bench", "attention", "--h", "3", "--hkv", "2"], &["H = 3", "Hkv = 2"]);
    cli_fails(&["bench", "cross-attention", "--h", "3", "--hkv", "2"], &["H = 3"]);
    cli_fails(&["bench", "rope", "--cols", "577"], &["rope", "D even"]);
    cli_fails(&["bench", "--bogus"], &["--bogus"]);
}

#[test]
fn sampling_flags_out_of_range() {
    let name = "llava-gqa";
    let (dir, img) = (fixture(name), fixture(name).join("image.png"));
    let prompt = meta(name)["prompt"].as_str().unwrap().to_string();
    fails_with(&dir, &img, &prompt, &["--temperature", "-1"], &["--temperature -1", "≥ 0"]);
    fails_with(&dir, &img, &prompt, &["--temperature", "nan"], &["--temperature NaN"]);
    fails_with(&dir, &img, &prompt, &["--temperature", "inf"], &["--temperature inf"]);
    fails_with(&dir, &img, &prompt, &["--top-p", "0"], &["--top-p 0", "(0, 1]"]);
    fails_with(&dir, &img, &prompt, &["--top-p", "1.5"], &["--top-p 1.5"]);
    fails_with(&dir, &img, &prompt, &["--max-new-tokens", "-3"], &["-3"]);
}

/// Runs `iris generate` and expects success, returning stdout.
fn succeeds(dir: &Path, img: &Path, prompt: &str, extra: &[&str]) -> String {
    let mut args = vec!["generate", "--model", dir.to_str().unwrap(), "--prompt", prompt];
    args.extend(["--image", img.to_str().unwrap()]);
    args.extend(extra);
    let o = iris(&args);
    assert!(o.status.success(), "{args:?}: {}", String::from_utf8_lossy(&o.stderr));
    String::from_utf8_lossy(&o.stdout).into_owned()
}

#[test]
fn extreme_images_and_lengths() {
    let tmp = scratch_path("images", "extreme");
    std::fs::create_dir_all(&tmp).unwrap();
    // 1 × 4000: a shortest-edge resize would make 336 × 1.3 million pixels; only the crop is made.
    let thin = tmp.join("thin.png");
    std::fs::write(&thin, png((1, 4000), 1, 4000)).unwrap();
    // 30000 × 30000 in a file of a few bytes: refused before decoding.
    let huge = tmp.join("huge.png");
    std::fs::write(&huge, png((30000, 30000), 1, 1)).unwrap();
    for name in ["llava-gqa", "mllama-4tile"] {
        let dir = fixture(name);
        let prompt = meta(name)["prompt"].as_str().unwrap().to_string();
        succeeds(&dir, &thin, &prompt, &["--max-new-tokens", "2"]);
        fails_with(&dir, &huge, &prompt, &[], &["huge.png", "cannot decode"]);
        // The KV cache grows with the sequence: a huge budget stops at the context, not in an allocation.
        let img = dir.join("image.png");
        succeeds(&dir, &img, &prompt, &["--max-new-tokens", "1000000000"]);
    }
    let _ = std::fs::remove_dir_all(tmp);
}

#[test]
fn configs_and_prompts_that_used_to_crash() {
    // An empty prompt with a tokenizer that adds no BOS token.
    let d = scratch("llava-gqa", "nobos");
    let tok = std::fs::read_to_string(d.join("tokenizer.json")).unwrap();
    let mut t: serde_json::Value = serde_json::from_str(&tok).unwrap();
    t["post_processor"] = serde_json::Value::Null;
    std::fs::write(d.join("tokenizer.json"), t.to_string()).unwrap();
    fails_with(&d, Path::new(""), "", &[], &["prompt is empty"]);
    let _ = std::fs::remove_dir_all(d);
    // max_image_tiles 0 in an Mllama processor config.
    let d = scratch("mllama-4tile", "notiles");
    let cfg = std::fs::read_to_string(d.join("processor_config.json")).unwrap();
    std::fs::write(d.join("processor_config.json"), cfg.replace("\"max_image_tiles\": 4", "\"max_image_tiles\": 0"))
        .unwrap();
    let img = d.join("image.png");
    fails_with(&d, &img, "<|image|>Hi", &[], &["max_image_tiles 0"]);
    let _ = std::fs::remove_dir_all(d);
}

/// `--chat` on a folder carrying the Hub's own LLaVA-1.5 template, whose
/// `{% generation %}` tag once stopped it ("unknown statement generation").
#[test]
fn chat_with_the_hubs_verbatim_llava_template() {
    let text = std::fs::read_to_string(fixture("chat_templates.json")).unwrap();
    let cases: Vec<serde_json::Value> = serde_json::from_str(&text).unwrap();
    let hub = cases.iter().find(|c| c["name"] == "llava-1.5-hub").unwrap()["template"].as_str().unwrap().to_string();
    let d = scratch("llava-gqa", "hubchat");
    std::fs::write(d.join("chat_template.jinja"), hub).unwrap();
    let img = d.join("image.png");
    let o = iris(&[
        "generate",
        "--model",
        d.to_str().unwrap(),
        "--image",
        img.to_str().unwrap(),
        "--chat",
        "--prompt",
        "What is shown?",
        "--max-new-tokens",
        "2",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let _ = std::fs::remove_dir_all(d);
}
