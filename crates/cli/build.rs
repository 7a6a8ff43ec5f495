//! `iris_bundled` is set when the trained tiny models are in `models/`
//! (scripts/train-tiny.sh writes them; the repository commits them): the
//! binary then carries them (src/bundled.rs).
use std::path::Path;

const FILES: [&str; 7] = [
    "config.json",
    "generation_config.json",
    "tokenizer.json",
    "tokenizer_config.json",
    "chat_template.jinja",
    "processor_config.json",
    "model.safetensors",
];

fn main() {
    println!("cargo::rustc-check-cfg=cfg(iris_bundled)");
    let models = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../models");
    let mut all = true;
    for name in ["tiny-llava", "tiny-mllama"] {
        for f in FILES {
            let p = models.join(name).join(f);
            println!("cargo::rerun-if-changed={}", p.display());
            all &= p.is_file();
        }
    }
    if all {
        println!("cargo::rustc-cfg=iris_bundled");
    }
}
