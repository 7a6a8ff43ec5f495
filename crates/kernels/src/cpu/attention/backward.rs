//! Attention backward, flash style: the probabilities are recomputed from the
//! scores and each row's log-sum-exp (nothing [Tq, Tk] is kept from the
//! forward). For one query row i of head h over the keys j it may see:
//!   P_j  = exp(q_i·k_j·scale + mask − lse_i)
//!   dP_j = dO_i·v_j,   Δ_i = Σ_j P_j·dP_j (= dO_i·O_i),   dS_j = P_j·(dP_j − Δ_i)
//!   dq_i = scale·Σ_j dS_j·k_j,  dk_j += scale·dS_j·q_i,  dv_j += P_j·dO_i
//! GQA: a key head's dk, dv sum over the query heads that share it. A row
//! that sees no key (forward zeros) sends nothing back.
//! Shapes: q, o, dO through p.q / p.o ([B, H, Tq, D] views; dO shares o's
//! layout), k, v through p.k / p.v; dq [B, H, Tq, D], dk, dv [B, Hkv, Tk, D]
//! dense.

use rayon::prelude::*;

use crate::{Attention, Element, Error, Mask, Result};

/// Checks the operands and the three dense gradient outputs.
#[allow(clippy::too_many_arguments)]
pub(crate) fn check<T>(
    p: &Attention,
    q: &[T],
    k: &[T],
    v: &[T],
    o: &[T],
    dout: &[T],
    mask: Mask,
    dq: &[T],
    dk: &[T],
    dv: &[T],
) -> Result<()> {
    p.check(q.len(), k.len(), v.len(), o.len(), mask.map(<[f32]>::len, <[u8]>::len))?;
    let (nq, nk) = (p.b * p.h * p.tq * p.d, p.b * p.hkv * p.tk * p.d);
    if dout.len() != o.len() || dq.len() != nq || dk.len() != nk || dv.len() != nk {
        return Err(Error::Shape {
            op: "attention_backward",
            msg: format!(
                "dO {} (o {}), dq {} of {nq}, dk {} and dv {} of {nk}",
                dout.len(),
                o.len(),
                dq.len(),
                dk.len(),
                dv.len()
            ),
        });
    }
    Ok(())
}

/// The score of query row i against key j before the softmax, or None when
/// the key is hidden (causal, or a zero in a keep mask).
#[inline(always)]
fn visible(p: &Attention, mask: &Mask, b: usize, h: usize, i: usize, j: usize) -> Option<f32> {
    if p.causal && j as isize > i as isize + p.tk as isize - p.tq as isize {
        return None;
    }
    match mask {
        Mask::None => Some(0.0),
        Mask::Additive(m, l) => Some(m[l.row(b, h, i) + j]),
        Mask::Keep(m, l) => (m[l.row(b, h, i) + j] != 0).then_some(0.0),
    }
}

#[allow(clippy::too_many_arguments)]
pub fn attention_backward<T: Element>(
    p: &Attention,
    q: &[T],
    k: &[T],
    v: &[T],
    o: &[T],
    dout: &[T],
    mask: Mask,
    dq: &mut [T],
    dk: &mut [T],
    dv: &mut [T],
) -> Result<()> {
    check(p, q, k, v, o, dout, mask, dq, dk, dv)?;
    let (group, d, tk) = (p.h / p.hkv, p.d, p.tk);
    let row = |x: &[T], at: usize| -> Vec<f32> { x[at..at + d].iter().map(|a| a.to_f32()).collect() };
    // One task per (batch, key head): it owns that head's dk, dv and its group's dq rows.
    dq.par_chunks_mut(group * p.tq * d)
        .zip(dk.par_chunks_mut(tk * d).zip(dv.par_chunks_mut(tk * d)))
        .enumerate()
        .for_each(|(task, (dqc, (dkc, dvc)))| {
            let (b, kh) = (task / p.hkv, task % p.hkv);
            let keys: Vec<Vec<f32>> = (0..tk).map(|j| row(k, p.k.row(b, kh, j))).collect();
            let vals: Vec<Vec<f32>> = (0..tk).map(|j| row(v, p.v.row(b, kh, j))).collect();
            let (mut gk, mut gv) = (vec![0f32; tk * d], vec![0f32; tk * d]);
            let (mut s, mut ps) = (vec![f32::NEG_INFINITY; tk], vec![0f32; tk]);
            for g in 0..group {
                let h = kh * group + g;
                for i in 0..p.tq {
                    let (qi, oi, doi) =
                        (row(q, p.q.row(b, h, i)), row(o, p.o.row(b, h, i)), row(dout, p.o.row(b, h, i)));
                    let mut max = f32::NEG_INFINITY;
                    for j in 0..tk {
                        s[j] = match visible(p, &mask, b, h, i, j) {
                            Some(add) => qi.iter().zip(&keys[j]).map(|(a, b)| a * b).sum::<f32>() * p.scale + add,
                            None => f32::NEG_INFINITY,
                        };
                        max = max.max(s[j]);
                    }
                    let dqi = &mut dqc[(g * p.tq + i) * d..][..d];
                    if max == f32::NEG_INFINITY {
                        dqi.iter_mut().for_each(|x| *x = T::from_f32(0.0));
                        continue;
                    }
                    let sum: f32 = s.iter().map(|&x| (x - max).exp()).sum();
                    let lse = max + sum.ln();
                    let delta: f32 = doi.iter().zip(&oi).map(|(a, b)| a * b).sum();
                    let mut acc = vec![0f32; d];
                    for j in 0..tk {
                        ps[j] = if s[j] == f32::NEG_INFINITY { 0.0 } else { (s[j] - lse).exp() };
                        if ps[j] == 0.0 {
                            continue;
                        }
                        let dp: f32 = doi.iter().zip(&vals[j]).map(|(a, b)| a * b).sum();
                        let ds = ps[j] * (dp - delta) * p.scale;
                        acc.iter_mut().zip(&keys[j]).for_each(|(a, kj)| *a += ds * kj);
                        gk[j * d..][..d].iter_mut().zip(&qi).for_each(|(a, qv)| *a += ds * qv);
                        gv[j * d..][..d].iter_mut().zip(&doi).for_each(|(a, dov)| *a += ps[j] * dov);
                    }
                    dqi.iter_mut().zip(&acc).for_each(|(o, a)| *o = T::from_f32(*a));
                }
            }
            dkc.iter_mut().zip(&gk).for_each(|(o, a)| *o = T::from_f32(*a));
            dvc.iter_mut().zip(&gv).for_each(|(o, a)| *o = T::from_f32(*a));
        });
    Ok(())
}

pub(crate) mod reference {
    use super::{check, visible};
    use crate::{Attention, Element, Mask, Result};

    /// Every row's probabilities materialised in f64; Δ from Σ P·dP (not from o).
    #[allow(clippy::too_many_arguments)]
    pub fn attention_backward<T: Element>(
        p: &Attention,
        q: &[T],
        k: &[T],
        v: &[T],
        o: &[T],
        dout: &[T],
        mask: Mask,
        dq: &mut [T],
        dk: &mut [T],
        dv: &mut [T],
    ) -> Result<()> {
        check(p, q, k, v, o, dout, mask, dq, dk, dv)?;
        let (group, d) = (p.h / p.hkv, p.d);
        let f = |x: &[T], at: usize| -> f64 { x[at].to_f32() as f64 };
        let (mut gk, mut gv) = (vec![0f64; dk.len()], vec![0f64; dv.len()]);
        for b in 0..p.b {
            for h in 0..p.h {
                let kh = h / group;
                for i in 0..p.tq {
                    let (qr, or) = (p.q.row(b, h, i), p.o.row(b, h, i));
                    let s: Vec<Option<f64>> = (0..p.tk)
                        .map(|j| {
                            visible(p, &mask, b, h, i, j).map(|add| {
                                let kr = p.k.row(b, kh, j);
                                (0..d).map(|c| f(q, qr + c) * f(k, kr + c)).sum::<f64>() * p.scale as f64 + add as f64
                            })
                        })
                        .collect();
                    let max = s.iter().flatten().copied().fold(f64::NEG_INFINITY, f64::max);
                    let dqr = ((b * p.h + h) * p.tq + i) * d;
                    if max == f64::NEG_INFINITY {
                        dq[dqr..dqr + d].fill(T::from_f32(0.0));
                        continue;
                    }
                    let e: Vec<f64> = s.iter().map(|x| x.map_or(0.0, |x| (x - max).exp())).collect();
                    let sum: f64 = e.iter().sum();
                    let pr: Vec<f64> = e.iter().map(|x| x / sum).collect();
                    let dp: Vec<f64> = (0..p.tk)
                        .map(|j| (0..d).map(|c| f(dout, or + c) * f(v, p.v.row(b, kh, j) + c)).sum())
                        .collect();
                    let delta: f64 = (0..p.tk).map(|j| pr[j] * dp[j]).sum();
                    let mut acc = vec![0f64; d];
                    for j in 0..p.tk {
                        let ds = pr[j] * (dp[j] - delta) * p.scale as f64;
                        let (kr, at) = (p.k.row(b, kh, j), ((b * p.hkv + kh) * p.tk + j) * d);
                        for c in 0..d {
                            acc[c] += ds * f(k, kr + c);
                            gk[at + c] += ds * f(q, qr + c);
                            gv[at + c] += pr[j] * f(dout, or + c);
                        }
                    }
                    for c in 0..d {
                        dq[dqr + c] = T::from_f32(acc[c] as f32);
                    }
                }
            }
        }
        dk.iter_mut().zip(&gk).for_each(|(o, a)| *o = T::from_f32(*a as f32));
        dv.iter_mut().zip(&gv).for_each(|(o, a)| *o = T::from_f32(*a as f32));
        Ok(())
    }
}
