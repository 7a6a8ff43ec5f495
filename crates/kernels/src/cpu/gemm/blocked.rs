//! The blocked product (BLIS): A and B packed into MR-row and NR-column
//! panels over the whole depth, in chunks that keep a packed operand within
//! PACK_FLOATS; C covered by MC×NC tiles, one rayon task each, which walk
//! the k-slabs of KC through the micro-kernel (`tile`). Shape letters: C is
//! [m, n], the depth k (in slots: steps, or bf16 pairs).

use std::cell::Cell;

use rayon::prelude::*;

use super::microkernel::{kernel, store_tile, Kernel};
use super::pack::pack_for;
use super::{amx, pairs, staged, Epilogue, Operand, PackedB};
use crate::cpu::elementwise::{unary_f32, unary_in_place};
use crate::cpu::isa::SendPtr;
use crate::{DType, Element, Gemm, MatLayout};

/// k-slab depth in slots. Every slab loads and stores each C tile once, so
/// deep slabs: a 12×32 micro-kernel does 24 vector FMAs per 176 bytes it loads,
/// which L2 feeds, so its B panel (128 KB at this depth) need not fit L1.
/// 1024 over 256: +2–5 % in f32 and bf16 at 2048³ and at 577×4096×1024,
/// +7 % on the AVX2 6×16 kernel (EPYC, 2 threads). AMX too: each 32×32
/// block's four C tiles are loaded and stored once a slab, and draining them
/// costs about as much as 8 chunks of products (Xeon, 2026-12-01: 256 → 1024
/// took 2048³ from 930 to 1370 GFLOP/s).
const KC: usize = 1024;
/// Rows of A per tile.
const MC: usize = 384;
/// Most floats a packed operand holds (32 MB); larger ones go in chunks.
const PACK_FLOATS: usize = 8 << 20;
/// Columns of C per tile.
const NC: usize = 512;
/// AMX tiles instead: a tile's A slab of about A_SLAB bytes and NC_TILES
/// columns, so that the slab, a B panel and the tile's f32 block of C stay in
/// L2 (2 MB a core) while each B panel is read once from memory, prefetched
/// during the panel before it (`tile`'s `ahead`). Operands streaming through
/// the tiles from 4 MB run at a fifth of their speed from 1 MB
/// (tools/amx-probe/main.rs). The model of this loop (tools/amx-probe/tile.rs,
/// k = 2048, Xeon, 2026-12-01): 384 × 512 with 1.5 MB of A 1.09 TFLOP/s a
/// core, 256 × 128 1.29, with the prefetch 1.47.
const A_SLAB: usize = 1 << 20;
const NC_TILES: usize = 128;

/// A cache line of f32s: packed panels start on 64-byte boundaries, so no
/// 512-bit load of a B panel straddles two lines.
#[derive(Clone, Copy)]
#[repr(C, align(64))]
struct Line([f32; 16]);

/// A growable f32 buffer aligned to 64 bytes.
#[derive(Default)]
pub(crate) struct Packed(Vec<Line>);

impl Packed {
    /// The first float.
    pub(crate) fn as_ptr(&self) -> *const f32 {
        self.0.as_ptr() as *const f32
    }

    pub(crate) fn resize(&mut self, len: usize) -> &mut [f32] {
        self.0.resize(len.div_ceil(16), Line([0.0; 16]));
        // SAFETY: Line is 16 f32s with no padding.
        unsafe { std::slice::from_raw_parts_mut(self.0.as_mut_ptr() as *mut f32, len) }
    }
}

thread_local! {
    /// Packing buffers, kept between calls so packing does not fault in fresh pages.
    static PACKS: Cell<(Packed, Packed)> = Cell::new((Packed::default(), Packed::default()));
}

/// The packed, blocked product into C of f32, or of f16/bf16 through an f32
/// buffer a block of C (`staged::block`). Gemm::check bounded `c` for `p.c`.
pub(super) fn blocked<T: Element, U: Element>(p: &Gemm, a: &[T], b: Operand<T>, epilogue: Epilogue, cptr: SendPtr<U>) {
    let kern = match b {
        Operand::Packed(b) => b.kern,
        // bf16 operands as bf16 pairs where the CPU has vdpbf16ps.
        Operand::Matrix(_) if T::DTYPE == DType::BF16 => pairs::kernel().unwrap_or_else(kernel),
        Operand::Matrix(_) => kernel(),
    };
    let (mr, nr) = (kern.mr, kern.nr);
    // Panel depth in slots: k steps of f32, or ⌈k/2⌉ pairs of bf16 (in whole chunks for AMX).
    let depth = kern.depth(p.k);
    let (mc, nc) =
        if kern.tiles { ((A_SLAB / (4 * KC.min(depth)) / mr * mr).clamp(2 * mr, 16 * mr), NC_TILES) } else { (MC, NC) };
    // AMX reads A's rows 16 slots at a time (`amx.rs`).
    let pack_a_panel = |panel: &mut [f32], bi: usize, i0: usize| {
        if kern.tiles {
            amx::pack_a(panel, a, &p.a.t(), bi, i0, p.m, mr, p.k)
        } else {
            pack_for(&kern, panel, a, &p.a.t(), bi, i0, p.m, mr, p.k)
        }
    };
    // Taken, not borrowed: a rayon task of this thread may re-enter gemm.
    let (mut apack, mut bpack) = PACKS.take();
    let small = 2 * p.m * p.n * p.k < (1 << 21);
    let threads = rayon::current_num_threads();
    // Operands are packed over their whole depth, so each source line is read
    // once, start to end, and a product costs three fork-joins (pack A, pack
    // B, compute) instead of two per k-slab; rows and columns go in chunks
    // that keep a packed operand within PACK_FLOATS.
    let chunk = |unit: usize| ((PACK_FLOATS / depth) / unit * unit).max(unit);
    let (row_chunk, col_chunk) = (chunk(mr), chunk(nr));
    for bi in 0..p.batch {
        for ic in (0..p.m).step_by(row_chunk) {
            let mp = row_chunk.min(p.m - ic).div_ceil(mr);
            let apack = apack.resize(mp * mr * depth);
            let pack_a = |(ip, panel): (usize, &mut [f32])| pack_a_panel(panel, bi, ic + ip * mr);
            if small {
                apack.chunks_mut(mr * depth).enumerate().for_each(pack_a);
            } else {
                apack.par_chunks_mut(mr * depth).enumerate().for_each(pack_a);
            }
            for jc in (0..p.n).step_by(col_chunk) {
                let np = col_chunk.min(p.n - jc).div_ceil(nr);
                let bpanels = match b {
                    Operand::Matrix(b) => {
                        let bpack = bpack.resize(np * nr * depth);
                        let pack_b = |(g, group): (usize, &mut [f32])| {
                            pack_b_group(&kern, group, b, &p.b, bi, jc + g * GROUP * nr, p.n, p.k, depth)
                        };
                        if small {
                            bpack.chunks_mut(GROUP * nr * depth).enumerate().for_each(pack_b);
                        } else {
                            bpack.par_chunks_mut(GROUP * nr * depth).enumerate().for_each(pack_b);
                        }
                        Panels::Local(bpack.as_ptr())
                    }
                    Operand::Packed(b) => Panels::Packed(b),
                };
                // Tiles of nearly equal size, as many as the threads can share evenly.
                let gm = mp.div_ceil((mc / mr).max(1));
                let gn = np.div_ceil((nc / nr).max(1));
                let gm = if small { gm } else { gm.div_ceil(threads) * threads }.min(mp);
                let (rows, cols) = (split(mp, gm), split(np, gn));
                let ap = SendPtr(apack.as_mut_ptr());
                // The tile's k-slabs into C at `cbase` under layout `cl` (C itself, or a block buffer),
                // `epilogue` applied to each micro-tile.
                let slabs =
                    |r0: usize, r1: usize, c0: usize, c1: usize, cbase: SendPtr<f32>, cl: &Gemm, epilogue: Epilogue| {
                        for pc in (0..depth).step_by(KC) {
                            let kc = KC.min(depth - pc);
                            let beta = if pc == 0 { p.beta } else { 1.0 };
                            let ep = Epilogue {
                                bias: epilogue.bias.filter(|_| pc == 0),
                                act: epilogue.act.filter(|_| pc + kc == depth),
                            };
                            let bpanel = |jp: usize, pc: usize| bpanels.get(jc / nr + jp, jp, nr, depth, pc);
                            // The B panel after this one: the next column's, or the next slab's first.
                            let after = |jp: usize| match (jp + 1 < c1, pc + kc < depth) {
                                (true, _) => Some(bpanel(jp + 1, pc)),
                                (false, true) => Some(bpanel(c0, pc + kc)),
                                (false, false) => None,
                            };
                            // Its cache lines (B slabs are kc·NR slots), a share to each A panel's block.
                            let lines = (kc * nr * 4).div_ceil(64);
                            let share = lines.div_ceil(r1 - r0);
                            // A B panel stays in cache while the tile's A panels stream through.
                            for jp in c0..c1 {
                                // The f32 kernels do not prefetch the next B panel: the hardware's
                                // streams do as well (measured +0-1 % without it). The AMX one does.
                                let next = after(jp).filter(|_| kern.ahead.is_some());
                                for ip in r0..r1 {
                                    let first = (ip - r0) * share;
                                    let ahead = next.map_or((std::ptr::null(), 0), |q| {
                                        (
                                            (q as *const u8).wrapping_add(first * 64),
                                            share.min(lines.saturating_sub(first)),
                                        )
                                    });
                                    // SAFETY: ip < mp panels of k·MR floats were packed; tiles are
                                    // disjoint and Gemm::check bounded C.
                                    unsafe {
                                        let apanel = ap.get().add(ip * mr * depth + pc * mr);
                                        let (ib, jb) = (ic / mr + ip, jc / nr + jp);
                                        let bp = bpanel(jp, pc);
                                        tile(&kern, cl, kc, bi, ib, jb, apanel, bp, cbase, beta, ep, ahead)
                                    };
                                }
                            }
                        }
                    };
                let run = |t: usize| {
                    let (ti, tj) = (t / gn, t % gn);
                    let (r0, r1) = (rows(ti), rows(ti + 1));
                    let (c0, c1) = (cols(tj), cols(tj + 1));
                    if U::DTYPE == DType::F32 {
                        slabs(r0, r1, c0, c1, SendPtr(cptr.get() as *mut f32), p, epilogue);
                        return;
                    }
                    let rows_of = |r: usize| (ic + r * mr).min(p.m);
                    let cols_of = |c: usize| (jc + c * nr).min(p.n);
                    // A 16-bit C takes the bias and activation as its block is rounded: a pass
                    // over rows of NC, not one over each micro-tile's short rows (at CLIP's
                    // 577 rows those took a tenth of the encode).
                    // SAFETY: blocks of C are disjoint between tiles; Gemm::check bounded C.
                    unsafe {
                        let (rows, cols) = ((rows_of(r0), rows_of(r1)), (cols_of(c0), cols_of(c1)));
                        staged::block(p, cptr, bi, rows, cols, epilogue, |base, l| {
                            slabs(r0, r1, c0, c1, base, &Gemm { c: l, ..*p }, Epilogue::default())
                        })
                    };
                };
                let tiles = gm * gn;
                if small {
                    (0..tiles).for_each(run);
                } else {
                    (0..tiles).into_par_iter().for_each(run);
                }
            }
        }
    }
    PACKS.set((apack, bpack));
}

/// Panels of B a packing task takes, and the depth in slots it packs of
/// each before the next when B's rows run along n.
const GROUP: usize = 8;
const GROUP_SLOTS: usize = 64;

/// Packs the consecutive panels in `group` (columns from `j0`, each
/// `depth` slots). A B whose rows run along n (row-major [K, N]) is read a
/// row at a time, so its panels go a depth chunk of every panel in turn:
/// each row is then read GROUP panels wide, not one panel's 64–128 bytes
/// from each of thousands of pages.
#[allow(clippy::too_many_arguments)]
fn pack_b_group<T: Element>(
    kern: &Kernel,
    group: &mut [f32],
    b: &[T],
    l: &MatLayout,
    bi: usize,
    j0: usize,
    n: usize,
    k: usize,
    depth: usize,
) {
    let nr = kern.nr;
    if l.col_stride != 1 || l.row_stride == 1 {
        for (q, panel) in group.chunks_mut(nr * depth).enumerate() {
            pack_for(kern, panel, b, l, bi, j0 + q * nr, n, nr, k);
        }
        return;
    }
    let steps = if kern.pairs { 2 } else { 1 };
    for s0 in (0..depth).step_by(GROUP_SLOTS) {
        let s1 = (s0 + GROUP_SLOTS).min(depth);
        let k0 = (s0 * steps).min(k);
        let sub = MatLayout { offset: l.offset + k0 * l.row_stride, ..*l };
        for (q, panel) in group.chunks_mut(nr * depth).enumerate() {
            pack_for(
                kern,
                &mut panel[s0 * nr..s1 * nr],
                b,
                &sub,
                bi,
                j0 + q * nr,
                n,
                nr,
                (k - k0).min((s1 - s0) * steps),
            );
        }
    }
}

/// Where the B panels of a column chunk are.
#[derive(Clone, Copy)]
enum Panels<'a> {
    /// Packed in this call over the whole depth: the chunk's panel jp at jp·NR·depth.
    Local(*const f32),
    Packed(&'a PackedB),
}

// SAFETY: read-only pointers into buffers that outlive the slab's tasks.
unsafe impl Send for Panels<'_> {}
unsafe impl Sync for Panels<'_> {}

impl Panels<'_> {
    /// Slab pc of the panel that is `global`-th of B and `local`-th of its chunk
    /// (`depth` slots deep).
    fn get(self, global: usize, local: usize, nr: usize, depth: usize, pc: usize) -> *const f32 {
        match self {
            // SAFETY: the chunk's panels of NR·depth slots were packed.
            Panels::Local(base) => unsafe { base.add(local * nr * depth + pc * nr) },
            Panels::Packed(b) => b.panel(global, pc),
        }
    }
}

/// Splits `panels` into `groups` runs whose lengths differ by at most one:
/// run g is [start(g), start(g + 1)).
fn split(panels: usize, groups: usize) -> impl Fn(usize) -> usize {
    move |g| g * (panels / groups) + g.min(panels % groups)
}

/// One MR×NR block of C, row block `ip` and column block `jp`, from the A
/// panel `a` and the B panel `b`; a kernel with `ahead` prefetches the
/// `ahead.1` lines from `ahead.0` meanwhile.
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
    a: *const f32,
    b: *const f32,
    c: SendPtr<f32>,
    beta: f32,
    epilogue: Epilogue,
    (next, lines): (*const u8, usize),
) {
    let (i0, j0) = (ip * k.mr, jp * k.nr);
    let run = |c: *mut f32, rs: usize, cs: usize, alpha: f32, beta: f32| match k.ahead {
        Some(f) => f(kc, a, b, c, rs, cs, alpha, beta, next, lines),
        None => (k.run)(kc, a, b, c, rs, cs, alpha, beta),
    };
    let (mr, nr) = (k.mr.min(p.m - i0), k.nr.min(p.n - j0));
    // Wrapping: a block buffer's base may lie before the buffer (staged::block).
    let cp = c.0.wrapping_add(p.c.at(bi, i0, j0));
    let (rs, cs) = (p.c.row_stride, p.c.col_stride);
    if mr == k.mr && nr == k.nr {
        run(cp, rs, cs, p.alpha, beta);
    } else {
        let mut acc = [0f32; 32 * 32];
        run(acc.as_mut_ptr(), k.nr, 1, 1.0, 0.0);
        store_tile(&acc, k.nr, mr, nr, cp, rs, cs, p.alpha, beta);
    }
    if let Some(bias) = epilogue.bias {
        let bias = &bias[j0..j0 + nr];
        for i in 0..mr {
            if cs == 1 {
                let row = std::slice::from_raw_parts_mut(cp.add(i * rs), nr);
                row.iter_mut().zip(bias).for_each(|(x, b)| *x += b);
            } else {
                for (j, b) in bias.iter().enumerate() {
                    *cp.add(i * rs + j * cs) += b;
                }
            }
        }
    }
    if let Some(op) = epilogue.act {
        for i in 0..mr {
            if cs == 1 {
                unary_in_place(op, std::slice::from_raw_parts_mut(cp.add(i * rs), nr));
            } else {
                for j in 0..nr {
                    let x = cp.add(i * rs + j * cs);
                    *x = unary_f32(op, *x);
                }
            }
        }
    }
}
