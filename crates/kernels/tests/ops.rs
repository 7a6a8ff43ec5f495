//! Parity of the smaller ops, fast against reference, over shapes of 1, odd
//! sizes and strided (transposed, narrowed, broadcast) views.

mod common;

use common::{assert_close, for_each_isa};
use half::{bf16, f16};
use iris_kernels::cpu::{fast, reference};
use iris_kernels::testing::{poisoned, randn, tolerance};
use iris_kernels::{Binary, Element, Im2col, Rope, Strided, Unary};

const ROWS_COLS: &[(usize, usize)] = &[(1, 1), (1, 7), (3, 5), (17, 33), (9, 1024), (130, 77)];

fn norms<T: Element>() {
    for (i, &(r, n)) in ROWS_COLS.iter().enumerate() {
        let s = i as u64 * 3;
        // An offset mean makes the variance step matter.
        let x: Vec<T> = randn::<f32>(s, r * n).iter().map(|v| T::from_f32(v * 2.0 + 3.0)).collect();
        let (w, b) = (randn::<T>(s + 1, n), randn::<T>(s + 2, n));
        let tol = tolerance(T::DTYPE);
        let (mut out, mut want) = (poisoned::<T>(r * n), poisoned::<T>(r * n));
        fast::layer_norm(&x, &w, &b, 1e-5, &mut out).unwrap();
        reference::layer_norm(&x, &w, &b, 1e-5, &mut want).unwrap();
        assert_close(&format!("layer_norm {} {r}x{n}", T::DTYPE), &out, &want, tol);
        let (mut out, mut want) = (poisoned::<T>(r * n), poisoned::<T>(r * n));
        fast::rms_norm(&x, &w, 1e-6, &mut out).unwrap();
        reference::rms_norm(&x, &w, 1e-6, &mut want).unwrap();
        assert_close(&format!("rms_norm {} {r}x{n}", T::DTYPE), &out, &want, tol);
        let (mut out, mut want) = (poisoned::<T>(r * n), poisoned::<T>(r * n));
        fast::softmax(&x, n, &mut out).unwrap();
        reference::softmax(&x, n, &mut want).unwrap();
        assert_close(&format!("softmax {} {r}x{n}", T::DTYPE), &out, &want, tol);
    }
}

#[test]
fn layer_norm_rms_norm_softmax_match_reference() {
    for_each_isa(|| {
        norms::<f32>();
        norms::<bf16>();
        norms::<f16>();
    });
}

#[test]
fn softmax_handles_minus_infinity_and_large_values() {
    let x = [0.0f32, f32::NEG_INFINITY, 80.0, -80.0, 1e4, 1e4 - 1.0];
    let (mut out, mut want) = (poisoned::<f32>(6), poisoned::<f32>(6));
    fast::softmax(&x, 6, &mut out).unwrap();
    reference::softmax(&x, 6, &mut want).unwrap();
    assert_close("softmax extremes", &out, &want, 1e-6);
}

#[test]
fn norms_reject_mismatched_weights() {
    let mut out = vec![0f32; 6];
    let e = fast::layer_norm(&[0f32; 6], &[1f32; 3], &[0f32; 2], 1e-5, &mut out).unwrap_err();
    assert!(e.to_string().contains("bias [2]"), "{e}");
    assert!(fast::rms_norm(&[0f32; 7], &[1f32; 3], 1e-5, &mut out).is_err());
}

#[test]
fn rope_matches_reference() {
    for &(outer, t, inner, d) in &[(1, 1, 1, 2), (2, 5, 3, 8), (1, 17, 4, 64), (3, 9, 1, 128), (1, 4, 2, 6)] {
        let x = randn::<f32>(1, outer * t * inner * d);
        let angles = randn::<f32>(2, t * d / 2);
        let (cos, sin): (Vec<f32>, Vec<f32>) = angles.iter().map(|a| (a.cos(), a.sin())).unzip();
        let p = Rope { outer, t, inner, d };
        let (mut out, mut want) = (poisoned::<f32>(x.len()), poisoned::<f32>(x.len()));
        fast::rope(&p, &x, &cos, &sin, &mut out).unwrap();
        reference::rope(&p, &x, &cos, &sin, &mut want).unwrap();
        assert_close(&format!("rope {outer}x{t}x{inner}x{d}"), &out, &want, 1e-5);
    }
    let mut out = vec![0f32; 6];
    assert!(fast::rope(&Rope { outer: 1, t: 2, inner: 1, d: 3 }, &[0f32; 6], &[0.; 3], &[0.; 3], &mut out).is_err());
}

#[test]
fn unary_ops_match_reference() {
    let ops = [Unary::Gelu, Unary::GeluTanh, Unary::QuickGelu, Unary::Silu, Unary::Tanh, Unary::Scale(-0.37)];
    for_each_isa(|| {
        for op in ops {
            for n in [1, 7, 1000, 40_000] {
                let x: Vec<f32> = randn::<f32>(n as u64, n).iter().map(|v| v * 4.0).collect();
                let (mut out, mut want) = (poisoned::<f32>(n), poisoned::<f32>(n));
                fast::unary(op, &x, &mut out).unwrap();
                reference::unary(op, &x, &mut want).unwrap();
                assert_close(&format!("{op:?} n={n}"), &out, &want, 1e-5);
                let xb: Vec<bf16> = x.iter().map(|&v| bf16::from_f32(v)).collect();
                let (mut out, mut want) = (poisoned::<bf16>(n), poisoned::<bf16>(n));
                fast::unary(op, &xb, &mut out).unwrap();
                reference::unary(op, &xb, &mut want).unwrap();
                assert_close(&format!("{op:?} bf16 n={n}"), &out, &want, 1e-2);
            }
        }
    });
}

/// Row-major strides of a shape.
fn dense(shape: &[usize]) -> Vec<usize> {
    let mut s = vec![1; shape.len()];
    for d in (0..shape.len().saturating_sub(1)).rev() {
        s[d] = s[d + 1] * shape[d + 1];
    }
    s
}

#[test]
fn binary_ops_with_broadcast_and_strides_match_reference() {
    // (shape, lhs strides, rhs strides): dense, row broadcast, column
    // broadcast, scalar, transposed lhs, narrowed rhs with an offset.
    type Case = (Vec<usize>, Vec<usize>, Vec<usize>, usize);
    let cases: Vec<Case> = vec![
        (vec![7], vec![1], vec![1], 0),
        (vec![3, 5], vec![5, 1], vec![0, 1], 0),
        (vec![3, 5], vec![5, 1], vec![1, 0], 0),
        (vec![2, 3, 5], vec![15, 5, 1], vec![0, 0, 0], 0),
        (vec![4, 33], vec![1, 4], vec![33, 1], 0),
        (vec![2, 9, 100], vec![900, 100, 1], vec![2000, 200, 1], 7),
        (vec![], vec![], vec![], 0),
        // Short rows over more than one task, whose odometers start mid-shape: heads [B, H, T, D]
        // read from [B, T, H, D] against a dense one, a broadcast over the middle, size-1
        // dimensions with any stride, and dense ones that merge into long rows.
        (vec![2, 5, 300, 16], vec![24000, 16, 80, 1], dense(&[2, 5, 300, 16]), 3),
        (vec![3, 700, 16], dense(&[3, 700, 16]), vec![16, 0, 1], 0),
        (vec![2, 1, 3, 1, 16], vec![48, 999, 16, 7, 1], vec![0, 5, 16, 0, 1], 1),
        (vec![4, 9000], dense(&[4, 9000]), dense(&[4, 9000]), 0),
        (vec![64, 2, 200], vec![400, 200, 1], vec![1, 0, 64], 0),
        (vec![6, 40], vec![1, 0], dense(&[6, 40]), 2),
    ];
    for op in [Binary::Add, Binary::Sub, Binary::Mul, Binary::Div] {
        for (shape, ls, rs, roff) in &cases {
            let l = Strided { shape, strides: ls, offset: 0 };
            let r = Strided { shape, strides: rs, offset: *roff };
            let extent =
                |s: &Strided| s.offset + s.shape.iter().zip(s.strides).map(|(d, st)| (d - 1) * st).sum::<usize>() + 1;
            let (a, b) = (randn::<f32>(1, extent(&l)), randn::<f32>(2, extent(&r)));
            let n = l.len();
            let (mut out, mut want) = (poisoned::<f32>(n), poisoned::<f32>(n));
            fast::binary(op, &a, l, &b, r, &mut out).unwrap();
            reference::binary(op, &a, l, &b, r, &mut want).unwrap();
            assert_close(&format!("{op:?} {shape:?} {ls:?} {rs:?}"), &out, &want, 1e-6);
        }
    }
    let mut out = vec![0f32; 6];
    let l = Strided { shape: &[2, 3], strides: &[3, 1], offset: 0 };
    let r = Strided { shape: &[3, 2], strides: &[2, 1], offset: 0 };
    assert!(fast::binary(Binary::Add, &[0f32; 6], l, &[0f32; 6], r, &mut out).is_err());
}

#[test]
fn strided_copy_and_casts_match_reference() {
    let shape = [5, 7, 9];
    let src = randn::<f32>(3, 700);
    let transposed = [1, 9, 63]; // a [9, 7, 5] buffer read as [5, 7, 9]
    let narrowed = [81, 9, 1]; // [5, 9, 9] narrowed to 7 in the middle
    let same_as_reference = |src: &[f32], s: Strided| {
        let n = s.len();
        let (mut out, mut want) = (poisoned::<f32>(n), poisoned::<f32>(n));
        fast::copy(src, s, &mut out).unwrap();
        reference::copy(src, s, &mut want).unwrap();
        assert_close(&format!("copy {:?} {:?}", s.shape, s.strides), &out, &want, 0.0);
    };
    for strides in [dense(&shape), transposed.to_vec(), narrowed.to_vec()] {
        let s = Strided { shape: &shape, strides: &strides, offset: 4 };
        same_as_reference(&src, s);
        let n = s.len();
        let (mut out, mut want) = (poisoned::<bf16>(n), poisoned::<bf16>(n));
        fast::copy(&src, s, &mut out).unwrap();
        reference::copy(&src, s, &mut want).unwrap();
        assert_close(&format!("copy to bf16 {strides:?}"), &out, &want, 0.0);
    }
    // Heads: [B, T, H, D] read as [B, H, T, D], in rows of 16 over several tasks, and dense blocks.
    let big = randn::<f32>(4, 2 * 600 * 4 * 16 + 5);
    let heads = [2, 4, 600, 16];
    for strides in [vec![38400, 16, 64, 1], dense(&heads)] {
        same_as_reference(&big, Strided { shape: &heads, strides: &strides, offset: 5 });
    }
    // Casts: contiguous copies across dtypes, round trips within tolerance.
    let n = 1001;
    let dense_n = [n];
    let s = Strided { shape: &dense_n, strides: &[1], offset: 0 };
    let x = randn::<f32>(9, n);
    let (mut h, mut b, mut back) = (poisoned::<f16>(n), poisoned::<bf16>(n), poisoned::<f32>(n));
    fast::copy(&x, s, &mut h).unwrap();
    fast::copy(&h, s, &mut b).unwrap();
    fast::copy(&b, s, &mut back).unwrap();
    assert_close("f32 -> f16 -> bf16 -> f32", &back, &x, 1e-2);
    let mut want = poisoned::<f16>(n);
    reference::copy(&x, s, &mut want).unwrap();
    assert_close("cast f32 -> f16", &h, &want, 0.0);
}

#[test]
fn concat_and_embedding_match_reference() {
    for (outer, widths) in [(1, vec![1]), (3, vec![2, 5, 1]), (17, vec![64, 0, 33])] {
        let parts: Vec<Vec<f32>> = widths.iter().enumerate().map(|(i, w)| randn::<f32>(i as u64, outer * w)).collect();
        let refs: Vec<(&[f32], usize)> = parts.iter().zip(&widths).map(|(p, &w)| (&p[..], w)).collect();
        let n = outer * widths.iter().sum::<usize>();
        let (mut out, mut want) = (poisoned::<f32>(n), poisoned::<f32>(n));
        fast::concat(&refs, outer, &mut out).unwrap();
        reference::concat(&refs, outer, &mut want).unwrap();
        assert_close(&format!("concat {outer} {widths:?}"), &out, &want, 0.0);
    }
    let (v, dim) = (50, 12);
    let table = randn::<bf16>(4, v * dim);
    let ids = [0u32, 49, 7, 7, 13];
    let (mut out, mut want) = (poisoned::<bf16>(ids.len() * dim), poisoned::<bf16>(ids.len() * dim));
    fast::embedding(&table, dim, &ids, &mut out).unwrap();
    reference::embedding(&table, dim, &ids, &mut want).unwrap();
    assert_close("embedding", &out, &want, 0.0);
    let e = fast::embedding(&table, dim, &[50], &mut out[..dim]).unwrap_err();
    assert!(e.to_string().contains("index 50 out of range for 50 rows"), "{e}");
}

#[test]
fn im2col_matches_reference() {
    let cases = [
        Im2col::patches(1, 3, 28, 28, 14),
        Im2col::patches(2, 3, 30, 45, 14), // leftover pixels are dropped, as a strided conv does
        Im2col::patches(1, 1, 1, 1, 1),
        Im2col { n: 1, c: 2, h: 9, w: 7, kh: 3, kw: 3, stride: 2, pad: 1 },
        Im2col { n: 2, c: 3, h: 5, w: 8, kh: 2, kw: 4, stride: 1, pad: 2 },
    ];
    for p in cases {
        let x = randn::<f32>(1, p.n * p.c * p.h * p.w);
        let (mut out, mut want) = (poisoned::<f32>(p.out_len()), poisoned::<f32>(p.out_len()));
        fast::im2col(&p, &x, &mut out).unwrap();
        reference::im2col(&p, &x, &mut want).unwrap();
        assert_close(&format!("im2col {p:?}"), &out, &want, 0.0);
    }
    let p = Im2col::patches(1, 3, 10, 10, 14);
    assert!(fast::im2col(&p, &[0f32; 300], &mut []).is_err());
}

/// The parity list `iris check` prints, run for the fast CPU kernels.
#[test]
fn parity_list_passes_on_the_cpu() {
    let outcomes = iris_kernels::parity::check(&iris_kernels::cpu::backend::CpuBackend::FAST);
    assert!(outcomes.len() >= 60, "{} cases", outcomes.len());
    let failed: Vec<_> = outcomes.iter().filter(|o| !o.passed()).collect();
    assert!(failed.is_empty(), "{failed:#?}");
}
