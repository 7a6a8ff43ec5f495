//! Criterion benches of the fast CPU kernels at the shapes `iris bench`
//! reports; throughput in FLOPs (compute-bound ops) or bytes (memory-bound).
//! `cargo bench -p iris-benches`; the side-by-side with numpy and PyTorch
//! is `benches/peers/compare.sh`.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use iris_kernels::cpu::fast;
use iris_kernels::testing::{poisoned, randn};
use iris_kernels::{Attention, Gemm, Heads, Im2col, Mask, MaskLayout, MatLayout, Rope};

fn gemm(c: &mut Criterion) {
    let mut g = c.benchmark_group("gemm_f32");
    g.sample_size(10);
    for (m, n, k, tb) in [(1024, 1024, 1024, false), (2048, 2048, 2048, false), (1, 11008, 4096, true)] {
        let b = if tb { MatLayout::row_major(n, k).t() } else { MatLayout::row_major(k, n) };
        let p = Gemm {
            batch: 1,
            m,
            n,
            k,
            alpha: 1.0,
            beta: 0.0,
            a: MatLayout::row_major(m, k),
            b,
            c: MatLayout::row_major(m, n),
        };
        let (x, w) = (randn::<f32>(1, m * k), randn::<f32>(2, k * n));
        let mut out = poisoned::<f32>(m * n);
        if m == 1 {
            g.throughput(Throughput::Bytes((4 * k * n) as u64));
        } else {
            g.throughput(Throughput::Elements((2 * m * n * k) as u64));
        }
        g.bench_function(BenchmarkId::from_parameter(format!("{m}x{n}x{k}")), |bench| {
            bench.iter(|| fast::gemm(&p, &x, &w, &mut out).unwrap())
        });
    }
    g.finish();
}

fn attention(c: &mut Criterion) {
    let mut g = c.benchmark_group("attention_f32");
    g.sample_size(10);
    // (h, hkv, tq, tk, d, causal, cross)
    for (h, hkv, tq, tk, d, causal, cross) in [
        (16, 16, 1024, 1024, 64, true, false),
        (32, 8, 1, 4096, 128, false, false),
        (32, 32, 64, 6404, 128, false, true),
    ] {
        let p = Attention {
            b: 1,
            h,
            hkv,
            tq,
            tk,
            d,
            scale: 0.125,
            causal,
            q: Heads::bhtd(h, tq, d),
            k: Heads::bhtd(hkv, tk, d),
            v: Heads::bhtd(hkv, tk, d),
            o: Heads::bhtd(h, tq, d),
        };
        let q = randn::<f32>(1, h * tq * d);
        let (k, v) = (randn::<f32>(2, hkv * tk * d), randn::<f32>(3, hkv * tk * d));
        let keep = vec![1u8; tq * tk];
        let mut o = poisoned::<f32>(q.len());
        let pairs = if causal { tq * tk / 2 } else { tq * tk };
        g.throughput(Throughput::Elements((4 * h * pairs * d) as u64));
        let name = format!("{}h{h}/{hkv}_tq{tq}_tk{tk}_d{d}", if cross { "cross_" } else { "" });
        g.bench_function(BenchmarkId::from_parameter(name), |bench| {
            bench.iter(|| {
                if cross {
                    fast::cross_attention(&p, &q, &k, &v, Some((&keep, MaskLayout::shared(tk))), &mut o).unwrap()
                } else {
                    fast::attention(&p, &q, &k, &v, Mask::None, &mut o).unwrap()
                }
            })
        });
    }
    g.finish();
}

fn rowwise(c: &mut Criterion) {
    let mut g = c.benchmark_group("rowwise_f32");
    let (rows, cols) = (577, 1024);
    let x = randn::<f32>(1, rows * cols);
    let w = randn::<f32>(2, cols);
    let mut o = poisoned::<f32>(x.len());
    g.throughput(Throughput::Bytes((8 * rows * cols) as u64));
    g.bench_function("layernorm_577x1024", |b| b.iter(|| fast::layer_norm(&x, &w, &w, 1e-5, &mut o).unwrap()));
    g.bench_function("rmsnorm_577x1024", |b| b.iter(|| fast::rms_norm(&x, &w, 1e-5, &mut o).unwrap()));
    g.bench_function("softmax_577x1024", |b| b.iter(|| fast::softmax(&x, cols, &mut o).unwrap()));
    let rope = Rope { outer: 1, t: rows, inner: 8, d: 128 };
    let (cos, sin) = (randn::<f32>(3, rows * 64), randn::<f32>(4, rows * 64));
    g.bench_function("rope_577x8x128", |b| {
        b.iter(|| fast::rope(&rope, &x[..rows * 1024], &cos, &sin, &mut o).unwrap())
    });
    let p = Im2col::patches(1, 3, 336, 336, 14);
    let img = randn::<f32>(5, 3 * 336 * 336);
    let mut cols_out = poisoned::<f32>(p.out_len());
    g.throughput(Throughput::Bytes((8 * img.len()) as u64));
    g.bench_function("im2col_3x336x336_p14", |b| b.iter(|| fast::im2col(&p, &img, &mut cols_out).unwrap()));
    g.finish();
}

criterion_group!(benches, gemm, attention, rowwise);
criterion_main!(benches);
