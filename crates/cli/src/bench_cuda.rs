//! `iris bench --device cuda`: the CUDA kernels on device-resident inputs,
//! the median of synchronised runs after warm-up, with the same JSON fields
//! as the CPU benchmarks. Without an op: the GPU suite (the CUDA issue's
//! shapes), which `scripts/gpu-check.sh` runs beside PyTorch.

use std::time::Instant;

use cudarc::driver::sys::CUevent_flags;
use half::{bf16, f16};
use iris_kernels::cuda::ops::{self, CudaElem, CudaMask};
use iris_kernels::cuda::CudaDevice;
use iris_kernels::testing::randn;
use iris_kernels::{Im2col, MaskLayout};
use serde_json::{json, Value};

use crate::bench::{BenchArgs, Dt, Op};

type Res<T> = Result<T, Box<dyn std::error::Error>>;

/// Median ms of `f`, each run timed by CUDA events recorded around it on the
/// stream (as PyTorch's side is), at least 5 runs and 0.5 s, after a warm-up.
fn median_ms(dev: &CudaDevice, mut f: impl FnMut() -> Res<()>) -> Res<f64> {
    f()?;
    dev.stream.synchronize()?;
    let (begin, end) = (
        dev.ctx.new_event(Some(CUevent_flags::CU_EVENT_DEFAULT))?,
        dev.ctx.new_event(Some(CUevent_flags::CU_EVENT_DEFAULT))?,
    );
    let (start, mut times) = (Instant::now(), Vec::new());
    while times.len() < 5 || start.elapsed().as_secs_f64() < 0.5 && times.len() < 200 {
        begin.record(&dev.stream)?;
        f()?;
        end.record(&dev.stream)?;
        times.push(begin.elapsed_ms(&end)? as f64);
    }
    times.sort_by(f64::total_cmp);
    Ok(times[times.len() / 2])
}

fn bench<T: CudaElem>(dev: &CudaDevice, a: &BenchArgs) -> Res<Value> {
    let op = a.op.expect("suite fills the op");
    let es = T::DTYPE.size() as f64;
    let mut rec = json!({"op": format!("{op:?}").to_lowercase(), "device": "cuda", "dtype": T::DTYPE.to_string(), "gpu": dev.name()});
    let (ms, flops, bytes) = match op {
        Op::Gemm => {
            let p = a.gemm();
            let (x, w) = (dev.upload(&randn::<T>(1, a.m * a.k))?, dev.upload(&randn::<T>(2, a.k * a.n))?);
            let mut c = dev.alloc::<T>(a.m * a.n)?;
            let ms = median_ms(dev, || Ok(ops::gemm(dev, &p, &x, &w, &mut c)?))?;
            rec["shape"] = json!({"m": a.m, "n": a.n, "k": a.k, "transpose_b": a.transpose_b});
            (ms, 2.0 * (a.m * a.n * a.k) as f64, es * (a.m * a.k + a.k * a.n + a.m * a.n) as f64)
        }
        Op::Attention | Op::CrossAttention => {
            let cross = op == Op::CrossAttention;
            let p = a.attention(cross);
            let (hkv, tk) = (p.hkv, p.tk);
            let q = dev.upload(&randn::<T>(1, a.b * a.h * a.tq * a.d))?;
            let (k, v) =
                (dev.upload(&randn::<T>(2, a.b * hkv * tk * a.d))?, dev.upload(&randn::<T>(3, a.b * hkv * tk * a.d))?);
            let keep = crate::bench::keep_mask(a.tq, tk);
            let keep = dev.upload(&keep)?;
            let mut o = dev.alloc::<T>(a.b * a.h * a.tq * a.d)?;
            let ms = median_ms(dev, || {
                let m = if cross { CudaMask::Keep(&keep, MaskLayout::shared(tk)) } else { CudaMask::None };
                Ok(ops::attention(dev, &p, &q, &k, &v, m, &mut o)?)
            })?;
            rec["shape"] = json!({"b": a.b, "h": a.h, "hkv": hkv, "tq": a.tq, "tk": tk, "d": a.d, "causal": p.causal});
            let pairs = if p.causal { (a.tq * tk) as f64 - (a.tq * a.tq) as f64 / 2.0 } else { (a.tq * tk) as f64 };
            (
                ms,
                4.0 * (a.b * a.h) as f64 * pairs * a.d as f64,
                es * (2 * a.b * a.h * a.tq * a.d + 2 * a.b * hkv * tk * a.d) as f64,
            )
        }
        Op::Im2col => {
            let p = Im2col::patches(1, a.channels, a.size, a.size, a.patch);
            let x = dev.upload(&randn::<T>(1, a.channels * a.size * a.size))?;
            let mut o = dev.alloc::<T>(p.out_len())?;
            let ms = median_ms(dev, || Ok(ops::im2col(dev, &p, &x, &mut o)?))?;
            rec["shape"] = json!({"c": a.channels, "h": a.size, "w": a.size, "patch": a.patch});
            (ms, 0.0, es * 2.0 * p.out_len() as f64)
        }
        Op::Model => unreachable!("bench model is routed before the kernel benches"),
        Op::Layernorm | Op::Rmsnorm | Op::Softmax | Op::Rope => {
            let x = dev.upload(&randn::<T>(1, a.rows * a.cols))?;
            let w = dev.upload(&randn::<T>(2, a.cols))?;
            let mut o = dev.alloc::<T>(a.rows * a.cols)?;
            let ms = median_ms(dev, || {
                match op {
                    Op::Layernorm => ops::layer_norm(dev, &x, &w, &w, 1e-5, &mut o)?,
                    Op::Rmsnorm => ops::rms_norm(dev, &x, &w, 1e-5, &mut o)?,
                    Op::Softmax => ops::softmax(dev, &x, a.cols, &mut o)?,
                    _ => return Err("bench --device cuda: rope is timed on the CPU only".into()),
                }
                Ok(())
            })?;
            rec["shape"] = json!({"rows": a.rows, "cols": a.cols});
            (ms, 0.0, es * 2.0 * (a.rows * a.cols) as f64)
        }
    };
    rec["median_ms"] = json!(ms);
    if flops > 0.0 {
        rec["tflops"] = json!(flops / ms / 1e9);
    }
    rec["gbps"] = json!(bytes / ms / 1e6);
    Ok(rec)
}

/// The GPU suite: bf16 GEMMs, causal and cross-attention, wide norms.
fn suite(base: &BenchArgs) -> Vec<BenchArgs> {
    let with = |f: &dyn Fn(&mut BenchArgs)| {
        let mut a = base.clone();
        a.dtype = Dt::Bf16;
        (a.transpose_b, a.causal, a.b, a.hkv, a.tk) = (false, false, 1, None, None);
        f(&mut a);
        a
    };
    let mut v = vec![
        // B as a Linear weight [N, K] (Hopper: TMA + wgmma), and once as [K, N] (mma.sync).
        with(&|a| (a.op, a.m, a.n, a.k, a.transpose_b) = (Some(Op::Gemm), 4096, 4096, 4096, true)),
        with(&|a| (a.op, a.m, a.n, a.k, a.transpose_b) = (Some(Op::Gemm), 8192, 8192, 8192, true)),
        with(&|a| (a.op, a.m, a.n, a.k, a.transpose_b) = (Some(Op::Gemm), 4096, 11008, 4096, true)),
        with(&|a| (a.op, a.m, a.n, a.k) = (Some(Op::Gemm), 4096, 4096, 4096)),
        // One decode step's products: a 4096² projection and Llama 3.2 1B's 128256-wide head (GEMV).
        with(&|a| (a.op, a.m, a.n, a.k, a.transpose_b) = (Some(Op::Gemm), 1, 4096, 4096, true)),
        with(&|a| (a.op, a.m, a.n, a.k, a.transpose_b) = (Some(Op::Gemm), 1, 128256, 2048, true)),
    ];
    for d in [64, 128] {
        for t in [1024, 4096, 8192] {
            v.push(with(&|a| (a.op, a.h, a.tq, a.d, a.causal) = (Some(Op::Attention), 16, t, d, true)));
        }
    }
    // One decode step over a long cache (the split-key decode kernels).
    for tk in [4096, 32768] {
        v.push(with(&|a| (a.op, a.h, a.tq, a.tk, a.d) = (Some(Op::Attention), 32, 1, Some(tk), 128)));
    }
    for tk in [577, 1601, 6404] {
        for tq in [128, 2048] {
            v.push(with(&|a| (a.op, a.h, a.tq, a.tk, a.d) = (Some(Op::CrossAttention), 32, tq, Some(tk), 128)));
        }
    }
    v.push(with(&|a| (a.op, a.rows, a.cols) = (Some(Op::Layernorm), 4096, 8192)));
    v.push(with(&|a| (a.op, a.rows, a.cols) = (Some(Op::Rmsnorm), 4096, 8192)));
    v.push(with(&|a| (a.op, a.size, a.patch, a.channels) = (Some(Op::Im2col), 336, 14, 3)));
    v
}

pub fn run(args: &BenchArgs, ordinal: usize) -> Res<()> {
    let dev = CudaDevice::open(ordinal)?;
    let runs = if args.op.is_some() { vec![args.clone()] } else { suite(args) };
    for a in &runs {
        let rec = match a.dtype {
            Dt::F32 => bench::<f32>(&dev, a)?,
            Dt::F16 => bench::<f16>(&dev, a)?,
            Dt::Bf16 => bench::<bf16>(&dev, a)?,
        };
        if a.json {
            println!("{rec}");
        } else {
            let t = rec["tflops"].as_f64().map_or(String::new(), |t| format!(" {t:>7.1} TFLOP/s"));
            println!(
                "{:<15} cuda {:<4} {} {:>9.3} ms{t} {:>8.1} GB/s",
                rec["op"].as_str().unwrap_or(""),
                rec["dtype"].as_str().unwrap_or(""),
                rec["shape"],
                rec["median_ms"].as_f64().unwrap_or(0.0),
                rec["gbps"].as_f64().unwrap_or(0.0)
            );
        }
    }
    Ok(())
}
