//! 16-bit outputs of the f32-accumulating GEMM: C (f16/bf16, any layout)
//! is widened into a dense f32 stage when beta reads it, the product runs
//! into the stage, and each element is rounded once, row by row in
//! parallel. The stage is kept between calls (per thread) and not zeroed:
//! beta = 0 never reads it.

use std::cell::Cell;

use rayon::prelude::*;

use crate::cpu::isa::{dispatch_isa, SendPtr};
use crate::{Element, Gemm, MatLayout, Result};

thread_local! {
    static STAGE: Cell<Vec<f32>> = const { Cell::new(Vec::new()) };
}

/// Runs `product` on `p` with C replaced by a dense f32 [batch, m, n] stage,
/// then rounds the stage into `c` (C's extent checked by the caller).
pub(super) fn staged<T: Element>(
    p: &Gemm,
    c: &mut [T],
    product: impl FnOnce(&Gemm, &mut [f32]) -> Result<()>,
) -> Result<()> {
    let dense = Gemm { c: MatLayout::row_major(p.m, p.n), ..*p };
    // Taken, not borrowed: the product's rayon tasks may re-enter a 16-bit GEMM on this thread.
    let mut stage = STAGE.take();
    let (len, m, n) = (p.batch * p.m * p.n, p.m, p.n);
    if stage.len() < len {
        stage.resize(len, 0.0);
    }
    if p.beta != 0.0 {
        stage[..len].par_chunks_mut(n).enumerate().for_each(|(r, row)| {
            row.iter_mut().enumerate().for_each(|(j, s)| *s = c[p.c.at(r / m, r % m, j)].to_f32());
        });
    }
    let out = product(&dense, &mut stage[..len]);
    let cp = SendPtr(c.as_mut_ptr());
    stage[..len].par_chunks(n).enumerate().for_each(|(r, row)| {
        let (bi, i) = (r / m, r % m);
        if p.c.col_stride == 1 {
            // SAFETY: the caller's Gemm::check bounded C and refused aliasing elements, so row
            // (bi, i) is n elements of its own, written by this task alone.
            round_row(row, unsafe { std::slice::from_raw_parts_mut(cp.get().add(p.c.at(bi, i, 0)), n) });
            return;
        }
        for (j, s) in row.iter().enumerate() {
            // SAFETY: as above, element by element.
            unsafe { *cp.get().add(p.c.at(bi, i, j)) = T::from_f32(*s) };
        }
    });
    STAGE.set(stage);
    out
}

// A contiguous row rounded in one vectorised loop (at 2048² the element-by-element
// store, with its index arithmetic, was 8% of a bf16 product).
dispatch_isa!(fn round_row<T: Element>(src: &[f32], dst: &mut [T]) = round_row_body);

#[inline(always)]
fn round_row_body<T: Element>(src: &[f32], dst: &mut [T]) {
    for (d, s) in dst.iter_mut().zip(src) {
        *d = T::from_f32(*s);
    }
}
