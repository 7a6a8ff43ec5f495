//! `iris bench <op> --device wgpu`: the WGSL kernels (f32) on device-resident
//! inputs, the median of synchronised runs, with the CPU benchmarks' JSON.

use std::time::Instant;

use iris_kernels::testing::randn;
use iris_kernels::wgpu::ops::{self, WgpuMask};
use iris_kernels::wgpu::WgpuDevice;
use iris_kernels::{Im2col, MaskLayout};
use serde_json::{json, Value};

use crate::bench::{BenchArgs, Dt, Op};

type Res<T> = Result<T, Box<dyn std::error::Error>>;

fn median_ms(dev: &WgpuDevice, mut f: impl FnMut() -> Res<()>) -> Res<f64> {
    f()?;
    dev.sync()?;
    let (start, mut times) = (Instant::now(), Vec::new());
    while times.len() < 3 || start.elapsed().as_secs_f64() < 0.5 && times.len() < 100 {
        let t = Instant::now();
        f()?;
        dev.sync()?;
        times.push(t.elapsed().as_secs_f64() * 1e3);
    }
    times.sort_by(f64::total_cmp);
    Ok(times[times.len() / 2])
}

fn bench(dev: &WgpuDevice, a: &BenchArgs) -> Res<Value> {
    let op = a.op.ok_or(
        "bench --device wgpu: name an op (gemm, attention, cross-attention, im2col, layernorm, rmsnorm, softmax)",
    )?;
    let mut rec =
        json!({"op": format!("{op:?}").to_lowercase(), "device": "wgpu", "dtype": "f32", "adapter": dev.name()});
    let (ms, flops, bytes) = match op {
        Op::Gemm => {
            let p = a.gemm();
            let (x, w) = (dev.upload(&randn::<f32>(1, a.m * a.k)), dev.upload(&randn::<f32>(2, a.k * a.n)));
            let c = dev.buffer(a.m * a.n * 4);
            let ms = median_ms(dev, || {
                Ok(ops::gemm(dev, iris_kernels::wgpu::Spec::F32, &p, &x, a.m * a.k, &w, a.k * a.n, &c, a.m * a.n)?)
            })?;
            rec["shape"] = json!({"m": a.m, "n": a.n, "k": a.k, "transpose_b": a.transpose_b});
            (ms, 2.0 * (a.m * a.n * a.k) as f64, 4.0 * (a.m * a.k + a.k * a.n + a.m * a.n) as f64)
        }
        Op::Attention | Op::CrossAttention => {
            let cross = op == Op::CrossAttention;
            let p = a.attention(cross);
            let (hkv, tk) = (p.hkv, p.tk);
            let (nq, nk) = (a.b * a.h * a.tq * a.d, a.b * hkv * tk * a.d);
            let (q, k, v) =
                (dev.upload(&randn::<f32>(1, nq)), dev.upload(&randn::<f32>(2, nk)), dev.upload(&randn::<f32>(3, nk)));
            let keep: Vec<f32> = crate::bench::keep_mask(a.tq, tk).iter().map(|&b| b as f32).collect();
            let m = dev.upload(&keep);
            let o = dev.buffer(nq * 4);
            let ms = median_ms(dev, || {
                let mask =
                    if cross { WgpuMask::Keep((&m, keep.len()), MaskLayout::shared(tk)) } else { WgpuMask::None };
                Ok(ops::attention(dev, &p, &q, &k, &v, [nq, nk, nk, nq], mask, &o)?)
            })?;
            let (shape, flops) = crate::bench::attention_shape(&p);
            rec["shape"] = shape;
            (ms, flops, 4.0 * (2 * nq + 2 * nk) as f64)
        }
        Op::Im2col => {
            let p = Im2col::patches(1, a.channels, a.size, a.size, a.patch);
            let n = a.channels * a.size * a.size;
            let (x, y) = (dev.upload(&randn::<f32>(1, n)), dev.buffer(p.out_len() * 4));
            let ms = median_ms(dev, || Ok(ops::im2col(dev, &p, &x, n, &y)?))?;
            rec["shape"] = json!({"c": a.channels, "h": a.size, "w": a.size, "patch": a.patch});
            (ms, 0.0, 8.0 * p.out_len() as f64)
        }
        Op::Model => unreachable!("bench model is routed before the kernel benches"),
        Op::Layernorm | Op::Rmsnorm | Op::Softmax | Op::Rope => {
            let (x, w) = (dev.upload(&randn::<f32>(1, a.rows * a.cols)), dev.upload(&randn::<f32>(2, a.cols)));
            let y = dev.buffer(a.rows * a.cols * 4);
            let ms = median_ms(dev, || {
                match op {
                    Op::Layernorm => ops::layer_norm(dev, &x, a.rows, a.cols, &w, &w, 1e-5, &y)?,
                    Op::Rmsnorm => ops::rms_norm(dev, &x, a.rows, a.cols, &w, 1e-5, &y)?,
                    Op::Softmax => ops::softmax(dev, &x, a.rows, a.cols, &y)?,
                    _ => return Err("bench --device wgpu: rope is timed on the CPU only".into()),
                }
                Ok(())
            })?;
            rec["shape"] = json!({"rows": a.rows, "cols": a.cols});
            (ms, 0.0, 8.0 * (a.rows * a.cols) as f64)
        }
    };
    rec["median_ms"] = json!(ms);
    if flops > 0.0 {
        rec["gflops"] = json!(flops / ms / 1e6);
    }
    rec["gbps"] = json!(bytes / ms / 1e6);
    Ok(rec)
}

pub fn run(a: &BenchArgs) -> Res<()> {
    if a.dtype != Dt::F32 {
        return Err("bench --device wgpu runs f32 in this build".into());
    }
    let dev = WgpuDevice::open()?;
    let rec = bench(&dev, a)?;
    if a.json {
        println!("{rec}");
    } else {
        let g = rec["gflops"].as_f64().map_or(String::new(), |g| format!(" {g:>9.1} GFLOP/s"));
        println!(
            "{:<15} wgpu f32 {} {:>10.3} ms{g} {:>8.1} GB/s",
            rec["op"].as_str().unwrap_or(""),
            rec["shape"],
            rec["median_ms"].as_f64().unwrap_or(0.0),
            rec["gbps"].as_f64().unwrap_or(0.0)
        );
    }
    Ok(())
}
