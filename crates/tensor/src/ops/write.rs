//! The one op that writes in place: rows appended to a preallocated buffer
//! (a KV cache), so a decode step costs its new rows, not a copy of the cache.

use std::sync::Arc;

use crate::error::{shape_err, Result};
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
        let be = Tensor::backend_of("write_at", &[self, src])?;
        let src = src.contiguous()?;
        // Views taken earlier share the buffer, and a mapped one is read-only: own a copy first.
        if Arc::get_mut(&mut self.storage).is_none() || self.storage.is_mapped() {
            *self = self.copy_as(self.dtype())?;
        }
        let outer: usize = dst_shape[..dim].iter().product();
        let inner: usize = dst_shape[dim + 1..].iter().product();
        let at = self.layout().offset + start * inner;
        let Some(buf) = Arc::get_mut(&mut self.storage) else { unreachable!("made unique above") };
        Ok(be.concat(src.run(), outer, rows * inner, dst_shape[dim] * inner, at, buf)?)
    }
}
