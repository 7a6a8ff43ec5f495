//! `iris data shapes`: a synthetic image–text dataset in `iris train`'s
//! JSONL format. Pictures of 1 to 3 coloured shapes on grey, questions about
//! them (scene.rs), drawn with varied rendering choices (draw.rs).
//!
//! Writes into `--out`:
//! - `train.jsonl`: three questions a training picture ("where" always when it applies);
//! - `train-extra.jsonl` (with `--extra`): the same with one more question of each `--extra`
//!   kind a picture, a mix for one family's lane (scripts/train-tiny.sh: Mllama's);
//! - `pretrain.jsonl`: one detailed caption a training picture (shapes, colours,
//!   quadrants) and its `labels` (scene::labels: what each cell of a `--grid`
//!   square grid shows, a shape in a colour or the background), for
//!   pre-training a vision encoder patch by patch (`iris train --probe`);
//! - `heldout.jsonl`: every question kind of held-out pictures drawn as training's;
//! - `heldout-shift.jsonl`: the same of pictures drawn with the image sizes,
//!   backgrounds and shape sizes training sees least (`--shifted`: a tenth of its pictures);
//! - `text.jsonl`, `text-heldout.jsonl`: the text-only corpus (captions, and
//!   chat questions answered from a description in the prompt);
//! - `images/<split>/NNNNNN.png|jpg`.
//!
//! Each line: `{"image", "question", "answer", "kind", "expect"}` (text
//! lines: `"prompt"` or `"question"`, and `"answer"`). Everything follows
//! from `--seed`: one picture's randomness is its own stream, so the output
//! does not depend on the thread count.

mod draw;
pub mod scene;

use std::io::Write;
use std::path::{Path, PathBuf};

use rayon::prelude::*;
use serde_json::json;

use scene::{ask, Rng, Scene, KINDS};

type Res<T> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

#[derive(clap::Args)]
pub struct ShapesArgs {
    /// The folder to write (created).
    #[arg(long)]
    out: PathBuf,
    /// Training pictures.
    #[arg(long, default_value_t = 6000)]
    n: usize,
    /// Pictures in each held-out split.
    #[arg(long, default_value_t = 200)]
    heldout: usize,
    /// Lines of text-only corpus (a tenth more are held out).
    #[arg(long, default_value_t = 20000)]
    text: usize,
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Side of the patch grid of pretrain.jsonl's labels: the model's image size over its patch
    /// size (64 / 16 for the bundled models).
    #[arg(long, default_value_t = 4)]
    grid: usize,
    /// Share of the training pictures drawn from the shifted ranges (the held-out splits are all
    /// usual or all shifted). A tenth made the bundled models; 0.3 (runs/tiny9) kept LLaVA's stage 2
    /// from learning which colour goes with which shape.
    #[arg(long, default_value_t = 0.1)]
    shifted: f32,
    /// Also write train-extra.jsonl: train.jsonl's lines with these question kinds asked once
    /// more of every training picture, after its usual ones (comma-separated; "where" only where
    /// it applies). train.jsonl and the other files stay as without it.
    #[arg(long, value_delimiter = ',', value_parser = clap::builder::PossibleValuesParser::new(KINDS))]
    extra: Vec<String>,
}

#[derive(clap::Subcommand)]
pub enum DataCommand {
    /// Pictures of coloured shapes with questions, and a text-only corpus.
    Shapes(ShapesArgs),
}

pub fn run(cmd: &DataCommand) -> Result<(), Box<dyn std::error::Error>> {
    match cmd {
        DataCommand::Shapes(a) => shapes(a).map_err(|e| e.to_string().into()),
    }
}

/// The stream of picture `i` of split `split`.
fn stream(seed: u64, split: u64, i: usize) -> Rng {
    Rng::new(seed ^ (split << 56) ^ (i as u64).wrapping_mul(0x9E37_79B9))
}

/// Draws picture `i` of a split and saves it; its scene and relative path.
fn picture(dir: &Path, split: &str, shifted_share: f32, mut rng: Rng, i: usize) -> Res<(Scene, String, Rng)> {
    let shifted = rng.chance(shifted_share);
    let scene = Scene::sample(&mut rng, shifted);
    let style = draw::Style::sample(&mut rng, shifted);
    let pixels = draw::render(&scene, &style, &mut rng);
    let jpeg = rng.chance(0.5);
    let rel = format!("images/{split}/{i:06}.{}", if jpeg { "jpg" } else { "png" });
    let img = image::RgbImage::from_raw(style.side as u32, style.side as u32, pixels).ok_or("bad buffer")?;
    let file = std::io::BufWriter::new(std::fs::File::create(dir.join(&rel))?);
    if jpeg {
        let q = 75 + rng.below(21) as u8;
        img.write_with_encoder(image::codecs::jpeg::JpegEncoder::new_with_quality(file, q))?;
    } else {
        img.write_with_encoder(image::codecs::png::PngEncoder::new(file))?;
    }
    Ok((scene, rel, rng))
}

fn line(rel: &str, q: &scene::Question) -> String {
    json!({"image": rel, "question": q.text, "answer": q.answer, "kind": q.kind, "expect": q.expect}).to_string()
}

fn write_lines<'a>(path: &Path, lines: impl IntoIterator<Item = &'a String>) -> Res<()> {
    let mut f = std::io::BufWriter::new(std::fs::File::create(path)?);
    for l in lines {
        writeln!(f, "{l}")?;
    }
    Ok(())
}

/// One text-only line: a caption alone, or a chat question answered from a
/// description given in the question.
fn text_line(rng: &mut Rng) -> String {
    let scene = Scene::sample(rng, false);
    if rng.chance(0.4) {
        let caption = if rng.chance(0.5) { scene.caption() } else { scene.detailed_caption() };
        return json!({"prompt": "", "answer": caption}).to_string();
    }
    let kinds: Vec<&'static str> = KINDS.iter().copied().filter(|k| *k != "where" || scene.in_quadrant).collect();
    let kind = kinds[rng.below(kinds.len())];
    let q = ask(rng, &scene, kind).expect("applicable kind");
    json!({"question": format!("{} . {}", scene.detailed_caption(), q.text), "answer": q.answer}).to_string()
}

fn shapes(a: &ShapesArgs) -> Res<()> {
    for split in ["train", "heldout", "heldout-shift"] {
        std::fs::create_dir_all(a.out.join("images").join(split))?;
    }
    if !(0.0..=1.0).contains(&a.shifted) {
        return Err(format!("--shifted {} is not a share between 0 and 1", a.shifted).into());
    }
    // clap let only KINDS through; their static names are what `ask` takes.
    let extra: Vec<&'static str> = a.extra.iter().filter_map(|k| KINDS.iter().copied().find(|c| c == k)).collect();
    // Training draws `--shifted` of its pictures from the shifted ranges; held-out splits are all one kind.
    let splits: [(&str, u64, usize, f32); 3] =
        [("train", 0, a.n, a.shifted), ("heldout", 1, a.heldout, 0.0), ("heldout-shift", 2, a.heldout, 1.0)];
    for (split, id, n, shifted) in splits {
        // Each picture: its lines (training's end with the colors line), its extra questions, its pretrain caption.
        let per: Vec<(Vec<String>, Vec<String>, String)> = (0..n)
            .into_par_iter()
            .map(|i| {
                let (scene, rel, mut rng) = picture(&a.out, split, shifted, stream(a.seed, id, i), i)?;
                let mut kinds: Vec<&'static str> =
                    KINDS.iter().copied().filter(|k| *k != "where" || scene.in_quadrant).collect();
                if split == "train" {
                    // "where" when it applies, then two or three others at random.
                    let lead = usize::from(scene.in_quadrant);
                    if lead == 1 {
                        kinds.retain(|k| *k != "where");
                    }
                    let chosen = rng.pick(kinds.len(), 3 - lead);
                    kinds = chosen.iter().map(|&j| kinds[j]).chain(scene.in_quadrant.then_some("where")).collect();
                }
                let mut ask_all = |kinds: &[&'static str]| -> Vec<String> {
                    kinds.iter().filter_map(|k| ask(&mut rng, &scene, k)).map(|q| line(&rel, &q)).collect()
                };
                let mut lines = ask_all(&kinds);
                // The extra questions draw after the usual ones, so train.jsonl is the same with or without.
                let mut more = Vec::new();
                if split == "train" {
                    let kinds: Vec<_> = extra.iter().copied().filter(|k| *k != "where" || scene.in_quadrant).collect();
                    more = ask_all(&kinds);
                    lines.push(line(&rel, &scene::colors(&scene)));
                }
                let caption = json!({"image": rel, "question": "Describe the image in detail.",
                    "answer": scene.detailed_caption(), "labels": scene::labels(&scene, a.grid)});
                Ok((lines, more, caption.to_string()))
            })
            .collect::<Res<_>>()?;
        let name = if split == "train" { "train.jsonl".to_string() } else { format!("{split}.jsonl") };
        write_lines(&a.out.join(name), per.iter().flat_map(|(l, _, _)| l))?;
        if split == "train" {
            write_lines(&a.out.join("pretrain.jsonl"), per.iter().map(|(_, _, c)| c))?;
            if !extra.is_empty() {
                // A picture's usual questions, its extra ones, then its colors line.
                let more = per.iter().flat_map(|(l, m, _)| {
                    let (colors, usual) = l.split_last().expect("a training picture ends with its colors line");
                    usual.iter().chain(m).chain([colors])
                });
                write_lines(&a.out.join("train-extra.jsonl"), more)?;
            }
        }
        eprintln!("{split}: {n} pictures");
    }
    let held = (a.text / 10).max(1);
    for (name, id, n) in [("text.jsonl", 3, a.text), ("text-heldout.jsonl", 4, held)] {
        let lines: Vec<String> = (0..n).map(|i| text_line(&mut stream(a.seed, id, i))).collect();
        write_lines(&a.out.join(name), &lines)?;
    }
    eprintln!("text: {} lines, {held} held out; written to {}", a.text, a.out.display());
    eprintln!(
        "pretrain.jsonl labels: {0}×{0} patches of {1} classes (iris train --probe {1})",
        a.grid,
        scene::LABEL_CLASSES
    );
    Ok(())
}
