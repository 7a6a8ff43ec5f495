//! Layout and dtype changes, concatenation, embedding gather.

use iris_kernels::cpu::fast;

use crate::error::{shape_err, Result};
use crate::{with_dtype, DType, Tensor};

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
        if let Some(n) = Tensor::gpu(&[self]) {
            return super::accel::copy_as(self, n, dtype);
        }
        with_dtype!(self.dtype(), S => with_dtype!(dtype, D => {
            let src = self.data::<S>("copy")?;
            Tensor::build(self.shape(), |o: &mut [D]| Ok(fast::copy(src, self.strided(), o)?))
        }))
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
        if let Some(n) = Tensor::gpu(tensors) {
            let parts: Vec<Tensor> = tensors.iter().map(|t| (*t).clone()).collect();
            return super::accel::cat(&parts, dim, &shape, n);
        }
        let outer: usize = shape[..dim].iter().product();
        let inner: usize = shape[dim + 1..].iter().product();
        let parts: Vec<Tensor> = tensors.iter().map(|t| t.contiguous()).collect::<Result<_>>()?;
        with_dtype!(first.dtype(), T => {
            let slices: Vec<(&[T], usize)> =
                parts.iter().map(|p| Ok((p.slice::<T>("cat")?, p.shape()[dim] * inner))).collect::<Result<_>>()?;
            Tensor::build(&shape, |o: &mut [T]| Ok(fast::concat(&slices, outer, o)?))
        })
    }

    /// Rows of the table [V, D] picked by `ids`: out [ids.len(), D].
    pub fn embedding(table: &Tensor, ids: &[u32]) -> Result<Tensor> {
        let _p = crate::profile::scope(|| "embedding".to_string());
        if table.dims() != 2 {
            return shape_err("embedding", format!("table must be [V, D], is {:?}", table.shape()));
        }
        if let Some(n) = Tensor::gpu(&[table]) {
            let rows = table.shape()[0];
            if let Some(&bad) = ids.iter().find(|&&i| i as usize >= rows) {
                return Err(
                    iris_kernels::Error::IndexOutOfRange { op: "embedding", index: bad as usize, len: rows }.into()
                );
            }
            return super::accel::embedding(table, ids, n);
        }
        let table = table.contiguous()?;
        let dim = table.shape()[1];
        with_dtype!(table.dtype(), T => {
            let t = table.slice::<T>("embedding")?;
            Tensor::build(&[ids.len(), dim], |o: &mut [T]| Ok(fast::embedding(t, dim, ids, o)?))
        })
    }
}
