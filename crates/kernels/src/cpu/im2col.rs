//! im2col (shapes in `Im2col`): out[n, oy·OW + ox, (c·KH + ky)·KW + kx]
//!   = x[n, c, oy·S − P + ky, ox·S − P + kx], or 0 in the padding.
//! A ViT patch embedding is im2col with K = S = p, then a GEMM with the conv
//! weight [O, C·p·p].

use rayon::prelude::*;

use crate::{Element, Im2col, Result};

pub fn im2col<T: Element>(p: &Im2col, x: &[T], out: &mut [T]) -> Result<()> {
    p.check(x.len(), out.len())?;
    let (oh, ow) = p.out_hw();
    let cols = p.cols();
    if cols == 0 {
        return Ok(());
    }
    out.par_chunks_mut(cols).enumerate().for_each(|(row, o)| {
        let (n, oy, ox) = (row / (oh * ow), row / ow % oh, row % ow);
        for c in 0..p.c {
            for ky in 0..p.kh {
                let dst = &mut o[(c * p.kh + ky) * p.kw..][..p.kw];
                let y = (oy * p.stride + ky) as isize - p.pad as isize;
                let x0 = (ox * p.stride) as isize - p.pad as isize;
                if y < 0 || y >= p.h as isize {
                    dst.fill(T::default());
                    continue;
                }
                let src_row = ((n * p.c + c) * p.h + y as usize) * p.w;
                if x0 >= 0 && x0 as usize + p.kw <= p.w {
                    dst.copy_from_slice(&x[src_row + x0 as usize..][..p.kw]);
                } else {
                    for (kx, d) in dst.iter_mut().enumerate() {
                        let xx = x0 + kx as isize;
                        *d = if xx < 0 || xx >= p.w as isize { T::default() } else { x[src_row + xx as usize] };
                    }
                }
            }
        }
    });
    Ok(())
}

pub(crate) mod reference {
    use crate::{Element, Im2col, Result};

    pub fn im2col<T: Element>(p: &Im2col, x: &[T], out: &mut [T]) -> Result<()> {
        p.check(x.len(), out.len())?;
        let (oh, ow) = p.out_hw();
        let cols = p.cols();
        for n in 0..p.n {
            for oy in 0..oh {
                for ox in 0..ow {
                    for c in 0..p.c {
                        for ky in 0..p.kh {
                            for kx in 0..p.kw {
                                let y = (oy * p.stride + ky) as isize - p.pad as isize;
                                let xx = (ox * p.stride + kx) as isize - p.pad as isize;
                                let inside = y >= 0 && y < p.h as isize && xx >= 0 && xx < p.w as isize;
                                let v = if inside {
                                    x[((n * p.c + c) * p.h + y as usize) * p.w + xx as usize]
                                } else {
                                    T::from_f32(0.0)
                                };
                                out[((n * oh + oy) * ow + ox) * cols + (c * p.kh + ky) * p.kw + kx] = v;
                            }
                        }
                    }
                }
            }
        }
        Ok(())
    }
}
