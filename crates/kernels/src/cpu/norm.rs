//! Row-wise reductions over the last dimension N of a dense [R, N] buffer:
//!   layernorm  y = (x − mean)/√(var + eps)·w + b   (biased variance)
//!   rmsnorm    y = x/√(mean(x²) + eps)·w
//!   softmax    y = e^(x − max)/Σ e^(x − max)

use rayon::prelude::*;

use crate::cpu::isa::dispatch_isa;
use crate::cpu::math::{exp, max, sum, sum_sq};
use crate::{Element, Error, Result};

/// Rows per rayon task.
const ROWS: usize = 8;

fn check(op: &'static str, x: usize, n: usize, params: &[(&str, usize)], out: usize) -> Result<()> {
    if n == 0 || !x.is_multiple_of(n) || out != x || params.iter().any(|&(_, l)| l != n) {
        let ps: Vec<String> = params.iter().map(|(name, l)| format!("{name} [{l}]")).collect();
        return Err(Error::Shape {
            op,
            msg: format!("x holds {x} elements, out {out}, row length {n}, {}", ps.join(", ")),
        });
    }
    Ok(())
}

pub fn layer_norm<T: Element>(x: &[T], w: &[T], b: &[T], eps: f32, out: &mut [T]) -> Result<()> {
    let n = w.len();
    check("layer_norm", x.len(), n, &[("weight", n), ("bias", b.len())], out.len())?;
    out.par_chunks_mut(n * ROWS).zip(x.par_chunks(n * ROWS)).for_each(|(o, x)| layer_norm_rows(x, w, b, eps, o));
    Ok(())
}

pub fn rms_norm<T: Element>(x: &[T], w: &[T], eps: f32, out: &mut [T]) -> Result<()> {
    let n = w.len();
    check("rms_norm", x.len(), n, &[("weight", n)], out.len())?;
    out.par_chunks_mut(n * ROWS).zip(x.par_chunks(n * ROWS)).for_each(|(o, x)| rms_norm_rows(x, w, eps, o));
    Ok(())
}

pub fn softmax<T: Element>(x: &[T], n: usize, out: &mut [T]) -> Result<()> {
    check("softmax", x.len(), n, &[], out.len())?;
    out.par_chunks_mut(n * ROWS).zip(x.par_chunks(n * ROWS)).for_each(|(o, x)| softmax_rows(x, n, o));
    Ok(())
}

dispatch_isa!(fn layer_norm_rows<T: Element>(x: &[T], w: &[T], b: &[T], eps: f32, out: &mut [T]) = layer_norm_body);
dispatch_isa!(fn rms_norm_rows<T: Element>(x: &[T], w: &[T], eps: f32, out: &mut [T]) = rms_norm_body);
dispatch_isa!(fn softmax_rows<T: Element>(x: &[T], n: usize, out: &mut [T]) = softmax_body);

#[inline(always)]
fn layer_norm_body<T: Element>(x: &[T], w: &[T], b: &[T], eps: f32, out: &mut [T]) {
    let n = w.len();
    let mut xs = vec![0f32; n];
    for (o, xr) in out.chunks_exact_mut(n).zip(x.chunks_exact(n)) {
        widen(xr, &mut xs);
        let mean = sum(&xs) / n as f32;
        let var = sum_sq(&xs, mean) / n as f32;
        let inv = 1.0 / (var + eps).sqrt();
        for (((o, v), w), b) in o.iter_mut().zip(&xs).zip(w).zip(b) {
            *o = T::from_f32((v - mean) * inv * w.to_f32() + b.to_f32());
        }
    }
}

#[inline(always)]
fn rms_norm_body<T: Element>(x: &[T], w: &[T], eps: f32, out: &mut [T]) {
    let n = w.len();
    let mut xs = vec![0f32; n];
    for (o, xr) in out.chunks_exact_mut(n).zip(x.chunks_exact(n)) {
        widen(xr, &mut xs);
        let inv = 1.0 / (sum_sq(&xs, 0.0) / n as f32 + eps).sqrt();
        for ((o, v), w) in o.iter_mut().zip(&xs).zip(w) {
            *o = T::from_f32(v * inv * w.to_f32());
        }
    }
}

#[inline(always)]
fn softmax_body<T: Element>(x: &[T], n: usize, out: &mut [T]) {
    let mut e = vec![0f32; n];
    for (o, xr) in out.chunks_exact_mut(n).zip(x.chunks_exact(n)) {
        widen(xr, &mut e);
        let max = max(&e);
        e.iter_mut().for_each(|v| *v = exp(*v - max));
        let inv = 1.0 / sum(&e);
        for (o, e) in o.iter_mut().zip(&e) {
            *o = T::from_f32(e * inv);
        }
    }
}

#[inline(always)]
fn widen<T: Element>(x: &[T], out: &mut [f32]) {
    for (d, s) in out.iter_mut().zip(x) {
        *d = s.to_f32();
    }
}

pub(crate) mod reference {
    use super::check;
    use crate::{Element, Result};

    pub fn layer_norm<T: Element>(x: &[T], w: &[T], b: &[T], eps: f32, out: &mut [T]) -> Result<()> {
        let n = w.len();
        check("layer_norm", x.len(), n, &[("weight", n), ("bias", b.len())], out.len())?;
        for r in 0..x.len() / n {
            let row = |i: usize| x[r * n + i].to_f32() as f64;
            let mean = (0..n).map(row).sum::<f64>() / n as f64;
            let var = (0..n).map(|i| (row(i) - mean).powi(2)).sum::<f64>() / n as f64;
            for i in 0..n {
                let y = (row(i) - mean) / (var + eps as f64).sqrt() * w[i].to_f32() as f64 + b[i].to_f32() as f64;
                out[r * n + i] = T::from_f32(y as f32);
            }
        }
        Ok(())
    }

    pub fn rms_norm<T: Element>(x: &[T], w: &[T], eps: f32, out: &mut [T]) -> Result<()> {
        let n = w.len();
        check("rms_norm", x.len(), n, &[("weight", n)], out.len())?;
        for r in 0..x.len() / n {
            let row = |i: usize| x[r * n + i].to_f32() as f64;
            let ms = (0..n).map(|i| row(i).powi(2)).sum::<f64>() / n as f64;
            for i in 0..n {
                out[r * n + i] = T::from_f32((row(i) / (ms + eps as f64).sqrt() * w[i].to_f32() as f64) as f32);
            }
        }
        Ok(())
    }

    pub fn softmax<T: Element>(x: &[T], n: usize, out: &mut [T]) -> Result<()> {
        check("softmax", x.len(), n, &[], out.len())?;
        for r in 0..x.len() / n {
            let row = |i: usize| x[r * n + i].to_f32() as f64;
            let max = (0..n).map(row).fold(f64::NEG_INFINITY, f64::max);
            let sum: f64 = (0..n).map(|i| (row(i) - max).exp()).sum();
            for i in 0..n {
                out[r * n + i] = T::from_f32(((row(i) - max).exp() / sum) as f32);
            }
        }
        Ok(())
    }
}
