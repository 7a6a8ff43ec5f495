//! The model interface over both families: batched generation equals one
//! request at a time, and parameters are named and writable.

mod common;

use common::{fixture, images, test_device, Reference};
use iris_kernels::testing::rel_err;
use iris_model::{LoadOptions, Parameters, Pipeline, Request, SamplingOptions};
use iris_tensor::{Tensor, Weights};

fn load(name: &str) -> Pipeline {
    let opts = LoadOptions { device: test_device(), ..Default::default() };
    Pipeline::load(fixture(name), opts).unwrap_or_else(|e| panic!("{name}: {e}"))
}

/// Three different requests: the fixture's prompt with its images, a
/// text-only prompt, and a chat with one image; different lengths and token
/// budgets, so sequences leave the batch at different steps.
fn requests<'a>(r: &'a Reference, imgs: &'a [iris_model::image::RgbImage], text_only: &'a str) -> Vec<Request<'a>> {
    let req = |prompt, images, chat, n| Request {
        prompt,
        images,
        chat,
        max_new_tokens: n,
        sampling: SamplingOptions::default(),
        prompt_logits: false,
    };
    vec![
        req(r.meta_str("prompt"), imgs, false, 7),
        req(text_only, &[], false, 3),
        req(r.meta_str("chat_user_text"), &imgs[..1], true, 5),
    ]
}

#[test]
fn batched_greedy_generation_equals_single_runs() {
    for (name, text_only) in [("llava-gqa", "USER: Say something. ASSISTANT:"), ("mllama-2tile", "")] {
        let (pipe, r) = (load(name), Reference::open(name));
        let imgs = images(name);
        let text_only = if text_only.is_empty() { r.meta_str("text_only_prompt") } else { text_only };
        let reqs = requests(&r, &imgs, text_only);
        let mut streamed = vec![String::new(); reqs.len()];
        let batched = pipe.generate_batch(&reqs, &mut |i, s| streamed[i].push_str(s)).unwrap();
        for (i, req) in reqs.iter().enumerate() {
            let single = pipe.generate(req, &mut |_| {}).unwrap();
            assert_eq!(batched[i].ids, single.ids, "{name} request {i}: batched ids");
            assert_eq!(batched[i].text, single.text, "{name} request {i}: batched text");
            assert_eq!(streamed[i], single.text, "{name} request {i}: streamed text");
            assert!(!single.ids.is_empty(), "{name} request {i}: generated nothing");
        }
        // The batch mixes image and text-only sequences and lengths.
        let lens: Vec<usize> = batched.iter().map(|o| o.prompt_ids.len()).collect();
        assert!(lens[0] != lens[1] && lens[1] != lens[2], "{name}: prompt lengths {lens:?}");
        assert_eq!(batched[1].ids.len(), 3, "{name}: the short request stops at its budget");
    }
}

#[test]
fn parameters_are_named_as_in_the_checkpoint_and_writable() {
    for name in ["llava-gqa", "mllama-2tile"] {
        let mut pipe = load(name);
        let r = Reference::open(name);
        let ckpt = Weights::open(fixture(name)).unwrap();
        let params = pipe.model.named_parameters();
        assert!(params.len() > 20, "{name}: {} parameters", params.len());
        for (n, t) in &params {
            assert!(ckpt.contains(n), "{name}: `{n}` is not a checkpoint name");
            let want = ckpt.get(n).unwrap();
            assert_eq!(t.shape(), want.shape(), "{name} {n}");
            assert_eq!(t.to_vec_f32().unwrap(), want.to_vec_f32().unwrap(), "{name} {n}: value");
        }
        let logits = |pipe: &Pipeline| {
            let forced = &r.ids("greedy_ids")[..2];
            pipe.forced_logits(r.meta_str("prompt"), &images(name), false, forced).unwrap().to_vec_f32().unwrap()
        };
        let before = logits(&pipe);
        // Mutable access unpacks packed weights and refreshes gates: a pass that changes
        // nothing leaves the logits exactly as they were.
        // (A weight packed at load runs through the plain GEMM afterwards: same values, the
        // sums in another order.)
        pipe.model_mut().visit_mut(&mut |_, _| {});
        let e = rel_err(&logits(&pipe), &before);
        assert!(e < 1e-6, "{name}: a no-op update changed the logits by {e:.2e}");
        let before = logits(&pipe);
        // Writing one parameter by name changes the output; writing it back restores it.
        let norm = params.keys().find(|n| n.ends_with("model.norm.weight")).expect("a final norm").clone();
        let old = params[&norm].clone();
        pipe.model_mut().set_parameter(&norm, &old.scale(2.0).unwrap()).unwrap();
        let e = rel_err(&logits(&pipe), &before);
        assert!(e > 1e-2, "{name}: setting {norm} changed the logits by only {e:.2e}");
        pipe.model_mut().set_parameter(&norm, &old).unwrap();
        assert_eq!(logits(&pipe), before, "{name}: restoring {norm}");
        // Unknown names and wrong shapes are errors.
        assert!(pipe.model_mut().set_parameter("no.such.weight", &old).is_err());
        assert!(pipe.model_mut().set_parameter(&norm, &Tensor::zeros(&[3], old.dtype())).is_err());
    }
}

#[test]
fn images_encoded_together_equal_images_encoded_alone() {
    for name in ["llava-gqa", "llava-odd", "mllama-2tile"] {
        let pipe = load(name);
        let img = images(name).remove(0);
        let (w, h) = (img.width, img.height);
        // Another size, the transposed shape, and one of the same size (the same tile grid, so
        // Mllama batches it with the first).
        let mut inverted = img.clone();
        inverted.data.iter_mut().for_each(|v| *v = 255 - *v);
        let others = [
            img.resize(w / 2 + 3, h / 2 + 5, iris_model::image::Filter::Bilinear),
            img.resize(h, w, iris_model::image::Filter::Bilinear),
            inverted,
        ];
        let sets: Vec<&[iris_model::image::RgbImage]> = vec![std::slice::from_ref(&img), &others[..], &[]];
        let together = pipe.model.encode_image_sets(&sets).unwrap();
        for (set, got) in sets.iter().zip(&together) {
            let alone = pipe.model.encode_images(set).unwrap();
            assert_eq!(got.tiles, alone.tiles, "{name}");
            for (g, a) in [(&got.splice, &alone.splice), (&got.cross, &alone.cross)] {
                match (g, a) {
                    (Some(g), Some(a)) => {
                        assert_eq!(g.shape(), a.shape(), "{name}");
                        let e = rel_err(&g.to_vec_f32().unwrap(), &a.to_vec_f32().unwrap());
                        assert!(e <= 1e-6, "{name}: features encoded together differ by {e:.2e}");
                    }
                    (None, None) => {}
                    _ => panic!("{name}: one has features, the other not"),
                }
            }
        }
    }
}
