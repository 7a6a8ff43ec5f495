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

use crate::cpu::math::exp;
use crate::{Attention, Element, Error, Gemm, Mask, MatLayout, Result};

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

/// Query rows per block: the block's scores [BQ, Tk] stay in cache between its products.
const BQ: usize = 64;

/// rows [t, d] of a head (through its layout) widened to dense f32.
fn gather<T: Element>(x: &[T], rows: impl Fn(usize) -> usize, t: usize, d: usize) -> Vec<f32> {
    let mut out = vec![0f32; t * d];
    for (i, o) in out.chunks_exact_mut(d.max(1)).enumerate().take(t) {
        o.iter_mut().zip(&x[rows(i)..rows(i) + d]).for_each(|(o, v)| *o = v.to_f32());
    }
    out
}

/// C (+)= alpha·A·B over dense f32 blocks, with A and B optionally transposed views.
#[allow(clippy::too_many_arguments)]
fn mm(m: usize, n: usize, k: usize, a: &[f32], at: bool, b: &[f32], bt: bool, c: &mut [f32], beta: f32) {
    let lay = |rows: usize, cols: usize, t: bool| {
        if t {
            MatLayout::row_major(cols, rows).t()
        } else {
            MatLayout::row_major(rows, cols)
        }
    };
    let p =
        Gemm { batch: 1, m, n, k, alpha: 1.0, beta, a: lay(m, k, at), b: lay(k, n, bt), c: MatLayout::row_major(m, n) };
    crate::cpu::gemm::gemm(&p, a, b, c).expect("blocks sized for their products");
}

/// The backward of one (batch, key head): its group's query heads, block by
/// block of query rows, each block's five products on the GEMM kernel over
/// the keys it can see. Returns (dq rows of the group, dk, dv), f32.
#[allow(clippy::too_many_arguments)]
fn head_backward<T: Element>(
    p: &Attention,
    [q, k, v, o, dout]: [&[T]; 5],
    mask: &Mask,
    b: usize,
    kh: usize,
) -> (Vec<f32>, Vec<f32>, Vec<f32>) {
    let (group, d, tq, tk) = (p.h / p.hkv, p.d, p.tq, p.tk);
    let kf = gather(k, |j| p.k.row(b, kh, j), tk, d);
    let vf = gather(v, |j| p.v.row(b, kh, j), tk, d);
    let (mut dk, mut dv, mut dq) = (vec![0f32; tk * d], vec![0f32; tk * d], vec![0f32; group * tq * d]);
    let shift = tk as isize - tq as isize;
    let (mut s, mut dp) = (vec![0f32; BQ * tk], vec![0f32; BQ * tk]);
    for g in 0..group {
        let h = kh * group + g;
        let qf = gather(q, |i| p.q.row(b, h, i), tq, d);
        let of = gather(o, |i| p.o.row(b, h, i), tq, d);
        let df = gather(dout, |i| p.o.row(b, h, i), tq, d);
        for i0 in (0..tq).step_by(BQ) {
            let rows = BQ.min(tq - i0);
            // Keys past the block's last row's causal limit get no weight: leave them out.
            let kn = if p.causal { (i0 as isize + rows as isize + shift).clamp(0, tk as isize) as usize } else { tk };
            if kn == 0 {
                continue;
            }
            let (qb, db) = (&qf[i0 * d..(i0 + rows) * d], &df[i0 * d..(i0 + rows) * d]);
            let (sb, dpb) = (&mut s[..rows * kn], &mut dp[..rows * kn]);
            mm(rows, kn, d, qb, false, &kf[..kn * d], true, sb, 0.0);
            mm(rows, kn, d, db, false, &vf[..kn * d], true, dpb, 0.0);
            for r in 0..rows {
                let i = i0 + r;
                let (sr, dpr) = (&mut sb[r * kn..(r + 1) * kn], &mut dpb[r * kn..(r + 1) * kn]);
                // Without a mask only the causal limit hides keys: no test per score.
                let lim = if p.causal { (i as isize + 1 + shift).clamp(0, kn as isize) as usize } else { kn };
                if let Mask::None = mask {
                    sr[..lim].iter_mut().for_each(|x| *x *= p.scale);
                    sr[lim..].fill(f32::NEG_INFINITY);
                } else {
                    for (j, x) in sr.iter_mut().enumerate() {
                        *x = match visible(p, mask, b, h, i, j) {
                            Some(add) => *x * p.scale + add,
                            None => f32::NEG_INFINITY,
                        };
                    }
                }
                let max = sr.iter().fold(f32::NEG_INFINITY, |m, &x| m.max(x));
                if max == f32::NEG_INFINITY {
                    sr.fill(0.0);
                    dpr.fill(0.0);
                    continue;
                }
                // e^(s − max) once; P = e / Σe.
                sr.iter_mut().for_each(|x| *x = exp(*x - max));
                let inv = 1.0 / sr.iter().sum::<f32>();
                let delta: f32 = db[r * d..(r + 1) * d].iter().zip(&of[i * d..(i + 1) * d]).map(|(a, b)| a * b).sum();
                let ds = p.scale;
                for (x, g) in sr.iter_mut().zip(dpr.iter_mut()) {
                    let pr = *x * inv;
                    *x = pr;
                    *g = pr * (*g - delta) * ds;
                }
            }
            // dQ = dS·K, dK += dSᵀ·Q, dV += Pᵀ·dO over the visible keys.
            mm(
                rows,
                d,
                kn,
                dpb,
                false,
                &kf[..kn * d],
                false,
                &mut dq[(g * tq + i0) * d..(g * tq + i0 + rows) * d],
                0.0,
            );
            mm(kn, d, rows, dpb, true, qb, false, &mut dk[..kn * d], 1.0);
            mm(kn, d, rows, sb, true, db, false, &mut dv[..kn * d], 1.0);
        }
    }
    (dq, dk, dv)
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
    // One task per (batch, key head): it owns that head's dk, dv and its group's dq rows.
    dq.par_chunks_mut(group * p.tq * d)
        .zip(dk.par_chunks_mut(tk * d).zip(dv.par_chunks_mut(tk * d)))
        .enumerate()
        .for_each(|(task, (dqc, (dkc, dvc)))| {
            let (gq, gk, gv) = head_backward(p, [q, k, v, o, dout], &mask, task / p.hkv, task % p.hkv);
            dqc.iter_mut().zip(&gq).for_each(|(o, a)| *o = T::from_f32(*a));
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
