//! Attention and cross-attention parity: the flash kernel against the
//! reference over causal/additive/keep masks, GQA, decode, odd lengths and
//! head dimensions, and [B, T, H, D] (non-contiguous) operands.

mod common;

use common::{assert_close, for_each_isa, for_each_isa_and_amx_model};
use half::bf16;
use iris_kernels::cpu::{fast, reference};
use iris_kernels::testing::{poisoned, randn, tolerance};
use iris_kernels::{Attention, Element, Heads, Mask, MaskLayout};

#[derive(Clone, Copy)]
enum M {
    None,
    Causal,
    Additive,
    Keep,
}

#[allow(clippy::too_many_arguments)]
fn run<T: Element>(b: usize, h: usize, hkv: usize, tq: usize, tk: usize, d: usize, mask: M, bthd: bool, seed: u64) {
    let lay = |heads, t| if bthd { Heads::bthd(heads, t, d) } else { Heads::bhtd(heads, t, d) };
    let p = Attention {
        b,
        h,
        hkv,
        tq,
        tk,
        d,
        scale: 1.0 / (d as f32).sqrt(),
        causal: matches!(mask, M::Causal),
        q: lay(h, tq),
        k: lay(hkv, tk),
        v: lay(hkv, tk),
        o: lay(h, tq),
    };
    let q = randn::<T>(seed, b * h * tq * d);
    let k = randn::<T>(seed + 1, b * hkv * tk * d);
    let v = randn::<T>(seed + 2, b * hkv * tk * d);
    // Additive: a per-head mask with some keys at −inf; Keep: per-row prefixes,
    // row 0 sees nothing (it must come out as zeros).
    let add: Vec<f32> = randn::<f32>(seed + 3, h * tq * tk)
        .into_iter()
        .enumerate()
        .map(|(i, x)| if i % 7 == 3 { f32::NEG_INFINITY } else { x })
        .collect();
    let keep: Vec<u8> = (0..tq * tk).map(|i| ((i % tk) < (i / tk) * 3 % (tk + 1)) as u8).collect();
    let add_l = MaskLayout { offset: 0, b_stride: 0, h_stride: tq * tk, q_stride: tk };
    let (mut out, mut want) = (poisoned::<T>(q.len()), poisoned::<T>(q.len()));
    let what = format!("attention {} b{b} h{h}/{hkv} tq{tq} tk{tk} d{d} bthd={bthd}", T::DTYPE);
    match mask {
        M::Keep => {
            let km = Some((&keep[..], MaskLayout::shared(tk)));
            reference::cross_attention(&p, &q, &k, &v, km, &mut want).unwrap();
            fast::cross_attention(&p, &q, &k, &v, km, &mut out).unwrap();
        }
        _ => {
            let m = if matches!(mask, M::Additive) { Mask::Additive(&add, add_l) } else { Mask::None };
            reference::attention(&p, &q, &k, &v, m, &mut want).unwrap();
            fast::attention(&p, &q, &k, &v, m, &mut out).unwrap();
        }
    }
    assert_close(&what, &out, &want, tolerance(T::DTYPE));
}

const SHAPES: &[(usize, usize, usize, usize, usize, usize)] = &[
    // b, h, hkv, tq, tk, d
    (1, 1, 1, 1, 1, 1),
    (1, 2, 1, 1, 100, 64),
    (2, 4, 2, 3, 17, 8),
    (1, 2, 2, 17, 17, 80),
    (1, 4, 1, 113, 203, 64),
    (2, 3, 3, 65, 65, 7),
    (1, 8, 2, 1, 1023, 128),
    (1, 2, 1, 64, 129, 96),
    // The few-row path (decode without GQA) over more than one chunk of 1024 keys.
    (1, 2, 2, 1, 2500, 128),
    (1, 3, 3, 2, 1100, 70),
    // Past WHOLE_KEYS (8192) visible keys: the key-block streaming path,
    // on K/V packed per block (two query blocks a head) and once per head.
    (1, 4, 2, 30, 8300, 24),
    (1, 1, 1, 150, 8300, 8),
    // Empty: no keys (every row sees nothing), no queries, no head dimension.
    (1, 2, 1, 5, 0, 8),
    (1, 2, 2, 0, 5, 8),
    (1, 1, 1, 3, 3, 0),
];

#[test]
fn attention_matches_reference() {
    for_each_isa(|| {
        for (i, &(b, h, hkv, tq, tk, d)) in SHAPES.iter().enumerate() {
            for (j, mask) in [M::None, M::Causal, M::Additive].into_iter().enumerate() {
                run::<f32>(b, h, hkv, tq, tk, d, mask, i % 2 == 1, (i * 10 + j) as u64);
            }
        }
    });
}

#[test]
fn causal_attention_with_more_queries_than_keys_sees_nothing_early() {
    // Query i sees keys j ≤ i + (Tk − Tq): the first Tq − Tk rows are zeros.
    run::<f32>(1, 2, 1, 9, 4, 16, M::Causal, false, 5);
}

#[test]
fn cross_attention_with_key_mask_matches_reference() {
    for_each_isa(|| {
        for (i, &(b, h, hkv, tq, tk, d)) in SHAPES.iter().enumerate() {
            run::<f32>(b, h, hkv, tq, tk, d, M::Keep, i % 2 == 0, 50 + i as u64);
        }
    });
}

/// bf16 on every instruction set: on AMX both products run on the tiles
/// (Q and the weights as A panels in chunks of 16 pairs), on AVX512-BF16 on
/// `vdpbf16ps` (Q, K, V and the weights as bf16 pairs, scores and sums in
/// f32), elsewhere widened to f32; where the CPU has no AMX, once more on
/// the software model of the tiles. Every shape, so both the whole-row and
/// the streaming paths (past 8192 keys) and K/V packed per head and per
/// block run on pairs and on tiles.
#[test]
fn attention_bf16_matches_reference() {
    use iris_kernels::cpu::isa::{available, Isa};
    if !available().contains(&Isa::Avx512Bf16) {
        eprintln!("note: this CPU has no AVX512-BF16; bf16 attention on vdpbf16ps did not run");
    }
    if !available().contains(&Isa::Amx) {
        eprintln!("note: no AMX tiles here; bf16 attention ran on the tiles' software model only");
    }
    for_each_isa_and_amx_model(|| {
        for (i, &(b, h, hkv, tq, tk, d)) in SHAPES.iter().enumerate() {
            let seed = 9 + i as u64;
            run::<bf16>(b, h, hkv, tq, tk, d, M::Causal, i % 2 == 0, seed);
            run::<bf16>(b, h, hkv, tq, tk, d, M::Keep, i % 2 == 1, seed);
            run::<bf16>(b, h, hkv, tq, tk, d, M::Additive, false, seed);
        }
    });
}

#[test]
fn attention_rejects_bad_shapes() {
    let p = Attention {
        b: 1,
        h: 3,
        hkv: 2,
        tq: 2,
        tk: 2,
        d: 4,
        scale: 1.0,
        causal: false,
        q: Heads::bhtd(3, 2, 4),
        k: Heads::bhtd(2, 2, 4),
        v: Heads::bhtd(2, 2, 4),
        o: Heads::bhtd(3, 2, 4),
    };
    let x = vec![0f32; 24];
    let mut o = vec![0f32; 24];
    let e = fast::attention(&p, &x, &x, &x, Mask::None, &mut o).unwrap_err();
    assert!(e.to_string().contains("multiple of Hkv"), "{e}");
    let p = Attention { hkv: 3, causal: true, ..p };
    assert!(fast::cross_attention(&p, &x, &x, &x, None, &mut o).is_err());
    let short = vec![0f32; 5];
    assert!(fast::attention(&Attention { causal: false, ..p }, &x, &short, &x, Mask::None, &mut o).is_err());
}
