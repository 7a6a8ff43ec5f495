//! Backward of the unary ops: dx = dy · f′(x), elementwise over dense
//! buffers of one length.
//!   gelu (erf)  f′ = Φ(x) + x·φ(x)
//!   gelu_tanh   u = c·(x + 0.044715x³), t = tanh u:
//!               f′ = ½(1 + t) + ½x·(1 − t²)·c·(1 + 3·0.044715x²)
//!   quick_gelu  s = σ(1.702x): f′ = s + 1.702x·s(1 − s)
//!   silu        s = σ(x): f′ = s·(1 + x(1 − s))
//!   tanh        f′ = 1 − tanh²x
//!   scale(a)    f′ = a

use rayon::prelude::*;

use crate::cpu::isa::dispatch_isa;

use crate::{Element, Error, Result, Unary};

/// Elements per rayon task.
const CHUNK: usize = 1 << 14;

const C: f64 = 0.797_884_560_802_865_4; // √(2/π)

/// f′(x) in f64 (the reference; the fast kernel evaluates the same in f32).
fn derivative(op: Unary, x: f64) -> f64 {
    let sigmoid = |v: f64| 1.0 / (1.0 + (-v).exp());
    match op {
        Unary::Gelu => {
            let cdf = 0.5 * libm::erfc(-x * std::f64::consts::FRAC_1_SQRT_2);
            cdf + x * (-0.5 * x * x).exp() / (2.0 * std::f64::consts::PI).sqrt()
        }
        Unary::GeluTanh => {
            let t = (C * (x + 0.044_715 * x * x * x)).tanh();
            0.5 * (1.0 + t) + 0.5 * x * (1.0 - t * t) * C * (1.0 + 3.0 * 0.044_715 * x * x)
        }
        Unary::QuickGelu => {
            let s = sigmoid(1.702 * x);
            s + 1.702 * x * s * (1.0 - s)
        }
        Unary::Silu => {
            let s = sigmoid(x);
            s * (1.0 + x * (1.0 - s))
        }
        Unary::Tanh => 1.0 - x.tanh().powi(2),
        Unary::Scale(a) => a as f64,
    }
}

/// f′(x) in f32.
#[inline(always)]
fn derivative_f32(op: Unary, x: f32) -> f32 {
    let sigmoid = |v: f32| 1.0 / (1.0 + crate::cpu::math::exp(-v));
    match op {
        Unary::Gelu => {
            let cdf = 0.5 * crate::cpu::math::erfc(-x * std::f32::consts::FRAC_1_SQRT_2);
            cdf + x * crate::cpu::math::exp(-0.5 * x * x) * 0.398_942_3
        }
        Unary::GeluTanh => {
            let c = C as f32;
            let t = (c * (x + 0.044_715 * x * x * x)).tanh();
            0.5 * (1.0 + t) + 0.5 * x * (1.0 - t * t) * c * (1.0 + 3.0 * 0.044_715 * x * x)
        }
        Unary::QuickGelu => {
            let s = sigmoid(1.702 * x);
            s + 1.702 * x * s * (1.0 - s)
        }
        Unary::Silu => {
            let s = sigmoid(x);
            s * (1.0 + x * (1.0 - s))
        }
        Unary::Tanh => {
            let t = x.tanh();
            1.0 - t * t
        }
        Unary::Scale(a) => a,
    }
}

pub(crate) fn check(x: usize, dy: usize, dx: usize) -> Result<()> {
    if x != dy || x != dx {
        return Err(Error::Shape { op: "unary_backward", msg: format!("x {x}, dy {dy} and dx {dx} elements") });
    }
    Ok(())
}

pub fn unary_backward<T: Element>(op: Unary, x: &[T], dy: &[T], dx: &mut [T]) -> Result<()> {
    check(x.len(), dy.len(), dx.len())?;
    dx.par_chunks_mut(CHUNK)
        .zip(x.par_chunks(CHUNK))
        .zip(dy.par_chunks(CHUNK))
        .for_each(|((o, x), d)| backward_chunk(op, x, d, o));
    Ok(())
}

// Compiled per instruction set, one loop per op so that each vectorises: in a
// rayon closure built for baseline x86-64, GELU's erfc and exp ran a lane at a
// time (a fifth of a training step of Mllama's encoder, 2026-12-06).
dispatch_isa!(fn backward_chunk<T: Element>(op: Unary, x: &[T], dy: &[T], dx: &mut [T]) = backward_chunk_body);

#[inline(always)]
fn backward_chunk_body<T: Element>(op: Unary, x: &[T], dy: &[T], dx: &mut [T]) {
    // `op` a constant in each arm, so that `derivative_f32` (inlined, not a
    // closure, which LLVM left out of line for GELU) folds to one body.
    #[inline(always)]
    fn each<T: Element>(op: Unary, x: &[T], dy: &[T], dx: &mut [T]) {
        for ((o, x), d) in dx.iter_mut().zip(x).zip(dy) {
            *o = T::from_f32(d.to_f32() * derivative_f32(op, x.to_f32()));
        }
    }
    match op {
        Unary::Gelu => each(Unary::Gelu, x, dy, dx),
        Unary::GeluTanh => each(Unary::GeluTanh, x, dy, dx),
        Unary::QuickGelu => each(Unary::QuickGelu, x, dy, dx),
        Unary::Silu => each(Unary::Silu, x, dy, dx),
        Unary::Tanh => each(Unary::Tanh, x, dy, dx),
        Unary::Scale(a) => each(Unary::Scale(a), x, dy, dx),
    }
}

pub(crate) mod reference {
    use super::{check, derivative};
    use crate::{Element, Result, Unary};

    pub fn unary_backward<T: Element>(op: Unary, x: &[T], dy: &[T], dx: &mut [T]) -> Result<()> {
        check(x.len(), dy.len(), dx.len())?;
        for ((o, x), d) in dx.iter_mut().zip(x).zip(dy) {
            *o = T::from_f32((d.to_f32() as f64 * derivative(op, x.to_f32() as f64)) as f32);
        }
        Ok(())
    }
}
