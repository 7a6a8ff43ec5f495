//! The attention kernels' operands: query, key and value heads, the mask and
//! the attention shape. Shape letters: B batch, H query heads, Hkv key/value
//! heads, Tq query length, Tk key length, D head dimension.

use crate::error::{check_extent, Error, Result};

/// A [B, heads, T, D] operand whose last dimension is contiguous: element
/// (b, h, t, d) sits at `offset + b·b_stride + h·h_stride + t·t_stride + d`.
/// A [B, T, H, D] buffer is the same thing with `h_stride = D, t_stride = H·D`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Heads {
    pub offset: usize,
    pub b_stride: usize,
    pub h_stride: usize,
    pub t_stride: usize,
}

impl Heads {
    /// A dense [B, heads, T, D] buffer.
    pub fn bhtd(heads: usize, t: usize, d: usize) -> Self {
        Heads { offset: 0, b_stride: heads * t * d, h_stride: t * d, t_stride: d }
    }

    /// A dense [B, T, heads, D] buffer, read as [B, heads, T, D].
    pub fn bthd(heads: usize, t: usize, d: usize) -> Self {
        Heads { offset: 0, b_stride: heads * t * d, h_stride: d, t_stride: heads * d }
    }

    #[inline(always)]
    pub(crate) fn row(&self, b: usize, h: usize, t: usize) -> usize {
        self.offset + b * self.b_stride + h * self.h_stride + t * self.t_stride
    }
}

/// A per-(batch, head) [Tq, Tk] mask, keys contiguous; zero strides broadcast.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MaskLayout {
    pub offset: usize,
    pub b_stride: usize,
    pub h_stride: usize,
    pub q_stride: usize,
}

impl MaskLayout {
    /// One [Tq, Tk] mask shared by every batch entry and head.
    pub fn shared(tk: usize) -> Self {
        MaskLayout { offset: 0, b_stride: 0, h_stride: 0, q_stride: tk }
    }

    #[inline(always)]
    pub(crate) fn row(&self, b: usize, h: usize, q: usize) -> usize {
        self.offset + b * self.b_stride + h * self.h_stride + q * self.q_stride
    }
}

/// What masks the scores before the softmax, over any kind of buffer: host
/// slices for the CPU kernels ([`Mask`]), backend buffers for the `Backend`
/// trait, device slices inside a GPU backend.
#[derive(Clone, Copy, Debug)]
pub enum MaskOf<A, K> {
    None,
    /// Added to the scaled scores (−inf hides a key).
    Additive(A, MaskLayout),
    /// Per query row, which keys may be seen (non-zero = keep).
    Keep(K, MaskLayout),
}

/// A mask over host slices (the CPU kernels').
pub type Mask<'a> = MaskOf<&'a [f32], &'a [u8]>;

impl<A, K> MaskOf<A, K> {
    pub fn map<A2, K2>(self, a: impl FnOnce(A) -> A2, k: impl FnOnce(K) -> K2) -> MaskOf<A2, K2> {
        match self {
            MaskOf::None => MaskOf::None,
            MaskOf::Additive(m, l) => MaskOf::Additive(a(m), l),
            MaskOf::Keep(m, l) => MaskOf::Keep(k(m), l),
        }
    }
    pub fn try_map<A2, K2, E>(
        self,
        a: impl FnOnce(A) -> std::result::Result<A2, E>,
        k: impl FnOnce(K) -> std::result::Result<K2, E>,
    ) -> std::result::Result<MaskOf<A2, K2>, E> {
        Ok(match self {
            MaskOf::None => MaskOf::None,
            MaskOf::Additive(m, l) => MaskOf::Additive(a(m)?, l),
            MaskOf::Keep(m, l) => MaskOf::Keep(k(m)?, l),
        })
    }
    pub fn is_none(&self) -> bool {
        matches!(self, MaskOf::None)
    }
}

/// `O = softmax(Q·Kᵀ·scale + mask)·V` over Q [B, H, Tq, D], K/V [B, Hkv, Tk, D],
/// O [B, H, Tq, D]; query head h reads key/value head `h / (H / Hkv)`.
/// Causal: query i sees keys j ≤ i + (Tk − Tq), so a decode step (Tq = 1)
/// sees the whole cache. A row that sees no key at all yields zeros.
#[derive(Clone, Copy, Debug)]
pub struct Attention {
    pub b: usize,
    pub h: usize,
    pub hkv: usize,
    pub tq: usize,
    pub tk: usize,
    pub d: usize,
    pub scale: f32,
    pub causal: bool,
    pub q: Heads,
    pub k: Heads,
    pub v: Heads,
    pub o: Heads,
}

impl Attention {
    /// Checks the operands' lengths, and the mask's (its buffers' lengths).
    pub fn check(&self, q: usize, k: usize, v: usize, o: usize, mask: MaskOf<usize, usize>) -> Result<()> {
        let op = "attention";
        if self.hkv == 0 || !self.h.is_multiple_of(self.hkv) {
            return Err(Error::Shape { op, msg: format!("H = {} is not a multiple of Hkv = {}", self.h, self.hkv) });
        }
        let ext = |l: &Heads, h, t| [(self.b, l.b_stride), (h, l.h_stride), (t, l.t_stride), (self.d, 1)];
        check_extent(op, "q", q, self.q.offset, &ext(&self.q, self.h, self.tq))?;
        check_extent(op, "k", k, self.k.offset, &ext(&self.k, self.hkv, self.tk))?;
        check_extent(op, "v", v, self.v.offset, &ext(&self.v, self.hkv, self.tk))?;
        check_extent(op, "o", o, self.o.offset, &ext(&self.o, self.h, self.tq))?;
        let mext = |l: &MaskLayout| [(self.b, l.b_stride), (self.h, l.h_stride), (self.tq, l.q_stride), (self.tk, 1)];
        match mask {
            MaskOf::None => Ok(()),
            MaskOf::Additive(m, l) => check_extent(op, "mask", m, l.offset, &mext(&l)),
            MaskOf::Keep(m, l) => check_extent(op, "key_mask", m, l.offset, &mext(&l)),
        }
    }
}
