//! `iris check --device cuda --compile-only`: every CUDA kernel file compiled
//! by NVRTC for each architecture, with each kernel's registers, shared
//! memory and spills from ptxas; fails on an error or any spill. Needs
//! libnvrtc, not a GPU.

use iris_kernels::cuda::{self, nvrtc};

#[derive(clap::Args)]
pub struct CheckArgs {
    /// cuda (the CPU and wgpu checks come with their parity lists).
    #[arg(long, default_value = "cuda")]
    device: String,
    /// Compile every kernel (no GPU needed) instead of running them.
    #[arg(long)]
    compile_only: bool,
    /// SM architectures to compile for.
    #[arg(long, value_delimiter = ',', default_value = "90,80")]
    arch: Vec<u32>,
}

pub fn run(a: &CheckArgs) -> Result<(), Box<dyn std::error::Error>> {
    if a.device != "cuda" {
        return Err(format!("iris check --device {}: only cuda is available in this build", a.device).into());
    }
    if !a.compile_only {
        return Err(
            "iris check --device cuda runs kernels on a GPU through the CUDA tensor backend, which this build \
                    does not have yet; --compile-only compiles them"
                .into(),
        );
    }
    let mut failures = 0;
    println!("{:<16} {:<6} {:<40} {:>5} {:>7} {:>6} {:>6}", "file", "arch", "kernel", "regs", "smem", "stack", "spill");
    for file in cuda::kernel_files() {
        let src = cuda::source(file).expect("listed");
        for &arch in &a.arch {
            let out = match nvrtc::compile(&src, file, arch) {
                Ok(c) => c,
                Err(e) => {
                    println!("{file:<16} sm_{arch:<3} FAILED\n{e}");
                    failures += 1;
                    continue;
                }
            };
            let report = nvrtc::ptxas_report(&out.log);
            if report.is_empty() {
                println!("{file:<16} sm_{arch:<3} (no ptxas report)\n{}", out.log);
                failures += 1;
            }
            for k in report {
                let spill = k.spill_stores + k.spill_loads;
                let flag = if spill > 0 { "  SPILLS" } else { "" };
                println!(
                    "{file:<16} sm_{arch:<3} {:<40} {:>5} {:>7} {:>6} {:>6}{flag}",
                    k.name, k.registers, k.shared_bytes, k.stack_bytes, spill
                );
                failures += (spill > 0) as usize;
            }
        }
    }
    if failures > 0 {
        return Err(format!("{failures} kernel compilations failed or spilled").into());
    }
    Ok(())
}
