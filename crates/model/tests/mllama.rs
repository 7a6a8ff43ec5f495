//! Mllama (Llama 3.2 Vision) against transformers, stage by stage, on the
//! committed fixtures: 4 tiles with two cross-attention layers and llama3
//! RoPE; 2 tiles with one cross-attention layer first; 3 tiles, adjacent
//! cross-attention layers and two images in one prompt.

mod common;

use common::{assert_stage, fixture, images, test_device, Reference, MLLAMA};
use iris_model::image::RgbImage;
use iris_model::mllama::{RowMask, TileProcessor};
use iris_model::{KvCache, LoadOptions, Pipeline, Trace};
use iris_tensor::Tensor;

const TOL: f64 = 1e-4;

fn load(name: &str) -> Pipeline {
    let opts = LoadOptions { device: test_device(), ..Default::default() };
    Pipeline::load(fixture(name), opts).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn tiles(pipe: &Pipeline) -> &TileProcessor {
    &pipe.mllama().processor
}

fn image(name: &str, file: &str) -> RgbImage {
    RgbImage::open(&fixture(name).join(file)).unwrap()
}

fn assert_pixels(name: &str, pipe: &Pipeline, got: &Tensor, want: &Tensor) {
    assert_eq!(got.shape(), want.shape(), "{name}");
    let plane = got.shape()[2] * got.shape()[3];
    let (g, w) = (got.to_vec_f32().unwrap(), want.to_vec_f32().unwrap());
    let worst = g
        .iter()
        .zip(&w)
        .enumerate()
        .map(|(i, (a, b))| (a - b).abs() as f64 * 255.0 * tiles(pipe).std[(i / plane) % 3])
        .fold(0.0, f64::max);
    assert!(worst <= 1.0 + 1e-3, "{name}: pixels differ by {worst:.3} uint8 steps");
}

#[test]
fn tiling_matches_mllama_image_processor() {
    for name in MLLAMA {
        let (pipe, r) = (load(name), Reference::open(name));
        let t_max = pipe.mllama().cfg.vision.max_num_tiles;
        let (ids, masks) = (r.ids("aspect_ratio_ids"), r.ids("aspect_ratio_mask"));
        for (i, img) in images(name).iter().enumerate() {
            let t = tiles(&pipe).preprocess(img).unwrap();
            assert_eq!(t.aspect_ratio_id as u32, ids[i], "{name} image {i}: aspect ratio id");
            assert_pixels(
                name,
                &pipe,
                &t.pixels,
                &r.tensor("pixel_values").narrow(0, i, 1).unwrap().squeeze(0).unwrap(),
            );
            let used = masks[i * t_max..(i + 1) * t_max].iter().filter(|&&m| m == 1).count();
            assert_eq!(used, t.tiles, "{name} image {i}: used tiles");
        }
        assert!(tiles(&pipe).preprocess(&images(name)[0]).unwrap().tiles > 1, "{name}: needs several tiles");
        // An image far wider than any grid: downscaled onto the widest one, as the reference does.
        let t = tiles(&pipe).preprocess(&image(name, "extra.png")).unwrap();
        assert_eq!(t.aspect_ratio_id as u32, r.ids("extra_aspect_ratio_ids")[0], "{name} extra.png");
        assert_pixels(name, &pipe, &t.pixels, &r.tensor("extra_pixel_values"));
    }
}

#[test]
fn prompt_and_cross_attention_mask_match_the_processor() {
    for name in MLLAMA {
        let (pipe, r) = (load(name), Reference::open(name));
        let imgs = images(name);
        let ids = pipe.prompt_ids(r.meta_str("prompt"), imgs.len(), false).unwrap();
        assert_eq!(ids, r.ids("input_ids"), "{name}");
        let chat = pipe.prompt_ids(r.meta_str("chat_user_text"), 1, true).unwrap();
        assert_eq!(chat, pipe.prompt_ids(r.meta_str("chat_prompt"), 1, false).unwrap(), "{name}: chat");
        let used: Vec<usize> = imgs.iter().map(|i| tiles(&pipe).preprocess(i).unwrap().tiles).collect();
        let rows = pipe.mllama().mask_rows(&ids, &used);
        let got: Vec<u32> = rows.iter().flatten().map(|&b| b as u32).collect();
        assert_eq!(got, r.ids("cross_attention_mask"), "{name}: cross-attention mask");
        assert_eq!(pipe.prompt_ids(r.meta_str("text_only_prompt"), 0, false).unwrap(), r.ids("text_only_ids"));
    }
}

#[test]
fn every_stage_matches_transformers() {
    for name in MLLAMA {
        let (pipe, r) = (load(name), Reference::open(name));
        let m = pipe.mllama();
        let t_max = m.cfg.vision.max_num_tiles;
        let (mut states, mut used) = (Vec::new(), Vec::new());
        for (i, img) in images(name).iter().enumerate() {
            let mut t = tiles(&pipe).preprocess(img).unwrap();
            // Each stage is checked on the reference's own inputs.
            t.pixels = r.tensor("pixel_values").narrow(0, i, 1).unwrap().squeeze(0).unwrap();
            let mut trace = Trace::on();
            states.push(m.encode_image(&t, &mut trace).unwrap());
            used.push(t.tiles);
            let want = |s: &str| match s {
                "vision_output" => r.tensor(s).narrow(1, i, 1).unwrap(),
                "cross_states" => r.tensor(s).narrow(0, i * t_max, t_max).unwrap(),
                _ => r.tensor(s).narrow(0, i, 1).unwrap(),
            };
            for stage in ["vision_local", "vision_global", "vision_output", "cross_states"] {
                assert_stage(name, &format!("image {i} {stage}"), trace.get(stage).unwrap(), &want(stage), TOL);
            }
        }
        let states = Tensor::cat(&states.iter().collect::<Vec<_>>(), 0).unwrap();
        let ids = r.ids("input_ids");
        let rows = m.mask_rows(&ids, &used);
        let mask = RowMask::new(&rows, m.cfg.vision.tile_tokens(), states.dtype(), states.device()).unwrap();
        let kv = m.cross_states(&states).unwrap();
        let mut trace = Trace::on();
        let mut cache = KvCache::new(m.cfg.text.num_hidden_layers, ids.len());
        let h = m.forward(&m.embed(&ids).unwrap(), &mut cache, Some((&kv, &mask)), &mut trace).unwrap();
        for i in 0..m.cfg.text.num_hidden_layers {
            let s = format!("text_layer.{i}");
            assert_stage(name, &s, trace.get(&s).unwrap(), &r.tensor(&s), TOL);
        }
        assert_stage(name, "logits", &m.logits(&h).unwrap(), &r.tensor("logits"), TOL);
        // Without an image the cross-attention layers are skipped.
        let ids = r.ids("text_only_ids");
        let mut cache = KvCache::new(m.cfg.text.num_hidden_layers, ids.len());
        let h = m.forward(&m.embed(&ids).unwrap(), &mut cache, None, &mut Trace::off()).unwrap();
        assert_stage(name, "text-only logits", &m.logits(&h).unwrap(), &r.tensor("text_only_logits"), TOL);
    }
}

#[test]
fn greedy_generation_gives_the_reference_tokens_and_text() {
    common::check_greedy(&MLLAMA);
}

#[test]
fn every_generated_step_matches_transformers_teacher_forced() {
    common::check_steps(&MLLAMA, 1e-4);
}

#[test]
fn cached_decode_equals_full_recompute() {
    // The image keys/values projected once and the mask's last row repeated
    // give the logits of running the whole sequence again.
    let name = "mllama-4tile";
    let (pipe, r) = (load(name), Reference::open(name));
    let m = pipe.mllama();
    let t = tiles(&pipe).preprocess(&image(name, "image.png")).unwrap();
    let states = m.encode_image(&t, &mut Trace::off()).unwrap();
    let kv = m.cross_states(&states).unwrap();
    let p = r.ids("input_ids").len();
    let mut ids = r.ids("input_ids");
    ids.extend(r.ids("greedy_ids"));
    let rows = m.mask_rows(&ids, &[t.tiles]);
    let tt = m.cfg.vision.tile_tokens();
    let full = {
        let mask = RowMask::new(&rows, tt, states.dtype(), states.device()).unwrap();
        let mut cache = KvCache::new(m.cfg.text.num_hidden_layers, ids.len());
        m.logits(&m.forward(&m.embed(&ids).unwrap(), &mut cache, Some((&kv, &mask)), &mut Trace::off()).unwrap())
            .unwrap()
    };
    let mut cache = KvCache::new(m.cfg.text.num_hidden_layers, 4);
    let mask = RowMask::new(&rows[..p], tt, states.dtype(), states.device()).unwrap();
    let x = m.embed(&ids[..p]).unwrap();
    let mut out = vec![m.logits(&m.forward(&x, &mut cache, Some((&kv, &mask)), &mut Trace::off()).unwrap()).unwrap()];
    let last = RowMask::new(&rows[p - 1..p], tt, states.dtype(), states.device()).unwrap();
    for &id in &ids[p..] {
        let h = m.forward(&m.embed(&[id]).unwrap(), &mut cache, Some((&kv, &last)), &mut Trace::off()).unwrap();
        out.push(m.logits(&h).unwrap());
    }
    let stepped = Tensor::cat(&out.iter().collect::<Vec<_>>(), 0).unwrap();
    assert_stage(name, "cached vs full logits", &stepped, &full, 1e-5);
}

#[test]
fn half_precision_stays_close_to_the_f32_reference() {
    common::check_half_precision(&MLLAMA);
}
