//! Training data: JSONL, one example a line,
//! `{"image": PATH, "prompt": TEXT, "answer": TEXT}` (or `"images": [...]`),
//! image paths relative to the file's folder or absolute. `"question": TEXT`
//! in place of `"prompt"` is the user's message, put in the checkpoint's chat
//! template with the images before it (as `iris generate --chat` does). Every line is
//! read, tokenized and checked (its images decode, each image once; its prompt holds
//! one image token per image; it fits the context) before any step runs; an error
//! names the file and the line.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::error::{Error, Result};
use crate::image::RgbImage;
use crate::pipeline::Pipeline;

/// One example, tokenized: the prompt's ids exactly as generation builds
/// them, the answer's alone (no special tokens), and its images' paths.
#[derive(Clone, Debug)]
pub struct Record {
    pub prompt_ids: Vec<u32>,
    pub answer_ids: Vec<u32>,
    pub images: Vec<PathBuf>,
    /// Class labels of its image (`"labels"`), for `iris train --probe`.
    pub labels: Option<Vec<u32>>,
    /// Where it came from (1-based line).
    pub line: usize,
}

impl Record {
    /// Tokens the example feeds (prompt, answer, eos).
    pub fn len(&self) -> usize {
        self.prompt_ids.len() + self.answer_ids.len() + 1
    }

    pub fn is_empty(&self) -> bool {
        false
    }

    /// Its images, decoded.
    pub fn load_images(&self) -> Result<Vec<RgbImage>> {
        self.images.iter().map(|p| RgbImage::open(p)).collect()
    }
}

fn field<'a>(v: &'a Value, key: &str) -> std::result::Result<&'a str, String> {
    match v.get(key) {
        Some(Value::String(s)) => Ok(s),
        Some(_) => Err(format!("`{key}` must be a string")),
        None => Err(format!("missing field `{key}`")),
    }
}

/// Reads and checks every line of `path` against `pipe`'s tokenizer,
/// image processor and context length.
pub fn read_jsonl(path: &Path, pipe: &Pipeline) -> Result<Vec<Record>> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::File { path: path.into(), msg: e.to_string() })?;
    let dir = path.parent().unwrap_or(Path::new("."));
    let max = pipe.model.decoder().cfg.max_position_embeddings;
    let mut out = Vec::new();
    let mut decoded = HashSet::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let at = |msg: String| Error::File { path: path.into(), msg: format!("line {}: {msg}", i + 1) };
        let v: Value = serde_json::from_str(line).map_err(|e| at(format!("not JSON: {e}")))?;
        let (prompt, chat) = match (v.get("prompt"), v.get("question")) {
            (Some(_), Some(_)) => return Err(at("give `prompt` or `question`, not both".into())),
            (None, Some(_)) => (field(&v, "question").map_err(at)?, true),
            _ => (field(&v, "prompt").map_err(at)?, false),
        };
        let answer = field(&v, "answer").map_err(at)?;
        let images: Vec<PathBuf> = match (v.get("image"), v.get("images")) {
            (Some(Value::String(p)), None) => vec![dir.join(p)],
            (None, Some(Value::Array(ps))) => ps
                .iter()
                .map(|p| p.as_str().map(|p| dir.join(p)).ok_or_else(|| at("`images` must hold strings".into())))
                .collect::<Result<_>>()?,
            (None, None) => Vec::new(),
            _ => return Err(at("give `image` (a path) or `images` (a list of paths), not both".into())),
        };
        // Each picture once: the shapes data asks three or four questions of each.
        for p in &images {
            if decoded.insert(p.clone()) {
                RgbImage::open(p).map_err(|e| at(e.to_string()))?;
            }
        }
        let prompt_ids = pipe.prompt_ids(prompt, images.len(), chat).map_err(|e| at(e.to_string()))?;
        let answer_ids = pipe.prompter.encode(answer, false).map_err(|e| at(e.to_string()))?;
        let labels = match v.get("labels") {
            None => None,
            Some(Value::Array(l)) => Some(
                l.iter()
                    .map(|x| x.as_u64().map(|x| x as u32).ok_or_else(|| at("`labels` must hold class numbers".into())))
                    .collect::<Result<Vec<u32>>>()?,
            ),
            Some(_) => return Err(at("`labels` must be a list of class numbers".into())),
        };
        let r = Record { prompt_ids, answer_ids, images, labels, line: i + 1 };
        if r.len() > max {
            return Err(at(format!("{} tokens with the answer and eos, longer than the context of {max}", r.len())));
        }
        out.push(r);
    }
    if out.is_empty() {
        return Err(Error::File { path: path.into(), msg: "no examples".into() });
    }
    Ok(out)
}
