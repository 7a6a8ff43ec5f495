//! `Buffer`: a backend's memory — `len` elements of one dtype on one device —
//! and `Dense`, a run of its elements that a kernel reads in order.

use std::sync::Arc;

use memmap2::Mmap;

use super::Device;
use crate::cpu::pool::HostBuf;
use crate::cuda::buffer::CudaBuf;
use crate::error::{Error, Result};
use crate::{DType, Scalar};

/// `len` elements of `dtype` on a device. Only the backend of that device
/// reads or writes it; another backend handed it answers with an error.
pub struct Buffer {
    dtype: DType,
    len: usize,
    pub(crate) raw: Raw,
}

pub(crate) enum Raw {
    Host(HostBuf),
    Cuda {
        buf: CudaBuf,
        ordinal: usize,
    },
    /// Elements of `dtype.size()` bytes, except U8, stored as one f32 (0 or
    /// 1) each: WGSL has no byte arrays.
    Wgpu(wgpu::Buffer),
}

impl std::fmt::Debug for Buffer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Buffer({} × {} on {})", self.len, self.dtype, self.device())
    }
}

impl Buffer {
    pub(crate) fn new(dtype: DType, len: usize, raw: Raw) -> Buffer {
        Buffer { dtype, len, raw }
    }

    pub fn dtype(&self) -> DType {
        self.dtype
    }
    pub fn len(&self) -> usize {
        self.len
    }
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
    pub fn device(&self) -> Device {
        match &self.raw {
            Raw::Host(_) => Device::Cpu,
            Raw::Cuda { ordinal, .. } => Device::Cuda(*ordinal),
            Raw::Wgpu(_) => Device::Wgpu,
        }
    }

    /// A host buffer of `len` elements whose contents are unspecified.
    pub fn host_uninit(dtype: DType, len: usize) -> Buffer {
        Buffer::new(dtype, len, Raw::Host(HostBuf::uninit(len * dtype.size())))
    }

    /// A host buffer holding a copy of `data`.
    pub fn host_from<T: Scalar>(data: &[T]) -> Buffer {
        Buffer::host_bytes_of(T::DTYPE, bytemuck::cast_slice(data)).expect("whole elements")
    }

    /// A host buffer holding a copy of `bytes`, read as `dtype`.
    pub fn host_bytes_of(dtype: DType, bytes: &[u8]) -> Result<Buffer> {
        if !bytes.len().is_multiple_of(dtype.size()) {
            return Err(Error::Shape { op: "upload", msg: format!("{} bytes are not whole {dtype}", bytes.len()) });
        }
        let mut b = Buffer::host_uninit(dtype, bytes.len() / dtype.size());
        b.host_bytes_mut("upload")?.copy_from_slice(bytes);
        Ok(b)
    }

    /// `len` elements of `dtype` at byte `start` of a memory map, not copied.
    pub fn mapped(map: Arc<Mmap>, start: usize, dtype: DType, len: usize) -> Result<Buffer> {
        let end = len.checked_mul(dtype.size()).and_then(|b| b.checked_add(start));
        if end.is_none_or(|e| e > map.len()) {
            return Err(Error::Shape {
                op: "mapped", msg: format!("{len} × {dtype} at byte {start} overrun the map")
            });
        }
        Ok(Buffer::new(dtype, len, Raw::Host(HostBuf::Mapped { map, start, len: len * dtype.size() })))
    }

    /// True for a read-only view of a memory-mapped file.
    pub fn is_mapped(&self) -> bool {
        matches!(self.raw, Raw::Host(HostBuf::Mapped { .. }))
    }

    /// The bytes of a host buffer.
    pub fn host_bytes(&self, op: &'static str) -> Result<&[u8]> {
        match &self.raw {
            Raw::Host(h) => Ok(h.bytes()),
            _ => Err(Error::WrongDevice { op, found: self.device(), expected: Device::Cpu }),
        }
    }

    pub fn host_bytes_mut(&mut self, op: &'static str) -> Result<&mut [u8]> {
        let found = self.device();
        match &mut self.raw {
            Raw::Host(h) => h.bytes_mut().ok_or(Error::Shape { op, msg: "a memory-mapped buffer is read-only".into() }),
            _ => Err(Error::WrongDevice { op, found, expected: Device::Cpu }),
        }
    }

    /// The elements of a host buffer as `T` (its dtype).
    pub fn host<T: Scalar>(&self, op: &'static str) -> Result<&[T]> {
        self.is::<T>(op)?;
        bytemuck::try_cast_slice(self.host_bytes(op)?)
            .map_err(|e| Error::Shape { op, msg: format!("storage not aligned for {}: {e}", self.dtype) })
    }

    pub fn host_mut<T: Scalar>(&mut self, op: &'static str) -> Result<&mut [T]> {
        self.is::<T>(op)?;
        let dtype = self.dtype;
        bytemuck::try_cast_slice_mut(self.host_bytes_mut(op)?)
            .map_err(|e| Error::Shape { op, msg: format!("storage not aligned for {dtype}: {e}") })
    }

    fn is<T: Scalar>(&self, op: &'static str) -> Result<()> {
        if self.dtype != T::DTYPE {
            return Err(Error::DTypeMismatch { op, expected: T::DTYPE, found: self.dtype });
        }
        Ok(())
    }

    /// The whole buffer as a dense run.
    pub fn dense(&self) -> Dense<'_> {
        Dense { buf: self, offset: 0, len: self.len }
    }
}

/// `len` elements of `buf` from element `offset`, read in order: the operand
/// of a kernel that takes no strides. A GPU backend copies a run that is not
/// its whole buffer (its kernels size their work by the buffer).
#[derive(Clone, Copy, Debug)]
pub struct Dense<'a> {
    pub buf: &'a Buffer,
    pub offset: usize,
    pub len: usize,
}

impl<'a> Dense<'a> {
    pub fn new(buf: &'a Buffer, offset: usize, len: usize) -> Result<Dense<'a>> {
        if offset + len > buf.len() {
            return Err(Error::BufferTooSmall { op: "dense", buffer: "view", len: buf.len(), needed: offset + len });
        }
        Ok(Dense { buf, offset, len })
    }
    pub fn dtype(&self) -> DType {
        self.buf.dtype()
    }
    /// The whole of its buffer.
    pub fn is_whole(&self) -> bool {
        self.offset == 0 && self.len == self.buf.len()
    }
    pub fn host<T: Scalar>(&self, op: &'static str) -> Result<&'a [T]> {
        Ok(&self.buf.host::<T>(op)?[self.offset..self.offset + self.len])
    }
}
