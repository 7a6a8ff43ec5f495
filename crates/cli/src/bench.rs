//! `iris bench [--device X] [OP]`: times one kernel (or the device's
//! standard suite) on seeded inputs through the device's `Backend`, with the
//! parity table's cases built at the benchmark's shape (`parity::perf`): the
//! median after warm-up, in GFLOP/s for compute-bound ops and GB/s (bytes
//! read + written) for memory-bound ones. `bench model` times whole models.

use clap::ValueEnum;
use iris_kernels::cpu::backend::CpuBackend;
use iris_kernels::cpu::isa;
use iris_kernels::parity::{perf, Case};
use iris_kernels::{Attention, Backend, DType, Device, Gemm, Heads, Im2col, MatLayout};
use serde_json::{json, Value};

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Op {
    /// A whole model at a real checkpoint's shape (`--preset`).
    Model,
    /// One training step at a real checkpoint's shape (`--preset`, `--seq`, `--batch`, `--stage`).
    Train,
    Gemm,
    Attention,
    /// The backward of causal attention (dq, dk, dv).
    AttentionBackward,
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
    /// Train: tokens per example, examples per step, and the recipe's stage.
    #[arg(long, default_value_t = 256)]
    pub(crate) seq: usize,
    #[arg(long, default_value_t = 1)]
    pub(crate) batch: usize,
    #[arg(long, default_value_t = 1)]
    pub(crate) stage: u8,
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
    let dtype = match args.dtype {
        Dt::F32 => DType::F32,
        Dt::F16 => DType::F16,
        Dt::Bf16 => DType::BF16,
    };
    let device = crate::generate::parse_device(&args.device)?;
    if args.op == Some(Op::Train) {
        if device != Device::Cpu || dtype != DType::F32 {
            return Err("bench train runs f32 on the CPU in this build".into());
        }
        return crate::bench_train::run(&args.preset, args.layers, args.seq, args.batch, args.stage, args.json);
    }
    if args.op == Some(Op::Model) {
        return crate::bench_model::run(&args.preset, args.layers, dtype, device, args.json, args.out.as_deref());
    }
    let be = iris_kernels::backend(device)?;
    let runs: Vec<BenchArgs> = match (args.op, device) {
        (Some(_), _) => vec![args.clone()],
        (None, Device::Cuda(_)) => gpu_suite(args),
        (None, _) => suite(args),
    };
    for a in &runs {
        let rec = bench(&*be, a)?;
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
        // bf16 (on vdpbf16ps where the CPU has AVX512-BF16): squares and a CLIP-L MLP Linear.
        with(&|a| (a.op, a.m, a.n, a.k, a.dtype) = (Some(Op::Gemm), 2048, 2048, 2048, Dt::Bf16)),
        with(&|a| (a.op, a.m, a.n, a.k, a.dtype) = (Some(Op::Gemm), 4096, 4096, 4096, Dt::Bf16)),
        with(&|a| (a.op, a.m, a.n, a.k, a.transpose_b, a.dtype) = (Some(Op::Gemm), 577, 4096, 1024, true, Dt::Bf16)),
        with(&|a| (a.op, a.tq, a.causal, a.reference) = (Some(Op::Attention), 1024, true, true)),
        with(&|a| (a.op, a.tq, a.causal) = (Some(Op::AttentionBackward), 1024, true)),
        with(&|a| (a.op, a.h, a.hkv, a.tq, a.tk, a.d) = (Some(Op::Attention), 32, Some(8), 1, Some(4096), 128)),
        with(&|a| (a.op, a.h, a.tq, a.tk, a.d) = (Some(Op::CrossAttention), 32, 64, Some(6404), 128)),
        // bf16 attention (both products on vdpbf16ps where the CPU has AVX512-BF16): causal prefill,
        // CLIP-L/14-336's encoder attention, GQA decode, Mllama's cross-attention.
        with(&|a| (a.op, a.tq, a.causal, a.dtype) = (Some(Op::Attention), 1024, true, Dt::Bf16)),
        with(&|a| (a.op, a.tq, a.dtype) = (Some(Op::Attention), 577, Dt::Bf16)),
        with(&|a| {
            (a.op, a.h, a.hkv, a.tq, a.tk, a.d, a.dtype) =
                (Some(Op::Attention), 32, Some(8), 1, Some(4096), 128, Dt::Bf16)
        }),
        with(&|a| {
            (a.op, a.h, a.tq, a.tk, a.d, a.dtype) = (Some(Op::CrossAttention), 32, 64, Some(6404), 128, Dt::Bf16)
        }),
        with(&|a| a.op = Some(Op::Im2col)),
        with(&|a| a.op = Some(Op::Layernorm)),
        with(&|a| (a.op, a.cols) = (Some(Op::Rmsnorm), 4096)),
        with(&|a| (a.op, a.cols) = (Some(Op::Softmax), 577)),
        with(&|a| (a.op, a.rows, a.cols) = (Some(Op::Rope), 32 * 1024, 128)),
    ]
}

/// The GPU suite: 16-bit tensor-core shapes of real models.
fn gpu_suite(base: &BenchArgs) -> Vec<BenchArgs> {
    let with = |f: &dyn Fn(&mut BenchArgs)| {
        let mut a = base.clone();
        a.dtype = Dt::Bf16;
        (a.transpose_b, a.causal, a.b, a.hkv, a.tk) = (false, false, 1, None, None);
        f(&mut a);
        a
    };
    let mut v = vec![
        with(&|a| (a.op, a.m, a.n, a.k, a.transpose_b) = (Some(Op::Gemm), 4096, 4096, 4096, true)),
        with(&|a| (a.op, a.m, a.n, a.k, a.transpose_b) = (Some(Op::Gemm), 8192, 8192, 8192, true)),
        with(&|a| (a.op, a.m, a.n, a.k, a.transpose_b) = (Some(Op::Gemm), 4096, 11008, 4096, true)),
        with(&|a| (a.op, a.m, a.n, a.k) = (Some(Op::Gemm), 4096, 4096, 4096)),
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

/// The case `a` describes, its JSON shape, and the bytes one run moves.
fn case(a: &BenchArgs, dt: DType) -> Result<(Case, Value, f64), Box<dyn std::error::Error>> {
    let op = a.op.expect("suite fills the op");
    let es = dt.size() as f64;
    Ok(match op {
        Op::Gemm => {
            let shape = json!({"m": a.m, "n": a.n, "k": a.k, "transpose_b": a.transpose_b});
            (perf::gemm(dt, a.gemm()), shape, es * (a.m * a.k + a.k * a.n + a.m * a.n) as f64)
        }
        Op::AttentionBackward => {
            let p = a.attention(false);
            let (shape, _) = attention_shape(&p);
            let bytes = es * (4 * p.b * p.h * p.tq * p.d + 4 * p.b * p.hkv * p.tk * p.d) as f64;
            (perf::attention_backward(dt, p), shape, bytes)
        }
        Op::Attention | Op::CrossAttention => {
            let cross = op == Op::CrossAttention;
            let p = a.attention(cross);
            // Cross-attention: each text row sees a prefix of the image tokens.
            let keep = cross.then(|| keep_mask(p.tq, p.tk));
            let (shape, _) = attention_shape(&p);
            let bytes = es * (2 * p.b * p.h * p.tq * p.d + 2 * p.b * p.hkv * p.tk * p.d) as f64;
            (perf::attention(dt, p, keep), shape, bytes)
        }
        Op::Im2col => {
            let p = Im2col::patches(1, a.channels, a.size, a.size, a.patch);
            let shape = json!({"c": a.channels, "h": a.size, "w": a.size, "patch": a.patch});
            let bytes = es * (a.channels * a.size * a.size + p.out_len()) as f64;
            (perf::im2col(dt, p), shape, bytes)
        }
        Op::Model | Op::Train => unreachable!("bench model and train are routed before the kernel benches"),
        Op::Layernorm | Op::Rmsnorm | Op::Softmax | Op::Rope => {
            let name = match op {
                Op::Layernorm => "layer_norm",
                Op::Rmsnorm => "rms_norm",
                Op::Softmax => "softmax",
                _ => "rope",
            };
            let c = perf::rows(name, dt, a.rows, a.cols).expect("a row op");
            let tables = if op == Op::Rope { 4 * a.rows * a.cols } else { 0 };
            (c, json!({"rows": a.rows, "cols": a.cols}), es * (2 * a.rows * a.cols) as f64 + tables as f64)
        }
    })
}

fn bench(be: &dyn Backend, a: &BenchArgs) -> Result<Value, Box<dyn std::error::Error>> {
    let op = a.op.expect("suite fills the op");
    let dt = match a.dtype {
        Dt::F32 => DType::F32,
        Dt::F16 => DType::F16,
        Dt::Bf16 => DType::BF16,
    };
    let device = be.device();
    let mut rec =
        json!({"op": format!("{op:?}").to_lowercase(), "device": device.to_string(), "dtype": dt.to_string()});
    match device {
        Device::Cpu => {
            rec["threads"] = json!(rayon::current_num_threads());
            rec["isa"] = json!(format!("{:?}", isa::isa()).to_lowercase());
        }
        Device::Cuda(_) => rec["gpu"] = json!(be.name()),
        Device::Wgpu => rec["adapter"] = json!(be.name()),
    }
    let (c, shape, bytes) = case(a, dt)?;
    rec["shape"] = shape;
    if !be.supports(c.op, dt) {
        return Err(format!("op {} is not available on device {device} in {dt}", c.op).into());
    }
    let ms = c.time_on(be, 1.0, 5)? * 1e3;
    let flops = if c.bytes { 0.0 } else { c.work };
    rec["median_ms"] = json!(round(ms));
    if flops > 0.0 {
        rec["gflops"] = json!(round(flops / ms / 1e6));
        if matches!(device, Device::Cuda(_)) {
            rec["tflops"] = json!(round(flops / ms / 1e9));
        }
    }
    if flops == 0.0 || op == Op::Gemm && a.m == 1 || device != Device::Cpu {
        rec["gbps"] = json!(round(bytes / ms / 1e6));
    }
    // The reference kernels are slow: one run after the warm-up is enough.
    if a.reference {
        let r = c.time_on(&CpuBackend::REFERENCE, 0.0, 1)? * 1e3;
        rec["reference_ms"] = json!(round(r));
        rec["speedup_vs_reference"] = json!(round(r / ms));
    }
    Ok(rec)
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
