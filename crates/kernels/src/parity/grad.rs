//! The backward cases of the table (training): each gradient kernel on odd
//! shapes, rows longer and shorter than a block, repeated and ignored ids.
//! A kernel with several outputs (dx, dw, db) writes them one after the
//! other into the case's output, so one comparison covers them all.

use super::{Case, Host};
use crate::backend::{Backend, Buffer};
use crate::cpu::IGNORE;
use crate::{Attention, DType, Heads, MaskLayout, MaskOf, Result, Unary};

/// `outs` (fresh buffers of the given lengths, in `dt`) filled by `f`, then
/// copied one after the other into `out`.
fn into_one(
    be: &dyn Backend,
    dt: DType,
    lens: &[usize],
    out: &mut Buffer,
    f: impl FnOnce(&mut [Buffer]) -> Result<()>,
) -> Result<()> {
    let mut bufs = lens.iter().map(|&n| be.alloc(dt, n)).collect::<Result<Vec<_>>>()?;
    f(&mut bufs)?;
    let total = out.len();
    let mut at = 0;
    for b in &bufs {
        be.concat(b.dense(), 1, b.len(), total, at, out)?;
        at += b.len();
    }
    Ok(())
}

/// Attention backward: GQA, causal with Tq < Tk, an additive mask, a keep
/// mask with a row that sees nothing, a decode row; q/o as [B, T, H, D] views.
fn attention_cases(dt: DType, out: &mut Vec<Case>) {
    // (b, h, hkv, tq, tk, d, causal, mask kind: 0 none, 1 additive, 2 keep)
    for (i, &(b, h, hkv, tq, tk, d, causal, kind)) in [
        (2, 4, 2, 13, 13, 16, true, 0),
        (1, 3, 1, 7, 19, 8, true, 1),
        (1, 2, 2, 5, 11, 8, false, 2),
        (1, 4, 2, 1, 33, 16, true, 0),
    ]
    .iter()
    .enumerate()
    {
        let s = 140 + 10 * i as u64;
        let (nq, nk) = (b * h * tq * d, b * hkv * tk * d);
        let mut inputs = vec![
            Host::randn(dt, s, nq),
            Host::randn(dt, s + 1, nk),
            Host::randn(dt, s + 2, nk),
            Host::randn(dt, s + 3, nq),
        ];
        match kind {
            1 => inputs.push(Host::randn(DType::F32, s + 4, tq * tk)),
            // Row 1 keeps no key.
            2 => inputs
                .push(Host::u8s(&(0..tq * tk).map(|j| (j / tk != 1 && (j * 5) % 3 != 0) as u8).collect::<Vec<_>>())),
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
            q: Heads::bthd(h, tq, d),
            k: Heads::bhtd(hkv, tk, d),
            v: Heads::bhtd(hkv, tk, d),
            o: Heads::bthd(h, tq, d),
        };
        let what = ["", " additive mask", " key mask"][kind];
        let shape =
            format!("B{b} H{h}/{hkv} Tq{tq} Tk{tk} D{d}{}{what} → dq, dk, dv", if causal { " causal" } else { "" });
        out.push(Case::new("attention_backward", shape, inputs, Host::poison(dt, nq + 2 * nk), move |be, i, o| {
            let mask = match kind {
                1 => MaskOf::Additive(&i[4], MaskLayout::shared(tk)),
                2 => MaskOf::Keep(&i[4], MaskLayout::shared(tk)),
                _ => MaskOf::None,
            };
            // The forward's output on the same backend, then its backward for the cotangent i[3].
            let mut y = be.alloc(dt, nq)?;
            be.attention(&p, &i[0], &i[1], &i[2], mask, &mut y)?;
            into_one(be, dt, &[nq, nk, nk], o, |g| {
                let [dq, dk, dv] = g else { unreachable!("three outputs") };
                be.attention_backward(&p, &i[0], &i[1], &i[2], &y, &i[3], mask, dq, dk, dv)
            })
        }));
    }
}

pub(super) fn grad_cases(dt: DType, out: &mut Vec<Case>) {
    attention_cases(dt, out);
    for op in [Unary::Gelu, Unary::GeluTanh, Unary::QuickGelu, Unary::Silu, Unary::Tanh, Unary::Scale(-1.5)] {
        let inputs = vec![Host::randn(dt, 90, 1001), Host::randn(dt, 91, 1001)];
        out.push(Case::new(
            "unary_backward",
            format!("{op:?} 1001"),
            inputs,
            Host::poison(dt, 1001),
            move |be, i, o| be.unary_backward(op, i[0].dense(), i[1].dense(), o),
        ));
    }
    // Rows longer than a task's block of rows, and a short odd one.
    for (s, (rows, n)) in [(37, 130), (5, 7)].into_iter().enumerate() {
        let s = 92 + 10 * s as u64;
        let inputs = || vec![Host::randn(dt, s, rows * n), Host::randn(dt, s + 1, n), Host::randn(dt, s + 2, rows * n)];
        out.push(Case::new(
            "rms_norm_backward",
            format!("{rows}×{n} → dx, dw"),
            inputs(),
            Host::poison(dt, rows * n + n),
            move |be, i, o| {
                into_one(be, dt, &[rows * n, n], o, |b| {
                    let (dx, dw) = b.split_at_mut(1);
                    be.rms_norm_backward(i[0].dense(), i[1].dense(), i[2].dense(), 1e-5, &mut dx[0], &mut dw[0])
                })
            },
        ));
        out.push(Case::new(
            "layer_norm_backward",
            format!("{rows}×{n} → dx, dw, db"),
            inputs(),
            Host::poison(dt, rows * n + 2 * n),
            move |be, i, o| {
                into_one(be, dt, &[rows * n, n, n], o, |b| {
                    let [dx, dw, db] = b else { unreachable!("three outputs") };
                    be.layer_norm_backward(i[0].dense(), i[1].dense(), i[2].dense(), 1e-5, dx, dw, db)
                })
            },
        ));
        out.push(Case::new(
            "softmax_backward",
            format!("{rows}×{n}"),
            vec![Host::randn(dt, s + 3, rows * n), Host::randn(dt, s + 4, rows * n)],
            Host::poison(dt, rows * n),
            move |be, i, o| be.softmax_backward(i[0].dense(), i[1].dense(), n, o),
        ));
    }
    // Logits over a vocabulary of 1000 (and 7), a row ignored.
    for (rows, v) in [(9, 1000), (4, 7)] {
        let targets: Vec<u32> = (0..rows).map(|r| if r == 2 { IGNORE } else { (r * 37 % v) as u32 }).collect();
        let inputs = vec![Host::randn(dt, 120, rows * v), Host::u32s(&targets)];
        out.push(Case::new(
            "cross_entropy",
            format!("{rows}×{v}, one row ignored"),
            inputs.clone(),
            Host::poison(DType::F32, rows),
            move |be, i, o| be.cross_entropy(i[0].dense(), v, i[1].dense(), o),
        ));
        out.push(Case::new(
            "cross_entropy_backward",
            format!("{rows}×{v}, one row ignored"),
            inputs,
            Host::poison(dt, rows * v),
            move |be, i, o| be.cross_entropy_backward(i[0].dense(), v, i[1].dense(), 0.25, o),
        ));
    }
    // Overlapping windows (stride < kernel) with padding, and a ViT's patches.
    for (s, p) in [
        (0u64, crate::Im2col { n: 2, c: 3, h: 9, w: 7, kh: 3, kw: 3, stride: 2, pad: 1 }),
        (1, crate::Im2col::patches(1, 3, 28, 28, 14)),
    ] {
        out.push(Case::new(
            "im2col_backward",
            format!("{}×{}×{}×{} k{} s{} p{}", p.n, p.c, p.h, p.w, p.kh, p.stride, p.pad),
            vec![Host::randn(dt, 135 + s, p.out_len())],
            Host::poison(dt, p.n * p.c * p.h * p.w),
            move |be, i, o| be.im2col_backward(&p, i[0].dense(), o),
        ));
    }
    // Ids repeated, a table row no id picks.
    let ids = [3u32, 0, 7, 3, 3, 9, 0];
    out.push(Case::new(
        "embedding_backward",
        "7 ids (repeats) → 11×36".into(),
        vec![Host::randn(dt, 130, ids.len() * 36), Host::u32s(&ids)],
        Host::poison(dt, 11 * 36),
        move |be, i, o| be.embedding_backward(i[0].dense(), 36, i[1].dense(), o),
    ));
}
