//! Matrix products through the GEMM kernel; transposed and batched views go
//! in as strides, never copies.

use iris_kernels::{Gemm, MatLayout, Unary};

use crate::autograd::{pause, tracking};
use crate::error::{shape_err, Result};
use crate::layout::broadcast_shape;
use crate::Tensor;

/// The one stride that steps through the flattened batch dimensions of `t`
/// (all but the last two), if one exists.
fn batch_stride(t: &Tensor) -> Option<usize> {
    let n = t.dims() - 2;
    let dims: Vec<(usize, usize)> =
        t.shape()[..n].iter().copied().zip(t.strides()[..n].iter().copied()).filter(|&(d, _)| d != 1).collect();
    let Some(&(_, inner)) = dims.last() else { return Some(0) };
    let mut expect = inner;
    for &(d, s) in dims.iter().rev() {
        if s != expect {
            return None;
        }
        expect = s * d;
    }
    Some(inner)
}

fn mat(t: &Tensor, batch_stride: usize) -> MatLayout {
    let (s, n) = (t.strides(), t.dims());
    MatLayout { offset: t.layout().offset, batch_stride, row_stride: s[n - 2], col_stride: s[n - 1] }
}

/// `t` and the stride of its flattened batch, copying only when no single stride exists.
fn with_batch_stride(t: Tensor) -> Result<(Tensor, usize)> {
    match batch_stride(&t) {
        Some(s) => Ok((t, s)),
        None => {
            let c = t.contiguous()?;
            let s = batch_stride(&c).expect("dense batch dims flatten");
            Ok((c, s))
        }
    }
}

impl Tensor {
    /// [..., m, k] · [..., k, n] → [..., m, n], batch dimensions broadcast.
    pub fn matmul(&self, rhs: &Tensor) -> Result<Tensor> {
        let _p = crate::profile::scope(|| "matmul".to_string());
        self.same_dtype("matmul", rhs)?;
        if self.dims() < 2 || rhs.dims() < 2 {
            return shape_err("matmul", format!("needs matrices, got {:?} and {:?}", self.shape(), rhs.shape()));
        }
        let (a, b) = (self.shape(), rhs.shape());
        let (m, k, n) = (a[a.len() - 2], a[a.len() - 1], b[b.len() - 1]);
        if b[b.len() - 2] != k {
            return shape_err("matmul", format!("inner dimensions differ: {a:?} · {b:?}"));
        }
        let batch = broadcast_shape("matmul", &a[..a.len() - 2], &b[..b.len() - 2])?;
        let full = |r, c| [&batch[..], &[r, c]].concat();
        let off = pause(&[self, rhs]);
        let (x, xs) = with_batch_stride(self.broadcast_as(&full(m, k))?)?;
        let (w, ws) = with_batch_stride(rhs.broadcast_as(&full(k, n))?)?;
        let p = Gemm {
            batch: batch.iter().product(),
            m,
            n,
            k,
            alpha: 1.0,
            beta: 0.0,
            a: mat(&x, xs),
            b: mat(&w, ws),
            c: MatLayout::row_major(m, n),
        };
        let be = Tensor::backend_of("matmul", &[self, rhs])?;
        let y = Tensor::output(&*be, self.dtype(), &full(m, n), |c| be.gemm(&p, x.buffer(), w.buffer(), c))?;
        drop(off);
        if !tracking(&[self, rhs]) {
            return Ok(y);
        }
        // dA = dC·Bᵀ, dB = Aᵀ·dC, each summed over the batch dims it was broadcast along.
        let (x, w, tx, tw) = (self.detach(), rhs.detach(), self.is_tracked(), rhs.is_tracked());
        Ok(y.record("matmul", &[self, rhs], move |g| {
            Ok(vec![
                tx.then(|| g.matmul(&w.t()?)?.sum_to(x.shape())).transpose()?,
                tw.then(|| x.t()?.matmul(g)?.sum_to(w.shape())).transpose()?,
            ])
        }))
    }

    /// For a Linear with n outputs over x [..., k] (k checked by the caller):
    /// checks the bias [n], and returns x contiguous, its m rows and the
    /// output shape [..., n].
    pub(super) fn linear_input(&self, n: usize, bias: Option<&Tensor>) -> Result<(Tensor, usize, Vec<usize>)> {
        if let Some(b) = bias {
            self.same_dtype("linear", b)?;
            if b.shape() != [n] {
                return shape_err("linear", format!("{n} outputs need a bias [{n}], got {:?}", b.shape()));
            }
        }
        let x = self.contiguous()?;
        let k = *x.shape().last().expect("rank ≥ 1");
        let m = x.elem_count() / k.max(1);
        let mut shape = x.shape().to_vec();
        *shape.last_mut().expect("rank ≥ 1") = n;
        Ok((x, m, shape))
    }

    /// x·Wᵀ + bias with x [..., k], W [n, k] (a Linear weight as stored), bias [n].
    /// The bias is written first and the product accumulated onto it (beta = 1).
    pub fn linear(&self, weight: &Tensor, bias: Option<&Tensor>) -> Result<Tensor> {
        self.linear_act(weight, bias, None)
    }

    /// `act(self.linear(weight, bias))`. On CUDA the bias and the activation
    /// run in the GEMM's epilogue, on each tile in registers; elsewhere the
    /// activation is a pass over the product.
    pub fn linear_act(&self, weight: &Tensor, bias: Option<&Tensor>, act: Option<Unary>) -> Result<Tensor> {
        if tracking(&[self, weight]) || bias.is_some_and(Tensor::is_tracked) {
            let y = self.linear_tracked(weight, bias)?;
            return act.map_or(Ok(y.clone()), |op| y.unary(op));
        }
        let y = {
            let _p = crate::profile::scope(|| "linear".to_string());
            self.linear_unfused(weight, bias, act, None)?
        };
        match y {
            (y, Some(op)) => y.unary(op),
            (y, None) => Ok(y),
        }
    }

    /// `residual + self.linear(weight, bias)`, residual of the output's shape:
    /// the product accumulates onto the residual (beta = 1) in the GEMM, with
    /// no pass of its own (on wgpu, an add after the product).
    pub fn linear_residual(&self, weight: &Tensor, bias: Option<&Tensor>, residual: &Tensor) -> Result<Tensor> {
        if tracking(&[self, weight, residual]) || bias.is_some_and(Tensor::is_tracked) {
            return self.linear_tracked(weight, bias)?.add(residual);
        }
        let _p = crate::profile::scope(|| "linear".to_string());
        Ok(self.linear_unfused(weight, bias, None, Some(residual))?.0)
    }

    /// `linear` recording its backward: for x [m, k] (flattened), W [n, k]
    /// and dy [m, n]: dx = dy·W, dW = dyᵀ·x, db = Σ_rows dy.
    fn linear_tracked(&self, weight: &Tensor, bias: Option<&Tensor>) -> Result<Tensor> {
        let y = {
            let _p = crate::profile::scope(|| "linear".to_string());
            let _off = crate::no_grad();
            self.linear_unfused(weight, bias, None, None)?.0
        };
        let (x, w) = (self.detach(), weight.detach());
        let (tx, tw, tb) = (self.is_tracked(), weight.is_tracked(), bias.is_some_and(Tensor::is_tracked));
        let has_bias = bias.is_some();
        let mut inputs = vec![self, weight];
        inputs.extend(bias);
        Ok(y.record("linear", &inputs, move |g| {
            let (k, n) = (w.shape()[1], w.shape()[0]);
            let m = x.elem_count() / k.max(1);
            let g2 = g.reshape(&[m, n])?;
            let mut out = vec![
                tx.then(|| g2.matmul(&w)?.reshape(x.shape())).transpose()?,
                tw.then(|| g2.t()?.matmul(&x.reshape(&[m, k])?)).transpose()?,
            ];
            if has_bias {
                out.push(tb.then(|| g2.t()?.contiguous()?.sum_last()).transpose()?);
            }
            Ok(out)
        }))
    }

    /// The product (onto the residual, if one), and the activation still to
    /// apply (none when the kernel applied it). No activation with a residual.
    fn linear_unfused(
        &self,
        weight: &Tensor,
        bias: Option<&Tensor>,
        act: Option<Unary>,
        residual: Option<&Tensor>,
    ) -> Result<(Tensor, Option<Unary>)> {
        self.same_dtype("linear", weight)?;
        let k = *self.shape().last().unwrap_or(&0);
        if self.dims() == 0 || weight.dims() != 2 || weight.shape()[1] != k {
            return shape_err(
                "linear",
                format!("x {:?} needs a weight [n, {k}], got {:?}", self.shape(), weight.shape()),
            );
        }
        let n = weight.shape()[0];
        let (x, m, shape) = self.linear_input(n, bias)?;
        let residual = residual.map(|r| residual_input("linear", self, r, &shape, m, n)).transpose()?;
        let ws = weight.strides();
        let wt = MatLayout { offset: weight.layout().offset, batch_stride: 0, row_stride: ws[1], col_stride: ws[0] };
        let p = Gemm {
            batch: 1,
            m,
            n,
            k,
            alpha: 1.0,
            beta: if residual.is_some() { 1.0 } else { 0.0 },
            a: MatLayout { offset: x.layout().offset, ..MatLayout::row_major(m, k) },
            b: wt,
            c: MatLayout::row_major(m, n),
        };
        let mut ops: Vec<&Tensor> = vec![self, weight];
        ops.extend(bias.into_iter().chain(residual.as_ref()));
        let be = Tensor::backend_of("linear", &ops)?;
        // Activations outside every backend's epilogue run as a pass after.
        let (act, after) = match act {
            Some(Unary::Tanh | Unary::Scale(_)) => (None, act),
            a => (a, None),
        };
        let bias = bias.map(|b| b.contiguous()).transpose()?;
        let y = Tensor::output(&*be, self.dtype(), &shape, |c| {
            // C starts as the residual, and the product (and bias) accumulate onto it.
            if let Some(r) = &residual {
                be.copy(r.buffer(), r.strided(), c)?;
            }
            be.gemm_fused(&p, x.buffer(), weight.buffer(), bias.as_ref().map(|b| b.run()), act, c)
        })?;
        Ok((y, after))
    }
}

/// A residual for a product with output `shape` ([m, n] flattened): same
/// dtype, the output's shape, viewed as [m, n].
pub(super) fn residual_input(
    op: &'static str,
    x: &Tensor,
    r: &Tensor,
    shape: &[usize],
    m: usize,
    n: usize,
) -> Result<Tensor> {
    x.same_dtype(op, r)?;
    if r.shape() != shape {
        return shape_err(op, format!("the residual {:?} is not the output's shape {shape:?}", r.shape()));
    }
    r.contiguous()?.reshape(&[m, n])
}
