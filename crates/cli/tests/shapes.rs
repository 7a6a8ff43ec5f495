//! `iris data shapes` → `iris train` → `iris eval` on the LLaVA fixture:
//! the dataset is the same for the same seed (and not for another), its
//! chat-question lines train, and eval scores them and the text lines.

mod common;

use std::path::Path;

use common::{fixture, iris, scratch_path};

fn files(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push((p.strip_prefix(dir).unwrap().display().to_string(), std::fs::read(&p).unwrap()));
            }
        }
    }
    out.sort();
    out
}

fn shapes(dir: &Path, seed: &str) {
    let o = shapes_with(dir, seed, &[]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
}

fn shapes_with(dir: &Path, seed: &str, extra: &[&str]) -> std::process::Output {
    let _ = std::fs::remove_dir_all(dir);
    let d = dir.to_str().unwrap();
    // Patch labels on a 4 × 4 grid: llava-gqa's 56-pixel images of 14-pixel patches.
    let rest = ["--heldout", "6", "--text", "30", "--grid", "4", "--seed", seed];
    iris(&[&["data", "shapes", "--out", d, "--n", "12"][..], &rest, extra].concat())
}

/// The kind of each line of a JSONL file, in order.
fn kinds(path: &Path) -> Vec<(String, String)> {
    let text = std::fs::read_to_string(path).unwrap();
    let line = |l: &str| {
        let v: serde_json::Value = serde_json::from_str(l).unwrap();
        (v["image"].as_str().unwrap().to_string(), v["kind"].as_str().unwrap().to_string())
    };
    text.lines().map(line).collect()
}

#[test]
fn extra_kinds_add_one_question_of_each_to_every_training_picture() {
    let (a, b) = (scratch_path("shapes", "plain"), scratch_path("shapes", "extra"));
    shapes(&a, "5");
    let o = shapes_with(&b, "5", &["--extra", "exists,describe"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let (fa, fb) = (files(&a), files(&b));
    let same = |name: &str| fa.iter().find(|f| f.0 == name) == fb.iter().find(|f| f.0 == name);
    for name in ["train.jsonl", "pretrain.jsonl", "heldout.jsonl", "heldout-shift.jsonl", "text.jsonl"] {
        assert!(same(name), "{name} changed with --extra");
    }
    assert!(fa.iter().filter(|f| f.0.starts_with("images")).eq(fb.iter().filter(|f| f.0.starts_with("images"))));
    assert!(!a.join("train-extra.jsonl").exists(), "train-extra.jsonl without --extra");
    // In train-extra.jsonl each picture's usual lines come first, then one exists and one describe question.
    let (plain, extra) = (kinds(&a.join("train.jsonl")), kinds(&b.join("train-extra.jsonl")));
    assert_eq!(extra.len(), plain.len() + 2 * 12);
    let mut at = 0;
    for picture in 0..12 {
        let image = &plain[at].0;
        let usual: Vec<_> = plain.iter().filter(|l| &l.0 == image).collect();
        let more: Vec<_> = extra.iter().filter(|l| &l.0 == image).collect();
        assert_eq!(more.len(), usual.len() + 2, "picture {picture}");
        assert_eq!(more[..usual.len() - 1], usual[..usual.len() - 1], "picture {picture}: the usual questions");
        let last: Vec<&str> = more[more.len() - 3..].iter().map(|l| l.1.as_str()).collect();
        assert_eq!(last, ["exists", "describe", "colors"], "picture {picture}");
        at += usual.len();
    }
    let o = shapes_with(&b, "5", &["--extra", "exists,size"]);
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("invalid value 'size' for '--extra"), "{err}");
    for d in [a, b] {
        let _ = std::fs::remove_dir_all(d);
    }
}

#[test]
fn the_dataset_follows_from_its_seed_and_trains_and_scores() {
    let (a, b, c) = (scratch_path("shapes", "a"), scratch_path("shapes", "b"), scratch_path("shapes", "c"));
    shapes(&a, "3");
    shapes(&b, "3");
    shapes(&c, "4");
    let (fa, fb, fc) = (files(&a), files(&b), files(&c));
    assert_eq!(fa.len(), 12 + 6 + 6 + 6, "pictures and six JSONL files");
    assert!(fa == fb, "the same seed gives the same bytes");
    assert!(fa != fc, "another seed gives another dataset");

    // Chat-question lines train (the fixture's chat template wraps them) ...
    let (m, out) = (fixture("llava-gqa"), scratch_path("shapes", "run"));
    let data = a.join("train.jsonl");
    let args = ["train", "--model", m.to_str().unwrap(), "--data", data.to_str().unwrap(), "--stage", "1"];
    let o = iris(&[&args[..], &["--steps", "2", "--batch-size", "2", "--out", out.to_str().unwrap()]].concat());
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    // ... and eval scores the questions of every kind, and the text lines' loss.
    for (split, key) in [("heldout.jsonl", "accuracy"), ("text-heldout.jsonl", "text_perplexity")] {
        let data = a.join(split);
        let o = iris(&["eval", "--model", out.to_str().unwrap(), "--data", data.to_str().unwrap()]);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        assert!(!v[key].is_null(), "{split}: {v}");
        if key == "accuracy" {
            for kind in ["color", "shape", "count", "exists", "describe"] {
                assert_eq!(v[key][kind]["asked"], 6, "{kind}: {v}");
            }
            assert!(v["image_context_tokens"].as_u64().unwrap() > 1);
        }
    }
    // --probe: the vision encoder learns the pictures' patch labels through a zero head, so the
    // first step's loss is the uniform one, ln 161 per patch.
    let (probe, half) = (scratch_path("shapes", "probe"), scratch_path("shapes", "probe-half"));
    let data = a.join("pretrain.jsonl");
    let args = ["train", "--model", m.to_str().unwrap(), "--data", data.to_str().unwrap(), "--stage", "1"];
    let run = |out: &Path, steps: &str, extra: &[&str]| {
        let rest = ["--train", "vision_tower.*", "--probe", "161", "--batch-size", "4", "--lr", "1e-2"];
        let tail = ["--schedule", "constant", "--steps", steps, "--out", out.to_str().unwrap()];
        let o = iris(&[&args[..], &rest, &tail, extra].concat());
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    };
    run(&probe, "4", &[]);
    let log = std::fs::read_to_string(probe.join("log.jsonl")).unwrap();
    let losses: Vec<f64> =
        log.lines().map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["loss"].as_f64().unwrap()).collect();
    assert!((losses[0] - 161f64.ln()).abs() < 1e-5, "first loss {losses:?}");
    assert!(losses[3] < losses[0], "the labels are learnt: {losses:?}");
    // A probe run resumed halfway ends where the uninterrupted one does.
    run(&half, "2", &[]);
    run(&half, "4", &["--resume", half.to_str().unwrap()]);
    let weights = |d: &Path| std::fs::read(d.join("model.safetensors")).unwrap();
    assert!(weights(&half) == weights(&probe), "the resumed probe run differs");
    let before = iris_tensor::Weights::open(&m).unwrap();
    let after = iris_tensor::Weights::open(&probe).unwrap();
    let name = "vision_tower.encoder.layers.0.mlp.fc1.weight";
    let (x, y) = (before.get(name).unwrap().to_vec_f32().unwrap(), after.get(name).unwrap().to_vec_f32().unwrap());
    assert!(x != y, "the vision tower trained");
    for d in [a, b, c, out, probe, half] {
        let _ = std::fs::remove_dir_all(d);
    }
}
