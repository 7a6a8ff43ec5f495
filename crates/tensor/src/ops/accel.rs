//! Where an op runs when an operand is on a GPU: the CUDA or the wgpu side.

use iris_kernels::{Attention, Binary, Gemm, Im2col, MaskLayout, Rope, Unary};

use super::{cuda_ops, wgpu_ops};
use crate::error::Result;
use crate::{DType, Device, Tensor};

/// An attention mask on its way to a device kernel.
pub(crate) enum DevMask {
    None,
    /// f32 values (on any device) and their broadcast layout.
    Additive(Tensor, MaskLayout),
    /// Per query row, non-zero keeps a key.
    Keep(Vec<u8>, MaskLayout),
}

macro_rules! route {
    ($d:expr, $cuda:expr, $wgpu:expr) => {
        match $d {
            Device::Cuda(n) => $cuda(n),
            _ => $wgpu,
        }
    };
}

pub(crate) fn copy_as(x: &Tensor, d: Device, dtype: DType) -> Result<Tensor> {
    route!(d, |n| cuda_ops::copy_as(x, n, dtype), wgpu_ops::copy_as(x, dtype))
}
pub(crate) fn unary(x: &Tensor, d: Device, op: Unary) -> Result<Tensor> {
    route!(d, |n| cuda_ops::unary(x, n, op), wgpu_ops::unary(x, op))
}
pub(crate) fn binary(l: &Tensor, r: &Tensor, d: Device, op: Binary, shape: &[usize]) -> Result<Tensor> {
    route!(d, |n| cuda_ops::binary(l, r, n, op, shape), wgpu_ops::binary(l, r, op, shape))
}
pub(crate) fn gemm(
    p: &Gemm,
    a: &Tensor,
    b: &Tensor,
    init: Option<&Tensor>,
    d: Device,
    shape: &[usize],
) -> Result<Tensor> {
    route!(d, |n| cuda_ops::gemm(p, a, b, init, n, shape), wgpu_ops::gemm(p, a, b, init, shape))
}
pub(crate) fn layer_norm(x: &Tensor, w: &Tensor, b: &Tensor, eps: f32, d: Device) -> Result<Tensor> {
    route!(d, |n| cuda_ops::layer_norm(x, w, b, eps, n), wgpu_ops::layer_norm(x, w, b, eps))
}
pub(crate) fn rms_norm(x: &Tensor, w: &Tensor, eps: f32, d: Device) -> Result<Tensor> {
    route!(d, |n| cuda_ops::rms_norm(x, w, eps, n), wgpu_ops::rms_norm(x, w, eps))
}
pub(crate) fn softmax(x: &Tensor, row: usize, d: Device) -> Result<Tensor> {
    route!(d, |n| cuda_ops::softmax(x, row, n), wgpu_ops::softmax(x, row))
}
pub(crate) fn rope(x: &Tensor, cos: &Tensor, sin: &Tensor, p: &Rope, d: Device) -> Result<Tensor> {
    route!(d, |n| cuda_ops::rope(x, cos, sin, p, n), wgpu_ops::rope(x, cos, sin, p))
}
pub(crate) fn im2col(x: &Tensor, p: &Im2col, d: Device, shape: &[usize]) -> Result<Tensor> {
    route!(d, |n| cuda_ops::im2col(x, p, n, shape), wgpu_ops::im2col(x, p, shape))
}
pub(crate) fn embedding(table: &Tensor, ids: &[u32], d: Device) -> Result<Tensor> {
    route!(d, |n| cuda_ops::embedding(table, ids, n), wgpu_ops::embedding(table, ids))
}
pub(crate) fn attention(p: &Attention, q: &Tensor, k: &Tensor, v: &Tensor, mask: DevMask, d: Device) -> Result<Tensor> {
    match d {
        Device::Cuda(n) => {
            let m = match mask {
                DevMask::None => cuda_ops::DevMask::None,
                DevMask::Additive(t, l) => cuda_ops::DevMask::Additive(t, l),
                DevMask::Keep(b, l) => cuda_ops::DevMask::Keep(b, l),
            };
            cuda_ops::attention(p, q, k, v, m, n)
        }
        _ => {
            let m = match mask {
                DevMask::None => wgpu_ops::Mask::None,
                DevMask::Additive(t, l) => wgpu_ops::Mask::Additive(t, l),
                DevMask::Keep(b, l) => wgpu_ops::Mask::Keep(b, l),
            };
            wgpu_ops::attention(p, q, k, v, m)
        }
    }
}
pub(crate) fn cat(parts: &[Tensor], dim: usize, shape: &[usize], d: Device) -> Result<Tensor> {
    route!(d, |n| cuda_ops::cat(parts, dim, shape, n), wgpu_ops::cat(parts, dim, shape))
}
pub(crate) fn write_at(dst: &mut Tensor, dim: usize, start: usize, src: &Tensor, d: Device) -> Result<()> {
    route!(d, |n| cuda_ops::write_at(dst, dim, start, src, n), wgpu_ops::write_at(dst, dim, start, src))
}
