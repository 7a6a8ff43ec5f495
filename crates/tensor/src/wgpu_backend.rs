//! Tensors on the wgpu device (f32): storage buffers, the one device opened
//! at first use, and moves to and from the host.

use std::sync::{Arc, OnceLock};

use iris_kernels::wgpu::WgpuDevice;

use crate::error::{Error, Result};
use crate::storage::Storage;
use crate::{DType, Device, Tensor};

/// The process's wgpu device.
pub(crate) fn device() -> Result<Arc<WgpuDevice>> {
    static DEV: OnceLock<std::result::Result<Arc<WgpuDevice>, String>> = OnceLock::new();
    DEV.get_or_init(|| WgpuDevice::open().map_err(|e| e.to_string()))
        .clone()
        .map_err(|e| iris_kernels::Error::Device(e).into())
}

pub(crate) fn f32_only(op: &'static str, dtype: DType) -> Result<()> {
    if dtype != DType::F32 {
        return Err(Error::Shape { op, msg: format!("wgpu runs f32 in this build, not {dtype}") });
    }
    Ok(())
}

impl Tensor {
    /// The wgpu buffer holding this tensor's storage.
    pub(crate) fn wgpu_buf(&self, op: &'static str) -> Result<&wgpu::Buffer> {
        match &*self.storage {
            Storage::Wgpu { buf, .. } => Ok(buf),
            _ => Err(Error::Shape { op, msg: "tensor is not on the wgpu device".into() }),
        }
    }

    /// Elements in the wgpu storage buffer.
    pub(crate) fn wgpu_len(&self) -> usize {
        match &*self.storage {
            Storage::Wgpu { len, .. } => *len,
            _ => 0,
        }
    }

    pub(crate) fn from_wgpu(buf: wgpu::Buffer, len: usize, shape: &[usize]) -> Tensor {
        Tensor::from_storage(Storage::Wgpu { buf, len }, shape, DType::F32)
    }

    pub(crate) fn to_wgpu(&self) -> Result<Tensor> {
        let dev = device()?;
        let x = self.to_device(Device::Cpu)?.to_dtype(DType::F32)?.contiguous()?;
        let buf = dev.upload(x.slice::<f32>("to_device")?);
        Ok(Tensor::from_wgpu(buf, x.elem_count(), x.shape()))
    }

    pub(crate) fn wgpu_to_host(&self) -> Result<Tensor> {
        let dev = device()?;
        let x = if self.is_contiguous() && self.layout().offset == 0 {
            self.clone()
        } else {
            super::ops::wgpu_dense(self)?
        };
        let host: Vec<f32> = dev.download(x.wgpu_buf("to_device")?, x.elem_count())?;
        Tensor::from_vec(host, x.shape())
    }
}
