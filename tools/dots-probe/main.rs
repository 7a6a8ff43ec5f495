//! The rates of `vfmadd231ps` and `vdpbf16ps` on this core, from registers only:
//! twelve independent zmm accumulators each, so neither waits on its latency. Behind
//! `isa::bf16_dots` (crates/kernels/src/cpu/isa.rs): where `vdpbf16ps` issues at half
//! the FMA rate or less, its 32 products an instruction buy nothing over two FMAs'
//! 32, and iris's compute-bound bf16 products widen to f32 instead.
//!   rustc -O -C target-cpu=native tools/dots-probe/main.rs -o /tmp/dots-probe && /tmp/dots-probe
use std::arch::x86_64::*;
use std::time::Instant;

const N: usize = 100_000_000;

#[target_feature(enable = "avx512f")]
fn fma() -> f32 {
    let (a, b) = (_mm512_set1_ps(1.0001), _mm512_set1_ps(0.9999));
    let mut c = [_mm512_setzero_ps(); 12];
    for _ in 0..N {
        for v in c.iter_mut() {
            *v = _mm512_fmadd_ps(a, b, *v);
        }
    }
    c.iter().map(|v| _mm512_reduce_add_ps(*v)).sum()
}

#[target_feature(enable = "avx512f,avx512bf16")]
fn dots() -> f32 {
    let one = _mm512_set1_epi16(0x3f80);
    let (a, b): (__m512bh, __m512bh) = (unsafe { std::mem::transmute(one) }, unsafe { std::mem::transmute(one) });
    let mut c = [_mm512_setzero_ps(); 12];
    for _ in 0..N {
        for v in c.iter_mut() {
            *v = _mm512_dpbf16_ps(*v, a, b);
        }
    }
    c.iter().map(|v| _mm512_reduce_add_ps(*v)).sum()
}

fn rate(name: &str, flops: f64, f: impl Fn() -> f32) {
    let t = Instant::now();
    let sink = f();
    let s = t.elapsed().as_secs_f64();
    let per_s = (N * 12) as f64 / s / 1e9;
    println!("{name:<10} {per_s:.2} G instructions/s  {:.1} GFLOP/s  (sum {sink})", per_s * flops);
}

fn main() {
    assert!(is_x86_feature_detected!("avx512f") && is_x86_feature_detected!("avx512bf16"), "needs AVX512-BF16");
    // SAFETY: the features were checked above.
    rate("vfmadd231ps", 32.0, || unsafe { fma() });
    rate("vdpbf16ps", 64.0, || unsafe { dots() });
}
