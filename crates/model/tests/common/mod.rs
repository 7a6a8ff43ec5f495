//! Reading the transformers fixtures (tools/fixtures/make_fixtures.py).
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use iris_kernels::testing::rel_err;
use iris_tensor::{Tensor, Weights};

pub fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(name)
}

pub const LLAVA: [&str; 3] = ["llava-gqa", "llava-crop", "llava-hub"];

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

/// ‖got − want‖ / ‖want‖ over all elements, after checking the shapes agree.
pub fn stage_err(stage: &str, got: &Tensor, want: &Tensor) -> f64 {
    let got = if got.shape().len() == want.shape().len() + 1 && got.shape()[0] == 1 {
        got.squeeze(0).unwrap()
    } else {
        got.clone()
    };
    assert_eq!(got.shape(), want.shape(), "{stage}: shapes differ");
    rel_err(&got.to_vec_f32().unwrap(), &want.to_vec_f32().unwrap())
}

pub fn assert_stage(fixture: &str, stage: &str, got: &Tensor, want: &Tensor, tol: f64) {
    let e = stage_err(stage, got, want);
    eprintln!("{fixture} {stage}: {e:.2e}");
    assert!(e <= tol, "{fixture} {stage}: relative error {e:.3e} > {tol:.0e}");
}
