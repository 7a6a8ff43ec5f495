//! 16-bit outputs of the f32-accumulating GEMM. The blocked product sums
//! each MC×NC block of C in an f32 buffer of its own (`block`: widened
//! from C when beta reads it) and rounds it into C once, after its last
//! k-slab, while it is still in cache. The other paths (no depth, one row
//! or column, deeper than K_SPLIT) run into a dense f32 stage of the whole
//! C (`staged`), rounded row by row in parallel. Buffers are kept between
//! calls (per thread) and not zeroed: beta = 0 never reads them.

use std::cell::Cell;

use rayon::prelude::*;

use super::Epilogue;
use crate::cpu::elementwise::unary_in_place;
use crate::cpu::isa::{dispatch_isa, SendPtr};
use crate::{Element, Gemm, MatLayout, Result};

thread_local! {
    static STAGE: Cell<Vec<f32>> = const { Cell::new(Vec::new()) };
    static BLOCK: Cell<Vec<f32>> = const { Cell::new(Vec::new()) };
}

/// Runs `product` on an f32 buffer standing for rows [i0, i1) and columns
/// [j0, j1) of batch `bi` of C, then adds the epilogue's bias, applies its
/// activation and rounds the buffer into C, row by row. `product`
/// gets a base pointer and a dense layout under which element (i, j) of
/// the block is at `base + i·w + j` (w = j1 − j0; addresses outside the
/// block are never formed into accesses).
///
/// # Safety
/// `c` covers `p.c` (checked by the caller, no aliasing elements); no other
/// task touches this block of C.
pub(super) unsafe fn block<U: Element>(
    p: &Gemm,
    c: SendPtr<U>,
    bi: usize,
    (i0, i1): (usize, usize),
    (j0, j1): (usize, usize),
    epilogue: Epilogue,
    product: impl FnOnce(SendPtr<f32>, MatLayout),
) {
    let w = j1 - j0;
    let mut buf = BLOCK.take();
    if buf.len() < (i1 - i0) * w {
        buf.resize((i1 - i0) * w, 0.0);
    }
    let at = |i: usize, j: usize| c.get().add(p.c.at(bi, i, j));
    if p.beta != 0.0 {
        for i in i0..i1 {
            for (jj, s) in buf[(i - i0) * w..][..w].iter_mut().enumerate() {
                *s = (*at(i, j0 + jj)).to_f32();
            }
        }
    }
    let dense = MatLayout { offset: 0, batch_stride: 0, row_stride: w, col_stride: 1 };
    product(SendPtr(buf.as_mut_ptr().wrapping_sub(i0 * w + j0)), dense);
    for i in i0..i1 {
        let row = &mut buf[(i - i0) * w..][..w];
        if let Some(bias) = epilogue.bias {
            row.iter_mut().zip(&bias[j0..j1]).for_each(|(x, b)| *x += b);
        }
        if let Some(op) = epilogue.act {
            unary_in_place(op, row);
        }
        put_row(p, c, bi, i, j0, row);
    }
    BLOCK.set(buf);
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
        // SAFETY: the caller's Gemm::check bounded C and refused aliasing elements, so row
        // (r / m, r % m) is n elements of its own, written by this task alone.
        unsafe { put_row(p, cp, r / m, r % m, 0, row) };
    });
    STAGE.set(stage);
    out
}

/// Rounds `row` into C's row `i` of batch `bi` from column `j0`.
///
/// # Safety
/// `c` covers `p.c`; no other task writes these elements.
unsafe fn put_row<T: Element>(p: &Gemm, c: SendPtr<T>, bi: usize, i: usize, j0: usize, row: &[f32]) {
    let at = |j: usize| c.get().add(p.c.at(bi, i, j));
    if p.c.col_stride == 1 {
        round_row(row, std::slice::from_raw_parts_mut(at(j0), row.len()));
    } else {
        for (jj, s) in row.iter().enumerate() {
            *at(j0 + jj) = T::from_f32(*s);
        }
    }
}

// A contiguous row rounded in one vectorised loop (at 2048² the element-by-element
// store, with its index arithmetic, was 8% of a bf16 product).
dispatch_isa!(pub(crate) fn round_row<T: Element>(src: &[f32], dst: &mut [T]) = round_row_body);

#[inline(always)]
fn round_row_body<T: Element>(src: &[f32], dst: &mut [T]) {
    for (d, s) in dst.iter_mut().zip(src) {
        *d = T::from_f32(*s);
    }
}
