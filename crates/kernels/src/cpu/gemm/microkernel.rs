//! Register-tiled micro-kernels over packed panels:
//!   acc[i][j] = Σ_l a[l·MR + i] · b[l·NR + j]   (i < MR, j < NR, l < kc)
//!   C[i·rs + j·cs] = alpha·acc[i][j] + beta·C[i·rs + j·cs]
//! A panels hold MR rows k-major, B panels NR columns k-major, both padded
//! with zeros, so a kernel always computes a full MR×NR tile.
//!
//! AVX-512: 12×32, 24 zmm accumulators, two B loads and twelve broadcasts of
//! A per step of k. AVX2+FMA: 6×16 in 12 ymm. Portable: 4×16 in plain arrays.

use crate::cpu::isa::{isa, Isa};

/// `kc, a, b, c, rs, cs, alpha, beta`. `beta == 0` does not read C.
pub(crate) type KernelFn = unsafe fn(usize, *const f32, *const f32, *mut f32, usize, usize, f32, f32);

/// A `KernelFn` that also prefetches `lines` cache lines from `next` into L2,
/// a few per step, while it computes (the next B panel: `blocked.rs`).
pub(crate) type AheadFn = unsafe fn(usize, *const f32, *const f32, *mut f32, usize, usize, f32, f32, *const u8, usize);

#[derive(Clone, Copy)]
pub(crate) struct Kernel {
    pub mr: usize,
    pub nr: usize,
    pub run: KernelFn,
    /// Panels of bf16 pairs (`pairs.rs`): a depth of K steps is ⌈K/2⌉ slots.
    pub pairs: bool,
    /// AMX tiles (`amx.rs`): A panels in chunks of 16 slots holding each row's
    /// 16 slots together, and depths padded to whole chunks.
    pub tiles: bool,
    /// `run` with a prefetch of the next B panel woven in (the AMX kernel,
    /// whose B panels would otherwise arrive from memory on first use).
    pub ahead: Option<AheadFn>,
}

impl Kernel {
    /// Slots per panel line for a depth of `k` steps.
    pub fn depth(&self, k: usize) -> usize {
        match (self.pairs, self.tiles) {
            (false, _) => k,
            (true, false) => k.div_ceil(2),
            (true, true) => k.div_ceil(2).next_multiple_of(16),
        }
    }
}

pub(crate) fn kernel() -> Kernel {
    match isa() {
        #[cfg(target_arch = "x86_64")]
        Isa::Avx512 | Isa::Avx512Bf16 | Isa::Amx => {
            Kernel { mr: 12, nr: 32, run: avx512_12x32, pairs: false, tiles: false, ahead: None }
        }
        #[cfg(target_arch = "x86_64")]
        Isa::Avx2 => Kernel { mr: 6, nr: 16, run: avx2_6x16, pairs: false, tiles: false, ahead: None },
        _ => Kernel { mr: 4, nr: 16, run: scalar_4x16, pairs: false, tiles: false, ahead: None },
    }
}

/// Writes an MR×NR tile held row-major in `acc` (row length `ld`) to the first
/// `mr × nr` elements of C.
///
/// # Safety
/// `c` must be valid for the `mr × nr` strided elements.
#[inline(always)]
pub(super) unsafe fn store_tile(
    acc: &[f32],
    ld: usize,
    mr: usize,
    nr: usize,
    c: *mut f32,
    rs: usize,
    cs: usize,
    alpha: f32,
    beta: f32,
) {
    for i in 0..mr {
        for j in 0..nr {
            let p = c.add(i * rs + j * cs);
            let v = alpha * acc[i * ld + j];
            *p = if beta == 0.0 { v } else { v + beta * *p };
        }
    }
}

/// # Safety
/// Packed panels of `kc` steps; C valid for a 4×16 strided tile.
unsafe fn scalar_4x16(
    kc: usize,
    a: *const f32,
    b: *const f32,
    c: *mut f32,
    rs: usize,
    cs: usize,
    alpha: f32,
    beta: f32,
) {
    const MR: usize = 4;
    const NR: usize = 16;
    let mut acc = [0f32; MR * NR];
    for l in 0..kc {
        let bl = std::slice::from_raw_parts(b.add(l * NR), NR);
        for i in 0..MR {
            let ai = *a.add(l * MR + i);
            for j in 0..NR {
                acc[i * NR + j] += ai * bl[j];
            }
        }
    }
    store_tile(&acc, NR, MR, NR, c, rs, cs, alpha, beta);
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,fma")]
unsafe fn avx512_12x32(
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
    // C's tile is read (beta ≠ 0) and written after the k loop: start fetching it now,
    // or each call stalls on 24 lines of a C that no longer fits in cache.
    if cs == 1 {
        for i in 0..MR {
            _mm_prefetch::<_MM_HINT_T0>(c.add(i * rs) as *const i8);
            _mm_prefetch::<_MM_HINT_T0>(c.add(i * rs + 31) as *const i8);
        }
    }
    let mut acc = [[_mm512_setzero_ps(); 2]; MR];
    let (mut a, mut b) = (a, b);
    #[inline(always)]
    unsafe fn step(acc: &mut [[__m512; 2]; MR], a: *const f32, b: *const f32) {
        let b0 = _mm512_loadu_ps(b);
        let b1 = _mm512_loadu_ps(b.add(16));
        for (i, row) in acc.iter_mut().enumerate() {
            let ai = _mm512_set1_ps(*a.add(i));
            row[0] = _mm512_fmadd_ps(ai, b0, row[0]);
            row[1] = _mm512_fmadd_ps(ai, b1, row[1]);
        }
    }
    // Four steps a trip, with the A panel fetched 8 steps ahead.
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
    store_12x32(&acc, c, rs, cs, alpha, beta);
}

/// C = alpha·acc + beta·C for a 12×32 tile of accumulators (`beta == 0` does
/// not read C), inlined into the AVX-512 kernels.
///
/// # Safety
/// AVX-512F; C valid for a 12×32 strided tile.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
pub(super) unsafe fn store_12x32(
    acc: &[[std::arch::x86_64::__m512; 2]; 12],
    c: *mut f32,
    rs: usize,
    cs: usize,
    alpha: f32,
    beta: f32,
) {
    use std::arch::x86_64::*;
    const MR: usize = 12;
    let va = _mm512_set1_ps(alpha);
    if cs == 1 {
        let vb = _mm512_set1_ps(beta);
        for (i, row) in acc.iter().enumerate() {
            for (h, v) in row.iter().enumerate() {
                let p = c.add(i * rs + h * 16);
                let mut out = _mm512_mul_ps(*v, va);
                if beta != 0.0 {
                    out = _mm512_fmadd_ps(vb, _mm512_loadu_ps(p), out);
                }
                _mm512_storeu_ps(p, out);
            }
        }
    } else {
        let mut tmp = [0f32; MR * 32];
        for (i, row) in acc.iter().enumerate() {
            _mm512_storeu_ps(tmp.as_mut_ptr().add(i * 32), row[0]);
            _mm512_storeu_ps(tmp.as_mut_ptr().add(i * 32 + 16), row[1]);
        }
        store_tile(&tmp, 32, MR, 32, c, rs, cs, alpha, beta);
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn avx2_6x16(kc: usize, a: *const f32, b: *const f32, c: *mut f32, rs: usize, cs: usize, alpha: f32, beta: f32) {
    use std::arch::x86_64::*;
    const MR: usize = 6;
    let mut acc = [[_mm256_setzero_ps(); 2]; MR];
    let (mut a, mut b) = (a, b);
    for _ in 0..kc {
        let b0 = _mm256_loadu_ps(b);
        let b1 = _mm256_loadu_ps(b.add(8));
        for (i, row) in acc.iter_mut().enumerate() {
            let ai = _mm256_broadcast_ss(&*a.add(i));
            row[0] = _mm256_fmadd_ps(ai, b0, row[0]);
            row[1] = _mm256_fmadd_ps(ai, b1, row[1]);
        }
        a = a.add(MR);
        b = b.add(16);
    }
    let mut tmp = [0f32; MR * 16];
    for (i, row) in acc.iter().enumerate() {
        _mm256_storeu_ps(tmp.as_mut_ptr().add(i * 16), row[0]);
        _mm256_storeu_ps(tmp.as_mut_ptr().add(i * 16 + 8), row[1]);
    }
    store_tile(&tmp, 16, MR, 16, c, rs, cs, alpha, beta);
}
