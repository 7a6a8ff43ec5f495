//! Embedding iris: load a LLaVA checkpoint, stream a greedy answer about an
//! image, then look at the logits of the prompt's last position.
//!
//! cargo run --release -p iris-model --example caption -- MODEL_DIR IMAGE "USER: <image>\nWhat is this? ASSISTANT:"

use std::io::Write;

use iris_model::image::RgbImage;
use iris_model::{LoadOptions, Pipeline, Request, SamplingOptions};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [model, image, prompt] = args.as_slice() else {
        return Err("usage: caption MODEL_DIR IMAGE PROMPT".into());
    };
    let pipe = Pipeline::load(model, LoadOptions::default())?;
    let image = RgbImage::open(image.as_ref())?;
    let req = Request {
        prompt,
        images: std::slice::from_ref(&image),
        chat: false,
        max_new_tokens: 32,
        sampling: SamplingOptions::default(),
        prompt_logits: true,
    };
    let out = pipe.generate(&req, &mut |piece| {
        print!("{piece}");
        let _ = std::io::stdout().flush();
    })?;
    println!();
    let logits = out.prompt_logits.expect("asked for").to_vec::<f32>()?;
    let vocab = logits.len() / out.prompt_ids.len();
    let last = &logits[logits.len() - vocab..];
    let best = iris_model::sampling::argmax(last);
    eprintln!(
        "{} prompt tokens; most likely first token {best} ({:?}); {} new tokens at {:.1} tok/s",
        out.prompt_ids.len(),
        pipe.prompter.decode(&[best])?,
        out.ids.len(),
        out.stats.decode_tokens as f64 / out.stats.decode_s.max(1e-9),
    );
    Ok(())
}
