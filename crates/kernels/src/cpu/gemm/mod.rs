//! Fast GEMM, `C = alpha·A·B + beta·C` (shapes in `Gemm`), in the BLIS
//! structure: pack A into MR-row panels and B into NR-column panels over the
//! whole depth (f16/bf16 widened to f32 as they are packed; rows and columns
//! in chunks that keep a packed operand within 32 MB), then cover C with
//! MC×NC tiles, one rayon task each, which walk the k-slabs of KC; inside a
//! tile a B panel stays in cache while the tile's A panels stream through
//! the micro-kernel (`blocked.rs`). A 16-bit C is summed in f32, a tile's
//! block at a time, and rounded once (`staged.rs`). A B packed beforehand (`PackedB`, a Linear's
//! weight) skips its packing, and its products can end in an `Epilogue`
//! (bias, activation) applied to each tile while it is in cache. With
//! AVX512-BF16, bf16 operands are packed as bf16 pairs instead and run on
//! `vdpbf16ps` (`pairs.rs`): half the bytes per panel, twice the steps per
//! instruction.
//! One-row products go to `gemv`, which streams the weights instead; 2–128
//! rows against a k-contiguous weight go to `few_rows`, unpacked.

mod amx;
mod blocked;
mod few_rows;
mod gemv;
pub(crate) mod microkernel;
pub(crate) mod pack;
pub(crate) mod pairs;
mod prepacked;
pub(crate) mod reference;
mod staged;

use crate::cpu::elementwise::unary_f32;
use crate::cpu::isa::SendPtr;
use crate::{DType, Element, Gemm, MatLayout, Result, Unary};
use blocked::blocked;
pub(crate) use blocked::Packed;
pub use prepacked::PackedB;
pub(crate) use staged::round_row;

/// Deepest product run in one piece: deeper ones (a LM head's backward,
/// K = 128256) go in slices of this depth accumulated onto C, so the packed
/// operands keep their row and column chunks wide (whole-depth packing of a
/// deep product shrank them to a few dozen columns; 2.5× slower measured).
const K_SPLIT: usize = 4096;

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
            gemm_f32_out(p, a, Operand::Matrix(b), Epilogue::default(), c32);
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
    // f16/bf16 output: accumulated in f32, rounded once.
    gemm_half_out(p, a, Operand::Matrix(b), Epilogue::default(), c);
    Ok(())
}

/// What a product does to each tile of C while the tile is still in L1: add
/// a bias [n] to every row after the first k-slab, then apply an activation
/// after the last. A Linear's bias and activation then cost no pass over C.
#[derive(Clone, Copy, Default)]
pub struct Epilogue<'a> {
    pub bias: Option<&'a [f32]>,
    pub act: Option<Unary>,
}

/// `C = act(alpha·A·B + beta·C + bias)` with B packed beforehand
/// (`PackedB`); `p.b` is not read. Every batch uses the same B.
/// A of f32 or bf16 (rounded to bf16 when B holds bf16 pairs).
pub fn gemm_packed<T: Element>(p: &Gemm, a: &[T], b: &PackedB, epilogue: Epilogue, c: &mut [f32]) -> Result<()> {
    b.check(p.m, p.k, p.n)?;
    if let Some(bias) = epilogue.bias {
        crate::error::check_extent("gemm_packed", "bias", bias.len(), 0, &[(p.n, 1)])?;
    }
    let bl = MatLayout { offset: 0, batch_stride: 0, row_stride: 0, col_stride: 0 };
    Gemm { b: bl, ..*p }.check(a.len(), 1, c.len())?;
    if p.batch == 0 || p.m == 0 || p.n == 0 {
        return Ok(());
    }
    gemm_f32_out(p, a, Operand::Packed(b), epilogue, c);
    Ok(())
}

/// `gemm_packed` with bf16 rows and a bf16 C: the product, beta·C, the
/// bias and the activation summed in f32 and rounded once, as the widening
/// path does.
pub fn gemm_packed_bf16(
    p: &Gemm,
    a: &[half::bf16],
    b: &PackedB,
    epilogue: Epilogue,
    c: &mut [half::bf16],
) -> Result<()> {
    b.check(p.m, p.k, p.n)?;
    if let Some(bias) = epilogue.bias {
        crate::error::check_extent("gemm_packed_bf16", "bias", bias.len(), 0, &[(p.n, 1)])?;
    }
    let bl = MatLayout { offset: 0, batch_stride: 0, row_stride: 0, col_stride: 0 };
    Gemm { b: bl, ..*p }.check(a.len(), 1, c.len())?;
    if p.batch > 0 && p.m > 0 && p.n > 0 {
        gemm_half_out(p, a, Operand::Packed(b), epilogue, c);
    }
    Ok(())
}

/// A 16-bit C (extents checked): the blocked product rounds each block of
/// C from an f32 buffer after its last k-slab (`staged::block`); the other
/// paths run into an f32 stage of the whole C.
fn gemm_half_out<T: Element, U: Element>(p: &Gemm, a: &[T], b: Operand<T>, epilogue: Epilogue, c: &mut [U]) {
    let matrix = matches!(b, Operand::Matrix(_));
    if p.k == 0 || matrix && (p.k > K_SPLIT || p.m == 1 || p.n == 1) {
        let _ = staged::staged(p, c, |d, stage| {
            gemm_f32_out(d, a, b, epilogue, stage);
            Ok(())
        });
        return;
    }
    blocked(p, a, b, epilogue, SendPtr(c.as_mut_ptr()));
}

/// Where B comes from: a matrix packed slab by slab in the call, or panels
/// packed once before it.
#[derive(Clone, Copy)]
enum Operand<'a, T> {
    Matrix(&'a [T]),
    Packed(&'a PackedB),
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

fn gemm_f32_out<T: Element>(p: &Gemm, a: &[T], b: Operand<T>, epilogue: Epilogue, c: &mut [f32]) {
    if p.k == 0 {
        for_each_index(p, |bi, i, j| {
            let ci = p.c.at(bi, i, j);
            let v = if p.beta == 0.0 { 0.0 } else { p.beta * c[ci] } + epilogue.bias.map_or(0.0, |b| b[j]);
            c[ci] = epilogue.act.map_or(v, |op| unary_f32(op, v));
        });
        return;
    }
    if let Operand::Matrix(b) = b {
        if gemv::gemv(p, a, b, c) {
            return;
        }
        if p.k > K_SPLIT {
            // C = alpha·A·B + beta·C as slices of the depth; the bias and
            // activation with the last.
            let mut k0 = 0;
            while k0 < p.k {
                let kc = K_SPLIT.min(p.k - k0);
                let last = k0 + kc == p.k;
                let sub = Gemm {
                    k: kc,
                    beta: if k0 == 0 { p.beta } else { 1.0 },
                    a: MatLayout { offset: p.a.offset + k0 * p.a.col_stride, ..p.a },
                    b: MatLayout { offset: p.b.offset + k0 * p.b.row_stride, ..p.b },
                    ..*p
                };
                gemm_f32_out(&sub, a, Operand::Matrix(b), if last { epilogue } else { Epilogue::default() }, c);
                k0 += kc;
            }
            return;
        }
    }
    blocked(p, a, b, epilogue, SendPtr(c.as_mut_ptr()));
}
