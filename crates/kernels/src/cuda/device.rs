//! One CUDA device: its context and stream, and kernels compiled by NVRTC
//! for its own architecture at first use, cached per process and on disk
//! (keyed by a hash of the source and the architecture).

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use cudarc::driver::{CudaContext, CudaFunction, CudaModule, CudaSlice, CudaStream, DeviceRepr, ValidAsZeroBits};
use cudarc::nvrtc::Ptx;

use crate::cuda::{nvrtc, source};
use crate::error::{Error, Result};

pub struct CudaDevice {
    pub ctx: Arc<CudaContext>,
    pub stream: Arc<CudaStream>,
    /// SM architecture, e.g. 90 for Hopper.
    pub arch: u32,
    /// Streaming multiprocessors (to size grids).
    pub sms: usize,
    modules: Mutex<HashMap<&'static str, Arc<CudaModule>>>,
}

fn err(what: &str, e: impl std::fmt::Debug) -> Error {
    Error::Device(format!("cuda: {what}: {e:?}"))
}

/// FNV-1a, 64 bits: a stable key for the on-disk kernel cache.
fn fnv(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| (h ^ b as u64).wrapping_mul(0x100_0000_01b3))
}

/// The on-disk cache's file name for `file` (its full `source`) built for
/// `target`: a cubin written under this name (`iris check --compile-only
/// --cubin-dir`) is found by a device whose IRIS_CUDA_CACHE names that folder.
pub fn cache_name(file: &str, src: &str, target: &str) -> String {
    format!("{file}-{:016x}-{target}.cubin", fnv(src.as_bytes()))
}

fn cache_dir() -> Option<PathBuf> {
    std::env::var_os("IRIS_CUDA_CACHE")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache/iris/cuda")))
}

impl CudaDevice {
    /// Opens device `ordinal` (libcuda is loaded at run time; its absence is an error).
    pub fn open(ordinal: usize) -> Result<Arc<CudaDevice>> {
        // SAFETY: only tries to dlopen libcuda by its candidate names.
        if !unsafe { cudarc::driver::sys::is_culib_present() } {
            return Err(Error::Device("cuda: no NVIDIA driver (libcuda) on this machine".into()));
        }
        let ctx = CudaContext::new(ordinal).map_err(|e| err(&format!("device {ordinal}"), e))?;
        let (major, minor) = ctx.compute_capability().map_err(|e| err("compute capability", e))?;
        let sms = ctx
            .attribute(cudarc::driver::sys::CUdevice_attribute::CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT)
            .map_err(|e| err("multiprocessor count", e))? as usize;
        let stream = ctx.default_stream();
        let arch = (major * 10 + minor) as u32;
        Ok(Arc::new(CudaDevice { ctx, stream, arch, sms, modules: Mutex::new(HashMap::new()) }))
    }

    pub fn name(&self) -> String {
        self.ctx.name().unwrap_or_else(|_| "cuda".into())
    }

    /// Kernel `name` of `file` (e.g. "gemm.cu"), compiling the file on first use.
    pub fn function(&self, file: &'static str, name: &str) -> Result<CudaFunction> {
        let module = {
            let mut modules = self.modules.lock().expect("module cache lock");
            match modules.get(file) {
                Some(m) => m.clone(),
                None => {
                    let m = self.ctx.load_module(Ptx::from_binary(self.cubin(file)?)).map_err(|e| err(file, e))?;
                    modules.insert(file, m.clone());
                    m
                }
            }
        };
        module.load_function(name).map_err(|e| err(&format!("{file}: kernel {name}"), e))
    }

    fn cubin(&self, file: &'static str) -> Result<Vec<u8>> {
        let src = source(file).ok_or_else(|| Error::Device(format!("cuda: no kernel file {file}")))?;
        let target = crate::cuda::target(file, self.arch).ok_or_else(|| {
            Error::Device(format!("cuda: {file} needs a Hopper GPU (sm_90), this is sm_{}", self.arch))
        })?;
        let cached = cache_dir().map(|d| d.join(cache_name(file, &src, &target)));
        if let Some(bytes) = cached.as_ref().and_then(|p| std::fs::read(p).ok()) {
            return Ok(bytes);
        }
        let compiled = nvrtc::compile(&src, file, &target)?;
        if let Some(p) = cached {
            // A cache that cannot be written only costs a recompile next time.
            let _ = p.parent().map(std::fs::create_dir_all);
            let _ = std::fs::write(p, &compiled.cubin);
        }
        Ok(compiled.cubin)
    }

    /// A zeroed device buffer; running out of memory is an error, not an abort.
    pub fn alloc<T: DeviceRepr + ValidAsZeroBits>(&self, n: usize) -> Result<CudaSlice<T>> {
        self.stream.alloc_zeros::<T>(n.max(1)).map_err(|e| err(&format!("allocating {n} elements"), e))
    }

    pub fn upload<T: DeviceRepr>(&self, host: &[T]) -> Result<CudaSlice<T>> {
        self.stream.clone_htod(host).map_err(|e| err("upload", e))
    }

    pub fn download<T: DeviceRepr>(&self, dev: &CudaSlice<T>) -> Result<Vec<T>> {
        self.stream.clone_dtoh(dev).map_err(|e| err("download", e))
    }
}
