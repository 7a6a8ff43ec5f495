//! The bf16 GEMM on `vdpbf16ps` (AVX512-BF16): operands packed as bf16
//! pairs, against the reference (bf16 products exact, f32 sums, one rounding
//! of C), on every instruction set this CPU has — the pair path where it has
//! AVX512-BF16, the widening path elsewhere. Odd depths (a zero in the last
//! pair), depths past a slab of 1024 pairs and past K_SPLIT, each operand
//! layout (a weight's lines along k, a row-major B's rows along n, strided
//! views), and B packed once (`PackedB`) with A of bf16 or f32. The AMX
//! tiling (32×32 blocks, A in chunks of 16 slots, depths padded to chunks)
//! runs on AMX where the CPU has it and on the tiles' software model on
//! every CPU.

mod common;

use common::gemm::{run, run_with, FastGemm};
use common::{for_each_isa, for_each_isa_and_amx_model, uncapped};
use half::bf16;
use iris_kernels::cpu::fast::{self, Epilogue};
use iris_kernels::cpu::isa::{self, Isa};
use iris_kernels::testing::randn;
use iris_kernels::MatLayout;

/// Says which bf16 paths this CPU cannot run: without AVX512-BF16 the tests
/// check the widening path; without AMX, the AMX tiling runs on the software
/// model of the tile instructions but not on tiles.
fn note_pair_path() {
    let have = isa::available();
    if !have.contains(&Isa::Avx512Bf16) {
        eprintln!("note: this CPU has no AVX512-BF16; the vdpbf16ps path did not run");
    }
    if !have.contains(&Isa::Amx) {
        eprintln!("note: no AMX tiles here (or Linux refused them); the AMX tiling ran on the software model only");
    }
}

/// A named instruction set keeps its bf16 products (so every test above runs
/// `vdpbf16ps` where the CPU has it); unnamed, Intel's widen to f32
/// (`isa::bf16_dots`), which the note says.
#[test]
fn named_isa_keeps_its_bf16_products() {
    for_each_isa(|| assert_eq!(isa::bf16_dots(), isa::isa() >= Isa::Avx512Bf16, "{:?}", isa::isa()));
    let unnamed = uncapped(|| (isa::isa() == Isa::Avx512Bf16).then(isa::bf16_dots));
    if let (None, Some(dots)) = (std::env::var_os("IRIS_ISA"), unnamed) {
        let on = if dots { "vdpbf16ps" } else { "f32 FMAs on widened operands" };
        eprintln!("note: unnamed, this CPU's compute-bound bf16 products run on {on}");
    }
}

#[test]
fn bf16_gemm_on_pairs_matches_reference() {
    note_pair_path();
    for_each_isa_and_amx_model(|| {
        for (s, &(m, n, k)) in
            [(13, 33, 1), (12, 32, 2), (25, 70, 257), (200, 65, 600), (129, 513, 77), (1, 40, 9), (300, 31, 1025)]
                .iter()
                .enumerate()
        {
            let seed = 1000 + 10 * s as u64;
            for (ta, tb) in [(false, false), (true, false), (false, true), (true, true)] {
                run::<bf16>(1, m, n, k, ta, tb, false, 1.0, 0.0, seed);
            }
            run::<bf16>(2, m, n, k, false, false, true, 0.5, 1.5, seed + 1);
        }
        // Two slabs of pairs (1050 slots), the second accumulated onto the first.
        run::<bf16>(1, 60, 40, 2100, false, false, false, 1.0, 0.0, 1090);
        // Deeper than K_SPLIT: slices accumulated onto the staged C.
        run::<bf16>(1, 40, 33, 9001, false, false, false, 1.0, 1.0, 1100);
    });
}

#[test]
fn bf16_weight_packed_once_serves_bf16_and_f32_rows() {
    note_pair_path();
    // A Linear's weight [N, K] packed once; rows of bf16 through the generic
    // entry, rows of f32 rounded to bf16 as they are packed.
    let bf16_rows: FastGemm<bf16> = &|p, a, b, c| {
        let w = fast::PackedB::new(b, &p.b, p.k, p.n).unwrap();
        let mut out = vec![0f32; c.len()];
        for (o, v) in out.iter_mut().zip(c.iter()) {
            *o = v.to_f32();
        }
        fast::gemm_packed(p, a, &w, Epilogue::default(), &mut out).unwrap();
        for (v, o) in c.iter_mut().zip(out) {
            *v = bf16::from_f32(o);
        }
    };
    for_each_isa_and_amx_model(|| {
        for (s, &(m, n, k)) in [(1, 1, 1), (13, 33, 257), (577, 64, 601), (37, 129, 1000)].iter().enumerate() {
            let seed = 1200 + 10 * s as u64;
            run_with::<bf16>(bf16_rows, 1, m, n, k, false, true, false, 1.0, 0.0, seed);
            run_with::<bf16>(bf16_rows, 1, m, n, k, true, false, true, 0.5, 1.5, seed + 1);
        }
        // f32 rows against the same product of their bf16 roundings.
        let (m, n, k) = (70, 96, 333);
        let w = randn::<bf16>(1300, n * k);
        let x = randn::<f32>(1301, m * k);
        let xr: Vec<bf16> = x.iter().map(|&v| bf16::from_f32(v)).collect();
        let p = iris_kernels::Gemm {
            batch: 1,
            m,
            n,
            k,
            alpha: 1.0,
            beta: 0.0,
            a: MatLayout::row_major(m, k),
            b: MatLayout::row_major(n, k).t(),
            c: MatLayout::row_major(m, n),
        };
        let packed = fast::PackedB::new(&w, &p.b, k, n).unwrap();
        let (mut from_f32, mut from_bf16) = (vec![0f32; m * n], vec![0f32; m * n]);
        fast::gemm_packed(&p, &x, &packed, Epilogue::default(), &mut from_f32).unwrap();
        fast::gemm_packed(&p, &xr, &packed, Epilogue::default(), &mut from_bf16).unwrap();
        if isa::bf16_dots() || isa::amx_model() {
            // Rounded as packed: the same pairs, the same sums.
            assert_eq!(from_f32, from_bf16, "f32 rows against their bf16 rounding");
        } else {
            // Widened: the f32 rows' product, near the rounded rows' one.
            common::assert_close("f32 rows vs their bf16 rounding", &from_f32, &from_bf16, 1e-2);
        }
        // The packed weight unpacks to the weight.
        let back = packed.unpack();
        assert!(back.iter().zip(&w).all(|(a, b)| *a == b.to_f32()), "unpack changed the weight");
    });
}

#[test]
fn bf16_output_takes_bias_and_activation_as_its_blocks_are_rounded() {
    // A 16-bit C gets the bias and the activation in the pass that rounds
    // each block of C: across column tiles (past 128 and 512 columns), a
    // partial last tile, and two slabs of depth, against the f64 sum of the
    // exact bf16 products, the bias and quick_gelu, within bf16's rounding.
    let quick_gelu = |x: f64| x / (1.0 + (-1.702 * x).exp());
    for_each_isa_and_amx_model(|| {
        for (s, &(m, n, k)) in [(70, 600, 100), (45, 200, 2100)].iter().enumerate() {
            let seed = 1400 + 10 * s as u64;
            let (w, x, bias) = (randn::<bf16>(seed, n * k), randn::<bf16>(seed + 1, m * k), randn::<f32>(seed + 2, n));
            let p = iris_kernels::Gemm {
                batch: 1,
                m,
                n,
                k,
                alpha: 1.0,
                beta: 0.0,
                a: MatLayout::row_major(m, k),
                b: MatLayout::row_major(n, k).t(),
                c: MatLayout::row_major(m, n),
            };
            let packed = fast::PackedB::new(&w, &p.b, k, n).unwrap();
            let ep = Epilogue { bias: Some(&bias), act: Some(iris_kernels::Unary::QuickGelu) };
            let mut got = vec![bf16::ZERO; m * n];
            fast::gemm_packed_bf16(&p, &x, &packed, ep, &mut got).unwrap();
            let want: Vec<bf16> = (0..m * n)
                .map(|e| {
                    let (i, j) = (e / n, e % n);
                    let dot: f64 = (0..k).map(|l| x[i * k + l].to_f64() * w[j * k + l].to_f64()).sum();
                    bf16::from_f64(quick_gelu(dot + bias[j] as f64))
                })
                .collect();
            common::assert_close(&format!("{m}×{n}×{k} + bias, quick_gelu"), &got, &want, 1e-2);
        }
    });
}
