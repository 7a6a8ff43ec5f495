//! Cases of any size for the perf mode (`iris bench --device X OP`): the
//! same `Case` rows as the parity table, built from a benchmark's shape, so
//! one call times an op on whichever backend runs it.

use super::{Case, Host};
use crate::{Attention, DType, Gemm, Im2col, MaskLayout, MaskOf, Rope};

/// C[m, n] = A·B as `p` lays it out (beta = 0).
pub fn gemm(dt: DType, p: Gemm) -> Case {
    let (a, b) = (p.batch * p.m * p.k, p.batch * p.k * p.n);
    let inputs = vec![Host::randn(dt, 1, a), Host::randn(dt, 2, b)];
    let shape = format!("{}×{}×{}×{}", p.batch, p.m, p.n, p.k);
    let flops = 2.0 * (p.batch * p.m * p.n * p.k) as f64;
    Case::new("gemm", shape, inputs, Host::poison(dt, p.batch * p.m * p.n), move |be, i, c| {
        be.gemm(&p, &i[0], &i[1], c)
    })
    .flops(flops)
}

/// Attention over dense [B, H, T, D] operands; with `keep` [Tq, Tk] the
/// cross-attention kernel (a key mask per query row).
pub fn attention(dt: DType, p: Attention, keep: Option<Vec<u8>>) -> Case {
    let (nq, nk) = (p.b * p.h * p.tq * p.d, p.b * p.hkv * p.tk * p.d);
    let mut inputs = vec![Host::randn(dt, 1, nq), Host::randn(dt, 2, nk), Host::randn(dt, 3, nk)];
    let cross = keep.is_some();
    if let Some(k) = keep {
        inputs.push(Host::u8s(&k));
    }
    let pairs = if p.causal { (p.tq * p.tk) as f64 - (p.tq * p.tq) as f64 / 2.0 } else { (p.tq * p.tk) as f64 };
    let flops = 4.0 * (p.b * p.h) as f64 * pairs * p.d as f64;
    let shape = format!("B{} H{}/{} Tq{} Tk{} D{}", p.b, p.h, p.hkv, p.tq, p.tk, p.d);
    let op = if cross { "cross_attention" } else { "attention" };
    Case::new(op, shape, inputs, Host::poison(dt, nq), move |be, i, o| {
        let mask = if cross { MaskOf::Keep(&i[3], MaskLayout::shared(p.tk)) } else { MaskOf::None };
        be.attention(&p, &i[0], &i[1], &i[2], mask, o)
    })
    .flops(flops)
}

/// Attention backward over dense [B, H, T, D] operands (o and dO seeded
/// like the others: the kernel's cost does not depend on their values).
pub fn attention_backward(dt: DType, p: Attention) -> Case {
    let (nq, nk) = (p.b * p.h * p.tq * p.d, p.b * p.hkv * p.tk * p.d);
    let inputs = vec![
        Host::randn(dt, 1, nq),
        Host::randn(dt, 2, nk),
        Host::randn(dt, 3, nk),
        Host::randn(dt, 4, nq),
        Host::randn(dt, 5, nq),
    ];
    let pairs = if p.causal { (p.tq * p.tk) as f64 - (p.tq * p.tq) as f64 / 2.0 } else { (p.tq * p.tk) as f64 };
    // Five products of the forward's size: the scores again, dP, dQ, dK, dV.
    let flops = 10.0 * (p.b * p.h) as f64 * pairs * p.d as f64;
    let shape = format!("B{} H{}/{} Tq{} Tk{} D{}", p.b, p.h, p.hkv, p.tq, p.tk, p.d);
    Case::new("attention_backward", shape, inputs, Host::poison(dt, nq), move |be, i, o| {
        let (mut dk, mut dv) = (be.alloc(dt, nk)?, be.alloc(dt, nk)?);
        be.attention_backward(&p, &i[0], &i[1], &i[2], &i[3], &i[4], MaskOf::None, o, &mut dk, &mut dv)
    })
    .flops(flops)
}

/// Patch extraction of one image.
pub fn im2col(dt: DType, p: Im2col) -> Case {
    let n = p.n * p.c * p.h * p.w;
    Case::new(
        "im2col",
        format!("{}×{}×{} k{}", p.c, p.h, p.w, p.kh),
        vec![Host::randn(dt, 1, n)],
        Host::poison(dt, p.out_len()),
        move |be, i, o| be.im2col(&p, i[0].dense(), o),
    )
}

/// A row-wise op over [rows, cols]: `layer_norm`, `rms_norm`, `softmax` or
/// `rope` (rows positions of one head of `cols`); None for another name.
pub fn rows(op: &str, dt: DType, rows: usize, cols: usize) -> Option<Case> {
    let n = rows * cols;
    let shape = format!("{rows}×{cols}");
    let (x, w) = (Host::randn(dt, 1, n), Host::randn(dt, 2, cols));
    let out = Host::poison(dt, n);
    Some(match op {
        "layer_norm" => Case::new("layer_norm", shape, vec![x, w.clone(), w], out, |be, i, o| {
            be.layer_norm(i[0].dense(), i[1].dense(), i[2].dense(), 1e-5, o)
        }),
        "rms_norm" => {
            Case::new("rms_norm", shape, vec![x, w], out, |be, i, o| be.rms_norm(i[0].dense(), i[1].dense(), 1e-5, o))
        }
        "softmax" => Case::new("softmax", shape, vec![x], out, move |be, i, o| be.softmax(i[0].dense(), cols, o)),
        "rope" => {
            let p = Rope { outer: 1, t: rows, inner: 1, d: cols };
            let (cos, sin): (Vec<f32>, Vec<f32>) =
                (0..n / 2).map(|i| ((i as f32 * 1e-3).cos(), (i as f32 * 1e-3).sin())).unzip();
            let inputs = vec![x, Host::floats(DType::F32, &cos), Host::floats(DType::F32, &sin)];
            Case::new("rope", shape, inputs, out, move |be, i, o| {
                be.rope(&p, i[0].dense(), i[1].dense(), i[2].dense(), o)
            })
        }
        _ => return None,
    })
}
