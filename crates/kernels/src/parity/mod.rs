//! The one table of kernel cases, a driver over the `Backend` trait (as
//! ggml's test-backend-ops): each case holds seeded host inputs and a call
//! of one backend op; `check` runs it on a backend and on the CPU reference
//! backend and compares, `time` runs it repeatedly for the perf mode. Odd
//! shapes, non-contiguous views, every dtype the backend takes. `cargo test`
//! runs it for the fast CPU kernels and wgpu; `iris check --device X` prints it.

mod cases;
mod gemm;
mod grad;
pub mod perf;

use std::time::Instant;

use crate::backend::{Backend, Buffer};
use crate::cpu::backend::CpuBackend;
use crate::testing::{elem_err, elem_tolerance, randn, rel_err, tolerance};
use crate::{with_float, DType, Element, Result};

/// Seeded host data of one dtype, ready to upload.
#[derive(Clone)]
pub struct Host {
    pub dtype: DType,
    pub bytes: Vec<u8>,
}

impl Host {
    /// Float values, rounded to `dtype`.
    pub fn floats(dtype: DType, x: &[f32]) -> Host {
        fn to<T: Element>(x: &[f32]) -> Vec<u8> {
            let v: Vec<T> = x.iter().map(|&v| T::from_f32(v)).collect();
            bytemuck::cast_slice(&v).to_vec()
        }
        let bytes = match dtype {
            DType::F32 => to::<f32>(x),
            DType::BF16 => to::<half::bf16>(x),
            DType::F16 => to::<half::f16>(x),
            d => panic!("Host::floats: {d} is not a float dtype"),
        };
        Host { dtype, bytes }
    }
    /// `n` standard-normal values from `seed`.
    pub fn randn(dtype: DType, seed: u64, n: usize) -> Host {
        Host::floats(dtype, &randn::<f32>(seed, n))
    }
    /// `n` NaNs: an output every element of which the kernel must write.
    pub fn poison(dtype: DType, n: usize) -> Host {
        Host::floats(dtype, &vec![f32::NAN; n])
    }
    pub fn u8s(x: &[u8]) -> Host {
        Host { dtype: DType::U8, bytes: x.to_vec() }
    }
    pub fn u32s(x: &[u32]) -> Host {
        Host { dtype: DType::U32, bytes: bytemuck::cast_slice(x).to_vec() }
    }
    fn upload(&self, be: &dyn Backend) -> Result<Buffer> {
        be.upload(self.dtype, &self.bytes)
    }
}

/// The values of a downloaded float buffer, widened to f32.
fn widen(dtype: DType, bytes: &[u8]) -> Result<Vec<f32>> {
    with_float!(dtype, "download", T => {
        let v: Vec<T> = bytemuck::pod_collect_to_vec(bytes);
        Ok(v.iter().map(|x| x.to_f32()).collect())
    })
}

type Run = Box<dyn Fn(&dyn Backend, &[Buffer], &mut Buffer) -> Result<()> + Send + Sync>;

/// One row of the table.
pub struct Case {
    pub op: &'static str,
    pub shape: String,
    /// The dtype the row is labelled with (a cast's source).
    pub dtype: DType,
    /// Floating-point operations (or bytes moved, for `bytes`) of one run.
    pub work: f64,
    /// True when `work` counts bytes, not flops.
    pub bytes: bool,
    inputs: Vec<Host>,
    /// The output's starting contents (poison, or C for beta = 1).
    out: Host,
    run: Run,
}

impl Case {
    pub(crate) fn new(
        op: &'static str,
        shape: String,
        inputs: Vec<Host>,
        out: Host,
        run: impl Fn(&dyn Backend, &[Buffer], &mut Buffer) -> Result<()> + Send + Sync + 'static,
    ) -> Case {
        let dtype = inputs.first().map_or(out.dtype, |h| h.dtype);
        let bytes = (inputs.iter().map(|h| h.bytes.len()).sum::<usize>() + out.bytes.len()) as f64;
        Case { op, shape, dtype, work: bytes, bytes: true, inputs, out, run: Box::new(run) }
    }
    pub(crate) fn flops(mut self, f: f64) -> Case {
        (self.work, self.bytes) = (f, false);
        self
    }

    fn upload(&self, be: &dyn Backend) -> Result<(Vec<Buffer>, Buffer)> {
        let ins = self.inputs.iter().map(|h| h.upload(be)).collect::<Result<Vec<_>>>()?;
        Ok((ins, self.out.upload(be)?))
    }

    /// The output computed on `be`, widened to f32.
    pub fn run_on(&self, be: &dyn Backend) -> Result<Vec<f32>> {
        let (ins, mut out) = self.upload(be)?;
        (self.run)(be, &ins, &mut out)?;
        widen(out.dtype(), &be.download(&out)?)
    }

    /// The median seconds of one run on `be`: inputs uploaded once, a
    /// warm-up run, then runs (each ended by a sync) until `budget` seconds
    /// have passed, at least `min_runs` and at most 1000.
    pub fn time_on(&self, be: &dyn Backend, budget: f64, min_runs: usize) -> Result<f64> {
        let (ins, mut out) = self.upload(be)?;
        (self.run)(be, &ins, &mut out)?;
        be.sync()?;
        let (start, mut times) = (Instant::now(), Vec::new());
        while times.len() < min_runs.max(1) || start.elapsed().as_secs_f64() < budget && times.len() < 1000 {
            let t = Instant::now();
            (self.run)(be, &ins, &mut out)?;
            be.sync()?;
            times.push(t.elapsed().as_secs_f64());
        }
        times.sort_by(f64::total_cmp);
        Ok(times[times.len() / 2])
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

/// Every case of the table in `dtype`.
pub fn cases(dtype: DType) -> Vec<Case> {
    let mut out = Vec::new();
    gemm::gemm_cases(dtype, &mut out);
    gemm::gemm_fused_cases(dtype, &mut out);
    cases::attention_cases(dtype, &mut out);
    cases::row_cases(dtype, &mut out);
    cases::layout_cases(dtype, &mut out);
    grad::grad_cases(dtype, &mut out);
    out
}

/// Every case, in every dtype `be` takes, against the CPU reference.
pub fn check(be: &dyn Backend) -> Vec<Outcome> {
    let reference = CpuBackend::REFERENCE;
    let mut outcomes = Vec::new();
    for dt in be.dtypes() {
        for case in cases(dt).into_iter().filter(|c| be.supports(c.op, c.dtype)) {
            let want = case.run_on(&reference).expect("the reference backend accepts every case");
            let got = case.run_on(be);
            let err = got.map(|g| (rel_err(&g, &want), elem_err(&g, &want))).map_err(|e| e.to_string());
            let od = case.out.dtype;
            outcomes.push(Outcome {
                op: case.op,
                shape: case.shape,
                dtype: case.dtype,
                err,
                tol: tolerance(od),
                elem_tol: elem_tolerance(od),
            });
        }
    }
    outcomes
}
