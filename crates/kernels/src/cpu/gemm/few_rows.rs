//! A few rows (a prompt's prefill) against a k-contiguous B (a Linear
//! weight [N, K] used as Wᵀ), f32, AVX-512: C[i, j] = Σ_l A[i, l]·B[l, j].
//!
//! Packing B for the BLIS path copies the whole weight for only M FMAs per
//! element, which dominates when M is small. Here nothing is packed: a task
//! takes 64 weight rows (columns of C), keeps them in L2 and runs every
//! A row against them with 4×4 register tiles of 16-lane dot products over
//! l, reduced across lanes at the end.

#[cfg(target_arch = "x86_64")]
use rayon::prelude::*;

use crate::cpu::isa::SendPtr;
use crate::Gemm;

/// Whether `p` has the shape this path takes: 2 ≤ m ≤ 128 rows, at least one
/// vector of k, A and B contiguous along k, and an AVX-512 CPU.
#[cfg(target_arch = "x86_64")]
fn fits(p: &Gemm, min_k: usize) -> bool {
    (2..=128).contains(&p.m)
        && p.k >= min_k
        && p.a.col_stride == 1
        && p.b.row_stride == 1
        && crate::cpu::isa::isa().avx512()
}

/// Runs `block(batch, j0, nj)` over tasks of C columns: about 512 KB of weight
/// rows each (`row_bytes` apiece, at least 16 rows, at most 64), so they stay
/// in L2 while every A row passes.
#[cfg(target_arch = "x86_64")]
fn for_each_block(p: &Gemm, row_bytes: usize, block: impl Fn(usize, usize, usize) + Sync) {
    let cols = (524_288 / row_bytes.max(1)).clamp(16, 64) / 4 * 4;
    for bi in 0..p.batch {
        (0..p.n.div_ceil(cols)).into_par_iter().for_each(|t| {
            let j0 = t * cols;
            block(bi, j0, cols.min(p.n - j0));
        });
    }
}

/// Runs `p` here when it fits (f32, 2 ≤ m ≤ 128, k-contiguous A and B,
/// AVX-512); returns false otherwise.
pub(super) fn gemm(p: &Gemm, a: &[f32], b: &[f32], c: &mut [f32]) -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        if !fits(p, 16) {
            return false;
        }
        let cp = SendPtr(c.as_mut_ptr());
        // SAFETY: the CPU has AVX-512F; Gemm::check bounded every index; tasks write disjoint columns.
        for_each_block(p, p.k * 4, |bi, j0, nj| unsafe { block(p, bi, a, b, cp, j0, nj) });
        true
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        let _ = (p, a, b, c);
        false
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn block(p: &Gemm, bi: usize, a: &[f32], b: &[f32], c: SendPtr<f32>, j0: usize, nj: usize) {
    use std::arch::x86_64::*;
    let k = p.k;
    let tail = (k % 16) as u32;
    let mask: __mmask16 = if tail == 0 { 0 } else { ((1u32 << tail) - 1) as __mmask16 };
    let kv = k - k % 16;
    let arow = |i: usize| a.as_ptr().add(p.a.at(bi, i, 0));
    let bcol = |j: usize| b.as_ptr().add(p.b.at(bi, 0, j));
    let mut i0 = 0;
    while i0 < p.m {
        let ni = 4.min(p.m - i0);
        let mut jj = 0;
        while jj < nj {
            let nc = 4.min(nj - jj);
            let mut acc = [[_mm512_setzero_ps(); 4]; 4];
            let ar: [*const f32; 4] = std::array::from_fn(|r| arow(i0 + r.min(ni - 1)));
            let bc: [*const f32; 4] = std::array::from_fn(|q| bcol(j0 + jj + q.min(nc - 1)));
            let mut l = 0;
            while l < kv {
                let x: [__m512; 4] = std::array::from_fn(|r| _mm512_loadu_ps(ar[r].add(l)));
                for q in 0..4 {
                    let w = _mm512_loadu_ps(bc[q].add(l));
                    for r in 0..4 {
                        acc[r][q] = _mm512_fmadd_ps(x[r], w, acc[r][q]);
                    }
                }
                l += 16;
            }
            if tail != 0 {
                let x: [__m512; 4] = std::array::from_fn(|r| _mm512_maskz_loadu_ps(mask, ar[r].add(kv)));
                for q in 0..4 {
                    let w = _mm512_maskz_loadu_ps(mask, bc[q].add(kv));
                    for r in 0..4 {
                        acc[r][q] = _mm512_fmadd_ps(x[r], w, acc[r][q]);
                    }
                }
            }
            for (r, row) in acc.iter().enumerate().take(ni) {
                for (q, v) in row.iter().enumerate().take(nc) {
                    let at = c.get().add(p.c.at(bi, i0 + r, j0 + jj + q));
                    let s = p.alpha * _mm512_reduce_add_ps(*v);
                    *at = if p.beta == 0.0 { s } else { s + p.beta * *at };
                }
            }
            jj += 4;
        }
        i0 += 4;
    }
}

/// The same for bf16 operands and output with AVX512-BF16: `vdpbf16ps` takes
/// 32 k-values of a pair of rows per instruction (exact bf16 products, f32
/// sums), and the result is rounded to bf16 once.
pub(super) fn gemm_bf16(p: &Gemm, a: &[half::bf16], b: &[half::bf16], c: &mut [half::bf16]) -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        if !fits(p, 32) || crate::cpu::isa::isa() < crate::cpu::isa::Isa::Avx512Bf16 {
            return false;
        }
        let cp = SendPtr(c.as_mut_ptr());
        // SAFETY: the CPU has AVX-512F and AVX512-BF16; Gemm::check bounded every index; tasks write
        // disjoint columns.
        for_each_block(p, p.k * 2, |bi, j0, nj| unsafe { block_bf16(p, bi, a, b, cp, j0, nj) });
        true
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        let _ = (p, a, b, c);
        false
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512bw,avx512bf16")]
unsafe fn block_bf16(
    p: &Gemm,
    bi: usize,
    a: &[half::bf16],
    b: &[half::bf16],
    c: SendPtr<half::bf16>,
    j0: usize,
    nj: usize,
) {
    use std::arch::x86_64::*;
    let k = p.k;
    let tail = (k % 32) as u32;
    let mask: __mmask32 = if tail == 0 { 0 } else { ((1u64 << tail) - 1) as __mmask32 };
    let kv = k - k % 32;
    let load = |ptr: *const half::bf16| -> __m512bh { std::mem::transmute(_mm512_loadu_si512(ptr as *const _)) };
    let load_tail =
        |ptr: *const half::bf16| -> __m512bh { std::mem::transmute(_mm512_maskz_loadu_epi16(mask, ptr as *const i16)) };
    let arow = |i: usize| a.as_ptr().add(p.a.at(bi, i, 0));
    let bcol = |j: usize| b.as_ptr().add(p.b.at(bi, 0, j));
    let mut i0 = 0;
    while i0 < p.m {
        let ni = 4.min(p.m - i0);
        let mut jj = 0;
        while jj < nj {
            let nc = 4.min(nj - jj);
            let mut acc = [[_mm512_setzero_ps(); 4]; 4];
            let ar: [*const half::bf16; 4] = std::array::from_fn(|r| arow(i0 + r.min(ni - 1)));
            let bc: [*const half::bf16; 4] = std::array::from_fn(|q| bcol(j0 + jj + q.min(nc - 1)));
            let mut l = 0;
            while l < kv {
                let x: [__m512bh; 4] = std::array::from_fn(|r| load(ar[r].add(l)));
                for q in 0..4 {
                    let w = load(bc[q].add(l));
                    for r in 0..4 {
                        acc[r][q] = _mm512_dpbf16_ps(acc[r][q], x[r], w);
                    }
                }
                l += 32;
            }
            if tail != 0 {
                let x: [__m512bh; 4] = std::array::from_fn(|r| load_tail(ar[r].add(kv)));
                for q in 0..4 {
                    let w = load_tail(bc[q].add(kv));
                    for r in 0..4 {
                        acc[r][q] = _mm512_dpbf16_ps(acc[r][q], x[r], w);
                    }
                }
            }
            for (r, row) in acc.iter().enumerate().take(ni) {
                for (q, v) in row.iter().enumerate().take(nc) {
                    let at = c.get().add(p.c.at(bi, i0 + r, j0 + jj + q));
                    let s = p.alpha * _mm512_reduce_add_ps(*v);
                    let s = if p.beta == 0.0 { s } else { s + p.beta * (*at).to_f32() };
                    *at = half::bf16::from_f32(s);
                }
            }
            jj += 4;
        }
        i0 += 4;
    }
}
