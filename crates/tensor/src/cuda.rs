//! Tensors on CUDA devices: typed device buffers, one `CudaDevice` per
//! ordinal (opened at first use), and moves between devices. An op runs on
//! the GPU when any operand is there; CPU operands (small tables, masks,
//! token ids) are uploaded.

use std::sync::{Arc, Mutex, OnceLock};

use cudarc::driver::CudaSlice;
use half::{bf16, f16};
use iris_kernels::cuda::ops::CudaElem;
use iris_kernels::cuda::CudaDevice;

use crate::error::{Error, Result};
use crate::storage::Storage;
use crate::{with_dtype, Device, Elem, Tensor};

/// A device buffer of one of the tensor dtypes.
pub(crate) enum CudaBuf {
    F32(CudaSlice<f32>),
    BF16(CudaSlice<bf16>),
    F16(CudaSlice<f16>),
}

/// The element types a `CudaBuf` holds.
pub(crate) trait CudaTyped: CudaElem + Elem {
    fn get(b: &CudaBuf) -> Option<&CudaSlice<Self>>;
    fn get_mut(b: &mut CudaBuf) -> Option<&mut CudaSlice<Self>>;
    fn wrap(s: CudaSlice<Self>) -> CudaBuf;
}

macro_rules! typed {
    ($t:ty, $v:ident) => {
        impl CudaTyped for $t {
            fn get(b: &CudaBuf) -> Option<&CudaSlice<Self>> {
                match b {
                    CudaBuf::$v(s) => Some(s),
                    _ => None,
                }
            }
            fn get_mut(b: &mut CudaBuf) -> Option<&mut CudaSlice<Self>> {
                match b {
                    CudaBuf::$v(s) => Some(s),
                    _ => None,
                }
            }
            fn wrap(s: CudaSlice<Self>) -> CudaBuf {
                CudaBuf::$v(s)
            }
        }
    };
}
typed!(f32, F32);
typed!(bf16, BF16);
typed!(f16, F16);

/// The device of ordinal `n`, opened once per process.
pub(crate) fn device(n: usize) -> Result<Arc<CudaDevice>> {
    static DEVICES: OnceLock<Mutex<Vec<Option<Arc<CudaDevice>>>>> = OnceLock::new();
    let mut devs = DEVICES.get_or_init(Mutex::default).lock().expect("device registry lock");
    if devs.len() <= n {
        devs.resize(n + 1, None);
    }
    if let Some(d) = &devs[n] {
        return Ok(d.clone());
    }
    let d = CudaDevice::open(n)?;
    devs[n] = Some(d.clone());
    Ok(d)
}

impl Tensor {
    /// The first GPU among the operands, if any: where an op runs.
    pub(crate) fn gpu(ts: &[&Tensor]) -> Option<Device> {
        ts.iter().map(|t| t.device()).find(|d| *d != Device::Cpu)
    }

    /// The device buffer as `T` (the tensor must be on a GPU, of dtype T).
    pub(crate) fn cuda<T: CudaTyped>(&self, op: &'static str) -> Result<&CudaSlice<T>> {
        match &*self.storage {
            Storage::Cuda { buf, .. } => {
                T::get(buf).ok_or(Error::DType { op, expected: T::DTYPE, found: self.dtype() })
            }
            _ => Err(Error::Shape { op, msg: "tensor is not on a GPU".into() }),
        }
    }

    pub(crate) fn from_cuda<T: CudaTyped>(s: CudaSlice<T>, ordinal: usize, shape: &[usize]) -> Tensor {
        Tensor::from_storage(Storage::Cuda { buf: T::wrap(s), ordinal }, shape, T::DTYPE)
    }

    /// The same values on `device` (a cheap clone when already there).
    pub fn to_device(&self, device: Device) -> Result<Tensor> {
        if device == self.device() {
            return Ok(self.clone());
        }
        match (self.device(), device) {
            (Device::Cpu, Device::Cuda(n)) => {
                let dev = crate::cuda::device(n)?;
                let x = self.contiguous()?;
                with_dtype!(x.dtype(), T => {
                    let s = dev.upload(x.slice::<T>("to_device")?)?;
                    Ok(Tensor::from_cuda(s, n, x.shape()))
                })
            }
            (Device::Cuda(n), Device::Cpu) => {
                let dev = crate::cuda::device(n)?;
                with_dtype!(self.dtype(), T => {
                    // The download takes the whole buffer: a view of part of one is copied out first.
                    let whole = self.is_contiguous()
                        && self.layout().offset == 0
                        && self.cuda::<T>("to_device")?.len() == self.elem_count();
                    let x = if whole { self.clone() } else { self.copy_as(self.dtype())? };
                    let host = dev.download(x.cuda::<T>("to_device")?)?;
                    Tensor::from_vec(host, x.shape())
                })
            }
            (Device::Cpu, Device::Wgpu) => self.to_wgpu(),
            (Device::Wgpu, Device::Cpu) => self.wgpu_to_host(),
            _ => self.to_device(Device::Cpu)?.to_device(device),
        }
    }
}
