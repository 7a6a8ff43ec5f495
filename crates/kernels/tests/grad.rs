//! The reference backward kernels against central finite differences of the
//! reference forward kernels: for a random cotangent dy, the gradient of
//! L(x) = Σ f(x)·dy (summed in f64) must equal what the backward kernel
//! returns, on every input it differentiates. f32 inputs, step h = 1e-2:
//! the difference's error is about 1e-4 of the gradient's scale, a wrong
//! formula is off by its whole size. (The fast kernels are held to these
//! references by the parity table.)

use iris_kernels::cpu::{reference, IGNORE};
use iris_kernels::testing::randn;
use iris_kernels::Unary;

const H: f32 = 1e-2;

fn dot(a: &[f32], b: &[f32]) -> f64 {
    a.iter().zip(b).map(|(x, y)| *x as f64 * *y as f64).sum()
}

/// Checks `grad` (the backward kernel's) against the finite differences of
/// `loss` at every element of `x`.
fn check(what: &str, x: &[f32], grad: &[f32], loss: impl Fn(&[f32]) -> f64) {
    assert_eq!(x.len(), grad.len(), "{what}");
    let scale = grad.iter().fold(0f32, |m, g| m.max(g.abs())).max(1e-3);
    for i in 0..x.len() {
        let (mut p, mut m) = (x.to_vec(), x.to_vec());
        p[i] += H;
        m[i] -= H;
        let fd = (loss(&p) - loss(&m)) / (2.0 * H as f64);
        let err = (fd - grad[i] as f64).abs() / scale as f64;
        assert!(
            err < 2e-3,
            "{what}[{i}]: backward {} vs finite difference {fd:.6} (error {err:.1e} of {scale})",
            grad[i]
        );
    }
}

#[test]
fn unary_backward_is_the_derivative() {
    // Points spread over the activations' curved parts, away from zero.
    let x: Vec<f32> = randn::<f32>(1, 40).iter().map(|v| v * 2.5).collect();
    let dy = randn::<f32>(2, 40);
    for op in [Unary::Gelu, Unary::GeluTanh, Unary::QuickGelu, Unary::Silu, Unary::Tanh, Unary::Scale(-1.5)] {
        let mut dx = vec![0f32; 40];
        reference::unary_backward(op, &x, &dy, &mut dx).unwrap();
        check(&format!("{op:?}"), &x, &dx, |x| {
            let mut y = vec![0f32; x.len()];
            reference::unary(op, x, &mut y).unwrap();
            dot(&y, &dy)
        });
    }
}

#[test]
fn norm_backward_is_the_derivative_in_x_and_the_weights() {
    let (rows, n) = (3, 7);
    // An offset mean makes the centring matter.
    let x: Vec<f32> = randn::<f32>(3, rows * n).iter().map(|v| v + 0.5).collect();
    let (w, b, dy) = (randn::<f32>(4, n), randn::<f32>(5, n), randn::<f32>(6, rows * n));
    let eps = 1e-5;
    let rms = |x: &[f32], w: &[f32]| {
        let mut y = vec![0f32; x.len()];
        reference::rms_norm(x, w, eps, &mut y).unwrap();
        dot(&y, &dy)
    };
    let (mut dx, mut dw) = (vec![0f32; rows * n], vec![0f32; n]);
    reference::rms_norm_backward(&x, &w, &dy, eps, &mut dx, &mut dw).unwrap();
    check("rms_norm dx", &x, &dx, |x| rms(x, &w));
    check("rms_norm dw", &w, &dw, |w| rms(&x, w));

    let ln = |x: &[f32], w: &[f32], b: &[f32]| {
        let mut y = vec![0f32; x.len()];
        reference::layer_norm(x, w, b, eps, &mut y).unwrap();
        dot(&y, &dy)
    };
    let (mut dx, mut dw, mut db) = (vec![0f32; rows * n], vec![0f32; n], vec![0f32; n]);
    reference::layer_norm_backward(&x, &w, &dy, eps, &mut dx, &mut dw, &mut db).unwrap();
    check("layer_norm dx", &x, &dx, |x| ln(x, &w, &b));
    check("layer_norm dw", &w, &dw, |w| ln(&x, w, &b));
    check("layer_norm db", &b, &db, |b| ln(&x, &w, b));
}

#[test]
fn softmax_backward_is_the_derivative() {
    let (rows, n) = (3, 9);
    let (x, dy) = (randn::<f32>(7, rows * n), randn::<f32>(8, rows * n));
    let mut y = vec![0f32; rows * n];
    reference::softmax(&x, n, &mut y).unwrap();
    let mut dx = vec![0f32; rows * n];
    reference::softmax_backward(&y, &dy, n, &mut dx).unwrap();
    check("softmax", &x, &dx, |x| {
        let mut y = vec![0f32; x.len()];
        reference::softmax(x, n, &mut y).unwrap();
        dot(&y, &dy)
    });
}

#[test]
fn cross_entropy_backward_is_the_derivative_and_ignores_rows() {
    let (rows, v) = (4, 11);
    let x = randn::<f32>(9, rows * v);
    let targets = [3u32, IGNORE, 10, 0];
    let scale = 0.7;
    let mut dx = vec![f32::NAN; rows * v];
    reference::cross_entropy_backward(&x, v, &targets, scale, &mut dx).unwrap();
    check("cross_entropy", &x, &dx, |x| {
        let mut l = vec![0f32; rows];
        reference::cross_entropy(x, v, &targets, &mut l).unwrap();
        scale as f64 * l.iter().map(|&v| v as f64).sum::<f64>()
    });
    assert!(dx[v..2 * v].iter().all(|&g| g == 0.0), "an ignored row has no gradient");
    // The loss itself: logsumexp − the target's logit.
    let mut l = vec![0f32; rows];
    reference::cross_entropy(&x, v, &targets, &mut l).unwrap();
    let row = &x[..v];
    let lse = row.iter().map(|&a| (a as f64).exp()).sum::<f64>().ln();
    assert!((l[0] as f64 - (lse - row[3] as f64)).abs() < 1e-6);
    assert_eq!(l[1], 0.0);
    assert!(reference::cross_entropy(&x, v, &[3, 11, 0, 0], &mut l).is_err(), "a target past the vocabulary");
}

#[test]
fn embedding_backward_scatters_and_adds_repeats() {
    let (dim, rows) = (5, 6);
    let ids = [2u32, 0, 2, 5];
    let dy = randn::<f32>(10, ids.len() * dim);
    let mut dt = vec![f32::NAN; rows * dim];
    reference::embedding_backward(&dy, dim, &ids, &mut dt).unwrap();
    let table = randn::<f32>(11, rows * dim);
    check("embedding", &table, &dt, |t| {
        let mut y = vec![0f32; ids.len() * dim];
        reference::embedding(t, dim, &ids, &mut y).unwrap();
        dot(&y, &dy)
    });
    assert!(dt[dim..2 * dim].iter().all(|&g| g == 0.0), "a row no id picks");
}

#[test]
fn attention_backward_is_the_derivative_in_q_k_v() {
    use iris_kernels::{Attention, Heads, Mask, MaskLayout};
    // GQA (4 query heads on 2 key heads), causal with Tq < Tk; then a keep
    // mask with a row that sees nothing; then an additive mask.
    let (b, h, hkv, tq, tk, d) = (1, 4, 2, 3, 5, 4);
    let keep: Vec<u8> = (0..tq * tk).map(|j| (j / tk != 1 && j % 3 != 0) as u8).collect();
    let add: Vec<f32> = randn::<f32>(20, tq * tk);
    for (what, causal, mask) in [
        ("causal", true, Mask::None),
        ("key mask", false, Mask::Keep(&keep, MaskLayout::shared(tk))),
        ("additive", true, Mask::Additive(&add, MaskLayout::shared(tk))),
    ] {
        let p = Attention {
            b,
            h,
            hkv,
            tq,
            tk,
            d,
            scale: 0.5,
            causal,
            q: Heads::bhtd(h, tq, d),
            k: Heads::bhtd(hkv, tk, d),
            v: Heads::bhtd(hkv, tk, d),
            o: Heads::bhtd(h, tq, d),
        };
        let (q, k, v) =
            (randn::<f32>(21, b * h * tq * d), randn::<f32>(22, b * hkv * tk * d), randn::<f32>(23, b * hkv * tk * d));
        let dout = randn::<f32>(24, q.len());
        let forward = |q: &[f32], k: &[f32], v: &[f32]| {
            let mut o = vec![0f32; q.len()];
            reference::attention(&p, q, k, v, mask, &mut o).unwrap();
            o
        };
        let o = forward(&q, &k, &v);
        let (mut dq, mut dk, mut dv) = (vec![f32::NAN; q.len()], vec![f32::NAN; k.len()], vec![f32::NAN; v.len()]);
        reference::attention_backward(&p, &q, &k, &v, &o, &dout, mask, &mut dq, &mut dk, &mut dv).unwrap();
        check(&format!("attention {what} dq"), &q, &dq, |x| dot(&forward(x, &k, &v), &dout));
        check(&format!("attention {what} dk"), &k, &dk, |x| dot(&forward(&q, x, &v), &dout));
        check(&format!("attention {what} dv"), &v, &dv, |x| dot(&forward(&q, &k, x), &dout));
    }
}

#[test]
fn im2col_backward_is_the_derivative() {
    // Overlapping windows with padding: pixels read by several patches, the padding by none.
    let p = iris_kernels::Im2col { n: 1, c: 2, h: 5, w: 4, kh: 3, kw: 3, stride: 2, pad: 1 };
    let x = randn::<f32>(30, 2 * 5 * 4);
    let dy = randn::<f32>(31, p.out_len());
    let mut dx = vec![f32::NAN; x.len()];
    reference::im2col_backward(&p, &dy, &mut dx).unwrap();
    check("im2col", &x, &dx, |x| {
        let mut y = vec![0f32; p.out_len()];
        reference::im2col(&p, x, &mut y).unwrap();
        dot(&y, &dy)
    });
}
