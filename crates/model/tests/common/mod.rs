//! Reading the transformers fixtures (tools/fixtures/make_fixtures.py).
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use iris_kernels::testing::rel_err;
use iris_tensor::{Tensor, Weights};

pub fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(name)
}

pub const LLAVA: [&str; 4] = ["llava-gqa", "llava-crop", "llava-hub", "llava-odd"];

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
