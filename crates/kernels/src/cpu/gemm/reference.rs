//! Reference GEMM: the definition, one f64 dot product per output element.

use crate::{Element, Gemm, Result};

pub fn gemm<T: Element>(p: &Gemm, a: &[T], b: &[T], c: &mut [T]) -> Result<()> {
    p.check(a.len(), b.len(), c.len())?;
    for bi in 0..p.batch {
        for i in 0..p.m {
            for j in 0..p.n {
                let mut acc = 0f64;
                for l in 0..p.k {
                    let x = a[p.a.at(bi, i, l)].to_f32() as f64;
                    let y = b[p.b.at(bi, l, j)].to_f32() as f64;
                    acc += x * y;
                }
                let ci = p.c.at(bi, i, j);
                // beta = 0 never reads C, which may hold garbage.
                let prev = if p.beta == 0.0 { 0.0 } else { p.beta as f64 * c[ci].to_f32() as f64 };
                c[ci] = T::from_f32((p.alpha as f64 * acc + prev) as f32);
            }
        }
    }
    Ok(())
}
