//! Which backend runs an op (the one every operand is on: operands on
//! different devices are an error, never a silent upload), the dense runs
//! kernels read, and moves between devices.

use std::sync::Arc;

use iris_kernels::{Backend, Buffer, Dense};

use crate::error::Result;
use crate::{DType, Device, Tensor};

impl Tensor {
    /// The backend of the device all of `ts` are on.
    pub(crate) fn backend_of(op: &'static str, ts: &[&Tensor]) -> Result<Arc<dyn Backend>> {
        Tensor::check_backward(op, ts)?;
        let d = ts.first().map_or(Device::Cpu, |t| t.device());
        if let Some(t) = ts.iter().find(|t| t.device() != d) {
            return Err(iris_kernels::Error::WrongDevice { op, found: t.device(), expected: d }.into());
        }
        Ok(iris_kernels::backend(d)?)
    }

    /// The elements of a contiguous tensor as a dense run of its buffer.
    pub(crate) fn run(&self) -> Dense<'_> {
        debug_assert!(self.is_contiguous());
        Dense { buf: &self.storage, offset: self.layout().offset, len: self.elem_count() }
    }

    /// A new tensor of `shape` over `be`'s fresh output buffer, filled by `f`.
    pub(crate) fn output(
        be: &dyn Backend,
        dtype: DType,
        shape: &[usize],
        f: impl FnOnce(&mut Buffer) -> iris_kernels::Result<()>,
    ) -> Result<Tensor> {
        let mut y = be.alloc(dtype, shape.iter().product())?;
        f(&mut y)?;
        Ok(Tensor::from_buffer(y, shape))
    }

    /// The same values on `device` (a cheap clone when already there).
    pub fn to_device(&self, device: Device) -> Result<Tensor> {
        if device == self.device() {
            return Ok(self.clone());
        }
        // The whole buffer moves: a view of part of one is copied out first.
        let x = self.contiguous()?;
        let whole = x.layout().offset == 0 && x.storage.len() == x.elem_count();
        let x = if whole { x } else { x.copy_as(x.dtype())? };
        let dst = iris_kernels::backend(device)?;
        let buf = match x.device() {
            Device::Cpu => dst.upload(x.dtype(), x.storage.host_bytes("to_device")?)?,
            d => {
                let bytes = iris_kernels::backend(d)?.download(&x.storage)?;
                dst.upload(x.dtype(), &bytes)?
            }
        };
        Ok(Tensor::from_buffer(buf, x.shape()))
    }
}
