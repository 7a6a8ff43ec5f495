//! CPU kernels. `reference` holds the spec, `fast` what the engine runs; the
//! two modules export the same functions with the same signatures.

mod attention;
pub mod backend;
mod copy;
mod copy_grad;
mod elementwise;
mod elementwise_grad;
pub(crate) mod gemm;
mod im2col;
mod im2col_grad;
pub mod isa;
mod loss;
mod math;
mod norm;
mod norm_grad;
pub(crate) mod pool;
mod reduce;
mod rope;
mod walk;

pub use loss::IGNORE;
pub use pool::{pool_stats, PoolStats};

/// Plain loops, f64 accumulation where order matters; never optimised.
pub mod reference {
    use crate::{Attention, Element, MaskLayout, Result};

    pub use super::attention::backward::reference::attention_backward;
    pub use super::attention::reference::attention;
    pub use super::copy::reference::{concat, copy, embedding};
    pub use super::copy_grad::reference::embedding_backward;
    pub use super::elementwise::reference::{binary, unary};
    pub use super::elementwise_grad::reference::unary_backward;
    pub use super::gemm::reference::gemm;
    pub use super::im2col::reference::im2col;
    pub use super::im2col_grad::reference::im2col_backward;
    pub use super::loss::reference::{cross_entropy, cross_entropy_backward};
    pub use super::norm::reference::{layer_norm, rms_norm, softmax};
    pub use super::norm_grad::reference::{layer_norm_backward, rms_norm_backward, softmax_backward};
    pub use super::reduce::reference::reduce;
    pub use super::rope::reference::rope;

    pub fn cross_attention<T: Element>(
        p: &Attention,
        q: &[T],
        k: &[T],
        v: &[T],
        key_mask: Option<(&[u8], MaskLayout)>,
        o: &mut [T],
    ) -> Result<()> {
        super::attention::cross_with(attention, p, q, k, v, key_mask, o)
    }
}

/// Packed, blocked, SIMD (chosen at run time) and parallel over rayon.
pub mod fast {
    pub use super::attention::backward::attention_backward;
    pub use super::attention::{attention, cross_attention};
    pub use super::copy::{concat, copy, embedding};
    pub use super::copy_grad::embedding_backward;
    pub use super::elementwise::{binary, unary};
    pub use super::elementwise_grad::unary_backward;
    pub use super::gemm::{gemm, gemm_packed, gemm_packed_bf16, Epilogue, PackedB};
    pub use super::im2col::im2col;
    pub use super::im2col_grad::im2col_backward;
    pub use super::loss::{cross_entropy, cross_entropy_backward};
    pub use super::norm::{layer_norm, rms_norm, softmax};
    pub use super::norm_grad::{layer_norm_backward, rms_norm_backward, softmax_backward};
    pub use super::reduce::reduce;
    pub use super::rope::rope;
}
