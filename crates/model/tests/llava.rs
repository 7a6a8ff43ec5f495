//! LLaVA against transformers, stage by stage, on the committed fixtures
//! (three configs: GQA; non-square image with resize + crop, two feature
//! layers and the `full` strategy; the hub's weight names).

mod common;

use common::{assert_stage, fixture, images, test_device, Reference, LLAVA};
use iris_model::{KvCache, LoadOptions, Pipeline, Trace};
use iris_tensor::Tensor;

const TOL: f64 = 1e-4;

fn clip(pipe: &Pipeline) -> &iris_model::image::ClipProcessor {
    &pipe.llava().processor
}

fn load(name: &str) -> Pipeline {
    let opts = LoadOptions { device: test_device(), ..Default::default() };
    Pipeline::load(fixture(name), opts).unwrap_or_else(|e| panic!("{name}: {e}"))
}

#[test]
fn preprocessing_matches_clip_image_processor() {
    for name in LLAVA {
        let (pipe, r) = (load(name), Reference::open(name));
        let px: Vec<Tensor> = images(name).iter().map(|i| clip(&pipe).preprocess(i).unwrap()).collect();
        let got = Tensor::cat(&px.iter().collect::<Vec<_>>(), 0).unwrap();
        let want = r.tensor("pixel_values");
        assert_eq!(got.shape(), want.shape(), "{name}");
        let (g, w) = (got.to_vec_f32().unwrap(), want.to_vec_f32().unwrap());
        let plane = g.len() / 3;
        let mut worst = 0f64;
        for (i, (a, b)) in g.iter().zip(&w).enumerate() {
            // One uint8 step in normalised units for this channel.
            let step = 1.0 / 255.0 / clip(&pipe).std[i / plane];
            worst = worst.max((a - b).abs() as f64 / step);
        }
        assert!(worst <= 1.0 + 1e-3, "{name}: pixels differ by {worst:.3} uint8 steps");
        eprintln!("{name}: pixels within {worst:.2e} uint8 steps");
    }
}

#[test]
fn prompt_ids_match_the_processor() {
    for name in LLAVA {
        let (pipe, r) = (load(name), Reference::open(name));
        let n = images(name).len();
        let ids = pipe.prompt_ids(r.meta_str("prompt"), n, false).unwrap();
        assert_eq!(ids, r.ids("input_ids"), "{name}");
        // --chat renders the checkpoint's template as the processor does.
        let chat_ids = pipe.prompt_ids(r.meta_str("chat_user_text"), 1, true).unwrap();
        let want = pipe.prompt_ids(r.meta_str("chat_prompt"), 1, false).unwrap();
        assert_eq!(chat_ids, want, "{name}: chat template");
    }
}

#[test]
fn every_stage_matches_transformers() {
    for name in LLAVA {
        let (pipe, r) = (load(name), Reference::open(name));
        let m = pipe.llava();
        // The reference pixels go in, so each stage is checked on its own.
        let pixels = r.tensor("pixel_values");
        let mut projected = Vec::new();
        for i in 0..pixels.shape()[0] {
            let mut trace = Trace::on();
            projected.push(m.encode_image(&pixels.narrow(0, i, 1).unwrap(), &mut trace).unwrap());
            let mut checked = 0;
            for stage in trace.names().map(String::from).collect::<Vec<_>>() {
                let want = r.tensor(&stage).narrow(0, i, 1).unwrap();
                assert_stage(name, &format!("image {i} {stage}"), trace.get(&stage).unwrap(), &want, TOL);
                checked += 1;
            }
            assert!(checked >= 4, "{name}: only {checked} vision stages recorded");
        }
        let ids = r.ids("input_ids");
        let mut trace = Trace::on();
        let x = m.embed(&ids, &projected, &mut trace).unwrap();
        let mut cache = KvCache::new(m.text.cfg.num_hidden_layers, ids.len());
        let h = m.forward(&x, &mut cache, &mut trace).unwrap();
        assert_stage(name, "text_embed", trace.get("text_embed").unwrap(), &r.tensor("text_embed"), TOL);
        for i in 0..m.text.cfg.num_hidden_layers {
            let s = format!("text_layer.{i}");
            assert_stage(name, &s, trace.get(&s).unwrap(), &r.tensor(&s), TOL);
        }
        assert_stage(name, "logits", &m.text.logits(&h).unwrap(), &r.tensor("logits"), TOL);
    }
}

#[test]
fn greedy_generation_gives_the_reference_tokens_and_text() {
    common::check_greedy(&LLAVA);
}

#[test]
fn every_generated_step_matches_transformers_teacher_forced() {
    common::check_steps(&LLAVA, 1e-4);
}

#[test]
fn cached_decode_equals_full_recompute() {
    let name = "llava-gqa";
    let (pipe, r) = (load(name), Reference::open(name));
    let m = pipe.llava();
    let projected = m.encode_image(&r.tensor("pixel_values"), &mut Trace::off()).unwrap();
    let mut ids = r.ids("input_ids");
    ids.extend(r.ids("greedy_ids"));
    let x = m.embed(&ids, &[projected], &mut Trace::off()).unwrap();
    let full = {
        let mut cache = KvCache::new(m.text.cfg.num_hidden_layers, ids.len());
        m.text.logits(&m.forward(&x, &mut cache, &mut Trace::off()).unwrap()).unwrap()
    };
    // Prompt in one step, then one token per step, through a cache that starts
    // too small (so it also grows mid-way).
    let p = r.ids("input_ids").len();
    let mut cache = KvCache::new(m.text.cfg.num_hidden_layers, p / 2);
    let mut rows =
        vec![m.text.logits(&m.forward(&x.narrow(0, 0, p).unwrap(), &mut cache, &mut Trace::off()).unwrap()).unwrap()];
    for i in p..ids.len() {
        let h = m.forward(&x.narrow(0, i, 1).unwrap(), &mut cache, &mut Trace::off()).unwrap();
        rows.push(m.text.logits(&h).unwrap());
    }
    let stepped = Tensor::cat(&rows.iter().collect::<Vec<_>>(), 0).unwrap();
    assert_stage(name, "cached vs full logits", &stepped, &full, 1e-5);
}

#[test]
fn half_precision_stays_close_to_the_f32_reference() {
    common::check_half_precision(&LLAVA);
}
