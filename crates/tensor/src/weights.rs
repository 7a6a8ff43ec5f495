//! Checkpoint loading: safetensors files mapped with memmap2 and looked up by
//! name, one file or a sharded set through `model.safetensors.index.json`.
//! Header parsing and validation (size limit, JSON, offsets contiguous and
//! within the file) is the safetensors crate's; a tensor whose bytes are
//! aligned for its dtype is a zero-copy view of the map, others are copied.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use memmap2::Mmap;
use safetensors::tensor::{Dtype, TensorInfo};
use safetensors::SafeTensors;

use crate::error::{Error, Result};
use crate::{DType, Tensor};
use iris_kernels::Buffer;

struct File {
    path: PathBuf,
    map: Arc<Mmap>,
    /// Byte offset of the data section (8 + header length).
    data_start: usize,
    infos: HashMap<String, TensorInfo>,
}

pub struct Weights {
    /// What was opened: the file, index or directory, for error messages.
    source: PathBuf,
    files: Vec<File>,
    /// Tensor name → index into `files`.
    names: BTreeMap<String, usize>,
}

fn file_err(file: &Path, msg: impl Into<String>) -> Error {
    Error::File { file: file.to_path_buf(), msg: msg.into() }
}

impl File {
    fn open(path: &Path) -> Result<File> {
        let io = |source| Error::Io { file: path.to_path_buf(), source };
        let f = std::fs::File::open(path).map_err(io)?;
        // SAFETY: the map is read-only; a checkpoint changed on disk while
        // mapped is outside what we guard against (as for every mmap loader).
        let map = unsafe { Mmap::map(&f) }.map_err(io)?;
        let (header, meta) = SafeTensors::read_metadata(&map)
            .map_err(|e| file_err(path, format!("not a valid safetensors file: {e}")))?;
        let infos = meta.tensors().into_iter().map(|(k, v)| (k, v.clone())).collect();
        Ok(File { path: path.to_path_buf(), map: Arc::new(map), data_start: 8 + header, infos })
    }
}

fn dtype_of(d: Dtype) -> Option<DType> {
    match d {
        Dtype::F32 => Some(DType::F32),
        Dtype::F16 => Some(DType::F16),
        Dtype::BF16 => Some(DType::BF16),
        _ => None,
    }
}

impl Weights {
    /// Opens a `.safetensors` file, a `model.safetensors.index.json`, or a
    /// directory holding either (the index wins; otherwise every
    /// `*.safetensors` file in it).
    pub fn open(path: impl AsRef<Path>) -> Result<Weights> {
        let path = path.as_ref();
        if path.is_dir() {
            let index = path.join("model.safetensors.index.json");
            if index.exists() {
                return Weights::open_index(&index);
            }
            // A checkpoint folder's weights are model.safetensors when it exists (other
            // safetensors files beside it, references or training state, are not the model).
            let single = path.join("model.safetensors");
            if single.is_file() {
                return Weights::from_files(path, vec![File::open(&single)?]);
            }
            let rd = std::fs::read_dir(path).map_err(|source| Error::Io { file: path.to_path_buf(), source })?;
            let mut files: Vec<PathBuf> = rd
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|e| e == "safetensors"))
                .collect();
            files.sort();
            if files.is_empty() {
                return Err(file_err(path, "no *.safetensors file or model.safetensors.index.json here"));
            }
            return Weights::from_files(path, files.iter().map(|f| File::open(f)).collect::<Result<_>>()?);
        }
        if path.extension().is_some_and(|e| e == "json") {
            return Weights::open_index(path);
        }
        Weights::from_files(path, vec![File::open(path)?])
    }

    fn from_files(source: &Path, files: Vec<File>) -> Result<Weights> {
        let mut names = BTreeMap::new();
        for (i, f) in files.iter().enumerate() {
            for name in f.infos.keys() {
                if let Some(j) = names.insert(name.clone(), i) {
                    return Err(Error::Tensor {
                        file: f.path.clone(),
                        name: name.clone(),
                        msg: format!("also in {}", files[j].path.display()),
                    });
                }
            }
        }
        Ok(Weights { source: source.to_path_buf(), files, names })
    }

    /// A sharded checkpoint: `{"weight_map": {tensor name: shard file}}`.
    fn open_index(index: &Path) -> Result<Weights> {
        let text = std::fs::read_to_string(index).map_err(|source| Error::Io { file: index.to_path_buf(), source })?;
        let json: serde_json::Value =
            serde_json::from_str(&text).map_err(|e| file_err(index, format!("not JSON: {e}")))?;
        let Some(map) = json.get("weight_map").and_then(|m| m.as_object()) else {
            return Err(file_err(index, "no `weight_map` object"));
        };
        let dir = index.parent().unwrap_or(Path::new("."));
        let mut shard_of: BTreeMap<String, usize> = BTreeMap::new();
        let mut files = Vec::new();
        let mut names = BTreeMap::new();
        for (name, shard) in map {
            let Some(shard) = shard.as_str() else {
                return Err(Error::Tensor {
                    file: index.to_path_buf(),
                    name: name.clone(),
                    msg: "shard is not a file name".into(),
                });
            };
            let i = match shard_of.get(shard) {
                Some(&i) => i,
                None => {
                    files.push(File::open(&dir.join(shard))?);
                    shard_of.insert(shard.to_string(), files.len() - 1);
                    files.len() - 1
                }
            };
            if !files[i].infos.contains_key(name) {
                return Err(Error::Tensor {
                    file: files[i].path.clone(),
                    name: name.clone(),
                    msg: format!("listed in {} but not in the shard", index.display()),
                });
            }
            names.insert(name.clone(), i);
        }
        Ok(Weights { source: index.to_path_buf(), files, names })
    }

    /// Every tensor name, sorted.
    pub fn names(&self) -> Vec<&str> {
        self.names.keys().map(|s| s.as_str()).collect()
    }

    pub fn contains(&self, name: &str) -> bool {
        self.names.contains_key(name)
    }

    /// The tensor `name`, viewing the mapped file where its bytes are aligned.
    pub fn get(&self, name: &str) -> Result<Tensor> {
        let Some(&i) = self.names.get(name) else {
            return Err(Error::Tensor { file: self.source.clone(), name: name.into(), msg: "not found".into() });
        };
        let f = &self.files[i];
        let info = &f.infos[name];
        let err = |msg: String| Error::Tensor { file: f.path.clone(), name: name.into(), msg };
        let dtype = dtype_of(info.dtype)
            .ok_or_else(|| err(format!("dtype {:?} is not supported (f32, f16, bf16)", info.dtype)))?;
        let (start, end) = (f.data_start + info.data_offsets.0, f.data_start + info.data_offsets.1);
        let len = end - start;
        let buf = if start % dtype.size() == 0 {
            Buffer::mapped(f.map.clone(), start, dtype, len / dtype.size())?
        } else {
            Buffer::host_bytes_of(dtype, &f.map[start..end])?
        };
        Ok(Tensor::from_buffer(buf, &info.shape))
    }

    /// The tensor `name` exactly as stored: its safetensors dtype, shape and
    /// bytes (to write it again bit for bit, whatever its dtype).
    pub fn raw(&self, name: &str) -> Result<(Dtype, Vec<usize>, &[u8])> {
        let Some(&i) = self.names.get(name) else {
            return Err(Error::Tensor { file: self.source.clone(), name: name.into(), msg: "not found".into() });
        };
        let f = &self.files[i];
        let info = &f.infos[name];
        let (start, end) = (f.data_start + info.data_offsets.0, f.data_start + info.data_offsets.1);
        Ok((info.dtype, info.shape.clone(), &f.map[start..end]))
    }

    /// `get`, failing unless the tensor has exactly this shape and dtype.
    pub fn get_checked(&self, name: &str, shape: &[usize], dtype: DType) -> Result<Tensor> {
        let t = self.get(name)?;
        if t.shape() != shape || t.dtype() != dtype {
            let file = self.files[self.names[name]].path.clone();
            return Err(Error::Tensor {
                file,
                name: name.into(),
                msg: format!("expected {dtype} {shape:?}, found {} {:?}", t.dtype(), t.shape()),
            });
        }
        Ok(t)
    }
}
