//! Helpers shared by the parity tests.
#![allow(dead_code)]

use iris_kernels::testing::rel_err;
use iris_kernels::Element;

/// Fails with the first mismatching elements and the error when `out` is
/// further than `tol` from `reference`.
pub fn assert_close<T: Element>(what: &str, out: &[T], reference: &[T], tol: f64) {
    let err = rel_err(out, reference);
    if err <= tol {
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
    panic!("{what}: relative error {err:e} > {tol:e}; first mismatches: {}", bad.join(", "));
}

/// Runs `f` once per instruction set this CPU has (AVX-512, AVX2, portable),
/// holding a lock so no other test changes the cap meanwhile.
pub fn for_each_isa(mut f: impl FnMut()) {
    use iris_kernels::cpu::isa;
    static LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _guard = LOCK.lock().unwrap_or_else(|e| e.into_inner());
    for i in isa::available() {
        isa::set_cap(Some(i));
        f();
    }
    isa::set_cap(None);
}
