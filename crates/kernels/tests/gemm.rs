//! GEMM parity: the reference against an independent f64 triple loop, and
//! the fast kernel (every micro-kernel tail, the GEMV paths, strided and
//! transposed operands, batches, alpha/beta) against the reference.

mod common;

use common::gemm::{run, run_with, FastGemm};
use common::{assert_close, for_each_isa};
use half::{bf16, f16};
use iris_kernels::cpu::fast::Epilogue;
use iris_kernels::cpu::{fast, reference};
use iris_kernels::testing::{poisoned, randn, tolerance};
use iris_kernels::{DType, Gemm, MatLayout, Unary};

const SHAPES: &[(usize, usize, usize)] = &[
    (1, 1, 1),
    (1, 7, 13),
    (7, 1, 13),
    (1, 300, 517),
    (300, 1, 517),
    // GEMV with a 16-wide k remainder after the 32-wide steps.
    (1, 33, 1010),
    (70, 1, 50),
    (5, 3, 1),
    (3, 4, 0),
    (12, 32, 256),
    (13, 33, 257),
    (11, 31, 255),
    (97, 65, 259),
    (200, 513, 77),
    (37, 129, 600),
];

#[test]
fn reference_gemm_matches_a_float64_triple_loop() {
    // op(A) and op(B) materialised by explicit transposition, then the
    // textbook loop; the reference must agree through its strided views.
    let (m, n, k) = (7, 9, 11);
    for (ta, tb) in [(false, false), (true, false), (false, true), (true, true)] {
        let a = randn::<f32>(10, m * k);
        let b = randn::<f32>(11, k * n);
        let c0 = randn::<f32>(12, m * n);
        // Stored as given when not transposed, else stored as the transpose.
        let a_at = |i: usize, l: usize| if ta { a[l * m + i] } else { a[i * k + l] } as f64;
        let b_at = |l: usize, j: usize| if tb { b[j * k + l] } else { b[l * n + j] } as f64;
        let (alpha, beta) = (0.75f64, -1.5f64);
        let mut want = vec![0f64; m * n];
        for i in 0..m {
            for j in 0..n {
                let mut s = 0f64;
                for l in 0..k {
                    s += a_at(i, l) * b_at(l, j);
                }
                want[i * n + j] = alpha * s + beta * c0[i * n + j] as f64;
            }
        }
        let lay = |r, c, t: bool| if t { MatLayout::row_major(c, r).t() } else { MatLayout::row_major(r, c) };
        let p = Gemm {
            batch: 1,
            m,
            n,
            k,
            alpha: alpha as f32,
            beta: beta as f32,
            a: lay(m, k, ta),
            b: lay(k, n, tb),
            c: MatLayout::row_major(m, n),
        };
        let mut c = c0.clone();
        reference::gemm(&p, &a, &b, &mut c).unwrap();
        for (got, want) in c.iter().zip(&want) {
            assert!((*got as f64 - want).abs() <= 1e-6 * want.abs().max(1.0), "{got} vs {want}");
        }
    }
}

#[test]
fn gemm_f32_matches_reference() {
    for_each_isa(|| {
        for (s, &(m, n, k)) in SHAPES.iter().enumerate() {
            for (ta, tb) in [(false, false), (true, false), (false, true), (true, true)] {
                run::<f32>(1, m, n, k, ta, tb, false, 1.0, 0.0, s as u64);
            }
            run::<f32>(3, m, n, k, false, true, false, 0.5, 0.0, 100 + s as u64);
            run::<f32>(2, m, n, k, true, false, true, -1.25, 0.75, 200 + s as u64);
        }
    });
}

#[test]
fn gemm_f32_large_k_crosses_slabs() {
    // k past two KC slabs: beta applies once, later slabs accumulate.
    for_each_isa(|| {
        run::<f32>(1, 50, 70, 2300, false, false, false, 1.0, 2.0, 7);
        run::<f32>(1, 1, 200, 4099, false, true, false, 1.0, 0.5, 8);
        // Packed operands past 8M floats go in chunks of rows, then of columns.
        run::<f32>(1, 2060, 20, 4100, false, false, false, 1.0, 0.5, 9);
        run::<f32>(1, 20, 2060, 4100, true, false, false, 1.0, 0.0, 10);
    });
}

#[test]
fn gemm_f16_and_bf16_match_reference() {
    for (s, &(m, n, k)) in SHAPES.iter().enumerate() {
        run::<bf16>(1, m, n, k, false, true, false, 1.0, 0.0, s as u64);
        run::<f16>(2, m, n, k, true, false, false, 1.0, 0.5, s as u64);
    }
}

#[test]
fn gemm_rejects_short_buffers_and_aliasing_outputs() {
    let p = Gemm {
        batch: 1,
        m: 4,
        n: 4,
        k: 4,
        alpha: 1.0,
        beta: 0.0,
        a: MatLayout::row_major(4, 4),
        b: MatLayout::row_major(4, 4),
        c: MatLayout::row_major(4, 4),
    };
    let (a, b) = (vec![0f32; 16], vec![0f32; 15]);
    let mut c = vec![0f32; 16];
    assert!(fast::gemm(&p, &a, &b, &mut c).unwrap_err().to_string().contains("`b`"));
    let aliasing = Gemm { c: MatLayout { row_stride: 1, col_stride: 1, ..p.c }, ..p };
    assert!(fast::gemm(&aliasing, &a, &a, &mut c).is_err());
}

#[test]
fn gemm_f32_few_rows_against_a_transposed_weight() {
    // The prefill path (2 ≤ m ≤ 128, k-contiguous A and B, no packing): row
    // and column tails of its 4×4 tiles, k tails of its 16 lanes, task
    // blocks of columns, alpha/beta, batches, a transposed C.
    for_each_isa(|| {
        for (s, &(m, n, k)) in
            [(2, 37, 17), (3, 5, 16), (7, 65, 33), (64, 130, 1000), (128, 9, 300), (5, 300, 4099)].iter().enumerate()
        {
            run::<f32>(1, m, n, k, false, true, false, 1.0, 0.0, 300 + s as u64);
            run::<f32>(2, m, n, k, false, true, true, 0.5, 1.5, 400 + s as u64);
            // bf16 takes its AVX512-BF16 form of the path where the CPU has it.
            run::<bf16>(1, m, n, k.max(32), false, true, false, 1.0, 0.0, 500 + s as u64);
            run::<bf16>(2, m, n, k.max(32), false, true, true, 0.5, 1.5, 600 + s as u64);
        }
    });
}

#[test]
fn gemm_with_b_packed_once_matches_reference() {
    // B packed beforehand over its whole depth (a Linear weight [N, K] or a
    // row-major [K, N]): slabs past KC, row and column tails, alpha/beta and
    // a transposed C; every batch reads the same packed B.
    let packed: FastGemm<f32> = &|p, a, b, c| {
        let w = fast::PackedB::new(b, &p.b, p.k, p.n).unwrap();
        fast::gemm_packed(p, a, &w, Epilogue::default(), c).unwrap()
    };
    for_each_isa(|| {
        for (s, &(m, n, k)) in
            [(1, 1, 1), (13, 33, 257), (200, 513, 77), (577, 64, 600), (37, 129, 1000)].iter().enumerate()
        {
            let seed = 700 + 10 * s as u64;
            run_with::<f32>(packed, 1, m, n, k, false, true, false, 1.0, 0.0, seed);
            run_with::<f32>(packed, 1, m, n, k, true, false, true, 0.5, 1.5, seed + 1);
        }
    });
    let w = fast::PackedB::new(&[0f32; 12], &MatLayout::row_major(3, 4), 3, 4).unwrap();
    let p = Gemm {
        batch: 1,
        m: 2,
        n: 4,
        k: 4,
        alpha: 1.0,
        beta: 0.0,
        a: MatLayout::row_major(2, 4),
        b: MatLayout::row_major(4, 4),
        c: MatLayout::row_major(2, 4),
    };
    let err = fast::gemm_packed(&p, &[0f32; 8], &w, Epilogue::default(), &mut [0f32; 8]).unwrap_err().to_string();
    assert!(err.contains("packed as [3, 4]"), "{err}");
}

#[test]
fn gemm_packed_adds_its_bias_and_activation_in_the_epilogue() {
    // A Linear's bias, added per row after the first k-slab, and quick_gelu
    // after the last, match adding the bias to the finished product (up to
    // the order of the f32 sums) and then the reference activation, over row
    // and column tails, several slabs and a transposed C.
    for_each_isa(|| {
        for (s, &(m, n, k, tc)) in
            [(13, 33, 257, false), (577, 70, 2100, false), (40, 129, 5, true), (3, 2, 0, false)].iter().enumerate()
        {
            let seed = 900 + 10 * s as u64;
            let (a, wt, bias) = (randn::<f32>(seed, m * k), randn::<f32>(seed + 1, n * k), randn::<f32>(seed + 2, n));
            let c = if tc { MatLayout::row_major(n, m).t() } else { MatLayout::row_major(m, n) };
            let p = Gemm {
                batch: 1,
                m,
                n,
                k,
                alpha: 1.0,
                beta: 0.0,
                a: MatLayout::row_major(m, k),
                b: MatLayout::row_major(n, k).t(),
                c,
            };
            let w = fast::PackedB::new(&wt, &p.b, k, n).unwrap();
            let (mut with, mut without) = (poisoned::<f32>(m * n), poisoned::<f32>(m * n));
            let act = (s > 0).then_some(Unary::QuickGelu);
            fast::gemm_packed(&p, &a, &w, Epilogue { bias: Some(&bias), act }, &mut with).unwrap();
            fast::gemm_packed(&p, &a, &w, Epilogue::default(), &mut without).unwrap();
            let pick = |v: &[f32], add: bool| -> Vec<f32> {
                let at = |i: usize, j: usize| c.offset + i * c.row_stride + j * c.col_stride;
                (0..m * n).map(|e| v[at(e / n, e % n)] + if add { bias[e % n] } else { 0.0 }).collect()
            };
            let mut want = pick(&without, true);
            if act.is_some() {
                let mut after = vec![0f32; want.len()];
                reference::unary(Unary::QuickGelu, &want, &mut after).unwrap();
                want = after;
            }
            assert_close(&format!("epilogue {m}x{n}x{k} {act:?}"), &pick(&with, false), &want, tolerance(DType::F32));
        }
    });
}
