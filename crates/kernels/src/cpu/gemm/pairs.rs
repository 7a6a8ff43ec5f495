//! bf16 panels for `vdpbf16ps` (AVX512-BF16) and the micro-kernel on them.
//!
//! The panels are `pack.rs`'s MR-row and NR-column panels with each 32-bit
//! slot holding two consecutive steps of k as bf16, the even step in the
//! low half:
//!   panel[s·w + jj] = bf16(src(2s, j0 + jj)) | bf16(src(2s + 1, j0 + jj)) << 16
//!   (s < ⌈K/2⌉ slots, jj < w; zero past column n and past step K)
//! so a depth of K steps is ⌈K/2⌉ slots, and the BLIS driver walks these
//! panels exactly as it walks f32 ones. `vdpbf16ps acc, a, b` adds
//! a.lo·b.lo + a.hi·b.hi of each lane's pair to its f32 sum: the products
//! are exact, the sums f32, as in the widening path, in another order.
//!
//! The micro-kernel covers 12×32 of C in 24 zmm accumulators: per slot two
//! B loads and twelve 32-bit broadcasts of A pairs, each instruction doing
//! two steps of k — twice the f32 kernel's work per instruction.

use super::microkernel::Kernel;
#[cfg_attr(not(target_arch = "x86_64"), allow(unused_imports))]
use crate::cpu::isa::{isa, Isa};
use crate::{DType, Element, MatLayout};

/// The pair kernel of the compute-bound products: on AMX tiles where the CPU
/// has AMX (or the tiles' software model is on), else on `vdpbf16ps` where
/// it pays (`isa::bf16_dots`); `None`: widen to f32.
pub(crate) fn kernel() -> Option<Kernel> {
    if let Some(k) = super::amx::kernel() {
        return Some(k);
    }
    if !crate::cpu::isa::bf16_dots() {
        return None;
    }
    vector_kernel()
}

/// The `vdpbf16ps` kernel alone, never the AMX tiles (the one-row product,
/// `gemv.rs`).
pub(crate) fn vector_kernel() -> Option<Kernel> {
    #[cfg(target_arch = "x86_64")]
    if isa() >= Isa::Avx512Bf16 {
        return Some(Kernel { mr: 12, nr: 32, run: avx512bf16_12x32, pairs: true, tiles: false, ahead: None });
    }
    None
}

/// The bf16 bits of `v` (rounded to nearest even; exact for a bf16).
#[inline(always)]
fn bits<T: Element>(v: T) -> u32 {
    half::bf16::from_f32(v.to_f32()).to_bits() as u32
}

/// Packs columns [j0, j0 + w) of the k × n operand `src` (layout `l`, batch
/// `bi`, `k` steps deep) as pairs into `panel` (⌈k/2⌉·w slots).
#[allow(clippy::too_many_arguments)]
pub(crate) fn pack_pairs<T: Element>(
    panel: &mut [f32],
    src: &[T],
    l: &MatLayout,
    bi: usize,
    j0: usize,
    n: usize,
    w: usize,
    k: usize,
) {
    let live = w.min(n - j0);
    let slots = panel.len() / w;
    let out: &mut [u32] = bytemuck::cast_slice_mut(panel);
    #[cfg(target_arch = "x86_64")]
    if T::DTYPE == DType::BF16 && isa().avx512() && k > 0 {
        // SAFETY: T is bf16; the CPU has AVX-512; the layout's extent was checked by the caller
        // (Gemm::check or PackedB::new), so every (s < k, j < n) element is in `src`.
        unsafe {
            let src = std::slice::from_raw_parts(src.as_ptr() as *const u16, src.len());
            if l.row_stride == 1 {
                avx512::lines(out, w, live, slots, k, &|jj| &src[l.at(bi, 0, j0 + jj)..][..k]);
                return;
            }
            if l.col_stride == 1 {
                avx512::rows(out, w, live, slots, k, &|s| &src[l.at(bi, s, j0)..][..live]);
                return;
            }
        }
    }
    let at = |s: usize, jj: usize| if s < k { bits(src[l.at(bi, s, j0 + jj)]) } else { 0 };
    for s in 0..slots {
        for jj in 0..w {
            out[s * w + jj] = if jj < live { at(2 * s, jj) | at(2 * s + 1, jj) << 16 } else { 0 };
        }
    }
}

#[cfg(target_arch = "x86_64")]
mod avx512 {
    use std::arch::x86_64::*;

    use super::super::pack::avx512::transpose16;

    /// Operand lines along k (a weight [N, K], or A): slot s of line jj is
    /// its elements 2s and 2s + 1, one u32; 16 lines × 16 slots a register
    /// transpose. Columns past `live` and slots past `slots` are zero.
    ///
    /// # Safety
    /// AVX-512F/BW/VL; each line holds `k` elements; `out` holds `slots·w`.
    #[target_feature(enable = "avx512f,avx512bw,avx512vl")]
    pub(super) unsafe fn lines<'a>(
        out: &mut [u32],
        w: usize,
        live: usize,
        slots: usize,
        k: usize,
        line: &dyn Fn(usize) -> &'a [u16],
    ) {
        assert!(out.len() >= slots * w && slots >= k.div_ceil(2));
        for jj0 in (0..live).step_by(16) {
            let rows = 16.min(live - jj0);
            let ptrs: [*const u16; 16] = std::array::from_fn(|r| line(jj0 + r.min(rows - 1)).as_ptr());
            let store = ((1u32 << rows) - 1) as __mmask16;
            for s0 in (0..k.div_ceil(2)).step_by(16) {
                // Elements [2·s0, 2·s0 + 32) of each line, those at or past k read as zero.
                let left = k - 2 * s0;
                let load: __mmask32 = if left >= 32 { u32::MAX } else { (1u32 << left) - 1 };
                let mut r = [_mm512_setzero_ps(); 16];
                for (v, p) in r.iter_mut().zip(&ptrs) {
                    *v = _mm512_castsi512_ps(_mm512_maskz_loadu_epi16(load, p.add(2 * s0) as *const i16));
                    _mm_prefetch::<_MM_HINT_T0>(p.wrapping_add(2 * s0 + 128) as *const i8);
                }
                let t = transpose16(r);
                for (c, v) in t.iter().enumerate().take(16.min(slots - s0)) {
                    _mm512_mask_storeu_ps(out.as_mut_ptr().add((s0 + c) * w + jj0) as *mut f32, store, *v);
                }
            }
        }
        zero_tail(out, w, live, slots, k);
    }

    /// Operand rows along n (a row-major [K, N]): slot s interleaves rows 2s
    /// and 2s + 1, 16 columns at a time.
    ///
    /// # Safety
    /// AVX-512F/BW/VL; each row holds `live` elements; `out` holds `slots·w`.
    #[target_feature(enable = "avx512f,avx512bw,avx512vl")]
    pub(super) unsafe fn rows<'a>(
        out: &mut [u32],
        w: usize,
        live: usize,
        slots: usize,
        k: usize,
        row: &dyn Fn(usize) -> &'a [u16],
    ) {
        assert!(out.len() >= slots * w && slots >= k.div_ceil(2));
        for s in 0..k.div_ceil(2) {
            let (even, odd) = (row(2 * s), (2 * s + 1 < k).then(|| row(2 * s + 1)));
            for j0 in (0..live).step_by(16) {
                let n = 16.min(live - j0);
                let mask = ((1u32 << n) - 1) as __mmask16;
                let lo = _mm512_cvtepu16_epi32(_mm256_maskz_loadu_epi16(mask, even.as_ptr().add(j0) as *const i16));
                let hi = match odd {
                    Some(o) => _mm512_cvtepu16_epi32(_mm256_maskz_loadu_epi16(mask, o.as_ptr().add(j0) as *const i16)),
                    None => _mm512_setzero_si512(),
                };
                let v = _mm512_or_si512(lo, _mm512_slli_epi32::<16>(hi));
                _mm512_mask_storeu_epi32(out.as_mut_ptr().add(s * w + j0) as *mut i32, mask, v);
            }
        }
        zero_tail(out, w, live, slots, k);
    }

    /// Zeroes the columns past `live` and the slots past the depth.
    fn zero_tail(out: &mut [u32], w: usize, live: usize, slots: usize, k: usize) {
        let deep = k.div_ceil(2);
        if live < w {
            for s in 0..deep {
                out[s * w + live..(s + 1) * w].fill(0);
            }
        }
        out[deep * w..slots * w].fill(0);
    }
}

/// # Safety
/// AVX512-BF16 CPU; packed pair panels of `kc` slots; C valid for a 12×32 strided tile.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512bf16,fma")]
unsafe fn avx512bf16_12x32(
    kc: usize,
    a: *const f32,
    b: *const f32,
    c: *mut f32,
    rs: usize,
    cs: usize,
    alpha: f32,
    beta: f32,
) {
    use std::arch::x86_64::*;
    const MR: usize = 12;
    if cs == 1 {
        for i in 0..MR {
            _mm_prefetch::<_MM_HINT_T0>(c.add(i * rs) as *const i8);
            _mm_prefetch::<_MM_HINT_T0>(c.add(i * rs + 31) as *const i8);
        }
    }
    let mut acc = [[_mm512_setzero_ps(); 2]; MR];
    let (mut a, mut b) = (a as *const i32, b as *const i32);
    #[inline(always)]
    unsafe fn step(acc: &mut [[__m512; 2]; MR], a: *const i32, b: *const i32) {
        let b0: __m512bh = std::mem::transmute(_mm512_loadu_si512(b as *const _));
        let b1: __m512bh = std::mem::transmute(_mm512_loadu_si512(b.add(16) as *const _));
        for (i, row) in acc.iter_mut().enumerate() {
            let ai: __m512bh = std::mem::transmute(_mm512_set1_epi32(*a.add(i)));
            row[0] = _mm512_dpbf16_ps(row[0], ai, b0);
            row[1] = _mm512_dpbf16_ps(row[1], ai, b1);
        }
    }
    for _ in 0..kc / 4 {
        _mm_prefetch::<_MM_HINT_T0>(a.add(8 * MR) as *const i8);
        _mm_prefetch::<_MM_HINT_T0>(a.add(8 * MR + 16) as *const i8);
        _mm_prefetch::<_MM_HINT_T0>(a.add(8 * MR + 32) as *const i8);
        for u in 0..4 {
            step(&mut acc, a.add(u * MR), b.add(u * 32));
        }
        a = a.add(4 * MR);
        b = b.add(128);
    }
    for _ in 0..kc % 4 {
        step(&mut acc, a, b);
        a = a.add(MR);
        b = b.add(32);
    }
    super::microkernel::store_12x32(&acc, c, rs, cs, alpha, beta);
}
