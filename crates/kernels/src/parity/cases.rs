//! The attention, row-wise and layout cases of the table.

use super::{Case, Host};
use crate::testing::randn;
use crate::{Attention, Binary, DType, Heads, Im2col, MaskLayout, MaskOf, Reduce, Rope, Strided, Unary};

pub(super) fn attention_cases(dt: DType, out: &mut Vec<Case>) {
    // (b, h, hkv, tq, tk, d, causal, mask kind: 0 none, 1 additive, 2 keep)
    let cases = [
        (2, 4, 2, 37, 37, 64, true, 0),
        (1, 3, 1, 19, 45, 80, true, 1),
        (1, 8, 2, 1, 777, 128, true, 0),
        (1, 4, 4, 13, 129, 64, false, 2),
        (1, 2, 1, 50, 20, 32, true, 0),
        // 16-bit types on a GPU: the tensor-core flash kernels (D 64 or 128).
        (1, 4, 2, 130, 200, 128, true, 1),
        // A decode step whose head dim takes the element-wise decode kernel on a GPU.
        (1, 2, 1, 1, 300, 80, false, 0),
    ];
    for (i, &(b, h, hkv, tq, tk, d, causal, kind)) in cases.iter().enumerate() {
        let s = 40 + 10 * i as u64;
        let mut inputs = vec![
            Host::randn(dt, s, b * h * tq * d),
            Host::randn(dt, s + 1, b * hkv * tk * d),
            Host::randn(dt, s + 2, b * hkv * tk * d),
        ];
        match kind {
            1 => inputs.push(Host::randn(DType::F32, s + 3, tq * tk)),
            2 => inputs.push(Host::u8s(
                &(0..tq * tk).map(|j| ((j * 7 + j / tk) % 3 != 0 && j / tk != 2) as u8).collect::<Vec<_>>(),
            )),
            _ => {}
        }
        let p = Attention {
            b,
            h,
            hkv,
            tq,
            tk,
            d,
            scale: (d as f32).powf(-0.5),
            causal,
            // q and o as [B, T, H, D] views, k and v as [B, H, T, D].
            q: Heads::bthd(h, tq, d),
            k: Heads::bhtd(hkv, tk, d),
            v: Heads::bhtd(hkv, tk, d),
            o: Heads::bthd(h, tq, d),
        };
        let what = ["", " additive mask", " key mask"][kind];
        let shape = format!("B{b} H{h}/{hkv} Tq{tq} Tk{tk} D{d}{}{what}", if causal { " causal" } else { "" });
        let op = if kind == 2 { "cross_attention" } else { "attention" };
        let flops = 4.0 * (b * h * tq * tk * d) as f64;
        out.push(
            Case::new(op, shape, inputs, Host::poison(dt, b * h * tq * d), move |be, i, o| {
                let mask = match kind {
                    1 => MaskOf::Additive(&i[3], MaskLayout::shared(tk)),
                    2 => MaskOf::Keep(&i[3], MaskLayout::shared(tk)),
                    _ => MaskOf::None,
                };
                be.attention(&p, &i[0], &i[1], &i[2], mask, o)
            })
            .flops(flops),
        );
    }
}

/// `b`, shifted away from zero (a divisor).
fn shifted(dt: DType, seed: u64, n: usize) -> Host {
    Host::floats(dt, &randn::<f32>(seed, n).iter().map(|x| x + 3.0).collect::<Vec<_>>())
}

pub(super) fn row_cases(dt: DType, out: &mut Vec<Case>) {
    // 1001 elements: one at a time; 1040: 16-byte vectors on a GPU.
    for op in [Unary::Gelu, Unary::GeluTanh, Unary::QuickGelu, Unary::Silu, Unary::Tanh, Unary::Scale(-1.5)] {
        for n in [1001, 1040] {
            out.push(Case::new(
                "unary",
                format!("{op:?} {n}"),
                vec![Host::randn(dt, 70, n)],
                Host::poison(dt, n),
                move |be, i, o| be.unary(op, i[0].dense(), o),
            ));
        }
    }
    // Both operands dense of the output's shape (a residual add).
    for n in [1001, 1040] {
        for op in [Binary::Add, Binary::Div] {
            let inputs = vec![Host::randn(dt, 78, n), shifted(dt, 79, n)];
            out.push(Case::new("binary", format!("{op:?} dense {n}"), inputs, Host::poison(dt, n), move |be, i, o| {
                let dense = Strided { shape: &[n], strides: &[1], offset: 0 };
                be.binary(op, &i[0], dense, &i[1], dense, o)
            }));
        }
    }
    // [3, 1, 5] op [1, 4, 5] → [3, 4, 5], both broadcast.
    for op in [Binary::Add, Binary::Sub, Binary::Mul, Binary::Div] {
        let inputs = vec![Host::randn(dt, 71, 15), shifted(dt, 72, 20)];
        out.push(Case::new(
            "binary",
            format!("{op:?} [3,1,5]·[1,4,5]"),
            inputs,
            Host::poison(dt, 60),
            move |be, i, o| {
                let shape = [3, 4, 5];
                let l = Strided { shape: &shape, strides: &[5, 0, 1], offset: 0 };
                let r = Strided { shape: &shape, strides: &[0, 5, 1], offset: 0 };
                be.binary(op, &i[0], l, &i[1], r, o)
            },
        ));
    }
    // 1030 per row: element accesses; 1032: 16-byte ones on a GPU.
    for (i, (rows, n)) in [(7, 1030), (5, 1032)].into_iter().enumerate() {
        let s = 73 + 10 * i as u64;
        let inputs = || vec![Host::randn(dt, s, rows * n), Host::randn(dt, s + 1, n), Host::randn(dt, s + 2, n)];
        out.push(Case::new("layer_norm", format!("{rows}×{n}"), inputs(), Host::poison(dt, rows * n), |be, i, o| {
            be.layer_norm(i[0].dense(), i[1].dense(), i[2].dense(), 1e-5, o)
        }));
        out.push(Case::new("rms_norm", format!("{rows}×{n}"), inputs(), Host::poison(dt, rows * n), |be, i, o| {
            be.rms_norm(i[0].dense(), i[1].dense(), 1e-6, o)
        }));
    }
    // 577: element accesses; 576: 16-byte ones on a GPU.
    for n in [577, 576] {
        out.push(Case::new(
            "softmax",
            format!("9×{n}"),
            vec![Host::randn(dt, 76, 9 * n)],
            Host::poison(dt, 9 * n),
            move |be, i, o| be.softmax(i[0].dense(), n, o),
        ));
    }
    // Rows longer than a block (1030) and shorter (7), from a view starting inside its buffer.
    for op in [Reduce::Sum, Reduce::Mean] {
        for (rows, n) in [(9, 1030), (33, 7)] {
            out.push(Case::new(
                "reduce",
                format!("{op:?} {rows}×{n}"),
                vec![Host::randn(dt, 87, 3 + rows * n)],
                Host::poison(dt, rows),
                move |be, i, o| be.reduce(op, crate::Dense::new(&i[0], 3, rows * n)?, n, o),
            ));
        }
    }
    // d 64: 16-byte pairs on a GPU; d 6: one pair at a time.
    for d in [64, 6] {
        let p = Rope { outer: 2, t: 11, inner: 3, d };
        let (cos, sin): (Vec<f32>, Vec<f32>) =
            (0..11 * d / 2).map(|i| ((i as f32 * 0.37).cos(), (i as f32 * 0.37).sin())).unzip();
        let inputs =
            vec![Host::randn(dt, 77, 2 * 11 * 3 * d), Host::floats(DType::F32, &cos), Host::floats(DType::F32, &sin)];
        out.push(Case::new(
            "rope",
            format!("2×11×3×{d}"),
            inputs,
            Host::poison(dt, 2 * 11 * 3 * d),
            move |be, i, o| be.rope(&p, i[0].dense(), i[1].dense(), i[2].dense(), o),
        ));
    }
}

pub(super) fn layout_cases(dt: DType, out: &mut Vec<Case>) {
    let p = Im2col { n: 2, c: 3, h: 17, w: 19, kh: 4, kw: 4, stride: 3, pad: 1 };
    out.push(Case::new(
        "im2col",
        "2×3×17×19 k4 s3 p1".into(),
        vec![Host::randn(dt, 80, 2 * 3 * 17 * 19)],
        Host::poison(dt, p.out_len()),
        move |be, i, o| be.im2col(&p, i[0].dense(), o),
    ));
    let ids = [3u32, 49, 0, 7, 7, 21, 12];
    out.push(Case::new(
        "embedding",
        "50×36, 7 ids".into(),
        vec![Host::randn(dt, 81, 50 * 36), Host::u32s(&ids)],
        Host::poison(dt, ids.len() * 36),
        |be, i, o| be.embedding(i[0].dense(), 36, i[1].dense(), o),
    ));
    // A transposed, offset view of [5, 7] and a cast to f32 (labelled with the source's dtype) and back.
    let view = |be: &dyn crate::Backend, x: &crate::Buffer, o: &mut crate::Buffer| {
        be.copy(x, Strided { shape: &[7, 5], strides: &[1, 7], offset: 3 }, o)
    };
    out.push(Case::new(
        "copy",
        "[5,7]ᵀ+3 → f32".into(),
        vec![Host::randn(dt, 82, 40)],
        Host::poison(DType::F32, 35),
        move |be, i, o| view(be, &i[0], o),
    ));
    // A dense copy in one dtype (16-byte moves on a GPU).
    out.push(Case::new(
        "copy_dense",
        "1040".into(),
        vec![Host::randn(dt, 84, 1040)],
        Host::poison(dt, 1040),
        |be, i, o| be.copy(&i[0], Strided { shape: &[1040], strides: &[1], offset: 0 }, o),
    ));
    let mut back = Case::new(
        "copy",
        "f32 [5,7]ᵀ+3 → dtype".into(),
        vec![Host::randn(DType::F32, 83, 40)],
        Host::poison(dt, 35),
        move |be, i, o| view(be, &i[0], o),
    );
    back.dtype = dt;
    out.push(back);
    // Rows of 24 written at column 16 of rows of 56 (a concatenation's middle part, KV-cache rows),
    // from element 8 of the source (a view that starts inside its buffer).
    out.push(Case::new(
        "concat",
        "5×24 at 16 of 56".into(),
        vec![Host::randn(dt, 85, 8 + 5 * 24)],
        Host::randn(dt, 86, 5 * 56),
        |be, i, o| be.concat(crate::Dense::new(&i[0], 8, 5 * 24)?, 5, 24, 56, 16, o),
    ));
}
