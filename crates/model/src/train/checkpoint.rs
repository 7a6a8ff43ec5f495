//! What a run writes to `--out`: a complete checkpoint folder (the source
//! folder's config, tokenizer, processor and template files, and
//! `model.safetensors` holding every tensor of the source checkpoint under
//! its name: trained ones updated in their stored dtype, the others
//! bit-identical), and the state a resumed run continues from bit for bit
//! (`train_state.json`: step and data position; `train_state.safetensors`:
//! the trained parameters in f32 and AdamW's moments).

use std::collections::BTreeMap;
use std::path::Path;

use half::{bf16, f16};
use safetensors::tensor::{Dtype, TensorView};
use serde_json::{json, Value};

use super::optim::Moments;
use super::trainer::Trainer;
use crate::error::{Error, Result};
use iris_tensor::{Tensor, Weights};

fn io(path: &Path) -> impl Fn(std::io::Error) -> Error + '_ {
    move |e| Error::File { path: path.into(), msg: e.to_string() }
}

/// f32 values as the bytes of `dtype`.
fn encode(values: &[f32], dtype: Dtype) -> Result<Vec<u8>> {
    Ok(match dtype {
        Dtype::F32 => values.iter().flat_map(|v| v.to_le_bytes()).collect(),
        Dtype::BF16 => values.iter().flat_map(|v| bf16::from_f32(*v).to_le_bytes()).collect(),
        Dtype::F16 => values.iter().flat_map(|v| f16::from_f32(*v).to_le_bytes()).collect(),
        d => return Err(Error::Unsupported(format!("a trained tensor stored as {d:?}"))),
    })
}

fn f32_bytes(t: &Tensor) -> Result<Vec<u8>> {
    encode(&t.to_vec_f32()?, Dtype::F32)
}

/// Writes `tensors` (name, dtype, shape, bytes) as one safetensors file.
fn write(path: &Path, tensors: &[(String, Dtype, Vec<usize>, Vec<u8>)]) -> Result<()> {
    let mut views = Vec::with_capacity(tensors.len());
    for (n, d, s, b) in tensors {
        let v = TensorView::new(*d, s.clone(), b).map_err(|e| Error::File { path: path.into(), msg: e.to_string() })?;
        views.push((n.as_str(), v));
    }
    safetensors::serialize_to_file(views, None, path).map_err(|e| Error::File { path: path.into(), msg: e.to_string() })
}

impl Trainer {
    /// Writes the checkpoint folder and the resume state into `out`.
    pub fn save(&self, out: &Path) -> Result<()> {
        let src = self.pipe.dir.clone();
        std::fs::create_dir_all(out).map_err(io(out))?;
        // Every file but the weights and an old run's state, as the source has it.
        for entry in std::fs::read_dir(&src).map_err(io(&src))? {
            let p = entry.map_err(io(&src))?.path();
            let name = p.file_name().and_then(|n| n.to_str()).unwrap_or_default().to_string();
            // Not the source run's own log either: this run's log.jsonl is beside it.
            let skip =
                name.contains(".safetensors") || name.starts_with("train_state") || name == "log.jsonl" || !p.is_file();
            if !skip {
                std::fs::copy(&p, out.join(&name)).map_err(io(&p))?;
            }
        }
        let source = Weights::open(&src)?;
        let params = self.pipe.model.named_parameters();
        let mut tensors = Vec::new();
        for name in source.names() {
            let (dtype, shape, bytes) = source.raw(name)?;
            let bytes = match (self.names.contains(name), params.get(name)) {
                (true, Some(t)) => encode(&t.to_vec_f32()?, dtype)?,
                _ => bytes.to_vec(),
            };
            tensors.push((name.to_string(), dtype, shape, bytes));
        }
        write(&out.join("model.safetensors"), &tensors)?;

        // Each trained tensor's value and moments; a probe's head (not a model tensor) lives only here.
        let mut state = Vec::new();
        let mut push = |n: &str, t: &Tensor| -> Result<()> {
            state.push((format!("param.{n}"), Dtype::F32, t.shape().to_vec(), f32_bytes(t)?));
            if let Some(m) = self.opt.state.get(n) {
                state.push((format!("m.{n}"), Dtype::F32, t.shape().to_vec(), encode(&m.m, Dtype::F32)?));
                state.push((format!("v.{n}"), Dtype::F32, t.shape().to_vec(), encode(&m.v, Dtype::F32)?));
            }
            Ok(())
        };
        for n in &self.names {
            let t = params.get(n).ok_or_else(|| Error::Weight { name: n.clone(), msg: "not a parameter".into() })?;
            push(n, t)?;
        }
        if let Some(p) = &self.probe {
            push(&p.head.name, &p.head.value)?;
        }
        write(&out.join("train_state.safetensors"), &state)?;
        let meta = json!({"step": self.step, "adam_step": self.opt.step, "epoch": self.epoch, "cursor": self.cursor,
            "seed": self.cfg.seed, "examples": self.data.len(), "trained": self.names});
        let path = out.join("train_state.json");
        std::fs::write(&path, format!("{meta:#}\n")).map_err(io(&path))
    }

    /// Continues the run saved in `dir`: its trained parameters, AdamW's
    /// moments and step, and the data position (the same data and seed).
    pub fn resume(&mut self, dir: &Path) -> Result<()> {
        let path = dir.join("train_state.json");
        let text = std::fs::read_to_string(&path).map_err(io(&path))?;
        let meta: Value =
            serde_json::from_str(&text).map_err(|e| Error::File { path: path.clone(), msg: e.to_string() })?;
        let num =
            |k: &str| meta[k].as_u64().ok_or_else(|| Error::File { path: path.clone(), msg: format!("no `{k}`") });
        if num("seed")? != self.cfg.seed || num("examples")? as usize != self.data.len() {
            return Err(Error::File {
                path: path.clone(),
                msg: "saved with another seed or dataset: resuming would not continue that run".into(),
            });
        }
        let trained: Vec<String> =
            meta["trained"].as_array().into_iter().flatten().filter_map(|v| v.as_str().map(String::from)).collect();
        if trained.iter().cloned().collect::<std::collections::BTreeSet<_>>() != self.names {
            return Err(Error::File { path: path.clone(), msg: "saved training other parameters".into() });
        }
        let state = Weights::open(dir.join("train_state.safetensors"))?;
        let mut moments = BTreeMap::new();
        let mut load = |n: &str| -> Result<Tensor> {
            if state.contains(&format!("m.{n}")) {
                let m = state.get(&format!("m.{n}"))?.to_vec::<f32>()?;
                let v = state.get(&format!("v.{n}"))?.to_vec::<f32>()?;
                moments.insert(n.to_string(), Moments { m, v });
            }
            Ok(state.get(&format!("param.{n}"))?)
        };
        for n in &self.names {
            self.pipe.model_mut().set_parameter(n, &load(n)?)?;
        }
        // set_parameter keeps the values; make them trainable leaves again.
        super::set_trainable(self.pipe.model_mut(), &self.names);
        if let Some(p) = self.probe.as_mut() {
            if !state.contains(&format!("param.{}", p.head.name)) {
                return Err(Error::File { path: path.clone(), msg: "saved without --probe".into() });
            }
            let h = load(&p.head.name)?;
            if h.shape() != p.head.value.shape() {
                return Err(Error::File { path: path.clone(), msg: "saved with another --probe head".into() });
            }
            p.head.value = Tensor::from_vec(h.to_vec::<f32>()?, h.shape())?.requires_grad();
        }
        self.opt.state = moments;
        self.opt.step = num("adam_step")?;
        self.step = num("step")?;
        self.seek(num("epoch")?, num("cursor")? as usize);
        Ok(())
    }
}
