//! `iris bench`: times one kernel (or the standard suite) on fresh seeded
//! inputs; the median after warm-up, in GFLOP/s for compute-bound ops and
//! GB/s (bytes read + written) for memory-bound ones.

use std::time::{Duration, Instant};

use clap::ValueEnum;
use half::{bf16, f16};
use iris_kernels::cpu::{fast, isa, reference};
use iris_kernels::testing::{poisoned, randn};
use iris_kernels::{Attention, Element, Gemm, Heads, Im2col, Mask, MaskLayout, MatLayout, Rope};
use serde_json::{json, Value};

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Op {
    /// A whole model at a real checkpoint's shape (`--preset`).
    Model,
    Gemm,
    Attention,
    CrossAttention,
    Im2col,
    Layernorm,
    Rmsnorm,
    Softmax,
    Rope,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Dt {
    F32,
    F16,
    Bf16,
}

#[derive(clap::Args, Clone)]
pub struct BenchArgs {
    /// The op to time; without one, the standard suite.
    #[arg(value_enum)]
    pub(crate) op: Option<Op>,
    #[arg(long, default_value = "cpu")]
    pub(crate) device: String,
    #[arg(long, value_enum, default_value = "f32")]
    pub(crate) dtype: Dt,
    /// GEMM: C[m, n] = A[m, k]·B[k, n].
    #[arg(long, default_value_t = 1024)]
    pub(crate) m: usize,
    #[arg(long, default_value_t = 1024)]
    pub(crate) n: usize,
    #[arg(long, default_value_t = 1024)]
    pub(crate) k: usize,
    /// GEMM: B stored as [n, k], as a Linear weight is (F.linear's layout).
    #[arg(long)]
    pub(crate) transpose_b: bool,
    /// Attention: batch, query heads, key/value heads (default H), lengths, head dim.
    #[arg(long, default_value_t = 1)]
    pub(crate) b: usize,
    #[arg(long, default_value_t = 16)]
    pub(crate) h: usize,
    #[arg(long)]
    pub(crate) hkv: Option<usize>,
    #[arg(long, default_value_t = 1024)]
    pub(crate) tq: usize,
    /// Key length (default Tq).
    #[arg(long)]
    pub(crate) tk: Option<usize>,
    #[arg(long, default_value_t = 64)]
    pub(crate) d: usize,
    #[arg(long)]
    pub(crate) causal: bool,
    /// im2col: a square image of `size` pixels and `channels`, patch `patch`.
    #[arg(long, default_value_t = 3)]
    pub(crate) channels: usize,
    #[arg(long, default_value_t = 336)]
    pub(crate) size: usize,
    #[arg(long, default_value_t = 14)]
    pub(crate) patch: usize,
    /// Norms, softmax, rope: a [rows, cols] input.
    #[arg(long, default_value_t = 577)]
    pub(crate) rows: usize,
    #[arg(long, default_value_t = 1024)]
    pub(crate) cols: usize,
    /// Also time the reference kernel and print the speedup over it.
    #[arg(long)]
    pub(crate) reference: bool,
    /// Model: clip-vit-l-336, llava-1.5-7b, mllama-11b-vision or llama-3.2-1b.
    #[arg(long, default_value = "clip-vit-l-336")]
    pub(crate) preset: String,
    /// Model: run only this many decoder layers (when memory is short).
    #[arg(long)]
    pub(crate) layers: Option<usize>,
    /// One JSON object per line instead of text.
    #[arg(long)]
    pub(crate) json: bool,
    /// Model: write the image features and the last prompt position's and decode step's logits
    /// (F32 safetensors) here, to compare devices and dtypes on the same seeded weights.
    #[arg(long)]
    pub(crate) out: Option<std::path::PathBuf>,
}

pub fn run(args: &BenchArgs) -> Result<(), Box<dyn std::error::Error>> {
    if args.op == Some(Op::Model) {
        let dtype = match args.dtype {
            Dt::F32 => iris_tensor::DType::F32,
            Dt::F16 => iris_tensor::DType::F16,
            Dt::Bf16 => iris_tensor::DType::BF16,
        };
        let device = crate::generate::parse_device(&args.device)?;
        return crate::bench_model::run(&args.preset, args.layers, dtype, device, args.json, args.out.as_deref());
    }
    match crate::generate::parse_device(&args.device)? {
        iris_tensor::Device::Cpu => {}
        iris_tensor::Device::Cuda(n) => return crate::bench_cuda::run(args, n),
        iris_tensor::Device::Wgpu => return crate::bench_wgpu::run(args),
    }
    let runs: Vec<BenchArgs> = match args.op {
        Some(_) => vec![args.clone()],
        None => suite(args),
    };
    for a in &runs {
        let rec = match a.dtype {
            Dt::F32 => bench::<f32>(a)?,
            Dt::F16 => bench::<f16>(a)?,
            Dt::Bf16 => bench::<bf16>(a)?,
        };
        print(&rec, a.json);
    }
    Ok(())
}

impl BenchArgs {
    /// The GEMM these flags describe (B stored [n, k] with --transpose-b).
    pub(crate) fn gemm(&self) -> Gemm {
        let b = if self.transpose_b {
            MatLayout::row_major(self.n, self.k).t()
        } else {
            MatLayout::row_major(self.k, self.n)
        };
        let (m, n, k) = (self.m, self.n, self.k);
        let (a, c) = (MatLayout::row_major(m, k), MatLayout::row_major(m, n));
        Gemm { batch: 1, m, n, k, alpha: 1.0, beta: 0.0, a, b, c }
    }

    /// The attention these flags describe, dense [B, H, T, D]; cross-attention is never causal.
    pub(crate) fn attention(&self, cross: bool) -> Attention {
        let (h, hkv, tq, tk, d) = (self.h, self.hkv.unwrap_or(self.h), self.tq, self.tk.unwrap_or(self.tq), self.d);
        Attention {
            b: self.b,
            h,
            hkv,
            tq,
            tk,
            d,
            scale: (d as f32).powf(-0.5),
            causal: self.causal && !cross,
            q: Heads::bhtd(h, tq, d),
            k: Heads::bhtd(hkv, tk, d),
            v: Heads::bhtd(hkv, tk, d),
            o: Heads::bhtd(h, tq, d),
        }
    }
}

/// Cross-attention benches: text row i sees the first tk/2 + i image tokens.
pub(crate) fn keep_mask(tq: usize, tk: usize) -> Vec<u8> {
    (0..tq * tk).map(|i| (i % tk <= tk / 2 + i / tk) as u8).collect()
}

/// The JSON shape and the flop count of an attention bench.
pub(crate) fn attention_shape(p: &Attention) -> (Value, f64) {
    let pairs = if p.causal { (p.tq * p.tk) as f64 - (p.tq * p.tq) as f64 / 2.0 } else { (p.tq * p.tk) as f64 };
    let shape = json!({"b": p.b, "h": p.h, "hkv": p.hkv, "tq": p.tq, "tk": p.tk, "d": p.d, "causal": p.causal});
    (shape, 4.0 * (p.b * p.h) as f64 * pairs * p.d as f64)
}

/// The standard suite: the shapes the foundation issue measures.
fn suite(base: &BenchArgs) -> Vec<BenchArgs> {
    let with = |f: &dyn Fn(&mut BenchArgs)| {
        let mut a = base.clone();
        f(&mut a);
        a
    };
    vec![
        with(&|a| (a.op, a.m, a.n, a.k) = (Some(Op::Gemm), 1024, 1024, 1024)),
        with(&|a| (a.op, a.m, a.n, a.k) = (Some(Op::Gemm), 2048, 2048, 2048)),
        with(&|a| (a.op, a.m, a.n, a.k, a.transpose_b) = (Some(Op::Gemm), 1, 11008, 4096, true)),
        with(&|a| (a.op, a.tq, a.causal, a.reference) = (Some(Op::Attention), 1024, true, true)),
        with(&|a| (a.op, a.h, a.hkv, a.tq, a.tk, a.d) = (Some(Op::Attention), 32, Some(8), 1, Some(4096), 128)),
        with(&|a| (a.op, a.h, a.tq, a.tk, a.d) = (Some(Op::CrossAttention), 32, 64, Some(6404), 128)),
        with(&|a| a.op = Some(Op::Im2col)),
        with(&|a| a.op = Some(Op::Layernorm)),
        with(&|a| (a.op, a.cols) = (Some(Op::Rmsnorm), 4096)),
        with(&|a| (a.op, a.cols) = (Some(Op::Softmax), 577)),
        with(&|a| (a.op, a.rows, a.cols) = (Some(Op::Rope), 32 * 1024, 128)),
    ]
}

/// Median wall time of `f` in ms after warm-up: at least 5 runs and 1 s.
fn median_ms(mut f: impl FnMut()) -> f64 {
    f();
    let mut times = Vec::new();
    let start = Instant::now();
    while times.len() < 5 || start.elapsed() < Duration::from_secs(1) && times.len() < 1000 {
        let t = Instant::now();
        f();
        times.push(t.elapsed().as_secs_f64() * 1e3);
    }
    times.sort_by(f64::total_cmp);
    times[times.len() / 2]
}

fn bench<T: Element>(a: &BenchArgs) -> Result<Value, Box<dyn std::error::Error>> {
    let op = a.op.expect("suite fills the op");
    let es = T::DTYPE.size() as f64;
    let mut rec = json!({
        "op": format!("{op:?}").to_lowercase(), "device": "cpu", "dtype": T::DTYPE.to_string(),
        "threads": rayon::current_num_threads(), "isa": format!("{:?}", isa::isa()).to_lowercase(),
    });
    // (fast timing, reference timing if asked, flops, bytes)
    let (ms, ref_ms, flops, bytes): (f64, Option<f64>, f64, f64) = match op {
        Op::Gemm => {
            let p = a.gemm();
            let (x, w) = (randn::<T>(1, a.m * a.k), randn::<T>(2, a.k * a.n));
            let mut c = poisoned::<T>(a.m * a.n);
            fast::gemm(&p, &x, &w, &mut c)?;
            let ms = median_ms(|| fast::gemm(&p, &x, &w, &mut c).unwrap());
            let r = a.reference.then(|| median_once(|| reference::gemm(&p, &x, &w, &mut c).unwrap()));
            rec["shape"] = json!({"m": a.m, "n": a.n, "k": a.k, "transpose_b": a.transpose_b});
            (ms, r, 2.0 * (a.m * a.n * a.k) as f64, es * (a.m * a.k + a.k * a.n + a.m * a.n) as f64)
        }
        Op::Attention | Op::CrossAttention => {
            let cross = op == Op::CrossAttention;
            let p = a.attention(cross);
            let (hkv, tk) = (p.hkv, p.tk);
            let q = randn::<T>(1, a.b * a.h * a.tq * a.d);
            let (k, v) = (randn::<T>(2, a.b * hkv * tk * a.d), randn::<T>(3, a.b * hkv * tk * a.d));
            // Cross-attention: each text row sees a prefix of the image tokens.
            let keep = keep_mask(a.tq, tk);
            let km = cross.then_some((&keep[..], MaskLayout::shared(tk)));
            let mut o = poisoned::<T>(q.len());
            let mut f = |fast_kernel: bool| match (cross, fast_kernel) {
                (false, true) => fast::attention(&p, &q, &k, &v, Mask::None, &mut o),
                (false, false) => reference::attention(&p, &q, &k, &v, Mask::None, &mut o),
                (true, true) => fast::cross_attention(&p, &q, &k, &v, km, &mut o),
                (true, false) => reference::cross_attention(&p, &q, &k, &v, km, &mut o),
            };
            // The first run reports the parameter checks as an error rather than a panic.
            f(true)?;
            let ms = median_ms(|| f(true).expect("the first run passed the same checks"));
            let r = a.reference.then(|| median_once(|| f(false).expect("the fast kernel took these parameters")));
            let (shape, flops) = attention_shape(&p);
            rec["shape"] = shape;
            (ms, r, flops, es * (2 * q.len() + 2 * k.len()) as f64)
        }
        Op::Im2col => {
            let p = Im2col::patches(1, a.channels, a.size, a.size, a.patch);
            let x = randn::<T>(1, a.channels * a.size * a.size);
            let mut o = poisoned::<T>(p.out_len());
            fast::im2col(&p, &x, &mut o)?;
            let ms = median_ms(|| fast::im2col(&p, &x, &mut o).unwrap());
            let r = a.reference.then(|| median_once(|| reference::im2col(&p, &x, &mut o).unwrap()));
            rec["shape"] = json!({"c": a.channels, "h": a.size, "w": a.size, "patch": a.patch});
            (ms, r, 0.0, es * (x.len() + o.len()) as f64)
        }
        Op::Model => unreachable!("bench model is routed before the kernel benches"),
        Op::Layernorm | Op::Rmsnorm | Op::Softmax | Op::Rope => {
            let x = randn::<T>(1, a.rows * a.cols);
            let w = randn::<T>(2, a.cols);
            let mut o = poisoned::<T>(x.len());
            let angles: Vec<f32> = (0..a.rows * a.cols / 2).map(|i| i as f32 * 1e-3).collect();
            let (cos, sin): (Vec<f32>, Vec<f32>) = angles.iter().map(|t| (t.cos(), t.sin())).unzip();
            let rope = Rope { outer: 1, t: a.rows, inner: 1, d: a.cols };
            let mut f = |fast_kernel: bool| match (op, fast_kernel) {
                (Op::Layernorm, true) => fast::layer_norm(&x, &w, &w, 1e-5, &mut o),
                (Op::Layernorm, false) => reference::layer_norm(&x, &w, &w, 1e-5, &mut o),
                (Op::Rmsnorm, true) => fast::rms_norm(&x, &w, 1e-5, &mut o),
                (Op::Rmsnorm, false) => reference::rms_norm(&x, &w, 1e-5, &mut o),
                (Op::Softmax, true) => fast::softmax(&x, a.cols, &mut o),
                (Op::Softmax, false) => reference::softmax(&x, a.cols, &mut o),
                (_, true) => fast::rope(&rope, &x, &cos, &sin, &mut o),
                (_, false) => reference::rope(&rope, &x, &cos, &sin, &mut o),
            };
            // The first run reports the parameter checks as an error rather than a panic.
            f(true)?;
            let ms = median_ms(|| f(true).expect("the first run passed the same checks"));
            let r = a.reference.then(|| median_once(|| f(false).expect("the fast kernel took these parameters")));
            rec["shape"] = json!({"rows": a.rows, "cols": a.cols});
            let tables = if op == Op::Rope { 4 * 2 * cos.len() } else { 0 };
            (ms, r, 0.0, es * (2 * x.len()) as f64 + tables as f64)
        }
    };
    rec["median_ms"] = json!(round(ms));
    if flops > 0.0 {
        rec["gflops"] = json!(round(flops / ms / 1e6));
    }
    if flops == 0.0 || op == Op::Gemm && a.m == 1 {
        rec["gbps"] = json!(round(bytes / ms / 1e6));
    }
    if let Some(r) = ref_ms {
        rec["reference_ms"] = json!(round(r));
        rec["speedup_vs_reference"] = json!(round(r / ms));
    }
    Ok(rec)
}

/// The reference kernels are slow: one warm-up-free run is enough.
fn median_once(mut f: impl FnMut()) -> f64 {
    let t = Instant::now();
    f();
    t.elapsed().as_secs_f64() * 1e3
}

fn round(x: f64) -> f64 {
    let digits = 4 - x.abs().max(1e-9).log10().floor() as i32;
    let s = 10f64.powi(digits.max(0));
    (x * s).round() / s
}

fn print(rec: &Value, as_json: bool) {
    if as_json {
        println!("{rec}");
        return;
    }
    let shape: Vec<String> =
        rec["shape"].as_object().map_or(vec![], |o| o.iter().map(|(k, v)| format!("{k}={v}")).collect());
    let mut line = format!(
        "{:<15} {} {:<4} {:<40} {:>10.3} ms",
        rec["op"].as_str().unwrap_or(""),
        rec["device"].as_str().unwrap_or(""),
        rec["dtype"].as_str().unwrap_or(""),
        shape.join(" "),
        rec["median_ms"].as_f64().unwrap_or(0.0)
    );
    if let Some(g) = rec["gflops"].as_f64() {
        line += &format!(" {g:>9.1} GFLOP/s");
    }
    if let Some(g) = rec["gbps"].as_f64() {
        line += &format!(" {g:>7.1} GB/s");
    }
    if let Some(s) = rec["speedup_vs_reference"].as_f64() {
        line += &format!("  ({s:.1}x the reference kernel)");
    }
    println!("{line}");
}
