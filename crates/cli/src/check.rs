//! `iris check --device cpu|cuda`: every kernel of the device against the CPU
//! reference (the parity list the tests run), as a table; non-zero exit on
//! any failure. `--compile-only` (cuda): every kernel file compiled by NVRTC
//! for each architecture with ptxas' registers, shared memory and spills;
//! fails on an error or any spill. That needs libnvrtc, not a GPU.

use iris_kernels::cuda::{self, nvrtc};
use iris_kernels::parity::{self, Outcome};
use iris_kernels::Backend;

#[derive(clap::Args)]
pub struct CheckArgs {
    /// cpu, cuda (cuda:N for another GPU) or wgpu.
    #[arg(long, default_value = "cpu")]
    device: String,
    /// Compile every kernel (no GPU needed) instead of running them.
    #[arg(long)]
    compile_only: bool,
    /// SM architectures to compile for.
    #[arg(long, value_delimiter = ',', default_value = "90,80")]
    arch: Vec<u32>,
    /// With --compile-only: write each cubin here, named as the kernel cache names them (so the
    /// folder can be a GPU machine's IRIS_CUDA_CACHE), for `cuobjdump -sass` too.
    #[arg(long)]
    cubin_dir: Option<std::path::PathBuf>,
}

fn table(dev: &dyn Backend) -> Result<(), Box<dyn std::error::Error>> {
    println!("{}", dev.name());
    println!(
        "{:<16} {:<40} {:<5} {:>10} {:>8} {:>10} {:>8}  result",
        "op", "shape", "dtype", "rel err", "tol", "max elem", "tol"
    );
    let outcomes: Vec<Outcome> = parity::check(dev);
    for o in &outcomes {
        let err = match &o.err {
            Ok((e, m)) => format!("{e:>10.2e} {:>8.0e} {m:>10.2e} {:>8.1e}", o.tol, o.elem_tol),
            Err(msg) => msg.clone(),
        };
        let verdict = if o.passed() { "pass" } else { "FAIL" };
        println!("{:<16} {:<40} {:<5} {err}  {verdict}", o.op, o.shape, o.dtype.to_string());
    }
    let failed = outcomes.iter().filter(|o| !o.passed()).count();
    println!("{} cases, {failed} failed", outcomes.len());
    if failed > 0 {
        return Err(format!("{failed} of {} kernel checks failed", outcomes.len()).into());
    }
    Ok(())
}

pub fn run(a: &CheckArgs) -> Result<(), Box<dyn std::error::Error>> {
    let device = crate::generate::parse_device(&a.device)?;
    match (device, a.compile_only) {
        (d, false) => return table(&*iris_kernels::backend(d)?),
        (iris_tensor::Device::Cuda(_), true) => {}
        (d, true) => return Err(format!("iris check --device {d} --compile-only: only cuda compiles kernels").into()),
    }
    let mut failures = 0;
    println!("{:<16} {:<6} {:<40} {:>5} {:>7} {:>6} {:>6}", "file", "arch", "kernel", "regs", "smem", "stack", "spill");
    // Every (file, target) compiles on its own thread (NVRTC programs are independent); the
    // reports print in order.
    let jobs: Vec<(&str, String, String)> = cuda::kernel_files()
        .flat_map(|file| {
            let src = cuda::source(file).expect("listed");
            a.arch.iter().filter_map(move |&arch| cuda::target(file, arch).map(|t| (file, src.clone(), t)))
        })
        .collect();
    let results: Vec<_> = std::thread::scope(|s| {
        let handles: Vec<_> =
            jobs.iter().map(|(file, src, target)| s.spawn(move || nvrtc::compile(src, file, target))).collect();
        handles.into_iter().map(|h| h.join().expect("an NVRTC thread panicked")).collect()
    });
    for ((file, src, target), out) in jobs.iter().zip(results) {
        let out = match out {
            Ok(c) => c,
            Err(e) => {
                println!("{file:<16} {target:<6} FAILED\n{e}");
                failures += 1;
                continue;
            }
        };
        if let Some(dir) = &a.cubin_dir {
            std::fs::create_dir_all(dir)?;
            std::fs::write(dir.join(cuda::device::cache_name(file, src, target)), &out.cubin)?;
        }
        // ptxas warnings (a wgmma serialized, a setmaxnreg ignored) cost speed, not correctness: shown.
        for w in out.log.lines().filter(|l| l.contains("warning")) {
            println!("{file:<16} {target:<6} {w}");
        }
        let report = nvrtc::ptxas_report(&out.log);
        if report.is_empty() {
            println!("{file:<16} {target:<6} (no ptxas report)\n{}", out.log);
            failures += 1;
        }
        for k in report {
            let spill = k.spill_stores + k.spill_loads;
            let flag = if spill > 0 { "  SPILLS" } else { "" };
            println!(
                "{file:<16} {target:<6} {:<40} {:>5} {:>7} {:>6} {:>6}{flag}",
                k.name, k.registers, k.shared_bytes, k.stack_bytes, spill
            );
            failures += (spill > 0) as usize;
        }
    }
    if failures > 0 {
        return Err(format!("{failures} kernel compilations failed or spilled").into());
    }
    Ok(())
}
