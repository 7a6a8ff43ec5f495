//! Reference attention: every score of a row materialised, softmax in f64.

use crate::{Attention, Element, Mask, Result};

pub fn attention<T: Element>(p: &Attention, q: &[T], k: &[T], v: &[T], mask: Mask, o: &mut [T]) -> Result<()> {
    p.check(q.len(), k.len(), v.len(), o.len(), mask.map(<[f32]>::len, <[u8]>::len))?;
    let group = p.h / p.hkv;
    let shift = p.tk as isize - p.tq as isize;
    let mut s = vec![0f64; p.tk];
    for b in 0..p.b {
        for h in 0..p.h {
            let kh = h / group;
            for i in 0..p.tq {
                let qr = p.q.row(b, h, i);
                for (j, sj) in s.iter_mut().enumerate() {
                    let kr = p.k.row(b, kh, j);
                    let dot: f64 = (0..p.d).map(|d| q[qr + d].to_f32() as f64 * k[kr + d].to_f32() as f64).sum();
                    let mut x = dot * p.scale as f64;
                    if p.causal && j as isize > i as isize + shift {
                        x = f64::NEG_INFINITY;
                    }
                    match mask {
                        Mask::None => {}
                        Mask::Additive(m, l) => x += m[l.row(b, h, i) + j] as f64,
                        Mask::Keep(m, l) => {
                            if m[l.row(b, h, i) + j] == 0 {
                                x = f64::NEG_INFINITY
                            }
                        }
                    }
                    *sj = x;
                }
                let max = s.iter().copied().fold(f64::NEG_INFINITY, f64::max);
                let or = p.o.row(b, h, i);
                if max == f64::NEG_INFINITY {
                    // No visible key: the row is defined as zeros.
                    o[or..or + p.d].fill(T::from_f32(0.0));
                    continue;
                }
                let e: Vec<f64> = s.iter().map(|&x| (x - max).exp()).collect();
                let sum: f64 = e.iter().sum();
                for d in 0..p.d {
                    let acc: f64 = (0..p.tk).map(|j| e[j] * v[p.v.row(b, kh, j) + d].to_f32() as f64).sum();
                    o[or + d] = T::from_f32((acc / sum) as f32);
                }
            }
        }
    }
    Ok(())
}
