//! Element-wise ops: unary functions on a dense buffer, and binary ops over
//! N-d strided operands (zero strides broadcast) into a dense output.

use rayon::prelude::*;

use crate::cpu::isa::dispatch_isa;
use crate::cpu::math::exp;
use crate::cpu::walk::Walk;
use crate::{Binary, Element, Error, Result, Strided, Unary};

/// Elements per rayon task.
const CHUNK: usize = 1 << 14;

/// σ(x) = 1/(1 + e^−x), from e^−|x| ≤ 1 so neither side overflows.
#[inline(always)]
fn sigmoid(x: f32) -> f32 {
    let e = exp(-x.abs());
    let s = 1.0 / (1.0 + e);
    if x < 0.0 {
        e * s
    } else {
        s
    }
}

#[inline(always)]
pub(crate) fn unary_f32(op: Unary, x: f32) -> f32 {
    match op {
        // erfc(−y) = 1 + erf(y) without the cancellation for x ≪ 0.
        Unary::Gelu => 0.5 * x * crate::cpu::math::erfc(-x * std::f32::consts::FRAC_1_SQRT_2),
        // 0.5·(1 + tanh u) = σ(2u), without the cancellation for x ≪ 0.
        Unary::GeluTanh => x * sigmoid(2.0 * 0.797_884_6 * (x + 0.044_715 * x * x * x)),
        Unary::QuickGelu => x * sigmoid(1.702 * x),
        Unary::Silu => x * sigmoid(x),
        Unary::Tanh => x.tanh(),
        Unary::Scale(s) => x * s,
    }
}

fn check_len(op: &'static str, x: usize, out: usize) -> Result<()> {
    if x != out {
        return Err(Error::Shape { op, msg: format!("input holds {x} elements, output {out}") });
    }
    Ok(())
}

/// o = f(x) through an f32 block, so the middle loop is plain f32 lanes the
/// compiler vectorises (the op is chosen once, outside the loops).
#[inline(always)]
fn map<T: Element>(x: &[T], o: &mut [T], f: impl Fn(f32) -> f32) {
    let mut buf = [0f32; 256];
    for (xc, oc) in x.chunks(256).zip(o.chunks_mut(256)) {
        let b = &mut buf[..xc.len()];
        b.iter_mut().zip(xc).for_each(|(b, v)| *b = v.to_f32());
        b.iter_mut().for_each(|v| *v = f(*v));
        oc.iter_mut().zip(b.iter()).for_each(|(o, v)| *o = T::from_f32(*v));
    }
}

pub fn unary<T: Element>(op: Unary, x: &[T], out: &mut [T]) -> Result<()> {
    check_len("unary", x.len(), out.len())?;
    out.par_chunks_mut(CHUNK).zip(x.par_chunks(CHUNK)).for_each(|(o, x)| unary_chunk(op, x, o));
    Ok(())
}

/// x = op(x) over a row (a GEMM epilogue's tile row).
pub(crate) fn unary_in_place(op: Unary, x: &mut [f32]) {
    unary_rows(op, x)
}

dispatch_isa!(fn unary_rows<T: Element>(op: Unary, x: &mut [T]) = unary_rows_body);

#[inline(always)]
fn unary_rows_body<T: Element>(op: Unary, x: &mut [T]) {
    match op {
        Unary::Gelu => x.iter_mut().for_each(|v| *v = T::from_f32(unary_f32(Unary::Gelu, v.to_f32()))),
        Unary::GeluTanh => x.iter_mut().for_each(|v| *v = T::from_f32(unary_f32(Unary::GeluTanh, v.to_f32()))),
        Unary::QuickGelu => x.iter_mut().for_each(|v| *v = T::from_f32(unary_f32(Unary::QuickGelu, v.to_f32()))),
        Unary::Silu => x.iter_mut().for_each(|v| *v = T::from_f32(unary_f32(Unary::Silu, v.to_f32()))),
        Unary::Tanh => x.iter_mut().for_each(|v| *v = T::from_f32(unary_f32(Unary::Tanh, v.to_f32()))),
        Unary::Scale(s) => x.iter_mut().for_each(|v| *v = T::from_f32(v.to_f32() * s)),
    }
}

// Compiled per instruction set: built for baseline x86-64, the polynomial exp
// of quick_gelu ran four lanes wide.
dispatch_isa!(fn unary_chunk<T: Element>(op: Unary, x: &[T], o: &mut [T]) = unary_chunk_body);

#[inline(always)]
fn unary_chunk_body<T: Element>(op: Unary, x: &[T], o: &mut [T]) {
    match op {
        Unary::Gelu => map(x, o, |v| unary_f32(Unary::Gelu, v)),
        Unary::GeluTanh => map(x, o, |v| unary_f32(Unary::GeluTanh, v)),
        Unary::QuickGelu => map(x, o, |v| unary_f32(Unary::QuickGelu, v)),
        Unary::Silu => map(x, o, |v| unary_f32(Unary::Silu, v)),
        Unary::Tanh => map(x, o, |v| unary_f32(Unary::Tanh, v)),
        Unary::Scale(s) => map(x, o, |v| v * s),
    }
}

pub(crate) fn check_binary(l: &Strided, ll: usize, r: &Strided, rl: usize, out: usize) -> Result<()> {
    l.check("binary", "lhs", ll)?;
    r.check("binary", "rhs", rl)?;
    if l.shape != r.shape || out != l.len() {
        return Err(Error::Shape {
            op: "binary",
            msg: format!("lhs {:?}, rhs {:?} and an output of {out} elements differ", l.shape, r.shape),
        });
    }
    Ok(())
}

/// out[i] = lhs[i] op rhs[i] over the common shape, row by row over the
/// merged views (`walk.rs`); unit and zero inner strides take fast paths.
pub fn binary<T: Element>(op: Binary, lhs: &[T], l: Strided, rhs: &[T], r: Strided, out: &mut [T]) -> Result<()> {
    check_binary(&l, lhs.len(), &r, rhs.len(), out.len())?;
    if out.is_empty() {
        return Ok(());
    }
    let walk = Walk::new("binary", l.shape, [l.strides, r.strides], [l.offset, r.offset], CHUNK)?;
    // The op chosen once, outside the loops, so each row's loop is plain f32 lanes.
    match op {
        Binary::Add => binary_rows(&walk, lhs, rhs, out, |a, b| a + b),
        Binary::Sub => binary_rows(&walk, lhs, rhs, out, |a, b| a - b),
        Binary::Mul => binary_rows(&walk, lhs, rhs, out, |a, b| a * b),
        Binary::Div => binary_rows(&walk, lhs, rhs, out, |a, b| a / b),
    }
    Ok(())
}

#[inline(always)]
fn binary_rows<T: Element>(walk: &Walk<2>, lhs: &[T], rhs: &[T], out: &mut [T], f: impl Fn(f32, f32) -> f32 + Sync) {
    let n = walk.row_len();
    let (ls, rs) = (walk.inner(0), walk.inner(1));
    let rows_per_task = (CHUNK / n).max(1);
    out.par_chunks_mut(n * rows_per_task).enumerate().for_each(|(t, o)| {
        let mut rows = walk.rows(t * rows_per_task);
        for orow in o.chunks_exact_mut(n) {
            let [lo, ro] = rows.offsets();
            match (ls, rs) {
                (1, 1) => {
                    for ((o, a), b) in orow.iter_mut().zip(&lhs[lo..lo + n]).zip(&rhs[ro..ro + n]) {
                        *o = T::from_f32(f(a.to_f32(), b.to_f32()));
                    }
                }
                (1, 0) => {
                    let b = rhs[ro].to_f32();
                    for (o, a) in orow.iter_mut().zip(&lhs[lo..lo + n]) {
                        *o = T::from_f32(f(a.to_f32(), b));
                    }
                }
                (0, 1) => {
                    let a = lhs[lo].to_f32();
                    for (o, b) in orow.iter_mut().zip(&rhs[ro..ro + n]) {
                        *o = T::from_f32(f(a, b.to_f32()));
                    }
                }
                _ => {
                    for (j, o) in orow.iter_mut().enumerate() {
                        *o = T::from_f32(f(lhs[lo + j * ls].to_f32(), rhs[ro + j * rs].to_f32()));
                    }
                }
            }
            rows.advance();
        }
    });
}

pub(crate) mod reference {
    use super::{check_binary, check_len};
    use crate::{Binary, Element, Result, Strided, Unary};

    fn sigmoid(x: f64) -> f64 {
        1.0 / (1.0 + (-x).exp())
    }

    pub fn unary<T: Element>(op: Unary, x: &[T], out: &mut [T]) -> Result<()> {
        check_len("unary", x.len(), out.len())?;
        for (o, x) in out.iter_mut().zip(x) {
            let x = x.to_f32() as f64;
            let y = match op {
                Unary::Gelu => 0.5 * x * libm::erfc(-x / std::f64::consts::SQRT_2),
                Unary::GeluTanh => {
                    0.5 * x * (1.0 + ((2.0 / std::f64::consts::PI).sqrt() * (x + 0.044715 * x.powi(3))).tanh())
                }
                Unary::QuickGelu => x * sigmoid(1.702 * x),
                Unary::Silu => x * sigmoid(x),
                Unary::Tanh => x.tanh(),
                Unary::Scale(s) => x * s as f64,
            };
            *o = T::from_f32(y as f32);
        }
        Ok(())
    }

    pub fn binary<T: Element>(op: Binary, lhs: &[T], l: Strided, rhs: &[T], r: Strided, out: &mut [T]) -> Result<()> {
        check_binary(&l, lhs.len(), &r, rhs.len(), out.len())?;
        for (i, o) in out.iter_mut().enumerate() {
            let (a, b) = (lhs[offset(&l, i)].to_f32() as f64, rhs[offset(&r, i)].to_f32() as f64);
            let y = match op {
                Binary::Add => a + b,
                Binary::Sub => a - b,
                Binary::Mul => a * b,
                Binary::Div => a / b,
            };
            *o = T::from_f32(y as f32);
        }
        Ok(())
    }

    /// Offset of the i-th element in row-major order of `s.shape`.
    pub(crate) fn offset(s: &Strided, mut i: usize) -> usize {
        let mut off = s.offset;
        for d in (0..s.shape.len()).rev() {
            off += (i % s.shape[d]) * s.strides[d];
            i /= s.shape[d];
        }
        off
    }
}
