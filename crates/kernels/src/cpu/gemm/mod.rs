//! Fast GEMM, `C = alpha·A·B + beta·C` (shapes in `Gemm`), in the BLIS
//! structure: for each k-slab of KC, pack A into MR-row panels and B into
//! NR-column panels (f16/bf16 widened to f32 as they are packed), then cover
//! C with MC×NC tiles, one rayon task each; inside a tile a B panel stays in
//! L1 while the A panels of the tile stream from L2 through the micro-kernel.
//! One-row products go to `gemv`, which streams the weights instead.

mod few_rows;
mod gemv;
pub(crate) mod microkernel;
mod pack;
pub(crate) mod reference;

use std::cell::Cell;

use rayon::prelude::*;

use crate::cpu::isa::SendPtr;
use crate::{DType, Element, Gemm, MatLayout, Result};
use microkernel::{kernel, store_tile, Kernel};
use pack::pack;

/// k-slab depth: a 32-wide B panel of KC steps is 32 KB, within L1.
const KC: usize = 256;
/// Rows of A per tile: 384×256×4 = 384 KB of packed A, within L2.
const MC: usize = 384;
/// Columns of C per tile.
const NC: usize = 512;

pub fn gemm<T: Element>(p: &Gemm, a: &[T], b: &[T], c: &mut [T]) -> Result<()> {
    p.check(a.len(), b.len(), c.len())?;
    if p.batch == 0 || p.m == 0 || p.n == 0 {
        return Ok(());
    }
    if T::DTYPE == DType::F32 {
        // SAFETY: T is f32 (the only Element with DTYPE F32).
        let (a32, b32, c32) = unsafe {
            (
                std::slice::from_raw_parts(a.as_ptr() as *const f32, a.len()),
                std::slice::from_raw_parts(b.as_ptr() as *const f32, b.len()),
                std::slice::from_raw_parts_mut(c.as_mut_ptr() as *mut f32, c.len()),
            )
        };
        if !few_rows::gemm(p, a32, b32, c32) {
            gemm_f32_out(p, a, b, c32);
        }
        return Ok(());
    }
    if T::DTYPE == DType::BF16 {
        // SAFETY: T is bf16 (the only Element with DTYPE BF16).
        let (a16, b16, c16) = unsafe {
            (
                std::slice::from_raw_parts(a.as_ptr() as *const half::bf16, a.len()),
                std::slice::from_raw_parts(b.as_ptr() as *const half::bf16, b.len()),
                std::slice::from_raw_parts_mut(c.as_mut_ptr() as *mut half::bf16, c.len()),
            )
        };
        if few_rows::gemm_bf16(p, a16, b16, c16) {
            return Ok(());
        }
    }
    // f16/bf16 output: accumulate in a dense f32 C, round once at the end.
    let dense = MatLayout::row_major(p.m, p.n);
    let mut stage = vec![0f32; p.batch * p.m * p.n];
    if p.beta != 0.0 {
        for_each_index(p, |bi, i, j| stage[dense.at(bi, i, j)] = c[p.c.at(bi, i, j)].to_f32());
    }
    gemm_f32_out(&Gemm { c: dense, ..*p }, a, b, &mut stage);
    for_each_index(p, |bi, i, j| c[p.c.at(bi, i, j)] = T::from_f32(stage[dense.at(bi, i, j)]));
    Ok(())
}

fn for_each_index(p: &Gemm, mut f: impl FnMut(usize, usize, usize)) {
    for bi in 0..p.batch {
        for i in 0..p.m {
            for j in 0..p.n {
                f(bi, i, j);
            }
        }
    }
}

/// A cache line of f32s: packed panels start on 64-byte boundaries, so no
/// 512-bit load of a B panel straddles two lines.
#[derive(Clone, Copy)]
#[repr(C, align(64))]
struct Line([f32; 16]);

/// A growable f32 buffer aligned to 64 bytes.
#[derive(Default)]
struct Packed(Vec<Line>);

impl Packed {
    fn resize(&mut self, len: usize) -> &mut [f32] {
        self.0.resize(len.div_ceil(16), Line([0.0; 16]));
        // SAFETY: Line is 16 f32s with no padding.
        unsafe { std::slice::from_raw_parts_mut(self.0.as_mut_ptr() as *mut f32, len) }
    }
}

thread_local! {
    /// Packing buffers, kept between calls so packing does not fault in fresh pages.
    static PACKS: Cell<(Packed, Packed)> = Cell::new((Packed::default(), Packed::default()));
}

fn gemm_f32_out<T: Element>(p: &Gemm, a: &[T], b: &[T], c: &mut [f32]) {
    if p.k == 0 {
        for_each_index(p, |bi, i, j| {
            let ci = p.c.at(bi, i, j);
            c[ci] = if p.beta == 0.0 { 0.0 } else { p.beta * c[ci] };
        });
        return;
    }
    if gemv::gemv(p, a, b, c) {
        return;
    }
    let kern = kernel();
    let (mr, nr) = (kern.mr, kern.nr);
    let (mp, np) = (p.m.div_ceil(mr), p.n.div_ceil(nr));
    // Taken, not borrowed: a rayon task of this thread may re-enter gemm.
    let (mut apack, mut bpack) = PACKS.take();
    let cptr = SendPtr(c.as_mut_ptr());
    let small = 2 * p.m * p.n * p.k < (1 << 21);
    for bi in 0..p.batch {
        for pc in (0..p.k).step_by(KC) {
            let kc = KC.min(p.k - pc);
            let apack = apack.resize(mp * mr * kc);
            let bpack = bpack.resize(np * nr * kc);
            let pack_a = |(ip, panel): (usize, &mut [f32])| pack(panel, a, &p.a.t(), bi, pc, ip * mr, p.m, mr);
            let pack_b = |(jp, panel): (usize, &mut [f32])| pack(panel, b, &p.b, bi, pc, jp * nr, p.n, nr);
            if small {
                apack.chunks_mut(mr * kc).enumerate().for_each(pack_a);
                bpack.chunks_mut(nr * kc).enumerate().for_each(pack_b);
            } else {
                apack.par_chunks_mut(mr * kc).enumerate().for_each(pack_a);
                bpack.par_chunks_mut(nr * kc).enumerate().for_each(pack_b);
            }
            let beta = if pc == 0 { p.beta } else { 1.0 };
            // Tiles of nearly equal size, as many as the threads can share evenly.
            let threads = rayon::current_num_threads();
            let gm = mp.div_ceil((MC / mr).max(1));
            let gn = np.div_ceil((NC / nr).max(1));
            let gm = if small { gm } else { gm.div_ceil(threads) * threads }.min(mp);
            let (rows, cols) = (split(mp, gm), split(np, gn));
            let (ap, bp) = (&*apack, &*bpack);
            let run = |t: usize| {
                let (ti, tj) = (t / gn, t % gn);
                for ip in rows(ti)..rows(ti + 1) {
                    for jp in cols(tj)..cols(tj + 1) {
                        // SAFETY: tiles are disjoint and Gemm::check bounded C.
                        unsafe { tile(&kern, p, kc, bi, ip, jp, ap, bp, cptr, beta) };
                    }
                }
            };
            let tiles = gm * gn;
            if small {
                (0..tiles).for_each(run);
            } else {
                (0..tiles).into_par_iter().for_each(run);
            }
        }
    }
    PACKS.set((apack, bpack));
}

/// Splits `panels` into `groups` runs whose lengths differ by at most one:
/// run g is [start(g), start(g + 1)).
fn split(panels: usize, groups: usize) -> impl Fn(usize) -> usize {
    move |g| g * (panels / groups) + g.min(panels % groups)
}

/// One MR×NR block of C from A panel `ip` and B panel `jp`.
///
/// # Safety
/// `c` must cover the C layout of `p`; no other task may write this block.
#[allow(clippy::too_many_arguments)]
unsafe fn tile(
    k: &Kernel,
    p: &Gemm,
    kc: usize,
    bi: usize,
    ip: usize,
    jp: usize,
    ap: &[f32],
    bp: &[f32],
    c: SendPtr<f32>,
    beta: f32,
) {
    let (i0, j0) = (ip * k.mr, jp * k.nr);
    let (mr, nr) = (k.mr.min(p.m - i0), k.nr.min(p.n - j0));
    let a = ap.as_ptr().add(ip * k.mr * kc);
    let b = bp.as_ptr().add(jp * k.nr * kc);
    let cp = c.0.add(p.c.at(bi, i0, j0));
    let (rs, cs) = (p.c.row_stride, p.c.col_stride);
    if mr == k.mr && nr == k.nr {
        (k.run)(kc, a, b, cp, rs, cs, p.alpha, beta);
    } else {
        let mut acc = [0f32; 12 * 32];
        (k.run)(kc, a, b, acc.as_mut_ptr(), k.nr, 1, 1.0, 0.0);
        store_tile(&acc, k.nr, mr, nr, cp, rs, cs, p.alpha, beta);
    }
}
