//! The one op that writes in place: rows appended to a preallocated buffer
//! (a KV cache), so a decode step costs its new rows, not a copy of the cache.

use std::sync::Arc;

use crate::error::{shape_err, Result};
use crate::storage::Storage;
use crate::Tensor;

impl Tensor {
    /// Writes `src` into this tensor at `start` along `dim`; every other
    /// dimension must agree. The tensor must be contiguous. When another
    /// tensor (a view taken earlier) shares the storage, the storage is copied
    /// first, so that view keeps the values it saw.
    pub fn write_at(&mut self, dim: usize, start: usize, src: &Tensor) -> Result<()> {
        let _p = crate::profile::scope(|| "write_at".to_string());
        self.same_dtype("write_at", src)?;
        self.layout().dim("write_at", dim)?;
        let (dst_shape, src_shape) = (self.shape().to_vec(), src.shape().to_vec());
        let rows = src_shape.get(dim).copied().unwrap_or(0);
        let fits = src_shape.len() == dst_shape.len()
            && (0..dst_shape.len()).all(|d| d == dim || src_shape[d] == dst_shape[d])
            && start + rows <= dst_shape[dim];
        if !fits || !self.is_contiguous() {
            return shape_err(
                "write_at",
                format!("cannot write {src_shape:?} at {start} along dimension {dim} of a contiguous {dst_shape:?}"),
            );
        }
        if let Some(n) = Tensor::gpu(&[self]) {
            return super::accel::write_at(self, dim, start, src, n);
        }
        let src = src.contiguous()?.to_device(crate::Device::Cpu)?;
        if Arc::get_mut(&mut self.storage).is_none() || matches!(*self.storage, Storage::Mapped { .. }) {
            *self = self.copy_as(self.dtype())?;
        }
        let es = self.dtype().size();
        let outer: usize = dst_shape[..dim].iter().product();
        let inner: usize = dst_shape[dim + 1..].iter().product::<usize>() * es;
        let (block, stride) = (rows * inner, dst_shape[dim] * inner);
        let base = self.layout().offset * es + start * inner;
        let from = &src.storage.bytes()[src.layout().offset * es..][..outer * block];
        let Some(Storage::Cpu(buf)) = Arc::get_mut(&mut self.storage) else {
            unreachable!("storage made unique and owned above")
        };
        let to = buf.bytes_mut();
        for o in 0..outer {
            to[base + o * stride..][..block].copy_from_slice(&from[o * block..][..block]);
        }
        Ok(())
    }
}
