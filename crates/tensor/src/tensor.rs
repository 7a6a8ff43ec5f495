//! The tensor: shared storage + layout + dtype. Cloning and views are cheap
//! (an Arc and a layout); ops produce new tensors and never write in place.

use std::sync::Arc;

use iris_kernels::testing::randn;
use iris_kernels::Buffer;

use crate::autograd::{tracking, Node};
use crate::error::{shape_err, Error, Result};
use crate::layout::Layout;
use crate::{with_dtype, DType, Device, Elem};

#[derive(Clone)]
pub struct Tensor {
    pub(crate) storage: Arc<Buffer>,
    layout: Layout,
    dtype: DType,
    /// The autograd node: a leaf's gradient, or the op that made the tensor
    /// (None when no gradient flows through it).
    pub(crate) node: Option<Arc<Node>>,
}

impl std::fmt::Debug for Tensor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Tensor({:?}, {}, {})", self.layout.shape, self.dtype, self.device())
    }
}

impl Tensor {
    /// A dense tensor of `shape` over a whole buffer (on any device).
    pub fn from_buffer(buf: Buffer, shape: &[usize]) -> Tensor {
        debug_assert_eq!(buf.len(), shape.iter().product::<usize>());
        let dtype = buf.dtype();
        Tensor { storage: Arc::new(buf), layout: Layout::contiguous(shape), dtype, node: None }
    }

    /// The buffer behind the tensor (the layout says which elements are its).
    pub fn buffer(&self) -> &Buffer {
        &self.storage
    }

    /// A dense tensor whose every element `fill` writes (the pool may hand
    /// back a buffer with old contents, so `fill` must write them all).
    pub(crate) fn build<T: Elem>(shape: &[usize], fill: impl FnOnce(&mut [T]) -> Result<()>) -> Result<Tensor> {
        let n: usize = shape.iter().product();
        let mut buf = Buffer::host_uninit(T::DTYPE, n);
        fill(buf.host_mut::<T>("build")?)?;
        Ok(Tensor::from_buffer(buf, shape))
    }

    /// A view of the same storage, outside the graph (view ops record their own node).
    pub(crate) fn with_layout(&self, layout: Layout) -> Tensor {
        Tensor { storage: self.storage.clone(), layout, dtype: self.dtype, node: None }
    }

    // ---- constructors

    pub fn from_vec<T: Elem>(data: Vec<T>, shape: &[usize]) -> Result<Tensor> {
        Tensor::from_slice(&data, shape)
    }

    pub fn from_slice<T: Elem>(data: &[T], shape: &[usize]) -> Result<Tensor> {
        if shape.iter().product::<usize>() != data.len() {
            return shape_err("from_slice", format!("{} elements do not fill shape {shape:?}", data.len()));
        }
        Tensor::build(shape, |o: &mut [T]| {
            o.copy_from_slice(data);
            Ok(())
        })
    }

    pub fn full(value: f32, shape: &[usize], dtype: DType) -> Tensor {
        with_dtype!(dtype, T => Tensor::build(shape, |o: &mut [T]| {
            o.fill(T::from_f32(value));
            Ok(())
        }))
        .expect("fill cannot fail")
    }

    pub fn zeros(shape: &[usize], dtype: DType) -> Tensor {
        Tensor::full(0.0, shape, dtype)
    }

    pub fn ones(shape: &[usize], dtype: DType) -> Tensor {
        Tensor::full(1.0, shape, dtype)
    }

    /// Standard-normal values from `seed`, the same on every platform.
    pub fn randn(shape: &[usize], dtype: DType, seed: u64) -> Tensor {
        let n = shape.iter().product();
        let v = randn::<f32>(seed, n);
        with_dtype!(dtype, T => Tensor::from_vec(v.iter().map(|&x| T::from_f32(x)).collect::<Vec<T>>(), shape))
            .expect("sizes agree")
    }

    /// Uniform values in [0, 1) from `seed`: Φ of the normal sample.
    pub fn rand(shape: &[usize], dtype: DType, seed: u64) -> Tensor {
        let n = shape.iter().product();
        let u: Vec<f32> = randn::<f32>(seed, n)
            .iter()
            .map(|&z| (0.5 * libm::erfc(-(z as f64) / std::f64::consts::SQRT_2)) as f32)
            .map(|u| u.min(1.0 - f32::EPSILON))
            .collect();
        Tensor::from_vec(u, shape).and_then(|t| t.to_dtype(dtype)).expect("sizes agree")
    }

    /// start, start + 1, ... up to (not including) end, as a 1-D tensor.
    pub fn arange(start: f32, end: f32, dtype: DType) -> Tensor {
        let n = (end - start).ceil().max(0.0) as usize;
        let v: Vec<f32> = (0..n).map(|i| start + i as f32).collect();
        Tensor::from_vec(v, &[n]).and_then(|t| t.to_dtype(dtype)).expect("sizes agree")
    }

    // ---- properties

    pub fn shape(&self) -> &[usize] {
        &self.layout.shape
    }
    pub fn dims(&self) -> usize {
        self.layout.shape.len()
    }
    pub fn strides(&self) -> &[usize] {
        &self.layout.strides
    }
    pub fn layout(&self) -> &Layout {
        &self.layout
    }
    pub fn dtype(&self) -> DType {
        self.dtype
    }
    pub fn device(&self) -> Device {
        self.storage.device()
    }
    pub fn elem_count(&self) -> usize {
        self.layout.elem_count()
    }
    pub fn is_contiguous(&self) -> bool {
        self.layout.is_contiguous()
    }
    /// True when two tensors share storage (one is a view of the other).
    pub fn shares_storage(&self, other: &Tensor) -> bool {
        Arc::ptr_eq(&self.storage, &other.storage)
    }
    /// True when the bytes are a view into a memory-mapped file (not copied).
    pub fn is_mapped(&self) -> bool {
        self.storage.is_mapped()
    }

    /// The whole storage as `T` (the layout says which elements are the tensor's).
    pub(crate) fn data<T: Elem>(&self, op: &'static str) -> Result<&[T]> {
        if self.dtype != T::DTYPE {
            return Err(Error::DType { op, expected: T::DTYPE, found: self.dtype });
        }
        if self.device() != Device::Cpu {
            return Err(Error::Device { op, device: self.device() });
        }
        Ok(self.storage.host::<T>(op)?)
    }

    /// The elements in row-major order without a copy, when the tensor is a
    /// dense run of a host buffer of `T` (None otherwise: take `to_vec`).
    pub fn host_slice<T: Elem>(&self) -> Option<&[T]> {
        if !self.is_contiguous() || self.dtype != T::DTYPE || self.device() != Device::Cpu {
            return None;
        }
        let all = self.storage.host::<T>("host_slice").ok()?;
        all.get(self.layout.offset..self.layout.offset + self.elem_count())
    }

    /// Runs `f` on the elements of a dense host f32 tensor in place, when
    /// nothing else shares its buffer and the buffer is writable (not a
    /// mapped checkpoint); false, leaving the tensor as it was, otherwise.
    pub fn update_host_f32(&mut self, f: impl FnOnce(&mut [f32])) -> bool {
        if !self.is_contiguous() || self.dtype != DType::F32 || self.device() != Device::Cpu {
            return false;
        }
        let (off, n) = (self.layout.offset, self.elem_count());
        let Some(buf) = Arc::get_mut(&mut self.storage) else { return false };
        match buf.host_mut::<f32>("update_host_f32") {
            Ok(s) if s.len() >= off + n => {
                f(&mut s[off..off + n]);
                true
            }
            _ => false,
        }
    }

    /// The elements in row-major order. `T` must be the tensor's dtype.
    pub fn to_vec<T: Elem>(&self) -> Result<Vec<T>> {
        let t = self.to_device(Device::Cpu)?.contiguous()?;
        let n = t.elem_count();
        Ok(t.data::<T>("to_vec")?[t.layout.offset..t.layout.offset + n].to_vec())
    }

    /// The elements in row-major order, widened to f32 whatever the dtype.
    pub fn to_vec_f32(&self) -> Result<Vec<f32>> {
        self.to_dtype(DType::F32)?.to_vec::<f32>()
    }

    // ---- views (no copy)

    pub fn reshape(&self, shape: &[usize]) -> Result<Tensor> {
        let out = match self.layout.reshape(shape) {
            Ok(l) => self.with_layout(l),
            // Not contiguous: copy first, as torch's reshape does.
            Err(_) if self.elem_count() == shape.iter().product::<usize>() => {
                let c = self.contiguous()?.detach();
                c.with_layout(c.layout.reshape(shape)?)
            }
            Err(e) => return Err(e),
        };
        self.same_elements(out)
    }
    pub fn permute(&self, dims: &[usize]) -> Result<Tensor> {
        let out = self.with_layout(self.layout.permute(dims)?);
        if !tracking(&[self]) {
            return Ok(out);
        }
        let mut inverse = vec![0; dims.len()];
        for (i, &d) in dims.iter().enumerate() {
            inverse[d] = i;
        }
        Ok(out.record("permute", &[self], move |g| Ok(vec![Some(g.permute(&inverse)?)])))
    }
    pub fn transpose(&self, a: usize, b: usize) -> Result<Tensor> {
        let mut dims: Vec<usize> = (0..self.dims()).collect();
        self.layout.dim("transpose", a)?;
        self.layout.dim("transpose", b)?;
        dims.swap(a, b);
        self.permute(&dims)
    }
    /// The transpose of the last two dimensions.
    pub fn t(&self) -> Result<Tensor> {
        if self.dims() < 2 {
            return shape_err("t", format!("needs two dimensions, has {:?}", self.shape()));
        }
        self.transpose(self.dims() - 2, self.dims() - 1)
    }
    pub fn narrow(&self, dim: usize, start: usize, len: usize) -> Result<Tensor> {
        let out = self.with_layout(self.layout.narrow(dim, start, len)?);
        if !tracking(&[self]) {
            return Ok(out);
        }
        // The gradient lands in the narrowed span of zeros.
        let (shape, dtype, device) = (self.shape().to_vec(), self.dtype, self.device());
        Ok(out.record("narrow", &[self], move |g| {
            let mut z = Tensor::zeros(&shape, dtype).to_device(device)?;
            z.write_at(dim, start, g)?;
            Ok(vec![Some(z)])
        }))
    }
    pub fn broadcast_as(&self, shape: &[usize]) -> Result<Tensor> {
        let out = self.with_layout(self.layout.broadcast_as(shape)?);
        if !tracking(&[self]) {
            return Ok(out);
        }
        let from = self.shape().to_vec();
        Ok(out.record("broadcast_as", &[self], move |g| Ok(vec![Some(g.sum_to(&from)?)])))
    }
    pub fn squeeze(&self, dim: usize) -> Result<Tensor> {
        self.same_elements(self.with_layout(self.layout.squeeze(dim)?))
    }
    pub fn unsqueeze(&self, dim: usize) -> Result<Tensor> {
        self.same_elements(self.with_layout(self.layout.unsqueeze(dim)?))
    }

    /// `out`, a view of self's elements in the same order under another
    /// shape, with the node that reshapes its gradient back.
    fn same_elements(&self, out: Tensor) -> Result<Tensor> {
        if !tracking(&[self]) {
            return Ok(out);
        }
        let from = self.shape().to_vec();
        Ok(out.record("reshape", &[self], move |g| Ok(vec![Some(g.reshape(&from)?)])))
    }
}
