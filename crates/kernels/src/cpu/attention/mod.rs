//! Fused attention and cross-attention (shapes in `Attention`).

mod flash;
pub(crate) mod reference;
mod tiled;

pub use flash::attention;

use crate::{Attention, Element, Error, Mask, MaskLayout, Result};

type AttentionFn<T> = fn(&Attention, &[T], &[T], &[T], Mask, &mut [T]) -> Result<()>;

/// Cross-attention: queries from the text, keys/values from another sequence
/// (image states), never causal, with an optional per-row key mask [Tq, Tk]
/// (non-zero = keep). Shared by the fast and reference kernels.
pub(crate) fn cross_with<T: Element>(
    attend: AttentionFn<T>,
    p: &Attention,
    q: &[T],
    k: &[T],
    v: &[T],
    key_mask: Option<(&[u8], MaskLayout)>,
    o: &mut [T],
) -> Result<()> {
    if p.causal {
        return Err(Error::Shape { op: "cross_attention", msg: "cross-attention is never causal".into() });
    }
    let mask = key_mask.map_or(Mask::None, |(m, l)| Mask::Keep(m, l));
    attend(p, q, k, v, mask, o)
}

pub fn cross_attention<T: Element>(
    p: &Attention,
    q: &[T],
    k: &[T],
    v: &[T],
    key_mask: Option<(&[u8], MaskLayout)>,
    o: &mut [T],
) -> Result<()> {
    cross_with(attention, p, q, k, v, key_mask, o)
}
