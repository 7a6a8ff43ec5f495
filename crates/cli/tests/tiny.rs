//! The two bundled models (trained by scripts/train-tiny.sh) answer
//! questions about held-out pictures they never saw — the first pictures of
//! both held-out splits, every question kind, committed in models/examples —
//! and the README's command answers from the bundled example picture
//! without `--model`.

mod common;

use std::path::{Path, PathBuf};

use common::iris;

fn examples() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../models/examples")
}

#[test]
fn both_bundled_models_answer_held_out_questions() {
    let data = examples().join("questions.jsonl");
    for model in ["tiny-llava", "tiny-mllama"] {
        let o = iris(&["eval", "--model", model, "--data", data.to_str().unwrap(), "--show-errors"]);
        assert!(o.status.success(), "{model}: {}", String::from_utf8_lossy(&o.stderr));
        let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        let (mut right, mut asked) = (0, 0);
        for (kind, a) in v["accuracy"].as_object().unwrap() {
            let (r, n) = (a["right"].as_u64().unwrap(), a["asked"].as_u64().unwrap());
            assert!(n > 0 && r * 4 >= n * 3, "{model} {kind}: {r}/{n}\n{}", String::from_utf8_lossy(&o.stderr));
            (right, asked) = (right + r, asked + n);
        }
        assert_eq!(v["accuracy"].as_object().unwrap().len(), 6, "every question kind is asked");
        // The shipped models answer 95 % (tiny-llava) and 92 % (tiny-mllama) of these; random weights
        // answer about a third. The 95 %-on-every-kind bar is measured on the whole held-out splits
        // in docs/training.md.
        assert!(right * 100 >= asked * 90, "{model}: {right}/{asked} right\n{}", String::from_utf8_lossy(&o.stderr));
    }
}

#[test]
fn the_readme_command_answers_without_a_model_flag() {
    let image = examples().join("shapes.png");
    for (prompt, want) in [("What color is the circle?", "the circle is green"), ("How many shapes are there?", "two")]
    {
        let o = iris(&["generate", "--image", image.to_str().unwrap(), "--prompt", prompt, "--chat"]);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        assert_eq!(String::from_utf8_lossy(&o.stdout).trim(), want, "{prompt}");
    }
}
