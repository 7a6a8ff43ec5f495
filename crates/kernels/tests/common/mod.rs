//! Helpers shared by the parity tests.
#![allow(dead_code)]

pub mod gemm;

use iris_kernels::testing::{elem_err, elem_tolerance, rel_err};
use iris_kernels::Element;

/// Fails with the first mismatching elements and the error when `out` is
/// further than `tol` from `reference` in relative L2, or any element further
/// than the dtype's per-element bound (`elem_tolerance`, or `tol` if larger, as
/// for a round trip through 16 bits checked in f32; a zero `tol` asks for
/// exact equality).
pub fn assert_close<T: Element>(what: &str, out: &[T], reference: &[T], tol: f64) {
    let err = rel_err(out, reference);
    let elem = elem_err(out, reference);
    let elem_tol = if tol == 0.0 { 0.0 } else { elem_tolerance(T::DTYPE).max(tol) };
    if err <= tol && elem <= elem_tol {
        return;
    }
    let bad: Vec<String> = out
        .iter()
        .zip(reference)
        .enumerate()
        .filter(|(_, (o, r))| {
            let (o, r) = (o.to_f32(), r.to_f32());
            o.is_nan() || (o - r).abs() > 1e-3 * r.abs().max(1e-3)
        })
        .take(5)
        .map(|(i, (o, r))| format!("[{i}] {} vs {}", o.to_f32(), r.to_f32()))
        .collect();
    panic!(
        "{what}: relative error {err:e} (tol {tol:e}), largest element error {elem:e} of the scale (tol {elem_tol:e}); \
         first mismatches: {}",
        bad.join(", ")
    );
}

/// Runs `f` once per instruction set this CPU has (AMX, AVX512-BF16,
/// AVX-512, AVX2, portable), holding a lock so no other test changes the cap
/// meanwhile.
pub fn for_each_isa(f: impl FnMut()) {
    run_isas(f, false);
}

/// `for_each_isa`, and once more with the bf16 GEMM's AMX tiling on the
/// software model of the tile instructions where the CPU has no AMX.
pub fn for_each_isa_and_amx_model(f: impl FnMut()) {
    run_isas(f, true);
}

/// Held while a test caps the instruction set, or reads what the uncapped one is.
static ISA_LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// `f` with no cap on the instruction set, under the lock `for_each_isa` holds,
/// so a test beside it cannot change what `f` sees.
pub fn uncapped<R>(f: impl FnOnce() -> R) -> R {
    let _guard = ISA_LOCK.lock().unwrap_or_else(|e| e.into_inner());
    f()
}

fn run_isas(mut f: impl FnMut(), amx_model: bool) {
    use iris_kernels::cpu::isa::{self, Isa};
    let _guard = ISA_LOCK.lock().unwrap_or_else(|e| e.into_inner());
    for i in isa::available() {
        isa::set_cap(Some(i));
        f();
    }
    isa::set_cap(None);
    if amx_model && !isa::available().contains(&Isa::Amx) {
        isa::set_amx_model(true);
        f();
        isa::set_amx_model(false);
    }
}
