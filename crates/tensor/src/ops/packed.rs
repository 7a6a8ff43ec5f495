//! Linear weights packed once for the CPU GEMM (`iris_kernels::cpu::fast::PackedB`):
//! products with many rows (a vision tower's 577 tokens a layer) then stream
//! each weight panel contiguously instead of re-packing the weight on every call.
//! f32 weights take f32 rows; bf16 weights (as bf16 pairs where the CPU has
//! AVX512-BF16, else widened) take bf16 rows, whose product is summed in f32
//! and rounded to bf16 once, after the bias, activation and residual.

use std::sync::Arc;

use half::bf16;

use iris_kernels::cpu::fast::{self, Epilogue, PackedB};
use iris_kernels::{DType, Gemm, MatLayout, Unary};

use crate::error::{shape_err, Result};
use crate::{Device, Tensor};

/// A Linear weight [N, K] (as stored) packed for the CPU's micro-kernel.
#[derive(Clone)]
pub struct PackedWeight {
    b: Arc<PackedB>,
    /// The weight's dtype, which the rows must have: f32 or bf16.
    dtype: DType,
}

impl PackedWeight {
    /// The packed form of `weight` [N, K], or `None` where packing does not
    /// apply (a weight that is not f32 or bf16, or not on the CPU).
    pub fn new(weight: &Tensor) -> Result<Option<PackedWeight>> {
        let dtype = weight.dtype();
        if !matches!(dtype, DType::F32 | DType::BF16) || weight.device() != Device::Cpu || weight.dims() != 2 {
            return Ok(None);
        }
        let (n, k) = (weight.shape()[0], weight.shape()[1]);
        let s = weight.strides();
        let layout = MatLayout { offset: weight.layout().offset, batch_stride: 0, row_stride: s[1], col_stride: s[0] };
        let b = match dtype {
            DType::F32 => PackedB::new(weight.data::<f32>("pack_weight")?, &layout, k, n)?,
            _ => PackedB::new(weight.data::<bf16>("pack_weight")?, &layout, k, n)?,
        };
        Ok(Some(PackedWeight { b: Arc::new(b), dtype }))
    }

    /// N, the outputs.
    pub fn out_features(&self) -> usize {
        self.b.n()
    }

    /// K, the inputs.
    pub fn in_features(&self) -> usize {
        self.b.k()
    }

    /// The weight [N, K] unpacked into a plain tensor of its dtype (to update it).
    pub fn to_tensor(&self) -> Result<Tensor> {
        let shape = [self.out_features(), self.in_features()];
        let w = self.b.unpack();
        match self.dtype {
            DType::F32 => Tensor::from_vec(w, &shape),
            _ => Tensor::from_vec(w.into_iter().map(bf16::from_f32).collect::<Vec<_>>(), &shape),
        }
    }
}

impl Tensor {
    /// `self.linear(weight, bias)` with the weight packed by `PackedWeight::new`:
    /// x [..., K] (the weight's dtype, CPU) → [..., N].
    pub fn linear_packed(&self, weight: &PackedWeight, bias: Option<&Tensor>) -> Result<Tensor> {
        self.linear_packed_act(weight, bias, None)
    }

    /// `act(self.linear_packed(weight, bias))`, the activation applied to each
    /// tile of the product while it is in cache (no pass over the output).
    pub fn linear_packed_act(
        &self,
        weight: &PackedWeight,
        bias: Option<&Tensor>,
        act: Option<Unary>,
    ) -> Result<Tensor> {
        self.linear_packed_epilogue(weight, bias, act, None)
    }

    /// `residual + self.linear_packed(weight, bias)`: the product accumulates
    /// onto the residual (beta = 1), the bias in the epilogue.
    pub fn linear_packed_residual(
        &self,
        weight: &PackedWeight,
        bias: Option<&Tensor>,
        residual: &Tensor,
    ) -> Result<Tensor> {
        self.linear_packed_epilogue(weight, bias, None, Some(residual))
    }

    fn linear_packed_epilogue(
        &self,
        weight: &PackedWeight,
        bias: Option<&Tensor>,
        act: Option<Unary>,
        residual: Option<&Tensor>,
    ) -> Result<Tensor> {
        let _p = crate::profile::scope(|| "linear".to_string());
        // A packed weight is frozen; gradients cannot flow through this path.
        let mut ins = vec![self];
        ins.extend(bias.into_iter().chain(residual));
        Tensor::check_backward("linear_packed", &ins)?;
        if self.dtype() != weight.dtype {
            return Err(crate::error::Error::DTypeMismatch {
                op: "linear_packed",
                lhs: self.dtype(),
                rhs: weight.dtype,
            });
        }
        let (n, k) = (weight.out_features(), weight.in_features());
        if self.dims() == 0 || self.shape()[self.dims() - 1] != k {
            return shape_err("linear", format!("x {:?} needs a last dimension of {k}", self.shape()));
        }
        let (x, m, shape) = self.linear_input(n, bias)?;
        let residual = residual.map(|r| super::matmul::residual_input("linear", self, r, &shape, m, n)).transpose()?;
        // The bias goes into the product's epilogue: no pass over the output before it.
        let p = Gemm {
            batch: 1,
            m,
            n,
            k,
            alpha: 1.0,
            beta: if residual.is_some() { 1.0 } else { 0.0 },
            a: MatLayout { offset: x.layout().offset, ..MatLayout::row_major(m, k) },
            b: MatLayout::row_major(k, n),
            c: MatLayout::row_major(m, n),
        };
        let bias = bias.map(|b| b.contiguous()?.to_dtype(DType::F32)).transpose()?;
        let bias = match &bias {
            Some(b) => Some(&b.data::<f32>("linear")?[b.layout().offset..][..n]),
            None => None,
        };
        let epilogue = Epilogue { bias, act };
        if weight.dtype == DType::F32 {
            let xd = x.data::<f32>("linear")?;
            return Tensor::build(&shape, |o: &mut [f32]| {
                if let Some(r) = &residual {
                    fast::copy(r.data::<f32>("linear")?, r.strided(), o)?;
                }
                Ok(fast::gemm_packed(&p, xd, &weight.b, epilogue, o)?)
            });
        }
        // bf16: the product, bias, activation and residual summed in f32, rounded once.
        let xd = x.data::<bf16>("linear")?;
        Tensor::build(&shape, |o: &mut [bf16]| {
            if let Some(r) = &residual {
                fast::copy(r.data::<bf16>("linear")?, r.strided(), o)?;
            }
            Ok(fast::gemm_packed_bf16(&p, xd, &weight.b, epilogue, o)?)
        })
    }
}
