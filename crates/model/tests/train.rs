//! Training equal to PyTorch: for LLaVA (Method A) and Mllama (Method B),
//! both stages, on the fixtures' weights and a two-example batch, the loss
//! and every trainable gradient of the first step, and every trainable
//! parameter after three AdamW steps with weight decay and clipping, against
//! transformers + torch (tools/fixtures/train_fixtures.py); frozen tensors
//! unchanged bit for bit; Mllama's text-only logits unchanged by stage 1.

mod common;

use std::collections::BTreeSet;

use common::{fixture, images};
use iris_kernels::testing::rel_err;
use iris_model::train::optim::{clip_coef, grad_norm, AdamW, AdamWConfig};
use iris_model::train::{batch_loss, set_trainable, stage_parameters, Example};
use iris_model::{LoadOptions, Parameters, Pipeline};
use iris_tensor::{Tensor, Weights, IGNORE};

struct Reference {
    w: Weights,
    bytes: Vec<u8>,
    meta: serde_json::Value,
}

impl Reference {
    fn open(name: &str) -> Reference {
        let dir = fixture(name);
        let meta = serde_json::from_str(&std::fs::read_to_string(dir.join("train_meta.json")).unwrap()).unwrap();
        let path = dir.join("train_reference.safetensors");
        Reference { w: Weights::open(&path).unwrap(), bytes: std::fs::read(&path).unwrap(), meta }
    }
    /// An I64 tensor of ids, −1 as IGNORE.
    fn ids(&self, key: &str) -> Vec<u32> {
        let st = safetensors::SafeTensors::deserialize(&self.bytes).unwrap();
        let v = st.tensor(key).unwrap();
        v.data()
            .chunks_exact(8)
            .map(|b| i64::from_le_bytes(b.try_into().unwrap()))
            .map(|x| if x < 0 { IGNORE } else { x as u32 })
            .collect()
    }
    fn tensor(&self, key: &str) -> Vec<f32> {
        self.w.get(key).unwrap_or_else(|e| panic!("{key}: {e}")).to_vec_f32().unwrap()
    }
    /// The names with a `{prefix}` entry.
    fn names(&self, prefix: &str) -> BTreeSet<String> {
        self.w.names().into_iter().filter_map(|n| n.strip_prefix(prefix).map(String::from)).collect()
    }
}

/// The batch as iris builds it from the examples' text: the prompt's ids as
/// generation makes them, the answer tokenized alone, then eos.
fn batch(pipe: &Pipeline, name: &str, r: &Reference) -> Vec<Example> {
    let imgs = images(name);
    let eos = pipe.eos_ids[0];
    let examples = r.meta["examples"].as_array().unwrap();
    examples
        .iter()
        .enumerate()
        .map(|(i, ex)| {
            let prompt = pipe.prompt_ids(ex["prompt"].as_str().unwrap(), 1, false).unwrap();
            let answer = pipe.prompter.encode(ex["answer"].as_str().unwrap(), false).unwrap();
            let e = Example::new(&prompt, &answer, eos, pipe.model.encode_images(&imgs[..1]).unwrap());
            assert_eq!(e.ids, r.ids(&format!("ids.{i}")), "{name}: example {i}'s tokens");
            assert_eq!(e.targets, r.ids(&format!("targets.{i}")), "{name}: example {i}'s targets");
            e
        })
        .collect()
}

fn text_only_logits(pipe: &Pipeline) -> Vec<f32> {
    let ids = pipe.prompt_ids("Describe a picture of a red square. Answer:", 0, false).unwrap();
    let _off = iris_tensor::no_grad();
    pipe.forced_logits("Describe a picture of a red square. Answer:", &[], false, &ids[..1])
        .unwrap()
        .to_vec_f32()
        .unwrap()
}

fn train_like_torch(name: &str, stage: u8) {
    let r = Reference::open(name);
    let mut pipe = Pipeline::load(fixture(name), LoadOptions::default()).unwrap();
    let before: Vec<(String, Tensor)> = pipe.model.named_parameters().into_iter().collect();
    let names = stage_parameters(&*pipe.model, stage).unwrap();
    assert_eq!(names, r.names(&format!("stage{stage}.grad.")), "{name} stage {stage}: what trains");
    let text_before = (name.starts_with("mllama") && stage == 1).then(|| text_only_logits(&pipe));
    set_trainable(pipe.model_mut(), &names);

    let hyper = &r.meta["hyper"];
    let f = |k: &str| hyper[k].as_f64().unwrap();
    let betas = hyper["betas"].as_array().unwrap();
    let cfg = AdamWConfig {
        beta1: betas[0].as_f64().unwrap(),
        beta2: betas[1].as_f64().unwrap(),
        eps: f("eps"),
        weight_decay: f("weight_decay"),
    };
    let mut opt = AdamW::new(cfg);
    for step in 0..hyper["steps"].as_u64().unwrap() {
        let loss = batch_loss(&*pipe.model, &batch(&pipe, name, &r)).unwrap();
        loss.backward().unwrap();
        if step == 0 {
            let (got, want) = (loss.to_vec::<f32>().unwrap()[0], r.tensor(&format!("stage{stage}.loss"))[0]);
            let e = ((got - want) / want).abs();
            assert!(e < 1e-5, "{name} stage {stage}: loss {got} vs torch {want} ({e:.1e})");
            eprintln!("{name} stage {stage}: loss {got} (torch {want}), {} trainable tensors", names.len());
            let params = pipe.model.named_parameters();
            let mut worst_grad = 0f64;
            for n in &names {
                let g = params[n].grad().unwrap_or_else(|| panic!("{name}: {n} got no gradient"));
                let e = rel_err(&g.to_vec_f32().unwrap(), &r.tensor(&format!("stage{stage}.grad.{n}")));
                assert!(e < 1e-4, "{name} stage {stage}: gradient of {n} off by {e:.1e}");
                worst_grad = worst_grad.max(e);
            }
            eprintln!("{name} stage {stage}: worst gradient error {worst_grad:.1e}");
        }
        let coef = clip_coef(grad_norm(&*pipe.model).unwrap(), f("grad_clip") as f32);
        opt.step(pipe.model_mut(), f("lr"), coef).unwrap();
    }
    let after = pipe.model.named_parameters();
    let mut worst_update = 0f64;
    for (n, old) in &before {
        let (old, new) = (old.to_vec_f32().unwrap(), after[n].to_vec_f32().unwrap());
        if names.contains(n) {
            let want = r.tensor(&format!("stage{stage}.after.{n}"));
            let du: Vec<f32> = new.iter().zip(&old).map(|(a, b)| a - b).collect();
            let dw: Vec<f32> = want.iter().zip(&old).map(|(a, b)| a - b).collect();
            let e = rel_err(&du, &dw);
            assert!(e < 1e-3, "{name} stage {stage}: the update of {n} off by {e:.1e}");
            worst_update = worst_update.max(e);
        } else {
            assert_eq!(new, old, "{name} stage {stage}: frozen {n} changed");
        }
    }
    eprintln!("{name} stage {stage}: worst update error over three steps {worst_update:.1e}");
    if let Some(text_before) = text_before {
        // Method B's known property: a frozen LLM keeps its text-only behaviour.
        assert_eq!(text_only_logits(&pipe), text_before, "{name}: stage 1 changed the text-only logits");
    }
}

#[test]
fn llava_stage_1_and_2_train_like_pytorch() {
    train_like_torch("llava-gqa", 1);
    train_like_torch("llava-gqa", 2);
}

#[test]
fn mllama_stage_1_and_2_train_like_pytorch() {
    train_like_torch("mllama-2tile", 1);
    train_like_torch("mllama-2tile", 2);
}

/// `--probe` reads each image's patch rows (`patch_grid`): after LLaVA's CLS
/// only when its select strategy keeps it, after the CLS of each Mllama tile;
/// the grid covers every remaining row.
#[test]
fn patch_grids_cover_the_patch_rows() {
    for name in ["llava-gqa", "llava-crop", "mllama-2tile"] {
        let pipe = Pipeline::load(fixture(name), LoadOptions::default()).unwrap();
        let enc = pipe.model.encode_images(&images(name)[..1]).unwrap();
        let rows = enc.splice.as_ref().or(enc.cross.as_ref()).unwrap().shape()[0];
        let g = pipe.model.patch_grid();
        let per_tile = rows / enc.tiles.iter().sum::<usize>().max(1);
        assert_eq!(per_tile, g.first + g.side * g.side, "{name}");
    }
}

/// Training's picture cache gives what a fresh decode gives, keeps a picture
/// once, and keeps none past its budget (`train/pixels.rs`).
#[test]
fn pixel_cache_gives_a_fresh_decode_within_its_budget() {
    use iris_model::image::RgbImage;
    use iris_model::train::pixels::PixelCache;
    let pipe = Pipeline::load(fixture("llava-gqa"), LoadOptions::default()).unwrap();
    let model = &*pipe.model;
    let paths = [fixture("llava-gqa").join("image.png"), fixture("mllama-2tile").join("image.png")];
    let fresh: Vec<Vec<f32>> = paths
        .iter()
        .map(|p| model.preprocess(&RgbImage::open(p).unwrap()).unwrap().pixels.to_vec::<f32>().unwrap())
        .collect();
    assert_ne!(fresh[0], fresh[1], "two different pictures");
    let one = fresh[0].len() * 4;
    for (budget, kept) in [(0, 0), (one, 1), (2 * one, 2)] {
        let cache = PixelCache::new(budget);
        for _ in 0..2 {
            for (p, want) in paths.iter().zip(&fresh) {
                assert_eq!(&cache.get(model, p).unwrap().pixels.to_vec::<f32>().unwrap(), want, "budget {budget}");
            }
        }
        assert_eq!(cache.held(), (kept, kept * one), "budget {budget}");
    }
}
