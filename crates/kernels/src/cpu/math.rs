//! Scalar maths written so that loops over arrays of it vectorise.

/// erfc(x) to a few f32 ulp: t·e^(−x² + P(t)) with t = 1/(1 + |x|/2) and P
/// the degree-9 Chebyshev fit of Numerical Recipes' `erfcc` (relative error
/// below 1.2·10⁻⁷ in exact arithmetic), reflected as 2 − erfc(|x|) for
/// x < 0. No branch or call, so that loops over it vectorise, where libm's
/// `erfcf` is a call per element (with the backward around it, exact GELU
/// was a fifth of a training step of Mllama's encoder, 2026-12-06).
#[inline(always)]
pub(crate) fn erfc(x: f32) -> f32 {
    let z = x.abs();
    let t = 1.0 / (1.0 + 0.5 * z);
    let p = 0.170_872_77_f32;
    let p = p * t - 0.822_152_23;
    let p = p * t + 1.488_515_9;
    let p = p * t - 1.135_204;
    let p = p * t + 0.278_868_07;
    let p = p * t - 0.186_288_06;
    let p = p * t + 0.096_784_18;
    let p = p * t + 0.374_091_96;
    let p = p * t + 1.000_023_7;
    let p = p * t - 1.265_512_2;
    let r = t * exp(p - z * z);
    if x < 0.0 {
        2.0 - r
    } else {
        r
    }
}

/// e^x to about 2 ulp: e^x = 2^n · e^r with n = round(x·log₂e), |r| ≤ ln2/2,
/// and e^r from Cephes' degree-5 polynomial. Underflows to exactly 0 below
/// −87 (so a −inf score gives a zero weight); NaN stays NaN.
#[inline(always)]
pub(crate) fn exp(x: f32) -> f32 {
    const LOG2E: f32 = std::f32::consts::LOG2_E;
    const LN2_HI: f32 = 0.693_359_4;
    const LN2_LO: f32 = -2.121_944_4e-4;
    let xc = x.clamp(-87.0, 88.0);
    // Round to nearest by adding and removing 1.5·2^23 (no call to floor,
    // which plain x86-64 lacks as an instruction).
    const ROUND: f32 = 12_582_912.0;
    let t = xc * LOG2E + ROUND;
    let n = t - ROUND;
    let r = xc - n * LN2_HI - n * LN2_LO;
    let p = 1.987_569_1e-4_f32;
    let p = p * r + 1.398_199_9e-3;
    let p = p * r + 8.333_452e-3;
    let p = p * r + 4.166_579_6e-2;
    let p = p * r + 1.666_666_5e-1;
    let p = p * r + 5e-1;
    let y = p * r * r + r + 1.0;
    // t's low mantissa bits hold n: 2^n from integer lanes, no float→int
    // conversion (whose saturating form does not vectorise).
    let scale = f32::from_bits(t.to_bits().wrapping_sub(0x4B40_0000).wrapping_add(127) << 23);
    if x < -87.0 {
        0.0
    } else {
        y * scale
    }
}

/// x_j ← e^(scale·(x_j − shift)) over a row, returning Σ x_j: a softmax row's
/// weights and their sum in one pass. On AVX-512 the same reduction and
/// polynomial as `exp`, with FMAs and `vscalefps` for 2^n (about 14
/// instructions for 16 lanes where `exp` takes 25); arguments below −87 give
/// 0 and NaN stays NaN, as in `exp`.
pub(crate) fn exp_sum(x: &mut [f32], scale: f32, shift: f32) -> f32 {
    #[cfg(target_arch = "x86_64")]
    if crate::cpu::isa::isa().avx512() {
        // SAFETY: the CPU has AVX-512F.
        return unsafe { exp_sum_avx512(x, scale, shift) };
    }
    x.iter_mut().for_each(|v| *v = exp(scale * (*v - shift)));
    sum(x)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn exp_sum_avx512(x: &mut [f32], scale: f32, shift: f32) -> f32 {
    use std::arch::x86_64::*;
    let c = |v: f32| _mm512_set1_ps(v);
    let (vscale, vshift) = (c(scale), c(shift));
    let mut acc = _mm512_setzero_ps();
    let n = x.len() / 16 * 16;
    let one = |v: __m512| -> __m512 {
        let a = _mm512_mul_ps(vscale, _mm512_sub_ps(v, vshift));
        // Lanes at or above −87, and NaN lanes (unordered): the rest are 0.
        let live = _mm512_cmp_ps_mask::<_CMP_NLT_UQ>(a, c(-87.0));
        let a = _mm512_min_ps(a, c(88.0));
        let n = _mm512_roundscale_ps::<{ _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC }>(_mm512_mul_ps(
            a,
            c(std::f32::consts::LOG2_E),
        ));
        let r = _mm512_fnmadd_ps(n, c(0.693_359_4), a);
        let r = _mm512_fnmadd_ps(n, c(-2.121_944_4e-4), r);
        let mut p = c(1.987_569_1e-4);
        for k in [1.398_199_9e-3, 8.333_452e-3, 4.166_579_6e-2, 1.666_666_5e-1, 5e-1] {
            p = _mm512_fmadd_ps(p, r, c(k));
        }
        let y = _mm512_fmadd_ps(p, _mm512_mul_ps(r, r), _mm512_add_ps(r, c(1.0)));
        _mm512_maskz_scalef_ps(live, y, n)
    };
    for i in (0..n).step_by(16) {
        let e = one(_mm512_loadu_ps(x.as_ptr().add(i)));
        _mm512_storeu_ps(x.as_mut_ptr().add(i), e);
        acc = _mm512_add_ps(acc, e);
    }
    if n < x.len() {
        let m: __mmask16 = (1u32 << (x.len() - n)).wrapping_sub(1) as u16;
        let e = _mm512_maskz_mov_ps(m, one(_mm512_maskz_loadu_ps(m, x.as_ptr().add(n))));
        _mm512_mask_storeu_ps(x.as_mut_ptr().add(n), m, e);
        acc = _mm512_add_ps(acc, e);
    }
    _mm512_reduce_add_ps(acc)
}

/// Σ x with 16 independent lanes (vectorises, and bounds the error tighter
/// than one running sum).
#[inline(always)]
pub(crate) fn sum(x: &[f32]) -> f32 {
    let mut acc = [0f32; 16];
    let mut chunks = x.chunks_exact(16);
    for c in &mut chunks {
        for i in 0..16 {
            acc[i] += c[i];
        }
    }
    acc.iter().sum::<f32>() + chunks.remainder().iter().sum::<f32>()
}

/// Σ (x − mean)² with 16 independent lanes.
#[inline(always)]
pub(crate) fn sum_sq(x: &[f32], mean: f32) -> f32 {
    let mut acc = [0f32; 16];
    let mut chunks = x.chunks_exact(16);
    for c in &mut chunks {
        for i in 0..16 {
            let d = c[i] - mean;
            acc[i] += d * d;
        }
    }
    acc.iter().sum::<f32>() + chunks.remainder().iter().map(|v| (v - mean) * (v - mean)).sum::<f32>()
}

/// max x with 16 independent lanes (one chain of maxss does not vectorise).
#[inline(always)]
pub(crate) fn max(x: &[f32]) -> f32 {
    let mut acc = [f32::NEG_INFINITY; 16];
    let mut chunks = x.chunks_exact(16);
    for c in &mut chunks {
        for i in 0..16 {
            acc[i] = if c[i] > acc[i] { c[i] } else { acc[i] };
        }
    }
    acc.iter().chain(chunks.remainder()).fold(f32::NEG_INFINITY, |m, &v| m.max(v))
}

#[cfg(test)]
mod tests {
    #[test]
    fn exp_matches_std() {
        let mut worst = 0f64;
        for i in -20000..=20000 {
            let x = i as f32 * 0.0043;
            let (got, want) = (super::exp(x) as f64, (x as f64).exp());
            worst = worst.max((got - want).abs() / want);
        }
        assert!(worst < 5e-7, "worst relative error {worst}");
        assert_eq!(super::exp(f32::NEG_INFINITY), 0.0);
        assert!(super::exp(f32::NAN).is_nan());
    }

    /// Against libm's f64 erfc: 3–4 ulp near x = 0, growing in the tail with
    /// the rounding of x² in the exponent (relative 6·10⁻⁸ of x²).
    #[test]
    fn erfc_matches_libm() {
        for i in -30000..=45000 {
            let x = i as f32 * 0.0002;
            let (got, want) = (super::erfc(x) as f64, libm::erfc(x as f64));
            let rel = (got - want).abs() / want;
            let bound = 4e-7 * (1.0 + (x * x) as f64 / 2.0);
            assert!(rel < bound, "erfc({x}): {got} against {want}, relative error {rel}");
        }
        assert_eq!(super::erfc(f32::INFINITY), 0.0);
        assert_eq!(super::erfc(f32::NEG_INFINITY), 2.0);
    }

    /// The one-pass row against `exp` element by element, on every
    /// instruction set: values, sum, a −inf (masked) score and a tail that is
    /// not a whole vector.
    #[test]
    fn exp_sum_matches_exp() {
        for isa in crate::cpu::isa::available() {
            crate::cpu::isa::set_cap(Some(isa));
            let row: Vec<f32> = (0..37).map(|i| (i as f32 * 0.77).sin() * 9.0).chain([f32::NEG_INFINITY]).collect();
            let (scale, shift) = (1.3, 8.5);
            let mut got = row.clone();
            let total = super::exp_sum(&mut got, scale, shift);
            let want: Vec<f32> = row.iter().map(|&v| super::exp(scale * (v - shift))).collect();
            for (g, w) in got.iter().zip(&want) {
                assert!((g - w).abs() <= 4e-7 * w.abs(), "{isa:?}: {g} vs {w}");
            }
            assert_eq!(*got.last().unwrap(), 0.0);
            let sum: f32 = want.iter().sum();
            assert!((total - sum).abs() <= 1e-6 * sum, "{isa:?}: {total} vs {sum}");
        }
        crate::cpu::isa::set_cap(None);
    }
}
