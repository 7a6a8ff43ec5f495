//! Reading the transformers fixtures (tools/fixtures/make_fixtures.py).
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use iris_kernels::testing::rel_err;
use iris_tensor::{Tensor, Weights};

/// A fixture's folder: under `IRIS_FIXTURES` when set (a test binary run on
/// another machine, as the GPU check does), else in this crate.
pub fn fixture(name: &str) -> PathBuf {
    match std::env::var_os("IRIS_FIXTURES") {
        Some(dir) => PathBuf::from(dir).join(name),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(name),
    }
}

/// The device the stage tests load the fixtures onto: `IRIS_TEST_DEVICE`
/// (cpu, cuda, cuda:N, wgpu; the GPU check runs them on cuda), else the CPU.
pub fn test_device() -> iris_tensor::Device {
    use iris_tensor::Device;
    match std::env::var("IRIS_TEST_DEVICE").as_deref() {
        Err(_) | Ok("cpu") => Device::Cpu,
        Ok("wgpu") => Device::Wgpu,
        Ok("cuda") => Device::Cuda(0),
        Ok(s) => Device::Cuda(
            s.strip_prefix("cuda:").and_then(|n| n.parse().ok()).unwrap_or_else(|| panic!("IRIS_TEST_DEVICE={s}")),
        ),
    }
}

pub const LLAVA: [&str; 6] = ["llava-gqa", "llava-crop", "llava-hub", "llava-odd", "llava-bf16-d64", "llava-f16-d128"];
pub const MLLAMA: [&str; 4] = ["mllama-4tile", "mllama-2tile", "mllama-odd", "mllama-bf16-d64"];

/// The fixture's input images: image.png, image2.png, ...
pub fn images(name: &str) -> Vec<iris_model::image::RgbImage> {
    let dir = fixture(name);
    (1..)
        .map(|i| dir.join(if i == 1 { "image.png".to_string() } else { format!("image{i}.png") }))
        .take_while(|p| p.is_file())
        .map(|p| iris_model::image::RgbImage::open(&p).unwrap())
        .collect()
}

pub struct Reference {
    pub weights: Weights,
    pub meta: serde_json::Value,
    bytes: Vec<u8>,
}

impl Reference {
    pub fn open(name: &str) -> Reference {
        let dir = fixture(name);
        let path = dir.join("reference.safetensors");
        let meta = serde_json::from_str(&std::fs::read_to_string(dir.join("meta.json")).unwrap()).unwrap();
        Reference { weights: Weights::open(&path).unwrap(), meta, bytes: std::fs::read(&path).unwrap() }
    }

    pub fn tensor(&self, name: &str) -> Tensor {
        self.weights.get(name).unwrap_or_else(|e| panic!("reference {name}: {e}"))
    }

    pub fn has(&self, name: &str) -> bool {
        self.weights.contains(name)
    }

    /// An I64 tensor (token ids) as u32.
    pub fn ids(&self, name: &str) -> Vec<u32> {
        let st = safetensors::SafeTensors::deserialize(&self.bytes).unwrap();
        let view = st.tensor(name).unwrap();
        assert_eq!(view.dtype(), safetensors::Dtype::I64);
        view.data().chunks_exact(8).map(|b| i64::from_le_bytes(b.try_into().unwrap()) as u32).collect()
    }

    pub fn meta_str(&self, key: &str) -> &str {
        self.meta[key].as_str().unwrap()
    }
}

fn squeezed(t: &Tensor) -> Vec<usize> {
    t.shape().iter().copied().skip_while(|&d| d == 1).collect()
}

/// ‖got − want‖ / ‖want‖ over all elements, after checking the shapes agree
/// (leading 1s aside).
pub fn stage_err(stage: &str, got: &Tensor, want: &Tensor) -> f64 {
    assert_eq!(squeezed(got), squeezed(want), "{stage}: shapes differ");
    rel_err(&got.to_vec_f32().unwrap(), &want.to_vec_f32().unwrap())
}

pub fn assert_stage(fixture: &str, stage: &str, got: &Tensor, want: &Tensor, tol: f64) {
    let e = stage_err(stage, got, want);
    assert!(e <= tol, "{fixture} {stage}: relative error {e:.3e} > {tol:.0e}");
}

/// The fixture's prompt and images through `Pipeline::generate`, greedy, for
/// `n` tokens, with the prompt's logits.
pub fn generate_greedy(
    pipe: &iris_model::Pipeline,
    name: &str,
    r: &Reference,
    n: usize,
) -> (iris_model::Output, String) {
    let imgs = images(name);
    let req = iris_model::Request {
        prompt: r.meta_str("prompt"),
        images: &imgs,
        chat: false,
        max_new_tokens: n,
        sampling: iris_model::SamplingOptions::default(),
        prompt_logits: true,
    };
    let mut streamed = String::new();
    let out = pipe.generate(&req, &mut |s| streamed.push_str(s)).unwrap_or_else(|e| panic!("{name}: {e}"));
    (out, streamed)
}

/// Greedy ids and text equal to the reference, and its prompt logits within 1e-4.
pub fn check_greedy(fixtures: &[&str]) {
    check_greedy_on(fixtures, test_device(), 1e-4);
}

/// The same on `device`, with the prompt logits within `tol`.
pub fn check_greedy_on(fixtures: &[&str], device: iris_tensor::Device, tol: f64) {
    for &name in fixtures {
        let r = Reference::open(name);
        let opts = iris_model::LoadOptions { device, ..Default::default() };
        let pipe =
            iris_model::Pipeline::load(fixture(name), opts).unwrap_or_else(|e| panic!("{name} on {device}: {e}"));
        let want = r.ids("greedy_ids");
        let (out, streamed) = generate_greedy(&pipe, name, &r, want.len());
        assert_eq!(out.ids, want, "{name}: greedy ids");
        assert_eq!(out.text, r.meta_str("greedy_text"), "{name}: greedy text");
        assert_eq!(streamed, out.text, "{name}: the streamed pieces add up to the text");
        assert_stage(name, "prompt logits", out.prompt_logits.as_ref().unwrap(), &r.tensor("logits"), tol);
    }
}

/// bf16 keeps 8 mantissa bits, f16 11: through a few layers the logits
/// drift by about 2^-8 and 2^-11 of their size. A fixture stored in 16 bits
/// carries transformers' own error in its dtype (`torch_half_logits_err`):
/// iris in that dtype must come within 1.5× of it, the ratio printed.
pub fn check_half_precision(fixtures: &[&str]) {
    for (dtype, tol) in [(iris_tensor::DType::BF16, 4e-2), (iris_tensor::DType::F16, 5e-3)] {
        for &name in fixtures {
            let r = Reference::open(name);
            let opts = iris_model::LoadOptions { dtype, device: test_device() };
            let pipe = iris_model::Pipeline::load(fixture(name), opts).unwrap();
            let (out, _) = generate_greedy(&pipe, name, &r, 1);
            let e = stage_err("logits", out.prompt_logits.as_ref().unwrap(), &r.tensor("logits"));
            assert!(e <= tol, "{name} {dtype}: logits relative error {e:.2e} > {tol:.0e}");
            // The decode steps in 16 bits too (split-key decode on a GPU past 256 keys).
            let forced = r.ids("greedy_ids");
            let steps = pipe.forced_logits(r.meta_str("prompt"), &images(name), false, &forced).unwrap();
            let es = stage_err("step logits", &steps, &r.tensor("step_logits"));
            assert!(es <= tol, "{name} {dtype}: teacher-forced step logits relative error {es:.2e} > {tol:.0e}");
            let stored = r.meta["dtype"]
                .as_str()
                .map(|d| d == if dtype == iris_tensor::DType::BF16 { "bfloat16" } else { "float16" });
            if let (Some(true), Some(torch)) = (stored, r.meta["torch_half_logits_err"].as_f64()) {
                eprintln!("{name} {dtype}: iris {e:.3e}, transformers {torch:.3e}, ratio {:.2}", e / torch);
                // No worse than transformers' own 16-bit run of the same checkpoint (measured
                // 0.84-0.85x in bf16 with the pair GEMM and attention, 0.78x in f16).
                assert!(e <= torch, "{name} {dtype}: iris {e:.3e} against transformers' own {torch:.3e}");
            }
        }
    }
}

/// Every generated step's logits, teacher-forced through the KV cache, and
/// the prompt logits, against transformers (`step_logits`, `logits`) within
/// `tol`, on the test device (`check_steps_on`: on `device`).
pub fn check_steps(fixtures: &[&str], tol: f64) {
    check_steps_on(fixtures, test_device(), tol);
}

pub fn check_steps_on(fixtures: &[&str], device: iris_tensor::Device, tol: f64) {
    for &name in fixtures {
        let r = Reference::open(name);
        let opts = iris_model::LoadOptions { device, ..Default::default() };
        let pipe = iris_model::Pipeline::load(fixture(name), opts).unwrap();
        let forced = r.ids("greedy_ids");
        let got = pipe.forced_logits(r.meta_str("prompt"), &images(name), false, &forced).unwrap();
        assert_stage(name, "teacher-forced step logits", &got, &r.tensor("step_logits"), tol);
    }
}
