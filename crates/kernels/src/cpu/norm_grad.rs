//! Backward of the row-wise norms and softmax over the last dimension N of a
//! dense [R, N] buffer (dy the output's gradient):
//!   rms_norm    r = √(mean(x²) + eps), x̂ = x/r, g = dy·w:
//!               dx = (g − x̂·mean(g·x̂))/r,         dw = Σ_rows dy·x̂
//!   layer_norm  σ = √(var + eps), x̂ = (x − mean)/σ, g = dy·w:
//!               dx = (g − mean(g) − x̂·mean(g·x̂))/σ, dw = Σ_rows dy·x̂, db = Σ_rows dy
//!   softmax     dx = y·(dy − Σ dy·y)   (from the forward's output y)

use rayon::prelude::*;

use crate::{Element, Error, Result};

/// Rows per rayon task.
const ROWS: usize = 16;

pub(crate) fn check(op: &'static str, x: usize, n: usize, others: &[(&str, usize, usize)]) -> Result<()> {
    let bad = others.iter().find(|&&(_, got, want)| got != want);
    if n == 0 || !x.is_multiple_of(n) || bad.is_some() {
        let (name, got, want) = bad.copied().unwrap_or(("x", x, n));
        return Err(Error::Shape { op, msg: format!("rows of {n}: {name} holds {got} elements, needs {want}") });
    }
    Ok(())
}

/// Row statistics: (shift, 1/scale) with x̂ = (x − shift)·inv.
fn stats(x: &[f32], centre: bool, eps: f32) -> (f32, f32) {
    let n = x.len() as f32;
    let mean = if centre { x.iter().sum::<f32>() / n } else { 0.0 };
    let ms = x.iter().map(|v| (v - mean) * (v - mean)).sum::<f32>() / n;
    (mean, 1.0 / (ms + eps).sqrt())
}

/// dx of rows x, dy with weight w; adds dy·x̂ into dw and dy into db.
#[allow(clippy::too_many_arguments)]
fn norm_rows<T: Element>(
    x: &[T],
    w: &[T],
    dy: &[T],
    eps: f32,
    centre: bool,
    dx: &mut [T],
    dw: &mut [f32],
    db: &mut [f32],
) {
    let n = w.len();
    let (mut xs, mut g) = (vec![0f32; n], vec![0f32; n]);
    for ((xr, dyr), dxr) in x.chunks_exact(n).zip(dy.chunks_exact(n)).zip(dx.chunks_exact_mut(n)) {
        xs.iter_mut().zip(xr).for_each(|(a, b)| *a = b.to_f32());
        let (shift, inv) = stats(&xs, centre, eps);
        let (mut mg, mut mgx) = (0f32, 0f32);
        for i in 0..n {
            let (d, xh) = (dyr[i].to_f32(), (xs[i] - shift) * inv);
            g[i] = d * w[i].to_f32();
            mg += g[i];
            mgx += g[i] * xh;
            dw[i] += d * xh;
            db[i] += d;
        }
        let (mg, mgx) = (if centre { mg / n as f32 } else { 0.0 }, mgx / n as f32);
        for i in 0..n {
            let xh = (xs[i] - shift) * inv;
            dxr[i] = T::from_f32((g[i] - mg - xh * mgx) * inv);
        }
    }
}

/// Runs `norm_rows` over blocks of rows in parallel and sums their dw, db.
#[allow(clippy::too_many_arguments)]
fn norm_backward<T: Element>(
    x: &[T],
    w: &[T],
    dy: &[T],
    eps: f32,
    centre: bool,
    dx: &mut [T],
    dw: &mut [T],
    db: Option<&mut [T]>,
) {
    let n = w.len();
    let (pw, pb) = x
        .par_chunks(n * ROWS)
        .zip(dy.par_chunks(n * ROWS))
        .zip(dx.par_chunks_mut(n * ROWS))
        .map(|((x, dy), dx)| {
            let (mut pw, mut pb) = (vec![0f32; n], vec![0f32; n]);
            norm_rows(x, w, dy, eps, centre, dx, &mut pw, &mut pb);
            (pw, pb)
        })
        .reduce(
            || (vec![0f32; n], vec![0f32; n]),
            |(mut a, mut b), (c, d)| {
                a.iter_mut().zip(&c).for_each(|(a, c)| *a += c);
                b.iter_mut().zip(&d).for_each(|(b, d)| *b += d);
                (a, b)
            },
        );
    dw.iter_mut().zip(&pw).for_each(|(o, v)| *o = T::from_f32(*v));
    if let Some(db) = db {
        db.iter_mut().zip(&pb).for_each(|(o, v)| *o = T::from_f32(*v));
    }
}

pub fn rms_norm_backward<T: Element>(x: &[T], w: &[T], dy: &[T], eps: f32, dx: &mut [T], dw: &mut [T]) -> Result<()> {
    let n = w.len();
    check(
        "rms_norm_backward",
        x.len(),
        n,
        &[("dy", dy.len(), x.len()), ("dx", dx.len(), x.len()), ("dw", dw.len(), n)],
    )?;
    norm_backward(x, w, dy, eps, false, dx, dw, None);
    Ok(())
}

#[allow(clippy::too_many_arguments)]
pub fn layer_norm_backward<T: Element>(
    x: &[T],
    w: &[T],
    dy: &[T],
    eps: f32,
    dx: &mut [T],
    dw: &mut [T],
    db: &mut [T],
) -> Result<()> {
    let n = w.len();
    let lens = [("dy", dy.len(), x.len()), ("dx", dx.len(), x.len()), ("dw", dw.len(), n), ("db", db.len(), n)];
    check("layer_norm_backward", x.len(), n, &lens)?;
    norm_backward(x, w, dy, eps, true, dx, dw, Some(db));
    Ok(())
}

pub fn softmax_backward<T: Element>(y: &[T], dy: &[T], n: usize, dx: &mut [T]) -> Result<()> {
    check("softmax_backward", y.len(), n, &[("dy", dy.len(), y.len()), ("dx", dx.len(), y.len())])?;
    dx.par_chunks_mut(n * ROWS).zip(y.par_chunks(n * ROWS)).zip(dy.par_chunks(n * ROWS)).for_each(|((dx, y), dy)| {
        for ((dx, y), dy) in dx.chunks_exact_mut(n).zip(y.chunks_exact(n)).zip(dy.chunks_exact(n)) {
            let dot: f32 = y.iter().zip(dy).map(|(a, b)| a.to_f32() * b.to_f32()).sum();
            for ((o, y), d) in dx.iter_mut().zip(y).zip(dy) {
                *o = T::from_f32(y.to_f32() * (d.to_f32() - dot));
            }
        }
    });
    Ok(())
}

pub(crate) mod reference {
    use super::check;
    use crate::{Element, Result};

    /// One row's x̂ (f64) for a centred (layer) or plain (RMS) norm, and 1/scale.
    fn normalised<T: Element>(x: &[T], centre: bool, eps: f32) -> (Vec<f64>, f64) {
        let n = x.len() as f64;
        let v: Vec<f64> = x.iter().map(|a| a.to_f32() as f64).collect();
        let mean = if centre { v.iter().sum::<f64>() / n } else { 0.0 };
        let ms = v.iter().map(|a| (a - mean).powi(2)).sum::<f64>() / n;
        let inv = 1.0 / (ms + eps as f64).sqrt();
        (v.iter().map(|a| (a - mean) * inv).collect(), inv)
    }

    #[allow(clippy::too_many_arguments)]
    fn norm<T: Element>(
        x: &[T],
        w: &[T],
        dy: &[T],
        eps: f32,
        centre: bool,
        dx: &mut [T],
        dw: &mut [T],
        db: Option<&mut [T]>,
    ) {
        let n = w.len();
        let (mut sw, mut sb) = (vec![0f64; n], vec![0f64; n]);
        for r in 0..x.len() / n {
            let (xh, inv) = normalised(&x[r * n..][..n], centre, eps);
            let d: Vec<f64> = dy[r * n..][..n].iter().map(|a| a.to_f32() as f64).collect();
            let g: Vec<f64> = (0..n).map(|i| d[i] * w[i].to_f32() as f64).collect();
            let mg = if centre { g.iter().sum::<f64>() / n as f64 } else { 0.0 };
            let mgx = (0..n).map(|i| g[i] * xh[i]).sum::<f64>() / n as f64;
            for i in 0..n {
                dx[r * n + i] = T::from_f32(((g[i] - mg - xh[i] * mgx) * inv) as f32);
                sw[i] += d[i] * xh[i];
                sb[i] += d[i];
            }
        }
        dw.iter_mut().zip(&sw).for_each(|(o, v)| *o = T::from_f32(*v as f32));
        if let Some(db) = db {
            db.iter_mut().zip(&sb).for_each(|(o, v)| *o = T::from_f32(*v as f32));
        }
    }

    pub fn rms_norm_backward<T: Element>(
        x: &[T],
        w: &[T],
        dy: &[T],
        eps: f32,
        dx: &mut [T],
        dw: &mut [T],
    ) -> Result<()> {
        let n = w.len();
        let lens = [("dy", dy.len(), x.len()), ("dx", dx.len(), x.len()), ("dw", dw.len(), n)];
        check("rms_norm_backward", x.len(), n, &lens)?;
        norm(x, w, dy, eps, false, dx, dw, None);
        Ok(())
    }

    #[allow(clippy::too_many_arguments)]
    pub fn layer_norm_backward<T: Element>(
        x: &[T],
        w: &[T],
        dy: &[T],
        eps: f32,
        dx: &mut [T],
        dw: &mut [T],
        db: &mut [T],
    ) -> Result<()> {
        let n = w.len();
        let lens = [("dy", dy.len(), x.len()), ("dx", dx.len(), x.len()), ("dw", dw.len(), n), ("db", db.len(), n)];
        check("layer_norm_backward", x.len(), n, &lens)?;
        norm(x, w, dy, eps, true, dx, dw, Some(db));
        Ok(())
    }

    pub fn softmax_backward<T: Element>(y: &[T], dy: &[T], n: usize, dx: &mut [T]) -> Result<()> {
        check("softmax_backward", y.len(), n, &[("dy", dy.len(), y.len()), ("dx", dx.len(), y.len())])?;
        for r in 0..y.len() / n {
            let (y, dy) = (&y[r * n..][..n], &dy[r * n..][..n]);
            let dot: f64 = y.iter().zip(dy).map(|(a, b)| a.to_f32() as f64 * b.to_f32() as f64).sum();
            for i in 0..n {
                dx[r * n + i] = T::from_f32((y[i].to_f32() as f64 * (dy[i].to_f32() as f64 - dot)) as f32);
            }
        }
        Ok(())
    }
}
