//! Packing for the BLIS path: `w` columns [j0, j0 + w) of a k-slab of KC
//! steps of a k×n operand (B, or Aᵀ) into a k-major panel
//!   panel[s·w + jj] = src(pc + s, j0 + jj)      (s < kc, jj < w)
//! widened to f32 and zero-padded past column n.
//!
//! When the operand's columns run along k (a weight [N, K] as F.linear takes
//! it, or A itself), each of the w source lines is read contiguously and the
//! panel is their transpose: on AVX-512 that is done 16×16 at a time in
//! registers (8×8 on AVX2), since one scalar store per element to a line
//! 4·w bytes away cost as much as a third of the micro-kernel's time.

use crate::{Element, MatLayout};

#[allow(clippy::too_many_arguments)]
pub(crate) fn pack<T: Element>(
    panel: &mut [f32],
    src: &[T],
    l: &MatLayout,
    bi: usize,
    pc: usize,
    j0: usize,
    n: usize,
    w: usize,
) {
    let live = w.min(n - j0);
    let kc = panel.len() / w;
    if l.col_stride != 1 && l.row_stride == 1 {
        let line = |jj: usize| &src[l.at(bi, pc, j0 + jj)..][..kc];
        if !transpose_lines(panel, w, live, kc, &line) {
            for jj in 0..live {
                for (s, v) in line(jj).iter().enumerate() {
                    panel[s * w + jj] = v.to_f32();
                }
            }
        }
        for s in 0..kc {
            panel[s * w + live..(s + 1) * w].fill(0.0);
        }
        return;
    }
    if l.col_stride == 1 && live == w {
        // A panel's steps as fixed-width copies: a row-major Aᵀ of MR = 6 columns
        // went through a libc memcpy call per 24 bytes, a tenth of a training
        // step of the tiny encoder (dW = dYᵀ·X, AVX2).
        let row = |s: usize| l.at(bi, pc + s, j0);
        match w {
            6 => return rows::<T, 6>(panel, src, row),
            12 => return rows::<T, 12>(panel, src, row),
            16 => return rows::<T, 16>(panel, src, row),
            32 => return rows::<T, 32>(panel, src, row),
            _ => {}
        }
    }
    for (s, dst) in panel.chunks_exact_mut(w).enumerate() {
        let row = l.at(bi, pc + s, j0);
        if l.col_stride == 1 {
            for (d, v) in dst.iter_mut().zip(&src[row..row + live]) {
                *d = v.to_f32();
            }
        } else {
            for (jj, d) in dst[..live].iter_mut().enumerate() {
                *d = src[row + jj * l.col_stride].to_f32();
            }
        }
        dst[live..].fill(0.0);
    }
}

/// `panel`'s steps of W columns each, step s from `src[row(s)..][..W]`.
fn rows<T: Element, const W: usize>(panel: &mut [f32], src: &[T], row: impl Fn(usize) -> usize) {
    for (s, dst) in panel.chunks_exact_mut(W).enumerate() {
        let from: &[T; W] = src[row(s)..][..W].try_into().unwrap();
        for (d, v) in dst.iter_mut().zip(from) {
            *d = v.to_f32();
        }
    }
}

/// Packs columns [j0, j0 + w) of the k × n operand for `kern`: f32 panels,
/// or bf16 pairs (`pairs.rs`), over the panel's whole depth.
#[allow(clippy::too_many_arguments)]
pub(crate) fn pack_for<T: Element>(
    kern: &super::microkernel::Kernel,
    panel: &mut [f32],
    src: &[T],
    l: &MatLayout,
    bi: usize,
    j0: usize,
    n: usize,
    w: usize,
    k: usize,
) {
    if kern.pairs {
        super::pairs::pack_pairs(panel, src, l, bi, j0, n, w, k)
    } else {
        pack(panel, src, l, bi, 0, j0, n, w)
    }
}

/// `panel[s·w + jj] = line(jj)[s]` for jj < live, s < kc, 16 lines × 16
/// steps per register transpose. False when this CPU or dtype has no fast path.
fn transpose_lines<'a, T: Element>(
    panel: &mut [f32],
    w: usize,
    live: usize,
    kc: usize,
    line: &dyn Fn(usize) -> &'a [T],
) -> bool {
    #[cfg(target_arch = "x86_64")]
    if crate::cpu::isa::isa().avx512() {
        for jj0 in (0..live).step_by(16) {
            let lines = 16.min(live - jj0);
            let ptrs: [*const T; 16] = std::array::from_fn(|r| line(jj0 + r.min(lines - 1)).as_ptr());
            assert!(panel.len() >= (kc - 1) * w + jj0 + lines);
            // SAFETY: every line holds kc elements; the assert bounds the panel's stores.
            unsafe { avx512::transpose_block(panel.as_mut_ptr().add(jj0), w, lines, kc, &ptrs) };
        }
        return true;
    }
    #[cfg(target_arch = "x86_64")]
    if crate::cpu::isa::isa() >= crate::cpu::isa::Isa::Avx2 && T::DTYPE != crate::DType::F16 {
        for jj0 in (0..live).step_by(8) {
            let lines = 8.min(live - jj0);
            let ptrs: [*const T; 8] = std::array::from_fn(|r| line(jj0 + r.min(lines - 1)).as_ptr());
            assert!(panel.len() >= (kc - 1) * w + jj0 + lines);
            // SAFETY: every line holds kc elements; `avx2::transpose_block` keeps its stores in the
            // panel (see there), which the assert and the slice's length bound.
            unsafe { avx2::transpose_block(panel.as_mut_ptr().add(jj0), panel.len() - jj0, w, jj0, lines, kc, &ptrs) };
        }
        return true;
    }
    let _ = (panel, w, live, kc, line);
    false
}

#[cfg(target_arch = "x86_64")]
mod avx2 {
    use std::arch::x86_64::*;

    use crate::{DType, Element};

    /// out[s·w + r] = lines[r][s] for r < rows, s < kc, 8 steps of the 8 lines
    /// per register transpose (f32 or bf16 lines). `out` is the panel from
    /// column `jj0` on, `room` floats long. A store may run past column
    /// jj0 + rows: full 8-wide stores are kept where what they overwrite is
    /// written again later, a padding column (≥ the panel's live columns,
    /// zeroed after) or the next step's first columns when this is the first
    /// group (jj0 = 0, w < 8); elsewhere the store is masked.
    ///
    /// # Safety
    /// AVX2 CPU; each of the 8 pointers valid for kc elements (rows past
    /// `rows` repeat a valid line); `out` valid for `room` ≥ (kc − 1)·w + rows floats.
    #[target_feature(enable = "avx2,fma")]
    pub(super) unsafe fn transpose_block<T: Element>(
        out: *mut f32,
        room: usize,
        w: usize,
        jj0: usize,
        rows: usize,
        kc: usize,
        lines: &[*const T; 8],
    ) {
        let mask = _mm256_cmpgt_epi32(_mm256_set1_epi32(rows as i32), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
        // Eight rows fit: jj0 + 8 ≤ live ≤ w.
        let spill_ok = jj0 + 8 <= w || jj0 == 0;
        let full = kc / 8 * 8;
        for s0 in (0..full).step_by(8) {
            let mut r = [_mm256_setzero_ps(); 8];
            for (v, line) in r.iter_mut().zip(lines) {
                *v = load8::<T>(line.add(s0));
                _mm_prefetch::<_MM_HINT_T0>(line.wrapping_add(s0 + 64) as *const i8);
            }
            for (c, v) in transpose8(r).into_iter().enumerate() {
                let at = (s0 + c) * w;
                if spill_ok && at + 8 <= room {
                    _mm256_storeu_ps(out.add(at), v);
                } else {
                    _mm256_maskstore_ps(out.add(at), mask, v);
                }
            }
        }
        for s in full..kc {
            for (r, line) in lines.iter().enumerate().take(rows) {
                *out.add(s * w + r) = (*line.add(s)).to_f32();
            }
        }
    }

    /// 8 elements from `p` widened to f32 (f32 or bf16).
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    unsafe fn load8<T: Element>(p: *const T) -> __m256 {
        match T::DTYPE {
            DType::F32 => _mm256_loadu_ps(p as *const f32),
            // bf16 is the high half of an f32.
            _ => _mm256_castsi256_ps(_mm256_slli_epi32::<16>(_mm256_cvtepu16_epi32(_mm_loadu_si128(
                p as *const __m128i,
            )))),
        }
    }

    /// The transpose of 8 rows of 8: 32-bit interleaves, 64-bit shuffles within
    /// 128-bit lanes, then the lanes exchanged.
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    unsafe fn transpose8(r: [__m256; 8]) -> [__m256; 8] {
        let mut t = [_mm256_setzero_ps(); 8];
        for p in 0..4 {
            t[2 * p] = _mm256_unpacklo_ps(r[2 * p], r[2 * p + 1]);
            t[2 * p + 1] = _mm256_unpackhi_ps(r[2 * p], r[2 * p + 1]);
        }
        // u[4g + j]: columns j and j + 4 of rows 4g..4g + 4, one per 128-bit lane.
        let mut u = [_mm256_setzero_ps(); 8];
        for g in 0..2 {
            for h in 0..2 {
                let (a, b) = (t[4 * g + h], t[4 * g + 2 + h]);
                u[4 * g + 2 * h] = _mm256_shuffle_ps::<0x44>(a, b);
                u[4 * g + 2 * h + 1] = _mm256_shuffle_ps::<0xEE>(a, b);
            }
        }
        let mut out = [_mm256_setzero_ps(); 8];
        for j in 0..4 {
            out[j] = _mm256_permute2f128_ps::<0x20>(u[j], u[4 + j]);
            out[4 + j] = _mm256_permute2f128_ps::<0x31>(u[j], u[4 + j]);
        }
        out
    }
}

#[cfg(target_arch = "x86_64")]
pub(super) mod avx512 {
    use std::arch::x86_64::*;

    use crate::{DType, Element};

    /// out[s·w + r] = lines[r][s] for r < rows, s < kc.
    ///
    /// # Safety
    /// AVX-512 CPU; each of the 16 pointers valid for kc elements (rows past
    /// `rows` repeat a valid line); `out` valid for (kc − 1)·w + rows floats.
    #[target_feature(enable = "avx512f,avx512bw")]
    pub(super) unsafe fn transpose_block<T: Element>(
        out: *mut f32,
        w: usize,
        rows: usize,
        kc: usize,
        lines: &[*const T; 16],
    ) {
        let store = ((1u32 << rows) - 1) as __mmask16;
        for s0 in (0..kc).step_by(16) {
            let steps = 16.min(kc - s0);
            let load: __mmask16 = if steps == 16 { 0xFFFF } else { (1u16 << steps) - 1 };
            let mut r = [_mm512_setzero_ps(); 16];
            for (v, line) in r.iter_mut().zip(lines) {
                *v = load16::<T>(line.add(s0), load);
                // Four cache lines ahead: sixteen lines at a page's stride outrun the prefetchers.
                _mm_prefetch::<_MM_HINT_T0>(line.add(s0 + 64) as *const i8);
            }
            let t = transpose16(r);
            for (c, v) in t.iter().enumerate().take(steps) {
                _mm512_mask_storeu_ps(out.add((s0 + c) * w), store, *v);
            }
        }
    }

    /// 16 elements from `p` (only the `mask` lanes are read) widened to f32.
    #[inline]
    #[target_feature(enable = "avx512f,avx512bw")]
    unsafe fn load16<T: Element>(p: *const T, mask: __mmask16) -> __m512 {
        match T::DTYPE {
            DType::F32 => _mm512_maskz_loadu_ps(mask, p as *const f32),
            DType::F16 => _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(mask, p as *const i16)),
            // bf16 is the high half of an f32.
            _ => _mm512_castsi512_ps(_mm512_slli_epi32::<16>(_mm512_cvtepu16_epi32(_mm256_maskz_loadu_epi16(
                mask,
                p as *const i16,
            )))),
        }
    }

    /// The transpose of 16 rows of 16: 32-bit, then 64-bit interleaves within
    /// 128-bit lanes, then two rounds of lane shuffles.
    #[inline]
    #[target_feature(enable = "avx512f")]
    pub(in crate::cpu::gemm) unsafe fn transpose16(r: [__m512; 16]) -> [__m512; 16] {
        let mut t = [_mm512_setzero_ps(); 16];
        for p in 0..8 {
            t[2 * p] = _mm512_unpacklo_ps(r[2 * p], r[2 * p + 1]);
            t[2 * p + 1] = _mm512_unpackhi_ps(r[2 * p], r[2 * p + 1]);
        }
        // u[4g + j]: in 128-bit lane L, column 4L + j of rows 4g..4g + 4.
        let mut u = [_mm512_setzero_ps(); 16];
        for g in 0..4 {
            for h in 0..2 {
                let (a, b) = (_mm512_castps_pd(t[4 * g + h]), _mm512_castps_pd(t[4 * g + 2 + h]));
                u[4 * g + 2 * h] = _mm512_castpd_ps(_mm512_unpacklo_pd(a, b));
                u[4 * g + 2 * h + 1] = _mm512_castpd_ps(_mm512_unpackhi_pd(a, b));
            }
        }
        let mut out = [_mm512_setzero_ps(); 16];
        for j in 0..4 {
            let lo02 = _mm512_shuffle_f32x4::<0x88>(u[j], u[4 + j]);
            let hi02 = _mm512_shuffle_f32x4::<0x88>(u[8 + j], u[12 + j]);
            let lo13 = _mm512_shuffle_f32x4::<0xDD>(u[j], u[4 + j]);
            let hi13 = _mm512_shuffle_f32x4::<0xDD>(u[8 + j], u[12 + j]);
            out[j] = _mm512_shuffle_f32x4::<0x88>(lo02, hi02);
            out[8 + j] = _mm512_shuffle_f32x4::<0xDD>(lo02, hi02);
            out[4 + j] = _mm512_shuffle_f32x4::<0x88>(lo13, hi13);
            out[12 + j] = _mm512_shuffle_f32x4::<0xDD>(lo13, hi13);
        }
        out
    }
}
