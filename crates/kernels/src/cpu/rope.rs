//! Rotary position embedding, rotate-half layout (Llama / HF), over a dense
//! x [outer, T, inner, D] with tables cos, sin [T, D/2]; for i < D/2:
//!   y[i]       = x[i]·cos[t, i] − x[i + D/2]·sin[t, i]
//!   y[i + D/2] = x[i + D/2]·cos[t, i] + x[i]·sin[t, i]

use rayon::prelude::*;

use crate::{Element, Error, Result, Rope};

fn check(p: &Rope, x: usize, cos: usize, sin: usize, out: usize) -> Result<()> {
    let n = p.outer * p.t * p.inner * p.d;
    if !p.d.is_multiple_of(2) || x != n || out != n || cos != p.t * p.d / 2 || sin != cos {
        return Err(Error::Shape {
            op: "rope",
            msg: format!(
                "x [{}, {}, {}, {}] (D even) with {x} elements, cos {cos}, sin {sin}, out {out}",
                p.outer, p.t, p.inner, p.d
            ),
        });
    }
    Ok(())
}

pub fn rope<T: Element>(p: &Rope, x: &[T], cos: &[f32], sin: &[f32], out: &mut [T]) -> Result<()> {
    check(p, x.len(), cos.len(), sin.len(), out.len())?;
    let h = p.d / 2;
    if h == 0 {
        return Ok(());
    }
    out.par_chunks_mut(p.d).zip(x.par_chunks(p.d)).enumerate().for_each(|(row, (o, x))| {
        let t = row / p.inner % p.t;
        let (c, s) = (&cos[t * h..(t + 1) * h], &sin[t * h..(t + 1) * h]);
        let (o1, o2) = o.split_at_mut(h);
        let (x1, x2) = x.split_at(h);
        for i in 0..h {
            let (a, b) = (x1[i].to_f32(), x2[i].to_f32());
            o1[i] = T::from_f32(a * c[i] - b * s[i]);
            o2[i] = T::from_f32(b * c[i] + a * s[i]);
        }
    });
    Ok(())
}

pub(crate) mod reference {
    use super::check;
    use crate::{Element, Result, Rope};

    pub fn rope<T: Element>(p: &Rope, x: &[T], cos: &[f32], sin: &[f32], out: &mut [T]) -> Result<()> {
        check(p, x.len(), cos.len(), sin.len(), out.len())?;
        let h = p.d / 2;
        for row in 0..p.outer * p.t * p.inner {
            let t = row / p.inner % p.t;
            for i in 0..h {
                let a = x[row * p.d + i].to_f32() as f64;
                let b = x[row * p.d + h + i].to_f32() as f64;
                let (c, s) = (cos[t * h + i] as f64, sin[t * h + i] as f64);
                out[row * p.d + i] = T::from_f32((a * c - b * s) as f32);
                out[row * p.d + h + i] = T::from_f32((b * c + a * s) as f32);
            }
        }
        Ok(())
    }
}
