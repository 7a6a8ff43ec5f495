//! `iris train` end to end on the LLaVA and Mllama fixtures: the checkpoint
//! it writes loads in `iris generate` and keeps every frozen tensor bit for
//! bit; a run resumed halfway ends bit-identical to an uninterrupted one;
//! --grads-out holds the first step's loss and gradients; bad data fails
//! before any step with the file and line.

mod common;

use std::path::{Path, PathBuf};

use common::{fixture, iris, meta, scratch_path};
use iris_tensor::Weights;

/// A dataset of three examples over the fixture's image, in a scratch folder.
fn dataset(name: &str, tag: &str) -> PathBuf {
    let dir = scratch_path(name, tag);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::copy(fixture(name).join("image.png"), dir.join("pic.png")).unwrap();
    let prompt = meta(name)["prompt"].as_str().unwrap().to_string();
    let lines: Vec<String> = [" A small red square.", " Shapes.", " Red and blue."]
        .iter()
        .map(|a| serde_json::json!({"image": "pic.png", "prompt": prompt, "answer": a}).to_string())
        .collect();
    std::fs::write(dir.join("data.jsonl"), lines.join("\n") + "\n").unwrap();
    dir
}

fn train(name: &str, data: &Path, out: &Path, stage: &str, steps: &str, extra: &[&str]) {
    let m = fixture(name);
    let mut args = vec!["train", "--model", m.to_str().unwrap(), "--data", data.to_str().unwrap(), "--stage", stage];
    args.extend(["--steps", steps, "--batch-size", "2", "--lr", "3e-3", "--warmup", "1", "--weight-decay", "0.1"]);
    args.extend(["--out", out.to_str().unwrap()]);
    args.extend(extra);
    let o = iris(&args);
    assert!(o.status.success(), "{args:?}: {}", String::from_utf8_lossy(&o.stderr));
}

#[test]
fn stage_1_writes_a_checkpoint_that_generates_and_keeps_frozen_tensors() {
    for name in ["llava-gqa", "mllama-2tile"] {
        let dir = dataset(name, "stage1");
        let (out, grads) = (dir.join("out"), dir.join("grads.safetensors"));
        train(name, &dir.join("data.jsonl"), &out, "1", "3", &["--grads-out", grads.to_str().unwrap()]);
        let (before, after) = (Weights::open(fixture(name)).unwrap(), Weights::open(&out).unwrap());
        let cfg: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(fixture(name).join("config.json")).unwrap()).unwrap();
        let cross: Vec<String> = cfg["text_config"]["cross_attention_layers"]
            .as_array()
            .map(|a| a.iter().map(|i| format!("language_model.model.layers.{i}.")).collect())
            .unwrap_or_default();
        let mut changed = 0;
        for n in before.names() {
            let (a, b) = (before.raw(n).unwrap(), after.raw(n).unwrap());
            assert_eq!((a.0, &a.1), (b.0, &b.1), "{name} {n}: dtype and shape kept");
            if n.contains("multi_modal_projector") || cross.iter().any(|c| n.starts_with(c.as_str())) {
                changed += (a.2 != b.2) as usize;
            } else {
                assert_eq!(a.2, b.2, "{name}: frozen {n} changed");
            }
        }
        assert!(changed > 0, "{name}: nothing trained");
        // --grads-out: the loss and a gradient for each trained tensor.
        let g = Weights::open(&grads).unwrap();
        assert!(g.get("loss").unwrap().to_vec_f32().unwrap()[0] > 0.0);
        assert!(g.names().iter().any(|n| n.contains("multi_modal_projector")), "{name}: {:?}", g.names());
        // The checkpoint is complete: it generates.
        let o = iris(&[
            "generate",
            "--model",
            out.to_str().unwrap(),
            "--image",
            dir.join("pic.png").to_str().unwrap(),
            "--prompt",
            meta(name)["prompt"].as_str().unwrap(),
            "--max-new-tokens",
            "3",
        ]);
        assert!(o.status.success(), "{name}: {}", String::from_utf8_lossy(&o.stderr));
        let log = std::fs::read_to_string(out.join("log.jsonl")).unwrap();
        assert_eq!(log.lines().count(), 3, "{name}: one log line a step");
    }
}

#[test]
fn a_resumed_run_ends_bit_identical_to_an_uninterrupted_one() {
    let name = "llava-gqa";
    let dir = dataset(name, "resume");
    let data = dir.join("data.jsonl");
    let (full, half) = (dir.join("full"), dir.join("half"));
    train(name, &data, &full, "2", "5", &[]);
    train(name, &data, &half, "2", "2", &[]);
    train(name, &data, &half, "2", "5", &["--resume", half.to_str().unwrap()]);
    let (a, b) = (
        std::fs::read(full.join("model.safetensors")).unwrap(),
        std::fs::read(half.join("model.safetensors")).unwrap(),
    );
    assert!(a == b, "the resumed run's weights differ");
    let (a, b) = (
        std::fs::read(full.join("train_state.safetensors")).unwrap(),
        std::fs::read(half.join("train_state.safetensors")).unwrap(),
    );
    assert!(a == b, "the resumed run's optimizer state differs");
}

#[test]
fn a_run_from_a_trained_folder_keeps_its_own_log() {
    let name = "llava-gqa";
    let dir = dataset(name, "chain");
    let data = dir.join("data.jsonl");
    let (first, second) = (dir.join("first"), dir.join("second"));
    train(name, &data, &first, "1", "2", &[]);
    // Stage 2 from stage 1's folder (which holds stage 1's log), saving midway and at the end.
    let args = ["train", "--model", first.to_str().unwrap(), "--data", data.to_str().unwrap(), "--stage", "2"];
    let rest = ["--steps", "3", "--batch-size", "2", "--save-every", "1", "--out", second.to_str().unwrap()];
    let o = iris(&[&args[..], &rest[..]].concat());
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let log = std::fs::read_to_string(second.join("log.jsonl")).unwrap();
    let steps: Vec<u64> =
        log.lines().map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["step"].as_u64().unwrap()).collect();
    assert_eq!(steps, [1, 2, 3], "the log holds this run's steps only");
}

#[test]
fn bad_data_fails_before_any_step_naming_the_line() {
    let name = "llava-gqa";
    let dir = dataset(name, "bad");
    let good = std::fs::read_to_string(dir.join("data.jsonl")).unwrap();
    let first = good.lines().next().unwrap().to_string();
    let prompt = meta(name)["prompt"].as_str().unwrap().to_string();
    let cases = [
        (format!("{first}\nnot json\n"), "line 2: not JSON"),
        (format!("{first}\n{{\"image\": \"pic.png\", \"prompt\": \"x\"}}\n"), "line 2: missing field `answer`"),
        (serde_json::json!({"image": "none.png", "prompt": prompt, "answer": "a"}).to_string(), "line 1: image"),
        (
            serde_json::json!({"prompt": "no image here", "image": "pic.png", "answer": "a"}).to_string(),
            "line 1: prompt",
        ),
        (
            serde_json::json!({"image": "pic.png", "prompt": prompt, "answer": "a ".repeat(5000)}).to_string(),
            "longer than the context",
        ),
    ];
    for (i, (text, expect)) in cases.iter().enumerate() {
        let path = dir.join(format!("bad{i}.jsonl"));
        std::fs::write(&path, text).unwrap();
        let out = dir.join(format!("out{i}"));
        let m = fixture(name);
        let o = iris(&[
            "train",
            "--model",
            m.to_str().unwrap(),
            "--data",
            path.to_str().unwrap(),
            "--stage",
            "1",
            "--steps",
            "1",
            "--out",
            out.to_str().unwrap(),
        ]);
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(1), "case {i}: {err}");
        assert!(err.contains(&format!("bad{i}.jsonl")) && err.contains(expect), "case {i}: {err}");
        assert!(!out.join("log.jsonl").exists(), "case {i}: a step ran");
    }
}

#[test]
fn train_and_freeze_patterns_move_parameters_in_and_out() {
    // Stage 1 plus the vision tower (its backward through CLIP: im2col, layer norms, attention),
    // minus the projector's second layer.
    let name = "llava-gqa";
    let dir = dataset(name, "patterns");
    let out = dir.join("out");
    train(name, &dir.join("data.jsonl"), &out, "1", "2", &["--train", "*vision_tower*", "--freeze", "*linear_2*"]);
    let (before, after) = (Weights::open(fixture(name)).unwrap(), Weights::open(&out).unwrap());
    let moved = |n: &str| before.raw(n).unwrap().2 != after.raw(n).unwrap().2;
    let names = before.names();
    let vision: Vec<&&str> = names.iter().filter(|n| n.contains("vision_tower") && n.contains("layers.0.")).collect();
    assert!(!vision.is_empty() && vision.iter().all(|n| moved(n)), "{name}: the vision tower did not train");
    assert!(names.iter().filter(|n| n.contains("linear_2")).all(|n| !moved(n)), "{name}: --freeze did not hold");
    let stuck: Vec<&&str> = names.iter().filter(|n| n.contains("linear_1") && !moved(n)).collect();
    assert!(stuck.is_empty(), "{name}: the projector did not train: {stuck:?}");
    assert!(
        names.iter().filter(|n| n.contains("language_model")).all(|n| !moved(n)),
        "{name}: the LLM moved in stage 1"
    );
    // A pattern that matches nothing is an error, not a silent no-op.
    let m = fixture(name);
    let o = iris(&[
        "train",
        "--model",
        m.to_str().unwrap(),
        "--data",
        dir.join("data.jsonl").to_str().unwrap(),
        "--stage",
        "1",
        "--steps",
        "1",
        "--out",
        dir.join("x").to_str().unwrap(),
        "--train",
        "no.such.*",
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("matches no parameter"));
}
