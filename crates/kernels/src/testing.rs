//! What parity checks share: seeded inputs, NaN poison, the error measure.

use crate::Element;

/// ‖out − ref‖ / ‖ref‖ over all elements (f64); any NaN or ±inf mismatch in
/// `out` gives +inf, so a poisoned element that was never written fails.
pub fn rel_err<T: Element>(out: &[T], reference: &[T]) -> f64 {
    assert_eq!(out.len(), reference.len(), "rel_err: lengths differ");
    let (mut num, mut den) = (0f64, 0f64);
    for (o, r) in out.iter().zip(reference) {
        let (o, r) = (o.to_f32() as f64, r.to_f32() as f64);
        if o.is_nan() || (o.is_infinite() && o != r) {
            return f64::INFINITY;
        }
        if o != r {
            num += (o - r) * (o - r);
        }
        den += r * r;
    }
    if num == 0.0 {
        0.0
    } else {
        (num / den.max(f64::MIN_POSITIVE)).sqrt()
    }
}

/// The tolerance DESIGN.md sets for a dtype.
pub fn tolerance(dtype: crate::DType) -> f64 {
    match dtype {
        crate::DType::F32 => 1e-5,
        crate::DType::F16 | crate::DType::BF16 => 1e-2,
        _ => 0.0,
    }
}

/// The largest |out − ref| over the elements, in units of the output's scale
/// (max |ref|). The L2 figure averages a few wrong elements away (one garbage
/// element of a 3×65×130 product moves it by about 1e-2); this does not. Any
/// NaN, or an infinity the reference lacks, gives +inf.
pub fn elem_err<T: Element>(out: &[T], reference: &[T]) -> f64 {
    assert_eq!(out.len(), reference.len(), "elem_err: lengths differ");
    let scale = reference.iter().map(|r| (r.to_f32() as f64).abs()).filter(|r| r.is_finite()).fold(0f64, f64::max);
    let mut worst = 0f64;
    for (o, r) in out.iter().zip(reference) {
        let (o, r) = (o.to_f32() as f64, r.to_f32() as f64);
        if o.is_nan() || (o.is_infinite() && o != r) {
            return f64::INFINITY;
        }
        if o != r {
            worst = worst.max((o - r).abs());
        }
    }
    if worst == 0.0 {
        0.0
    } else {
        worst / scale.max(f64::MIN_POSITIVE)
    }
}

/// The per-element bound for [`elem_err`]: 8 units of the dtype's epsilon
/// (rounding of the output, one ulp from a different summation order, and the
/// 16-bit intermediates of the fused kernels, such as flash attention's P,
/// each stay within a few), so f16, with 8× bf16's precision, gets a bound
/// 8× tighter. f32 outputs allow 1e-4 (sums of up to ~10⁴ terms).
pub fn elem_tolerance(dtype: crate::DType) -> f64 {
    match dtype {
        crate::DType::F32 => 1e-4,
        crate::DType::BF16 => 8.0 * 2f64.powi(-8),
        crate::DType::F16 => 8.0 * 2f64.powi(-11),
        _ => 0.0,
    }
}

/// A buffer of `n` NaNs, for outputs every element of which a kernel must write.
pub fn poisoned<T: Element>(n: usize) -> Vec<T> {
    vec![T::from_f32(f32::NAN); n]
}

/// `n` standard-normal values from `seed` (xorshift64* + Box–Muller: the
/// same numbers on every platform and version).
pub fn randn<T: Element>(seed: u64, n: usize) -> Vec<T> {
    let mut s = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut uniform = move || {
        s ^= s >> 12;
        s ^= s << 25;
        s ^= s >> 27;
        ((s.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 11) as f64 + 0.5) / (1u64 << 53) as f64
    };
    (0..n)
        .map(|_| {
            let (u, v) = (uniform(), uniform());
            T::from_f32(((-2.0 * u.ln()).sqrt() * (2.0 * std::f64::consts::PI * v).cos()) as f32)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use half::{bf16, f16};

    /// One garbage element in a 3×65×130 bf16 product: the L2 figure stays
    /// under its 1e-2 bar, the per-element bound does not.
    #[test]
    fn one_wrong_element_passes_l2_but_not_the_element_bound() {
        let want: Vec<bf16> = randn(5, 3 * 65 * 130);
        let mut got = want.clone();
        got[4321] = bf16::from_f32(want[4321].to_f32() + 1.5);
        assert!(rel_err(&got, &want) < tolerance(crate::DType::BF16), "{}", rel_err(&got, &want));
        assert!(elem_err(&got, &want) > elem_tolerance(crate::DType::BF16), "{}", elem_err(&got, &want));
    }

    /// Rounding the reference to the dtype stays within the bound (half an ulp),
    /// and f16's bound is 8× tighter than bf16's.
    #[test]
    fn rounding_passes_and_f16_is_tighter() {
        let exact: Vec<f32> = randn(6, 4096);
        let b: Vec<f32> = exact.iter().map(|&x| bf16::from_f32(x).to_f32()).collect();
        let h: Vec<f32> = exact.iter().map(|&x| f16::from_f32(x).to_f32()).collect();
        assert!(elem_err(&b, &exact) <= elem_tolerance(crate::DType::BF16) / 8.0);
        assert!(elem_err(&h, &exact) <= elem_tolerance(crate::DType::F16) / 8.0);
        assert_eq!(elem_tolerance(crate::DType::BF16) / elem_tolerance(crate::DType::F16), 8.0);
        let mut nan = exact.clone();
        nan[7] = f32::NAN;
        assert_eq!(elem_err(&nan, &exact), f64::INFINITY);
    }
}
