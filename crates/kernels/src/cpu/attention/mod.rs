//! Fused attention and cross-attention (shapes in `Attention`).

pub(crate) mod backward;
mod flash;
pub(crate) mod reference;
mod tiled;

pub use flash::attention;

use crate::{Attention, Element, Error, Mask, MaskLayout, Result};

/// How many of the `kb` keys from k0 query row i sees: all of them, or under
/// the causal rule those with j ≤ i + (Tk − Tq).
#[inline(always)]
pub(super) fn visible(p: &Attention, i: usize, k0: usize, kb: usize) -> usize {
    if !p.causal {
        return kb;
    }
    (i as isize + p.tk as isize - p.tq as isize + 1 - k0 as isize).clamp(0, kb as isize) as usize
}

/// Applies what hides keys to one row of scores for keys [k0, k0 + s.len()):
/// keys from `limit` on (past the causal limit or the block) get −inf, the
/// rest the additive mask or the keep mask of query row (b, h, i).
#[inline(always)]
pub(super) fn mask_row(s: &mut [f32], limit: usize, mask: Mask, b: usize, h: usize, i: usize, k0: usize) {
    s[limit..].fill(f32::NEG_INFINITY);
    match mask {
        Mask::None => {}
        Mask::Additive(m, l) => {
            for (x, a) in s.iter_mut().zip(&m[l.row(b, h, i) + k0..][..limit]) {
                *x += a;
            }
        }
        Mask::Keep(m, l) => {
            for (x, &keep) in s.iter_mut().zip(&m[l.row(b, h, i) + k0..][..limit]) {
                if keep == 0 {
                    *x = f32::NEG_INFINITY;
                }
            }
        }
    }
}

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
