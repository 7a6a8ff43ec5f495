//! A B operand packed once and used by many products: a linear layer's
//! weight, packed at load time into the micro-kernel's NR-column panels over
//! the whole depth,
//!   data[jp·K·NR + s·NR + jj] = B(s, jp·NR + jj)     (zero past column N)
//! so that slab [pc, pc + kc) of panel jp is the kc·NR floats from
//! jp·K·NR + pc·NR, laid out exactly as a per-call pack would lay them out.
//!
//! A bf16 weight on a CPU with AVX512-BF16 is packed as bf16 pairs instead
//! (`pairs.rs`), ⌈K/2⌉ slots deep, for the `vdpbf16ps` kernel.
//!
//! A per-call pack reads a weight [N, K] line by line, a page apart, from
//! memory the first time each product runs: at CLIP's 577 rows that cost half
//! as much time as the micro-kernel (perf, ViT-L/336 encode). Packed once,
//! the kernel streams each panel from contiguous memory.

use rayon::prelude::*;

use super::blocked::Packed;
use super::microkernel::{kernel, Kernel};
use super::pack::pack_for;
use super::pairs;
use crate::{DType, Element, Error, MatLayout, Result};

/// B [K, N] packed for this CPU's micro-kernel: widened to f32, or as bf16
/// pairs (a bf16 B where the CPU has AVX512-BF16).
pub struct PackedB {
    data: Packed,
    k: usize,
    n: usize,
    /// Slots per panel column: K, or ⌈K/2⌉ pairs.
    depth: usize,
    /// The micro-kernel the panels are laid out for; products with this B
    /// run on it even if the instruction set is capped after packing.
    pub(super) kern: Kernel,
}

impl PackedB {
    /// Packs B [k, n] as `layout` describes it (batch 0). A weight [N, K] as
    /// F.linear takes it is `MatLayout::row_major(n, k).t()`.
    pub fn new<T: Element>(b: &[T], layout: &MatLayout, k: usize, n: usize) -> Result<PackedB> {
        crate::error::check_extent(
            "pack_b",
            "b",
            b.len(),
            layout.offset,
            &[(k, layout.row_stride), (n, layout.col_stride)],
        )?;
        let pairs = if T::DTYPE == DType::BF16 { pairs::kernel() } else { None };
        let kern = pairs.unwrap_or_else(kernel);
        let nr = kern.nr;
        let depth = kern.depth(k);
        let mut data = Packed::default();
        let panels = data.resize(n.div_ceil(nr) * nr * depth);
        if k > 0 {
            panels
                .par_chunks_mut(nr * depth)
                .enumerate()
                .for_each(|(jp, panel)| pack_for(&kern, panel, b, layout, 0, jp * nr, n, nr, k));
        }
        Ok(PackedB { data, k, n, depth, kern })
    }

    pub fn k(&self) -> usize {
        self.k
    }

    pub fn n(&self) -> usize {
        self.n
    }

    /// The weight back as F.linear stores it, [N, K] row-major: W[j, s] =
    /// B(s, j) from panel j / NR (training updates a plain weight).
    pub fn unpack(&self) -> Vec<f32> {
        let (k, n, nr, depth) = (self.k, self.n, self.kern.nr, self.depth);
        // SAFETY: `new` sized the lines to hold ⌈N/NR⌉·NR·depth slots; Line is 16 f32s without padding.
        let data = unsafe { std::slice::from_raw_parts(self.data.as_ptr(), n.div_ceil(nr) * nr * depth) };
        let mut w = vec![0f32; n * k];
        for (j, row) in w.chunks_exact_mut(k.max(1)).enumerate().take(n) {
            let panel = &data[(j / nr) * depth * nr..];
            for (s, v) in row.iter_mut().enumerate() {
                *v = if self.kern.pairs {
                    let pair = panel[(s / 2) * nr + j % nr].to_bits();
                    half::bf16::from_bits((pair >> (16 * (s % 2))) as u16).to_f32()
                } else {
                    panel[s * nr + j % nr]
                };
            }
        }
        w
    }

    /// Slab [pc, pc + kc) of panel `jp`: kc·NR slots.
    pub(super) fn panel(&self, jp: usize, pc: usize) -> *const f32 {
        // SAFETY (of the caller's reads): jp < ⌈N/NR⌉ and pc + kc ≤ depth keep kc·NR slots in bounds.
        unsafe { self.data.as_ptr().add(jp * self.kern.nr * self.depth + pc * self.kern.nr) }
    }

    /// Errors unless a product [m, k]·[k, n] (every batch shares B) fits the
    /// packed operand.
    pub(super) fn check(&self, m: usize, k: usize, n: usize) -> Result<()> {
        if (k, n) != (self.k, self.n) {
            return Err(Error::Shape {
                op: "gemm_packed",
                msg: format!("B packed as [{}, {}] cannot serve [{m}, {k}]·[{k}, {n}]", self.k, self.n),
            });
        }
        Ok(())
    }
}
