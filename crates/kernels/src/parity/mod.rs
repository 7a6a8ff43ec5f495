//! The one list of parity cases: every kernel of a device against the CPU
//! reference on fresh seeded inputs over odd shapes, non-contiguous views
//! and every dtype. `cargo test` runs it for the fast CPU kernels and
//! `iris check --device cpu|cuda` prints it as a table.

use half::{bf16, f16};

use crate::cpu::reference as cpu_ref;
use crate::cuda::ops::CudaElem;
use crate::testing::{elem_err, elem_tolerance, poisoned, randn, rel_err, tolerance};
use crate::{Attention, Binary, DType, Gemm, Heads, Im2col, Mask, MaskLayout, Result, Rope, Strided, Unary};

mod gemm;

/// A device's kernels on host buffers (a GPU device uploads, runs, downloads).
pub trait KernelDevice {
    fn name(&self) -> String;
    /// The dtypes the device's kernels take.
    fn dtypes(&self) -> Vec<DType> {
        vec![DType::F32, DType::BF16, DType::F16]
    }
    /// Whether `op` runs in `dtype` here (cases it does not are left out).
    fn supports(&self, _op: &str, _dtype: DType) -> bool {
        true
    }
    fn gemm<T: CudaElem>(&self, p: &Gemm, a: &[T], b: &[T], c: &mut [T]) -> Result<()>;
    /// C = act(alpha·A·B + beta·C + bias) in one kernel (bias [N]).
    fn gemm_fused<T: CudaElem>(
        &self,
        _p: &Gemm,
        _a: &[T],
        _b: &[T],
        _bias: &[T],
        _act: Option<Unary>,
        _c: &mut [T],
    ) -> Result<()> {
        Err(crate::Error::Device(format!("{}: no fused GEMM epilogue", self.name())))
    }
    fn attention<T: CudaElem>(&self, p: &Attention, q: &[T], k: &[T], v: &[T], mask: Mask, o: &mut [T]) -> Result<()>;
    fn unary<T: CudaElem>(&self, op: Unary, x: &[T], y: &mut [T]) -> Result<()>;
    fn binary<T: CudaElem>(&self, op: Binary, a: &[T], l: Strided, b: &[T], r: Strided, y: &mut [T]) -> Result<()>;
    fn copy<S: CudaElem, D: CudaElem>(&self, x: &[S], s: Strided, y: &mut [D]) -> Result<()>;
    fn layer_norm<T: CudaElem>(&self, x: &[T], w: &[T], b: &[T], eps: f32, y: &mut [T]) -> Result<()>;
    fn rms_norm<T: CudaElem>(&self, x: &[T], w: &[T], eps: f32, y: &mut [T]) -> Result<()>;
    fn softmax<T: CudaElem>(&self, x: &[T], n: usize, y: &mut [T]) -> Result<()>;
    fn rope<T: CudaElem>(&self, p: &Rope, x: &[T], cos: &[f32], sin: &[f32], y: &mut [T]) -> Result<()>;
    fn im2col<T: CudaElem>(&self, p: &Im2col, x: &[T], y: &mut [T]) -> Result<()>;
    fn embedding<T: CudaElem>(&self, table: &[T], dim: usize, ids: &[u32], y: &mut [T]) -> Result<()>;
}

/// The fast CPU kernels.
pub struct CpuFast;

impl KernelDevice for CpuFast {
    fn name(&self) -> String {
        format!("cpu ({:?})", crate::cpu::isa::isa())
    }
    fn gemm<T: CudaElem>(&self, p: &Gemm, a: &[T], b: &[T], c: &mut [T]) -> Result<()> {
        crate::cpu::fast::gemm(p, a, b, c)
    }
    /// The f32 packed GEMM with its epilogue (`gemm_packed`; parity only
    /// lists f32 for the CPU, see `supports`).
    fn gemm_fused<T: CudaElem>(
        &self,
        p: &Gemm,
        a: &[T],
        b: &[T],
        bias: &[T],
        act: Option<Unary>,
        c: &mut [T],
    ) -> Result<()> {
        let f = |x: &[T]| -> Vec<f32> { x.iter().map(|v| v.to_f32()).collect() };
        let packed = crate::cpu::fast::PackedB::new(b, &p.b, p.k, p.n)?;
        let (a32, bias32, mut c32) = (f(a), f(bias), f(c));
        let ep = crate::cpu::fast::Epilogue { bias: Some(&bias32), act };
        crate::cpu::fast::gemm_packed(p, &a32, &packed, ep, &mut c32)?;
        c.iter_mut().zip(c32).for_each(|(o, v)| *o = T::from_f32(v));
        Ok(())
    }
    fn supports(&self, op: &str, dtype: DType) -> bool {
        op != "gemm_fused" || dtype == DType::F32
    }
    fn attention<T: CudaElem>(&self, p: &Attention, q: &[T], k: &[T], v: &[T], mask: Mask, o: &mut [T]) -> Result<()> {
        crate::cpu::fast::attention(p, q, k, v, mask, o)
    }
    fn unary<T: CudaElem>(&self, op: Unary, x: &[T], y: &mut [T]) -> Result<()> {
        crate::cpu::fast::unary(op, x, y)
    }
    fn binary<T: CudaElem>(&self, op: Binary, a: &[T], l: Strided, b: &[T], r: Strided, y: &mut [T]) -> Result<()> {
        crate::cpu::fast::binary(op, a, l, b, r, y)
    }
    fn copy<S: CudaElem, D: CudaElem>(&self, x: &[S], s: Strided, y: &mut [D]) -> Result<()> {
        crate::cpu::fast::copy(x, s, y)
    }
    fn layer_norm<T: CudaElem>(&self, x: &[T], w: &[T], b: &[T], eps: f32, y: &mut [T]) -> Result<()> {
        crate::cpu::fast::layer_norm(x, w, b, eps, y)
    }
    fn rms_norm<T: CudaElem>(&self, x: &[T], w: &[T], eps: f32, y: &mut [T]) -> Result<()> {
        crate::cpu::fast::rms_norm(x, w, eps, y)
    }
    fn softmax<T: CudaElem>(&self, x: &[T], n: usize, y: &mut [T]) -> Result<()> {
        crate::cpu::fast::softmax(x, n, y)
    }
    fn rope<T: CudaElem>(&self, p: &Rope, x: &[T], cos: &[f32], sin: &[f32], y: &mut [T]) -> Result<()> {
        crate::cpu::fast::rope(p, x, cos, sin, y)
    }
    fn im2col<T: CudaElem>(&self, p: &Im2col, x: &[T], y: &mut [T]) -> Result<()> {
        crate::cpu::fast::im2col(p, x, y)
    }
    fn embedding<T: CudaElem>(&self, table: &[T], dim: usize, ids: &[u32], y: &mut [T]) -> Result<()> {
        crate::cpu::fast::embedding(table, dim, ids, y)
    }
}

/// One row of the parity table.
#[derive(Clone, Debug)]
pub struct Outcome {
    pub op: &'static str,
    pub shape: String,
    pub dtype: DType,
    /// Relative L2 error and the largest element's error in units of the
    /// output's scale ([`elem_err`]) against the reference, or the device's error.
    pub err: std::result::Result<(f64, f64), String>,
    pub tol: f64,
    pub elem_tol: f64,
}

impl Outcome {
    pub fn passed(&self) -> bool {
        matches!(self.err, Ok((e, m)) if e <= self.tol && m <= self.elem_tol)
    }
}

fn outcome<T: CudaElem>(op: &'static str, shape: String, got: Result<Vec<T>>, want: &[T]) -> Outcome {
    let err = got.map(|g| (rel_err(&g, want), elem_err(&g, want))).map_err(|e| e.to_string());
    Outcome { op, shape, dtype: T::DTYPE, err, tol: tolerance(T::DTYPE), elem_tol: elem_tolerance(T::DTYPE) }
}

/// Runs a kernel into a poisoned output (so unwritten elements fail).
fn run<T: CudaElem>(n: usize, f: impl FnOnce(&mut [T]) -> Result<()>) -> Result<Vec<T>> {
    let mut out = poisoned::<T>(n);
    f(&mut out)?;
    Ok(out)
}

fn want<T: CudaElem>(n: usize, f: impl FnOnce(&mut [T]) -> Result<()>) -> Vec<T> {
    run(n, f).expect("the reference kernel accepts every case")
}

fn attention_cases<T: CudaElem, D: KernelDevice>(dev: &D, out: &mut Vec<Outcome>) {
    // (b, h, hkv, tq, tk, d, causal, mask kind: 0 none, 1 additive, 2 keep)
    let cases = [
        (2, 4, 2, 37, 37, 64, true, 0),
        (1, 3, 1, 19, 45, 80, true, 1),
        (1, 8, 2, 1, 777, 128, true, 0),
        (1, 4, 4, 13, 129, 64, false, 2),
        (1, 2, 1, 50, 20, 32, true, 0),
        // 16-bit types on a GPU: the tensor-core flash kernels (D 64 or 128).
        (1, 4, 2, 130, 200, 128, true, 1),
        // A decode step whose head dim takes the element-wise decode kernel on a GPU.
        (1, 2, 1, 1, 300, 80, false, 0),
    ];
    for (i, &(b, h, hkv, tq, tk, d, causal, kind)) in cases.iter().enumerate() {
        let s = 40 + 10 * i as u64;
        let (q, k, v): (Vec<T>, Vec<T>, Vec<T>) =
            (randn(s, b * h * tq * d), randn(s + 1, b * hkv * tk * d), randn(s + 2, b * hkv * tk * d));
        let p = Attention {
            b,
            h,
            hkv,
            tq,
            tk,
            d,
            scale: (d as f32).powf(-0.5),
            causal,
            // q and o as [B, T, H, D] views, k and v as [B, H, T, D].
            q: Heads::bthd(h, tq, d),
            k: Heads::bhtd(hkv, tk, d),
            v: Heads::bhtd(hkv, tk, d),
            o: Heads::bthd(h, tq, d),
        };
        let additive: Vec<f32> = randn(s + 3, tq * tk);
        let keep: Vec<u8> = (0..tq * tk).map(|j| ((j * 7 + j / tk) % 3 != 0 && j / tk != 2) as u8).collect();
        let mask = || match kind {
            1 => Mask::Additive(&additive, MaskLayout::shared(tk)),
            2 => Mask::Keep(&keep, MaskLayout::shared(tk)),
            _ => Mask::None,
        };
        let n = b * h * tq * d;
        let w = want(n, |o| cpu_ref::attention(&p, &q, &k, &v, mask(), o));
        let got = run(n, |o| dev.attention(&p, &q, &k, &v, mask(), o));
        let what = ["", " additive mask", " key mask"][kind];
        let shape = format!("B{b} H{h}/{hkv} Tq{tq} Tk{tk} D{d}{}{what}", if causal { " causal" } else { "" });
        out.push(outcome(if kind == 2 { "cross_attention" } else { "attention" }, shape, got, &w));
    }
}

fn row_cases<T: CudaElem, D: KernelDevice>(dev: &D, out: &mut Vec<Outcome>) {
    // 1001 elements: one at a time; 1040: 16-byte vectors on a GPU.
    for op in [Unary::Gelu, Unary::GeluTanh, Unary::QuickGelu, Unary::Silu, Unary::Tanh, Unary::Scale(-1.5)] {
        for n in [1001, 1040] {
            let x: Vec<T> = randn(70, n);
            let w = want(x.len(), |o| cpu_ref::unary(op, &x, o));
            out.push(outcome("unary", format!("{op:?} {n}"), run(x.len(), |o| dev.unary(op, &x, o)), &w));
        }
    }
    // Both operands dense of the output's shape (a residual add).
    for n in [1001, 1040] {
        let (a, b): (Vec<T>, Vec<T>) =
            (randn(78, n), randn(79, n).iter().map(|x: &T| T::from_f32(x.to_f32() + 3.0)).collect());
        let dense = Strided { shape: &[n], strides: &[1], offset: 0 };
        for op in [Binary::Add, Binary::Div] {
            let w = want(n, |o| cpu_ref::binary(op, &a, dense, &b, dense, o));
            out.push(outcome(
                "binary",
                format!("{op:?} dense {n}"),
                run(n, |o| dev.binary(op, &a, dense, &b, dense, o)),
                &w,
            ));
        }
    }
    // [3, 1, 5] op [1, 4, 5] → [3, 4, 5], both broadcast.
    let (a, b): (Vec<T>, Vec<T>) =
        (randn(71, 15), randn(72, 20).iter().map(|x: &T| T::from_f32(x.to_f32() + 3.0)).collect());
    let shape = [3, 4, 5];
    let (l, r) = (
        Strided { shape: &shape, strides: &[5, 0, 1], offset: 0 },
        Strided { shape: &shape, strides: &[0, 5, 1], offset: 0 },
    );
    for op in [Binary::Add, Binary::Sub, Binary::Mul, Binary::Div] {
        let w = want(60, |o| cpu_ref::binary(op, &a, l, &b, r, o));
        out.push(outcome(
            "binary",
            format!("{op:?} [3,1,5]·[1,4,5]"),
            run(60, |o| dev.binary(op, &a, l, &b, r, o)),
            &w,
        ));
    }
    // 1030 per row: element accesses; 1032: 16-byte ones on a GPU.
    for (i, (rows, n)) in [(7, 1030), (5, 1032)].into_iter().enumerate() {
        let s = 73 + 10 * i as u64;
        let x: Vec<T> = randn(s, rows * n);
        let (g, bias): (Vec<T>, Vec<T>) = (randn(s + 1, n), randn(s + 2, n));
        let w = want(x.len(), |o| cpu_ref::layer_norm(&x, &g, &bias, 1e-5, o));
        out.push(outcome(
            "layer_norm",
            format!("{rows}×{n}"),
            run(x.len(), |o| dev.layer_norm(&x, &g, &bias, 1e-5, o)),
            &w,
        ));
        let w = want(x.len(), |o| cpu_ref::rms_norm(&x, &g, 1e-6, o));
        out.push(outcome("rms_norm", format!("{rows}×{n}"), run(x.len(), |o| dev.rms_norm(&x, &g, 1e-6, o)), &w));
    }
    // 577: element accesses; 576: 16-byte ones on a GPU.
    for n in [577, 576] {
        let x: Vec<T> = randn(76, 9 * n);
        let w = want(x.len(), |o| cpu_ref::softmax(&x, n, o));
        out.push(outcome("softmax", format!("9×{n}"), run(x.len(), |o| dev.softmax(&x, n, o)), &w));
    }
    // d 64: 16-byte pairs on a GPU; d 6: one pair at a time.
    for d in [64, 6] {
        let p = Rope { outer: 2, t: 11, inner: 3, d };
        let x: Vec<T> = randn(77, 2 * 11 * 3 * d);
        let (cos, sin): (Vec<f32>, Vec<f32>) =
            (0..11 * d / 2).map(|i| ((i as f32 * 0.37).cos(), (i as f32 * 0.37).sin())).unzip();
        let w = want(x.len(), |o| cpu_ref::rope(&p, &x, &cos, &sin, o));
        out.push(outcome("rope", format!("2×11×3×{d}"), run(x.len(), |o| dev.rope(&p, &x, &cos, &sin, o)), &w));
    }
}

fn layout_cases<T: CudaElem, D: KernelDevice>(dev: &D, out: &mut Vec<Outcome>) {
    let p = Im2col { n: 2, c: 3, h: 17, w: 19, kh: 4, kw: 4, stride: 3, pad: 1 };
    let x: Vec<T> = randn(80, 2 * 3 * 17 * 19);
    let w = want(p.out_len(), |o| cpu_ref::im2col(&p, &x, o));
    out.push(outcome("im2col", "2×3×17×19 k4 s3 p1".into(), run(p.out_len(), |o| dev.im2col(&p, &x, o)), &w));
    let table: Vec<T> = randn(81, 50 * 36);
    let ids = [3u32, 49, 0, 7, 7, 21, 12];
    let w = want(ids.len() * 36, |o| cpu_ref::embedding(&table, 36, &ids, o));
    out.push(outcome(
        "embedding",
        "50×36, 7 ids".into(),
        run(ids.len() * 36, |o| dev.embedding(&table, 36, &ids, o)),
        &w,
    ));
    // A transposed, offset view of [5, 7] and a cast to f32 and back.
    let x: Vec<T> = randn(82, 40);
    let s = Strided { shape: &[7, 5], strides: &[1, 7], offset: 3 };
    let w32: Vec<f32> = want(35, |o| cpu_ref::copy(&x, s, o));
    // Labelled with the case's dtype (the source's here, the destination's below).
    out.push(Outcome {
        dtype: T::DTYPE,
        ..outcome("copy", "[5,7]ᵀ+3 → f32".into(), run(35, |o| dev.copy(&x, s, o)), &w32)
    });
    // A dense copy in one dtype (16-byte moves on a GPU).
    let x: Vec<T> = randn(84, 1040);
    let s = Strided { shape: &[1040], strides: &[1], offset: 0 };
    let w: Vec<T> = want(1040, |o| cpu_ref::copy(&x, s, o));
    out.push(outcome("copy_dense", "1040".into(), run(1040, |o| dev.copy(&x, s, o)), &w));
    let s = Strided { shape: &[7, 5], strides: &[1, 7], offset: 3 };
    let xf: Vec<f32> = randn(83, 40);
    let w: Vec<T> = want(35, |o| cpu_ref::copy(&xf, s, o));
    out.push(outcome("copy", "f32 [5,7]ᵀ+3 → dtype".into(), run(35, |o| dev.copy(&xf, s, o)), &w));
}

/// Every case, in every dtype, on `dev`.
pub fn check<D: KernelDevice>(dev: &D) -> Vec<Outcome> {
    let mut out = Vec::new();
    fn all<T: CudaElem, D: KernelDevice>(dev: &D, out: &mut Vec<Outcome>) {
        let mut rows = Vec::new();
        gemm::gemm_cases::<T, D>(dev, &mut rows);
        gemm::gemm_fused_cases::<T, D>(dev, &mut rows);
        attention_cases::<T, D>(dev, &mut rows);
        row_cases::<T, D>(dev, &mut rows);
        layout_cases::<T, D>(dev, &mut rows);
        out.extend(rows.into_iter().filter(|o| dev.supports(o.op, o.dtype)));
    }
    for dt in dev.dtypes() {
        match dt {
            DType::F32 => all::<f32, D>(dev, &mut out),
            DType::BF16 => all::<bf16, D>(dev, &mut out),
            DType::F16 => all::<f16, D>(dev, &mut out),
        }
    }
    out
}
