//! `iris eval`: a checkpoint scored on a JSONL dataset. Lines with a `kind`
//! (as `iris data shapes` writes them) are asked through the chat template
//! and answered greedily: accuracy per kind, and for captions the recall of
//! the expected "colour shape" pairs. Lines without one (text) give the mean
//! loss per answer token and its perplexity. Also the image tokens the
//! language model reads per image and a one-image prompt's prefill time.

use std::path::PathBuf;
use std::time::Instant;

use iris_model::image::RgbImage;
use iris_model::train::data::read_jsonl;
use iris_model::train::trainer::mean_loss;
use iris_model::{LoadOptions, Pipeline, Request, SamplingOptions};
use serde_json::{json, Value};

use crate::shapes::scene::{alternatives, KINDS};

type Res<T> = Result<T, Box<dyn std::error::Error>>;

#[derive(clap::Args)]
pub struct EvalArgs {
    /// A checkpoint folder, or a bundled model's name.
    #[arg(long)]
    model: Option<String>,
    /// JSONL: questions with `kind` and `expect`, or text lines.
    #[arg(long)]
    data: PathBuf,
    /// Score only the first N lines.
    #[arg(long)]
    limit: Option<usize>,
    /// Requests generated together.
    #[arg(long, default_value_t = 16)]
    batch: usize,
    /// Also write the summary (JSON) here.
    #[arg(long)]
    json: Option<PathBuf>,
    /// Print every wrong answer to stderr.
    #[arg(long)]
    show_errors: bool,
}

/// Whether `answer` is right for a question of `kind` expecting `expect`:
/// it names every expected word and no other word of that kind. For
/// captions, the share of expected pairs it names, and whether it names
/// exactly those.
pub fn score(kind: &str, expect: &[String], answer: &str) -> (bool, f64) {
    let a = format!(
        " {} ",
        answer.to_lowercase().replace(['.', ',', '?'], " ").split_whitespace().collect::<Vec<_>>().join(" ")
    );
    let has = |w: &str| a.contains(&format!(" {w} "));
    if kind == "describe" {
        let named = expect.iter().filter(|e| has(e)).count();
        let colors = crate::shapes::scene::COLORS.iter().filter(|c| has(c)).count();
        let recall = named as f64 / expect.len().max(1) as f64;
        return (named == expect.len() && colors == expect.len(), recall);
    }
    let right =
        expect.iter().all(|e| has(e)) && alternatives(kind).iter().all(|w| expect.iter().any(|e| e == w) || !has(w));
    (right, f64::from(u8::from(right)))
}

pub fn run(a: &EvalArgs) -> Res<()> {
    let t0 = Instant::now();
    let dir = crate::bundled::resolve(a.model.as_deref())?;
    let pipe = Pipeline::load(&dir, LoadOptions::default())?;
    eprintln!("iris: loaded {} in {:.2} s", dir.display(), t0.elapsed().as_secs_f64());
    let text = std::fs::read_to_string(&a.data).map_err(|e| format!("{}: {e}", a.data.display()))?;
    let base = a.data.parent().unwrap_or(std::path::Path::new("."));
    let lines: Vec<Value> = text
        .lines()
        .filter(|l| !l.trim().is_empty())
        .take(a.limit.unwrap_or(usize::MAX))
        .enumerate()
        .map(|(i, l)| serde_json::from_str(l).map_err(|e| format!("{} line {}: {e}", a.data.display(), i + 1)))
        .collect::<Result<_, _>>()?;
    let mut summary = json!({"model": dir.display().to_string(), "data": a.data.display().to_string()});
    let questions: Vec<&Value> = lines.iter().filter(|v| v.get("kind").is_some()).collect();
    if questions.len() < lines.len() {
        // Text lines: the loss over their answers.
        let records = read_jsonl(&a.data, &pipe)?;
        let records: Vec<_> = records.into_iter().take(a.limit.unwrap_or(usize::MAX)).collect();
        let loss = mean_loss(&pipe, &records)?;
        eprintln!("text: {} lines, loss {loss:.4}, perplexity {:.3}", records.len(), loss.exp());
        summary["text_loss"] = json!(loss);
        summary["text_perplexity"] = json!(loss.exp());
    }
    if !questions.is_empty() {
        let mut right = vec![(0usize, 0usize, 0f64); KINDS.len()];
        for chunk in questions.chunks(a.batch.max(1)) {
            let field =
                |v: &Value, k: &str| v.get(k).and_then(Value::as_str).map(String::from).ok_or(format!("missing `{k}`"));
            let images: Vec<Vec<RgbImage>> =
                chunk.iter().map(|v| Ok(vec![RgbImage::open(&base.join(field(v, "image")?))?])).collect::<Res<_>>()?;
            let prompts: Vec<String> = chunk.iter().map(|v| field(v, "question")).collect::<Result<_, _>>()?;
            let reqs: Vec<Request> = chunk
                .iter()
                .enumerate()
                .map(|(i, _)| Request {
                    prompt: &prompts[i],
                    images: &images[i],
                    chat: true,
                    max_new_tokens: 32,
                    sampling: SamplingOptions::default(),
                    prompt_logits: false,
                })
                .collect();
            let outs = pipe.generate_batch(&reqs, &mut |_, _| {})?;
            for ((v, out), prompt) in chunk.iter().zip(&outs).zip(&prompts) {
                let kind = field(v, "kind")?;
                let expect: Vec<String> = serde_json::from_value(v.get("expect").cloned().unwrap_or_default())?;
                let k = KINDS.iter().position(|x| *x == kind).ok_or(format!("unknown kind `{kind}`"))?;
                let (ok, recall) = score(&kind, &expect, &out.text);
                if !ok && a.show_errors {
                    eprintln!("wrong: {} {:?} → {:?} (expected {expect:?})", field(v, "image")?, prompt, out.text);
                }
                right[k].0 += usize::from(ok);
                right[k].1 += 1;
                right[k].2 += recall;
            }
        }
        let mut acc = serde_json::Map::new();
        for (k, (ok, n, recall)) in right.iter().enumerate() {
            if *n > 0 {
                eprintln!("{:>9}: {ok}/{n} right ({:.1}%)", KINDS[k], 100.0 * *ok as f64 / *n as f64);
                acc.insert(KINDS[k].into(), json!({"right": ok, "asked": n, "accuracy": *ok as f64 / *n as f64}));
                if KINDS[k] == "describe" {
                    eprintln!("  caption attribute recall {:.1}%", 100.0 * recall / *n as f64);
                    summary["caption_recall"] = json!(recall / *n as f64);
                }
            }
        }
        summary["accuracy"] = Value::Object(acc);
        // What one image costs the language model: its tokens in the context, and the prefill.
        let v = questions[0];
        let image = RgbImage::open(&base.join(v["image"].as_str().unwrap_or_default()))?;
        let prompt = v["question"].as_str().unwrap_or_default();
        let ids = pipe.prompt_ids(prompt, 1, true)?;
        let text_only = pipe.prompt_ids(prompt, 0, true).map(|t| t.len()).unwrap_or(0);
        let req = Request {
            prompt,
            images: std::slice::from_ref(&image),
            chat: true,
            max_new_tokens: 1,
            sampling: SamplingOptions::default(),
            prompt_logits: false,
        };
        let mut best = f64::MAX;
        for _ in 0..5 {
            best = best.min(pipe.generate(&req, &mut |_| {})?.stats.prefill_s);
        }
        summary["image_context_tokens"] = json!(ids.len() - text_only);
        summary["prompt_tokens"] = json!(ids.len());
        summary["prefill_ms"] = json!(best * 1e3);
        eprintln!(
            "one image: {} tokens in the context, prefill of {} tokens {:.2} ms",
            ids.len() - text_only,
            ids.len(),
            best * 1e3
        );
    }
    println!("{summary}");
    if let Some(p) = &a.json {
        std::fs::write(p, serde_json::to_string_pretty(&summary)? + "\n")?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::score;

    fn v(words: &[&str]) -> Vec<String> {
        words.iter().map(|w| w.to_string()).collect()
    }

    #[test]
    fn answers_are_scored_by_their_words() {
        assert!(score("color", &v(&["red"]), "red").0);
        assert!(score("color", &v(&["red"]), " Red.").0);
        assert!(!score("color", &v(&["red"]), "red blue").0, "two colours is not an answer");
        assert!(!score("color", &v(&["red"]), "reddish").0);
        assert!(score("where", &v(&["top left"]), "top left").0);
        assert!(!score("where", &v(&["top left"]), "top left bottom right").0);
        assert!(!score("exists", &v(&["no"]), "yes").0);
        let pairs = v(&["red circle", "blue star"]);
        assert_eq!(score("describe", &pairs, "a red circle and a blue star"), (true, 1.0));
        assert_eq!(score("describe", &pairs, "a red circle and a green star"), (false, 0.5));
        assert!(!score("describe", &pairs, "a red circle and a blue star and a green cross").0, "an extra shape");
    }
}
