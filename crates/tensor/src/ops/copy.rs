//! Layout and dtype changes, concatenation, embedding gather.

use crate::autograd::{pause, tracking};
use crate::error::{shape_err, Result};
use crate::{DType, Tensor};

impl Tensor {
    /// The same values in a dense row-major buffer (a cheap clone when already so).
    pub fn contiguous(&self) -> Result<Tensor> {
        if self.is_contiguous() {
            return Ok(self.clone());
        }
        self.copy_as(self.dtype())
    }

    /// The values cast to `dtype` (a cheap clone when already of it).
    pub fn to_dtype(&self, dtype: DType) -> Result<Tensor> {
        if dtype == self.dtype() {
            return Ok(self.clone());
        }
        self.copy_as(dtype)
    }

    pub(crate) fn copy_as(&self, dtype: DType) -> Result<Tensor> {
        let _p = crate::profile::scope(|| "copy".to_string());
        let y = {
            let _off = pause(&[self]);
            let be = Tensor::backend_of("copy", &[self])?;
            Tensor::output(&*be, dtype, self.shape(), |y| be.copy(self.buffer(), self.strided(), y))?
        };
        if !tracking(&[self]) {
            return Ok(y);
        }
        let from = self.dtype();
        Ok(y.record("copy", &[self], move |g| Ok(vec![Some(g.to_dtype(from)?)])))
    }

    /// Concatenation along `dim`; every other dimension must agree.
    pub fn cat(tensors: &[&Tensor], dim: usize) -> Result<Tensor> {
        let _p = crate::profile::scope(|| "cat".to_string());
        let Some(first) = tensors.first() else {
            return shape_err("cat", "no tensors to concatenate");
        };
        first.layout().dim("cat", dim)?;
        let mut shape = first.shape().to_vec();
        shape[dim] = 0;
        for t in tensors {
            first.same_dtype("cat", t)?;
            let same_rest =
                t.dims() == first.dims() && (0..t.dims()).all(|d| d == dim || t.shape()[d] == first.shape()[d]);
            if !same_rest {
                let shapes: Vec<_> = tensors.iter().map(|t| t.shape().to_vec()).collect();
                return shape_err("cat", format!("shapes {shapes:?} differ outside dimension {dim}"));
            }
            shape[dim] += t.shape()[dim];
        }
        let y = {
            let _off = pause(tensors);
            let be = Tensor::backend_of("cat", tensors)?;
            let outer: usize = shape[..dim].iter().product();
            let inner: usize = shape[dim + 1..].iter().product();
            let parts: Vec<Tensor> = tensors.iter().map(|t| t.contiguous()).collect::<Result<_>>()?;
            Tensor::output(&*be, first.dtype(), &shape, |y| {
                let mut at = 0;
                for p in &parts {
                    let w = p.shape()[dim] * inner;
                    be.concat(p.run(), outer, w, shape[dim] * inner, at, y)?;
                    at += w;
                }
                Ok(())
            })?
        };
        if !tracking(tensors) {
            return Ok(y);
        }
        // Each part's gradient is its span of the output's.
        let spans: Vec<(usize, bool)> = tensors.iter().map(|t| (t.shape()[dim], t.is_tracked())).collect();
        Ok(y.record("cat", tensors, move |g| {
            let mut at = 0;
            let mut out = Vec::with_capacity(spans.len());
            for &(len, tracked) in &spans {
                out.push(tracked.then(|| g.narrow(dim, at, len)?.contiguous()).transpose()?);
                at += len;
            }
            Ok(out)
        }))
    }

    /// Rows of the table [V, D] picked by `ids`: out [ids.len(), D].
    pub fn embedding(table: &Tensor, ids: &[u32]) -> Result<Tensor> {
        let _p = crate::profile::scope(|| "embedding".to_string());
        if table.dims() != 2 {
            return shape_err("embedding", format!("table must be [V, D], is {:?}", table.shape()));
        }
        let (rows, dim) = (table.shape()[0], table.shape()[1]);
        if let Some(&bad) = ids.iter().find(|&&i| i as usize >= rows) {
            return Err(iris_kernels::Error::IndexOutOfRange { op: "embedding", index: bad as usize, len: rows }.into());
        }
        let y = {
            let _off = pause(&[table]);
            let be = Tensor::backend_of("embedding", &[table])?;
            let ids = be.upload(DType::U32, bytemuck::cast_slice(ids))?;
            let table = table.contiguous()?;
            Tensor::output(&*be, table.dtype(), &[ids.len(), dim], |y| be.embedding(table.run(), dim, ids.dense(), y))?
        };
        if !tracking(&[table]) {
            return Ok(y);
        }
        let ids = ids.to_vec();
        Ok(y.record("embedding", &[table], move |g| Ok(vec![Some(Tensor::embedding_grad(g, &ids, rows)?)])))
    }
}
