//! NVRTC: CUDA C to SASS for one architecture at run time (libnvrtc is
//! loaded dynamically, so nothing CUDA is needed to build iris), with the
//! ptxas report of registers, shared memory and spills per kernel.

use std::ffi::{c_char, CString};

use cudarc::nvrtc::{result, sys};

use crate::error::{Error, Result};

/// A compiled module: SASS for one architecture and NVRTC's log.
pub struct Compiled {
    pub cubin: Vec<u8>,
    pub log: String,
}

/// One kernel's resources as ptxas reports them.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct KernelReport {
    pub name: String,
    pub registers: u32,
    pub shared_bytes: u32,
    pub spill_stores: u32,
    pub spill_loads: u32,
    pub stack_bytes: u32,
}

/// Whether libnvrtc can be loaded (LD_LIBRARY_PATH or the system's paths).
pub fn available() -> bool {
    // SAFETY: only tries to dlopen the library by its candidate names.
    unsafe { sys::is_culib_present() }
}

fn text(v: Vec<c_char>) -> String {
    let bytes: Vec<u8> = v.into_iter().map(|c| c as u8).take_while(|&b| b != 0).collect();
    String::from_utf8_lossy(&bytes).into_owned()
}

/// Compiles `src` (named `name` in messages) to SASS for `target` (e.g.
/// "sm_90a", see `cuda::target`), asking ptxas for its resource report.
pub fn compile(src: &str, name: &str, target: &str) -> Result<Compiled> {
    if !available() {
        return Err(Error::Device(
            "libnvrtc not found: install it (scripts/install-nvrtc.sh) and put its folder on LD_LIBRARY_PATH".into(),
        ));
    }
    let err = |what: &str, e: &dyn std::fmt::Debug| Error::Device(format!("{name}: NVRTC {what}: {e:?}"));
    let csrc = CString::new(src).map_err(|e| err("source", &e))?;
    let cname = CString::new(name).map_err(|e| err("name", &e))?;
    let prog = result::create_program(&csrc, Some(&cname)).map_err(|e| err("create", &e))?;
    let opts = [
        format!("--gpu-architecture={target}"),
        "--std=c++17".to_string(),
        "--use_fast_math".to_string(),
        "--ptxas-options=-v".to_string(),
        "--device-as-default-execution-space".to_string(),
    ];
    // SAFETY: `prog` comes from create_program and is destroyed once, below.
    unsafe {
        let compiled = result::compile_program(prog, &opts);
        let log = result::get_program_log(prog).map(text).unwrap_or_default();
        let out = match compiled {
            Ok(()) => {
                let mut size = 0usize;
                sys::nvrtcGetCUBINSize(prog, &mut size).result().map_err(|e| err("cubin size", &e))?;
                let mut cubin = vec![0u8; size];
                sys::nvrtcGetCUBIN(prog, cubin.as_mut_ptr() as *mut c_char).result().map_err(|e| err("cubin", &e))?;
                Ok(Compiled { cubin, log })
            }
            Err(e) => Err(Error::Device(format!("{name} ({target}) does not compile: {e:?}\n{log}"))),
        };
        let _ = result::destroy_program(prog);
        out
    }
}

/// The per-kernel lines of a ptxas `-v` log.
pub fn ptxas_report(log: &str) -> Vec<KernelReport> {
    let mut out: Vec<KernelReport> = Vec::new();
    let num = |line: &str, after: &str| -> Option<u32> {
        let i = line.find(after)?;
        line[..i].split_whitespace().last()?.parse().ok()
    };
    for line in log.lines() {
        if let Some(i) = line.find("Compiling entry function '") {
            let rest = &line[i + "Compiling entry function '".len()..];
            out.push(KernelReport { name: rest.split('\'').next().unwrap_or("").into(), ..Default::default() });
        } else if let Some(k) = out.last_mut() {
            if line.contains("bytes stack frame") {
                k.stack_bytes = num(line, "bytes stack frame").unwrap_or(0);
                k.spill_stores = num(line, "bytes spill stores").unwrap_or(0);
                k.spill_loads = num(line, "bytes spill loads").unwrap_or(0);
            }
            if line.contains("registers") {
                k.registers = num(line, "registers").unwrap_or(0);
                k.shared_bytes = num(line, "bytes smem").unwrap_or(0);
            }
        }
    }
    out
}
