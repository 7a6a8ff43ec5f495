//! The models inside the binary: two tiny vision-language models trained
//! by iris from scratch (scripts/train-tiny.sh, docs/training.md) —
//! `tiny-llava` (Method A: image tokens spliced into the decoder's input,
//! the default) and `tiny-mllama` (Method B: gated cross-attention layers).
//! Their files (bf16 weights, a few MB) are written once to
//! `~/.cache/iris/models/NAME-HASH` (`IRIS_CACHE` moves `~/.cache/iris`)
//! and loaded from there like any checkpoint folder.

use std::path::{Path, PathBuf};

type Res<T> = Result<T, Box<dyn std::error::Error>>;

/// The model `iris generate` runs without `--model`.
pub const DEFAULT: &str = "tiny-llava";

#[cfg(iris_bundled)]
macro_rules! model_files {
    ($dir:literal) => {
        &[
            ("config.json", include_bytes!(concat!("../../../models/", $dir, "/config.json"))),
            ("generation_config.json", include_bytes!(concat!("../../../models/", $dir, "/generation_config.json"))),
            ("tokenizer.json", include_bytes!(concat!("../../../models/", $dir, "/tokenizer.json"))),
            ("tokenizer_config.json", include_bytes!(concat!("../../../models/", $dir, "/tokenizer_config.json"))),
            ("chat_template.jinja", include_bytes!(concat!("../../../models/", $dir, "/chat_template.jinja"))),
            ("processor_config.json", include_bytes!(concat!("../../../models/", $dir, "/processor_config.json"))),
            ("model.safetensors", include_bytes!(concat!("../../../models/", $dir, "/model.safetensors"))),
        ]
    };
}

type Files = &'static [(&'static str, &'static [u8])];

/// Every bundled model: its name and files.
#[cfg(iris_bundled)]
pub const MODELS: &[(&str, Files)] =
    &[("tiny-llava", model_files!("tiny-llava")), ("tiny-mllama", model_files!("tiny-mllama"))];
/// A build from a tree without `models/` (before scripts/train-tiny.sh has run) carries none.
#[cfg(not(iris_bundled))]
pub const MODELS: &[(&str, Files)] = &[];

/// FNV-1a over every file: the cache folder changes when the model does.
fn fingerprint(files: Files) -> u64 {
    let mut h = 0xcbf2_9ce4_8422_2325u64;
    for (name, bytes) in files {
        for b in name.bytes().chain(bytes.iter().copied()) {
            h = (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
    h
}

fn cache_root() -> Res<PathBuf> {
    if let Some(dir) = std::env::var_os("IRIS_CACHE") {
        return Ok(PathBuf::from(dir));
    }
    let home = std::env::var_os("HOME").ok_or("HOME is not set (or set IRIS_CACHE)")?;
    Ok(Path::new(&home).join(".cache").join("iris"))
}

/// The folder of bundled model `name`, written on first use.
pub fn extract(name: &str) -> Res<PathBuf> {
    let (_, files) = MODELS.iter().find(|(n, _)| *n == name).ok_or_else(|| {
        format!("`{name}`: this build carries no bundled model (scripts/train-tiny.sh makes them in models/)")
    })?;
    let dir = cache_root()?.join("models").join(format!("{name}-{:016x}", fingerprint(files)));
    if dir.join("model.safetensors").is_file() {
        return Ok(dir);
    }
    // Written beside, then renamed: a crash never leaves a half-written model in place.
    let tmp = dir.with_extension(format!("tmp{}", std::process::id()));
    std::fs::create_dir_all(&tmp).map_err(|e| format!("{}: {e}", tmp.display()))?;
    for (file, bytes) in *files {
        std::fs::write(tmp.join(file), bytes).map_err(|e| format!("{}: {e}", tmp.join(file).display()))?;
    }
    match std::fs::rename(&tmp, &dir) {
        Ok(()) => Ok(dir),
        // Another process got there first.
        Err(_) if dir.join("model.safetensors").is_file() => {
            let _ = std::fs::remove_dir_all(&tmp);
            Ok(dir)
        }
        Err(e) => Err(format!("{}: {e}", dir.display()).into()),
    }
}

/// What `--model` names: a bundled model's name, or a checkpoint folder;
/// without it, the default bundled model.
pub fn resolve(model: Option<&str>) -> Res<PathBuf> {
    let name = model.unwrap_or(DEFAULT);
    if (model.is_none() || MODELS.iter().any(|(n, _)| *n == name)) && !Path::new(name).exists() {
        return extract(name);
    }
    let path = PathBuf::from(name);
    if !path.is_dir() {
        let names: Vec<&str> = MODELS.iter().map(|(n, _)| *n).collect();
        return Err(format!("--model {name}: not a folder, nor a bundled model ({})", names.join(", ")).into());
    }
    Ok(path)
}
