//! Matrix–vector products (one row of output, as in decoding). Decode speed is
//! set by how fast the weights stream from memory, so each weight is read
//! exactly once, in the order it is stored, with f32 accumulation:
//!   dot form   y[j] = Σ_l x[l]·W[l, j] with W's column j contiguous (a Linear weight [N, K] used as Wᵀ)
//!   axpy form  y[:] = Σ_l x[l]·W[l, :]  with W's rows contiguous

use rayon::prelude::*;

use crate::cpu::isa::{dispatch_isa, SendPtr};
use crate::{Element, Gemm};

/// Columns per rayon task: enough weight bytes per task to amortise scheduling.
const DOT_COLS: usize = 64;
const AXPY_COLS: usize = 512;

/// Runs `p` as matrix–vector products when it is one (m = 1, or n = 1 with the
/// roles of A and B swapped) and its matrix has a unit stride; returns false
/// otherwise. C is the f32 output buffer.
pub(super) fn gemv<T: Element>(p: &Gemm, a: &[T], b: &[T], c: &mut [f32]) -> bool {
    // (vector source, vector layout as 1×k, matrix source, matrix layout k×n, y stride, n)
    let (xs, xl, ws, wl, ys, n, yl) = if p.m == 1 {
        (a, p.a, b, p.b, p.c.col_stride, p.n, p.c)
    } else if p.n == 1 {
        (b, p.b.t(), a, p.a.t(), p.c.row_stride, p.m, p.c.t())
    } else {
        return false;
    };
    let dot = wl.row_stride == 1;
    if !dot && wl.col_stride != 1 {
        return false;
    }
    let k = p.k;
    let mut x = vec![0f32; k];
    let y = SendPtr(c.as_mut_ptr());
    for bi in 0..p.batch {
        for (l, xv) in x.iter_mut().enumerate() {
            *xv = xs[xl.at(bi, 0, l)].to_f32();
        }
        let w = &ws[wl.at(bi, 0, 0)..];
        let y0 = yl.at(bi, 0, 0);
        let cols = if dot { DOT_COLS } else { AXPY_COLS };
        (0..n.div_ceil(cols)).into_par_iter().for_each(|ch| {
            let j0 = ch * cols;
            let nc = cols.min(n - j0);
            let mut acc = [0f32; AXPY_COLS];
            let acc = &mut acc[..nc];
            if dot {
                dot_cols(&x, w, j0, wl.col_stride, acc);
            } else {
                axpy_rows(&x, w, j0, wl.row_stride, acc);
            }
            for (jj, v) in acc.iter().enumerate() {
                // SAFETY: Gemm::check bounded C, and tasks write disjoint columns.
                unsafe {
                    let yp = y.get().add(y0 + (j0 + jj) * ys);
                    *yp = p.alpha * v + if p.beta == 0.0 { 0.0 } else { p.beta * *yp };
                }
            }
        });
    }
    true
}

/// out[jj] = Σ_l x[l]·w[(j0 + jj)·ld + l].
fn dot_cols<T: Element>(x: &[f32], w: &[T], j0: usize, ld: usize, out: &mut [f32]) {
    #[cfg(target_arch = "x86_64")]
    if crate::cpu::isa::isa().avx512() {
        // SAFETY: the CPU has AVX-512F/BW/VL.
        return unsafe { avx512::dot_cols(x, w, j0, ld, out) };
    }
    dot_cols_portable(x, w, j0, ld, out)
}

dispatch_isa!(fn dot_cols_portable<T: Element>(x: &[f32], w: &[T], j0: usize, ld: usize, out: &mut [f32]) = dot_cols_body);

#[inline(always)]
fn dot_cols_body<T: Element>(x: &[f32], w: &[T], j0: usize, ld: usize, out: &mut [f32]) {
    const L: usize = 16;
    let k = x.len();
    for (q, o) in out.iter_mut().enumerate() {
        let c = &w[(j0 + q) * ld..][..k];
        let mut acc = [0f32; L];
        for (xs, cs) in x.chunks_exact(L).zip(c.chunks_exact(L)) {
            for i in 0..L {
                acc[i] += xs[i] * cs[i].to_f32();
            }
        }
        let kv = k / L * L;
        *o = acc.iter().sum::<f32>() + (kv..k).map(|l| x[l] * c[l].to_f32()).sum::<f32>();
    }
}

#[cfg(target_arch = "x86_64")]
mod avx512 {
    use std::arch::x86_64::*;

    use crate::{DType, Element};

    /// 16 elements of `T` widened to f32.
    #[inline(always)]
    unsafe fn load16<T: Element>(p: *const T) -> __m512 {
        match T::DTYPE {
            DType::F32 => _mm512_loadu_ps(p as *const f32),
            DType::BF16 => {
                let h = _mm256_loadu_si256(p as *const __m256i);
                _mm512_castsi512_ps(_mm512_slli_epi32::<16>(_mm512_cvtepu16_epi32(h)))
            }
            DType::F16 => _mm512_cvtph_ps(_mm256_loadu_si256(p as *const __m256i)),
            _ => unreachable!("Element is a float type"),
        }
    }

    /// Four weight columns per pass, so each load of x feeds four streams
    /// and eight accumulators hide the FMA latency.
    #[target_feature(enable = "avx512f,avx512bw,avx512vl,fma")]
    pub(super) unsafe fn dot_cols<T: Element>(x: &[f32], w: &[T], j0: usize, ld: usize, out: &mut [f32]) {
        let k = x.len();
        let (k32, k16) = (k / 32 * 32, k / 16 * 16);
        let xp = x.as_ptr();
        let mut jj = 0;
        while jj < out.len() {
            let nc = 4.min(out.len() - jj);
            let mut cols = [std::ptr::null::<T>(); 4];
            for (q, c) in cols.iter_mut().enumerate() {
                // Fewer than four left: repeat the last (its sum is dropped).
                *c = w[(j0 + jj + q.min(nc - 1)) * ld..][..k].as_ptr();
            }
            let mut acc = [[_mm512_setzero_ps(); 2]; 4];
            let mut l = 0;
            while l < k32 {
                let (x0, x1) = (_mm512_loadu_ps(xp.add(l)), _mm512_loadu_ps(xp.add(l + 16)));
                for q in 0..4 {
                    acc[q][0] = _mm512_fmadd_ps(x0, load16(cols[q].add(l)), acc[q][0]);
                    acc[q][1] = _mm512_fmadd_ps(x1, load16(cols[q].add(l + 16)), acc[q][1]);
                }
                l += 32;
            }
            if l < k16 {
                let x0 = _mm512_loadu_ps(xp.add(l));
                for q in 0..4 {
                    acc[q][0] = _mm512_fmadd_ps(x0, load16(cols[q].add(l)), acc[q][0]);
                }
            }
            for q in 0..nc {
                let tail: f32 = (k16..k).map(|l| x[l] * (*cols[q].add(l)).to_f32()).sum();
                out[jj + q] = _mm512_reduce_add_ps(_mm512_add_ps(acc[q][0], acc[q][1])) + tail;
            }
            jj += nc;
        }
    }
}

dispatch_isa!(fn axpy_rows<T: Element>(x: &[f32], w: &[T], j0: usize, ld: usize, out: &mut [f32]) = axpy_rows_body);

/// out[jj] = Σ_l x[l]·w[l·ld + j0 + jj], one contiguous row piece per step.
#[inline(always)]
fn axpy_rows_body<T: Element>(x: &[f32], w: &[T], j0: usize, ld: usize, out: &mut [f32]) {
    out.fill(0.0);
    let nc = out.len();
    for (l, &xv) in x.iter().enumerate() {
        let row = &w[l * ld + j0..][..nc];
        for (o, wv) in out.iter_mut().zip(row) {
            *o += xv * wv.to_f32();
        }
    }
}
