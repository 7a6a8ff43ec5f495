//! `IRIS_PROFILE=1`: wall time per op (and per model block, for the scopes
//! the model opens), summed over the process, for finding where time goes.

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

fn enabled() -> bool {
    static ON: OnceLock<bool> = OnceLock::new();
    *ON.get_or_init(|| std::env::var("IRIS_PROFILE").is_ok_and(|v| v != "0"))
}

fn table() -> &'static Mutex<HashMap<String, (Duration, u64)>> {
    static T: OnceLock<Mutex<HashMap<String, (Duration, u64)>>> = OnceLock::new();
    T.get_or_init(Mutex::default)
}

/// Times its life under `name` when profiling is on.
pub struct Scope {
    name: Option<String>,
    start: Instant,
}

/// A scope for `name` (built only when profiling is on).
pub fn scope(name: impl FnOnce() -> String) -> Scope {
    Scope { name: enabled().then(name), start: Instant::now() }
}

impl Drop for Scope {
    fn drop(&mut self) {
        if let Some(n) = self.name.take() {
            let mut t = table().lock().expect("profile lock");
            let e = t.entry(n).or_default();
            e.0 += self.start.elapsed();
            e.1 += 1;
        }
    }
}

/// (name, total ms, calls), longest first; empty when profiling is off.
pub fn report() -> Vec<(String, f64, u64)> {
    let t = table().lock().expect("profile lock");
    let mut v: Vec<_> = t.iter().map(|(k, (d, n))| (k.clone(), d.as_secs_f64() * 1e3, *n)).collect();
    v.sort_by(|a, b| b.1.total_cmp(&a.1));
    v
}

pub fn reset() {
    table().lock().expect("profile lock").clear();
}
