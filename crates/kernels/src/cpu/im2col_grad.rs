//! Backward of im2col (shapes in `Im2col`): every patch column's gradient
//! goes back to the pixel it was read from, summed where windows overlap;
//! the padding's gradient is dropped.
//!   dx[n, c, y, x] = Σ_{oy, ox, ky, kx : oy·S − P + ky = y, ox·S − P + kx = x}
//!                    dy[n, oy·OW + ox, (c·KH + ky)·KW + kx]

use rayon::prelude::*;

use crate::{Element, Im2col, Result};

/// (pixel index within the plane, column index) pairs of every tap of (n, c).
fn taps(p: &Im2col, mut f: impl FnMut(usize, usize, usize)) {
    let (oh, ow) = p.out_hw();
    for oy in 0..oh {
        for ox in 0..ow {
            for ky in 0..p.kh {
                for kx in 0..p.kw {
                    let y = (oy * p.stride + ky) as isize - p.pad as isize;
                    let x = (ox * p.stride + kx) as isize - p.pad as isize;
                    if y >= 0 && y < p.h as isize && x >= 0 && x < p.w as isize {
                        f(y as usize * p.w + x as usize, oy * ow + ox, ky * p.kw + kx);
                    }
                }
            }
        }
    }
}

pub fn im2col_backward<T: Element>(p: &Im2col, dy: &[T], dx: &mut [T]) -> Result<()> {
    p.check(dx.len(), dy.len())?;
    let (oh, ow) = p.out_hw();
    let (cols, plane, kk) = (p.cols(), p.h * p.w, p.kh * p.kw);
    // One plane (n, c) a task: its pixels are written by its taps only.
    dx.par_chunks_mut(plane.max(1)).enumerate().for_each(|(nc, out)| {
        let (n, c) = (nc / p.c, nc % p.c);
        let mut acc = vec![0f32; plane];
        taps(p, |pix, row, tap| acc[pix] += dy[(n * oh * ow + row) * cols + c * kk + tap].to_f32());
        out.iter_mut().zip(&acc).for_each(|(o, a)| *o = T::from_f32(*a));
    });
    Ok(())
}

pub(crate) mod reference {
    use super::taps;
    use crate::{Element, Im2col, Result};

    pub fn im2col_backward<T: Element>(p: &Im2col, dy: &[T], dx: &mut [T]) -> Result<()> {
        p.check(dx.len(), dy.len())?;
        let (oh, ow) = p.out_hw();
        let (cols, plane, kk) = (p.cols(), p.h * p.w, p.kh * p.kw);
        let mut acc = vec![0f64; dx.len()];
        for n in 0..p.n {
            for c in 0..p.c {
                let base = (n * p.c + c) * plane;
                taps(p, |pix, row, tap| {
                    acc[base + pix] += dy[(n * oh * ow + row) * cols + c * kk + tap].to_f32() as f64
                });
            }
        }
        dx.iter_mut().zip(&acc).for_each(|(o, a)| *o = T::from_f32(*a as f32));
        Ok(())
    }
}
