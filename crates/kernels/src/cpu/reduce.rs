//! Row-wise reductions over the last dimension (training's losses and
//! gradient sums need them): x [rows, n] → y [rows],
//!   Sum:  y[r] = Σ_j x[r, j]
//!   Mean: y[r] = Σ_j x[r, j] / n
//! Accumulated in f32 with 16 lanes (the reference: f64, in order).

use rayon::prelude::*;

use super::math;
use crate::{Element, Reduce, Result};

/// Rows per rayon task.
const ROWS: usize = 16;

fn finish(op: Reduce, sum: f64, n: usize) -> f32 {
    match op {
        Reduce::Sum => sum as f32,
        Reduce::Mean => (sum / n as f64) as f32,
    }
}

pub fn reduce<T: Element>(op: Reduce, x: &[T], n: usize, out: &mut [T]) -> Result<()> {
    Reduce::check(x.len(), n, out.len())?;
    out.par_chunks_mut(ROWS).zip(x.par_chunks(n * ROWS)).for_each(|(o, x)| {
        let mut row = vec![0f32; n];
        for (o, xr) in o.iter_mut().zip(x.chunks_exact(n)) {
            row.iter_mut().zip(xr).for_each(|(d, s)| *d = s.to_f32());
            *o = T::from_f32(finish(op, math::sum(&row) as f64, n));
        }
    });
    Ok(())
}

pub(crate) mod reference {
    use super::finish;
    use crate::{Element, Reduce, Result};

    pub fn reduce<T: Element>(op: Reduce, x: &[T], n: usize, out: &mut [T]) -> Result<()> {
        Reduce::check(x.len(), n, out.len())?;
        for (o, row) in out.iter_mut().zip(x.chunks_exact(n)) {
            *o = T::from_f32(finish(op, row.iter().map(|v| v.to_f32() as f64).sum(), n));
        }
        Ok(())
    }
}
