//! The cross-entropy of logits [R, V] against one target id per row, fused:
//! no softmax of [R, V] is kept between forward and backward.
//!   cross_entropy           loss[r] = logsumexp(x[r]) − x[r, t_r]
//!   cross_entropy_backward  dx[r] = scale·(softmax(x[r]) − onehot(t_r))
//! A row whose target is `IGNORE` (u32::MAX) has loss 0 and gradient 0.

use rayon::prelude::*;

use crate::cpu::math::{exp, max};
use crate::{Element, Error, Result};

/// The target id of a row that does not count.
pub const IGNORE: u32 = u32::MAX;

/// Rows per rayon task.
const ROWS: usize = 4;

pub(crate) fn check(op: &'static str, x: usize, v: usize, targets: &[u32], out: usize, out_rows: bool) -> Result<()> {
    let rows = x.checked_div(v).unwrap_or(0);
    let want = if out_rows { rows } else { x };
    if v == 0 || !x.is_multiple_of(v) || targets.len() != rows || out != want {
        return Err(Error::Shape {
            op,
            msg: format!("logits {x} in rows of {v}, {} targets, out {out}", targets.len()),
        });
    }
    if let Some(&t) = targets.iter().find(|&&t| t != IGNORE && t as usize >= v) {
        return Err(Error::IndexOutOfRange { op, index: t as usize, len: v });
    }
    Ok(())
}

/// (max, logsumexp) of a row in f32.
fn lse(row: &[f32]) -> f32 {
    let m = max(row);
    let s: f32 = row.iter().map(|&v| exp(v - m)).sum();
    m + s.ln()
}

pub fn cross_entropy<T: Element>(x: &[T], v: usize, targets: &[u32], loss: &mut [f32]) -> Result<()> {
    check("cross_entropy", x.len(), v, targets, loss.len(), true)?;
    loss.par_chunks_mut(ROWS).zip(x.par_chunks(v * ROWS)).zip(targets.par_chunks(ROWS)).for_each(|((l, x), t)| {
        let mut row = vec![0f32; v];
        for ((l, x), &t) in l.iter_mut().zip(x.chunks_exact(v)).zip(t) {
            if t == IGNORE {
                *l = 0.0;
                continue;
            }
            row.iter_mut().zip(x).for_each(|(a, b)| *a = b.to_f32());
            *l = lse(&row) - row[t as usize];
        }
    });
    Ok(())
}

pub fn cross_entropy_backward<T: Element>(x: &[T], v: usize, targets: &[u32], scale: f32, dx: &mut [T]) -> Result<()> {
    check("cross_entropy_backward", x.len(), v, targets, dx.len(), false)?;
    dx.par_chunks_mut(v * ROWS).zip(x.par_chunks(v * ROWS)).zip(targets.par_chunks(ROWS)).for_each(|((d, x), t)| {
        let mut row = vec![0f32; v];
        for ((d, x), &t) in d.chunks_exact_mut(v).zip(x.chunks_exact(v)).zip(t) {
            if t == IGNORE {
                d.iter_mut().for_each(|o| *o = T::from_f32(0.0));
                continue;
            }
            row.iter_mut().zip(x).for_each(|(a, b)| *a = b.to_f32());
            let l = lse(&row);
            for (j, (o, &a)) in d.iter_mut().zip(&row).enumerate() {
                let p = exp(a - l) - (j == t as usize) as u8 as f32;
                *o = T::from_f32(scale * p);
            }
        }
    });
    Ok(())
}

pub(crate) mod reference {
    use super::{check, IGNORE};
    use crate::{Element, Result};

    fn lse<T: Element>(x: &[T]) -> f64 {
        let m = x.iter().map(|a| a.to_f32() as f64).fold(f64::NEG_INFINITY, f64::max);
        m + x.iter().map(|a| (a.to_f32() as f64 - m).exp()).sum::<f64>().ln()
    }

    pub fn cross_entropy<T: Element>(x: &[T], v: usize, targets: &[u32], loss: &mut [f32]) -> Result<()> {
        check("cross_entropy", x.len(), v, targets, loss.len(), true)?;
        for (r, &t) in targets.iter().enumerate() {
            let row = &x[r * v..][..v];
            loss[r] = if t == IGNORE { 0.0 } else { (lse(row) - row[t as usize].to_f32() as f64) as f32 };
        }
        Ok(())
    }

    pub fn cross_entropy_backward<T: Element>(
        x: &[T],
        v: usize,
        targets: &[u32],
        scale: f32,
        dx: &mut [T],
    ) -> Result<()> {
        check("cross_entropy_backward", x.len(), v, targets, dx.len(), false)?;
        for (r, &t) in targets.iter().enumerate() {
            let row = &x[r * v..][..v];
            let l = lse(row);
            for j in 0..v {
                let g =
                    if t == IGNORE { 0.0 } else { (row[j].to_f32() as f64 - l).exp() - (j == t as usize) as u8 as f64 };
                dx[r * v + j] = T::from_f32((scale as f64 * g) as f32);
            }
        }
        Ok(())
    }
}
