//! A B operand packed once and used by many products: a linear layer's
//! weight, packed at load time into the micro-kernel's NR-column panels over
//! the whole depth,
//!   data[jp·K·NR + s·NR + jj] = B(s, jp·NR + jj)     (zero past column N)
//! so that slab [pc, pc + kc) of panel jp is the kc·NR floats from
//! jp·K·NR + pc·NR, laid out exactly as a per-call pack would lay them out.
//!
//! A per-call pack reads a weight [N, K] line by line, a page apart, from
//! memory the first time each product runs: at CLIP's 577 rows that cost half
//! as much time as the micro-kernel (perf, ViT-L/336 encode). Packed once,
//! the kernel streams each panel from contiguous memory.

use rayon::prelude::*;

use super::microkernel::{kernel, Kernel};
use super::pack::pack;
use super::Packed;
use crate::{Element, Error, MatLayout, Result};

/// B [K, N] widened to f32 and packed for this CPU's micro-kernel.
pub struct PackedB {
    data: Packed,
    k: usize,
    n: usize,
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
        let kern = kernel();
        let nr = kern.nr;
        let mut data = Packed::default();
        let panels = data.resize(n.div_ceil(nr) * nr * k);
        if k > 0 {
            panels
                .par_chunks_mut(nr * k)
                .enumerate()
                .for_each(|(jp, panel)| pack(panel, b, layout, 0, 0, jp * nr, n, nr));
        }
        Ok(PackedB { data, k, n, kern })
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
        let (k, n, nr) = (self.k, self.n, self.kern.nr);
        // SAFETY: `new` sized the lines to hold ⌈N/NR⌉·NR·K floats; Line is 16 f32s without padding.
        let data = unsafe { std::slice::from_raw_parts(self.data.0.as_ptr() as *const f32, n.div_ceil(nr) * nr * k) };
        let mut w = vec![0f32; n * k];
        for (j, row) in w.chunks_exact_mut(k.max(1)).enumerate().take(n) {
            let panel = &data[(j / nr) * k * nr..];
            for (s, v) in row.iter_mut().enumerate() {
                *v = panel[s * nr + j % nr];
            }
        }
        w
    }

    /// Slab [pc, pc + kc) of panel `jp`: kc·NR floats.
    pub(super) fn panel(&self, jp: usize, pc: usize) -> *const f32 {
        // SAFETY (of the caller's reads): jp < ⌈N/NR⌉ and pc + kc ≤ K keep kc·NR floats in bounds.
        unsafe { (self.data.0.as_ptr() as *const f32).add(jp * self.kern.nr * self.k + pc * self.kern.nr) }
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
