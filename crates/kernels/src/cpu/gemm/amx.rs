//! The bf16 GEMM on AMX tiles (`tdpbf16ps`), and a software model of the
//! tile instructions that runs the same tiling on any CPU.
//!
//! A 32×32 block of C is four 16×16 f32 tiles (tmm0–3). Per chunk of 16
//! slots (32 steps of k, as bf16 pairs), two A tiles hold rows 0–15 and
//! 16–31 (tmm4, tmm5: 16 rows of 16 pairs, 64 bytes each) and two B tiles
//! columns 0–15 and 16–31 (tmm6, tmm7: 16 slots of 16 pairs), and four
//! `tdpbf16ps` add C[m][n] += Σ_s A[m][s].lo·B[s][n].lo + A[m][s].hi·B[s][n].hi.
//!
//! Panels: B is `pairs.rs`'s NR = 32 pair panel (slot s: 32 pairs, 128
//! bytes), so the B tiles load it with a row stride of 128 bytes. A tile row
//! must be one row's 16 slots together, so A panels (MR = 32) are packed in
//! chunks of 16 slots:
//!   panel[(s / 16)·16·32 + r·16 + s % 16] = pair(row r, slot s)
//! and a slab from slot pc (a multiple of 16) starts at pc·32, where the
//! driver puts it for any MR-row panel. Depths are padded to whole chunks
//! with zeros (`Kernel::depth`).

use super::microkernel::{store_tile, Kernel};
#[cfg_attr(not(target_arch = "x86_64"), allow(unused_imports))]
use crate::cpu::isa::{amx_model, isa, Isa};
use crate::{DType, Element, MatLayout};

const MR: usize = 32;
const NR: usize = 32;
/// Slots per tile row: 64 bytes of pairs.
const CHUNK: usize = 16;

/// The AMX kernel where the CPU has AMX (and Linux granted its tiles), or
/// the same tiling on the software model when `set_amx_model` is on.
pub(crate) fn kernel() -> Option<Kernel> {
    #[cfg(target_arch = "x86_64")]
    if isa() == Isa::Amx {
        return Some(Kernel {
            mr: MR,
            nr: NR,
            run: hardware::run,
            pairs: true,
            tiles: true,
            ahead: Some(hardware::ahead),
        });
    }
    if amx_model() {
        return Some(Kernel { mr: MR, nr: NR, run: run_model, pairs: true, tiles: true, ahead: Some(ahead_model) });
    }
    None
}

/// Packs rows [i0, i0 + w) of A (as the k × m operand `l`: element (s, i) =
/// A(i, s)) in chunks of 16 slots, zero past row m and past step k.
#[allow(clippy::too_many_arguments)]
pub(crate) fn pack_a<T: Element>(
    panel: &mut [f32],
    src: &[T],
    l: &MatLayout,
    bi: usize,
    i0: usize,
    m: usize,
    w: usize,
    k: usize,
) {
    let live = w.min(m - i0);
    let slots = panel.len() / w;
    debug_assert!(slots.is_multiple_of(CHUNK) && slots >= k.div_ceil(2));
    let out: &mut [u32] = bytemuck::cast_slice_mut(panel);
    if T::DTYPE == DType::BF16 && l.row_stride == 1 {
        // A's rows run along k in bf16: a tile row is 32 consecutive values of one row,
        // whose little-endian pairs are already the slots, so the pack is a copy.
        // SAFETY: T is bf16 (2 bytes, any bits valid as u16).
        let src = unsafe { std::slice::from_raw_parts(src.as_ptr() as *const u16, src.len()) };
        for c in 0..slots / CHUNK {
            let (k0, k1) = ((2 * c * CHUNK).min(k), (2 * (c + 1) * CHUNK).min(k));
            for r in 0..w {
                let row: &mut [u16] = bytemuck::cast_slice_mut(&mut out[(c * w + r) * CHUNK..][..CHUNK]);
                if r >= live || k0 == k1 {
                    row.fill(0);
                    continue;
                }
                let from = l.at(bi, k0, i0 + r);
                row[..k1 - k0].copy_from_slice(&src[from..from + k1 - k0]);
                row[k1 - k0..].fill(0);
            }
        }
        return;
    }
    let bits = |v: T| half::bf16::from_f32(v.to_f32()).to_bits() as u32;
    let at = |s: usize, r: usize| if s < k { bits(src[l.at(bi, s, i0 + r)]) } else { 0 };
    for c in 0..slots / CHUNK {
        for r in 0..w {
            let row = &mut out[(c * w + r) * CHUNK..][..CHUNK];
            if r >= live {
                row.fill(0);
                continue;
            }
            for (q, v) in row.iter_mut().enumerate() {
                let s = c * CHUNK + q;
                *v = at(2 * s, r) | at(2 * s + 1, r) << 16;
            }
        }
    }
}

/// The tile instructions the kernel uses, on tile registers `T` (0–7), each
/// 16 rows of 64 bytes as `config` sets them.
trait Tiles {
    /// Rows of `stride` bytes from `p` into tile T.
    unsafe fn load<const T: usize>(&mut self, p: *const u8, stride: usize);
    fn zero<const T: usize>(&mut self);
    /// Tile C += A·B over bf16 pairs, summed in f32.
    fn dot<const C: usize, const A: usize, const B: usize>(&mut self);
    /// Tile T's rows to `p`, `stride` bytes apart.
    unsafe fn store<const T: usize>(&self, p: *mut u8, stride: usize);
    /// Asks for the cache line at `p` in L2 (a hint: no access is made).
    fn prefetch(&self, _p: *const u8) {}
}

/// One 32×32 block over `kc` slots (a multiple of 16) with any `Tiles`,
/// prefetching the `lines` cache lines from `next` a few per chunk.
///
/// # Safety
/// A and B panels of `kc` slots laid out as the module says; C valid for a
/// 32×32 strided tile.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
unsafe fn block<X: Tiles>(
    x: &mut X,
    kc: usize,
    a: *const f32,
    b: *const f32,
    c: *mut f32,
    rs: usize,
    cs: usize,
    alpha: f32,
    beta: f32,
    next: *const u8,
    lines: usize,
) {
    let (a, b) = (a as *const u8, b as *const u8);
    let per_chunk = lines.div_ceil(kc / CHUNK);
    // C's rows in place when they are contiguous and need no scaling: its tiles
    // load (beta 1) or start at zero (beta 0) and are stored straight back.
    let direct = cs == 1 && alpha == 1.0 && (beta == 0.0 || beta == 1.0);
    let (cb, crs) = (c as *mut u8, rs * 4);
    let corner = [0, 64, 16 * crs, 16 * crs + 64];
    if direct && beta == 1.0 {
        x.load::<0>(cb.add(corner[0]), crs);
        x.load::<1>(cb.add(corner[1]), crs);
        x.load::<2>(cb.add(corner[2]), crs);
        x.load::<3>(cb.add(corner[3]), crs);
    } else {
        x.zero::<0>();
        x.zero::<1>();
        x.zero::<2>();
        x.zero::<3>();
    }
    for chunk in 0..kc / CHUNK {
        // A: rows 0–15 then 16–31 of this chunk, 64 bytes each; B: slots of 128 bytes.
        let ac = a.add(chunk * CHUNK * MR * 4);
        let bc = b.add(chunk * CHUNK * NR * 4);
        x.load::<4>(ac, 64);
        x.load::<6>(bc, NR * 4);
        x.dot::<0, 4, 6>();
        x.load::<7>(bc.add(64), NR * 4);
        x.dot::<1, 4, 7>();
        x.load::<5>(ac.add(16 * 64), 64);
        x.dot::<2, 5, 6>();
        x.dot::<3, 5, 7>();
        for l in chunk * per_chunk..((chunk + 1) * per_chunk).min(lines) {
            x.prefetch(next.wrapping_add(l * 64));
        }
    }
    if direct {
        x.store::<0>(cb.add(corner[0]), crs);
        x.store::<1>(cb.add(corner[1]), crs);
        x.store::<2>(cb.add(corner[2]), crs);
        x.store::<3>(cb.add(corner[3]), crs);
        return;
    }
    let mut acc = [0f32; MR * NR];
    let out = acc.as_mut_ptr() as *mut u8;
    x.store::<0>(out, NR * 4);
    x.store::<1>(out.add(64), NR * 4);
    x.store::<2>(out.add(16 * NR * 4), NR * 4);
    x.store::<3>(out.add(16 * NR * 4 + 64), NR * 4);
    store_tile(&acc, NR, MR, NR, c, rs, cs, alpha, beta);
}

/// The software model: eight tiles of 16 rows × 64 bytes.
struct Model {
    t: [[[u8; 64]; 16]; 8],
}

impl Tiles for Model {
    unsafe fn load<const T: usize>(&mut self, p: *const u8, stride: usize) {
        for (r, row) in self.t[T].iter_mut().enumerate() {
            std::ptr::copy_nonoverlapping(p.add(r * stride), row.as_mut_ptr(), 64);
        }
    }
    fn zero<const T: usize>(&mut self) {
        self.t[T] = [[0; 64]; 16];
    }
    fn dot<const C: usize, const A: usize, const B: usize>(&mut self) {
        let word = |t: &[[u8; 64]; 16], r: usize, q: usize| {
            u32::from_le_bytes(t[r][4 * q..4 * q + 4].try_into().expect("4 bytes"))
        };
        let half = |w: u32, h: u32| half::bf16::from_bits((w >> (16 * h)) as u16).to_f32();
        let (a, b) = (self.t[A], self.t[B]);
        for m in 0..16 {
            for n in 0..16 {
                let mut acc = f32::from_bits(word(&self.t[C], m, n));
                for s in 0..16 {
                    let (x, y) = (word(&a, m, s), word(&b, s, n));
                    acc += half(x, 0) * half(y, 0) + half(x, 1) * half(y, 1);
                }
                self.t[C][m][4 * n..4 * n + 4].copy_from_slice(&acc.to_bits().to_le_bytes());
            }
        }
    }
    unsafe fn store<const T: usize>(&self, p: *mut u8, stride: usize) {
        for (r, row) in self.t[T].iter().enumerate() {
            std::ptr::copy_nonoverlapping(row.as_ptr(), p.add(r * stride), 64);
        }
    }
}

/// # Safety
/// As `block`.
#[allow(clippy::too_many_arguments)]
unsafe fn run_model(kc: usize, a: *const f32, b: *const f32, c: *mut f32, rs: usize, cs: usize, alpha: f32, beta: f32) {
    ahead_model(kc, a, b, c, rs, cs, alpha, beta, std::ptr::null(), 0);
}

/// # Safety
/// As `block`.
#[allow(clippy::too_many_arguments)]
unsafe fn ahead_model(
    kc: usize,
    a: *const f32,
    b: *const f32,
    c: *mut f32,
    rs: usize,
    cs: usize,
    alpha: f32,
    beta: f32,
    next: *const u8,
    lines: usize,
) {
    block(&mut Model { t: [[[0; 64]; 16]; 8] }, kc, a, b, c, rs, cs, alpha, beta, next, lines);
}

#[cfg(target_arch = "x86_64")]
mod hardware {
    use std::arch::asm;

    use super::{block, Tiles};

    /// The tile configuration: palette 1, eight tiles of 16 rows × 64 bytes.
    #[repr(C, align(64))]
    struct Config {
        palette: u8,
        start_row: u8,
        reserved: [u8; 14],
        colsb: [u16; 16],
        rows: [u8; 16],
    }

    const CONFIG: Config = Config {
        palette: 1,
        start_row: 0,
        reserved: [0; 14],
        colsb: [64, 64, 64, 64, 64, 64, 64, 64, 0, 0, 0, 0, 0, 0, 0, 0],
        rows: [16, 16, 16, 16, 16, 16, 16, 16, 0, 0, 0, 0, 0, 0, 0, 0],
    };

    struct Hardware;

    thread_local! {
        /// Whether this thread's tiles hold `CONFIG`.
        static CONFIGURED: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
    }

    impl Tiles for Hardware {
        unsafe fn load<const T: usize>(&mut self, p: *const u8, stride: usize) {
            asm!("tileloadd tmm{t}, [{p} + {s}*1]", t = const T, p = in(reg) p, s = in(reg) stride, options(nostack));
        }
        fn zero<const T: usize>(&mut self) {
            // SAFETY: the tiles are configured (`run`).
            unsafe { asm!("tilezero tmm{t}", t = const T, options(nomem, nostack)) };
        }
        fn dot<const C: usize, const A: usize, const B: usize>(&mut self) {
            // SAFETY: the tiles are configured (`run`).
            unsafe {
                asm!("tdpbf16ps tmm{c}, tmm{a}, tmm{b}", c = const C, a = const A, b = const B, options(nomem, nostack))
            };
        }
        unsafe fn store<const T: usize>(&self, p: *mut u8, stride: usize) {
            asm!("tilestored [{p} + {s}*1], tmm{t}", t = const T, p = in(reg) p, s = in(reg) stride, options(nostack));
        }
        fn prefetch(&self, p: *const u8) {
            // SAFETY: a prefetch is a hint; it reads nothing and faults on no address.
            unsafe { asm!("prefetcht1 [{p}]", p = in(reg) p, options(nostack, readonly, preserves_flags)) };
        }
    }

    /// # Safety
    /// An AMX CPU whose tile state Linux granted (`Isa::Amx`); as `block`.
    #[allow(clippy::too_many_arguments)]
    pub(super) unsafe fn run(
        kc: usize,
        a: *const f32,
        b: *const f32,
        c: *mut f32,
        rs: usize,
        cs: usize,
        alpha: f32,
        beta: f32,
    ) {
        ahead(kc, a, b, c, rs, cs, alpha, beta, std::ptr::null(), 0);
    }

    /// `run`, prefetching `lines` cache lines from `next` (`block`).
    ///
    /// # Safety
    /// As `run`.
    #[allow(clippy::too_many_arguments)]
    pub(super) unsafe fn ahead(
        kc: usize,
        a: *const f32,
        b: *const f32,
        c: *mut f32,
        rs: usize,
        cs: usize,
        alpha: f32,
        beta: f32,
        next: *const u8,
        lines: usize,
    ) {
        // The configuration stays loaded on this thread from its first block on (nothing
        // else in the process uses the tiles), sparing an ldtilecfg and a tilerelease
        // around every block, which is only a few microseconds of products.
        CONFIGURED.with(|done| {
            if !done.get() {
                asm!("ldtilecfg [{cfg}]", cfg = in(reg) &CONFIG, options(nostack, readonly));
                done.set(true);
            }
        });
        block(&mut Hardware, kc, a, b, c, rs, cs, alpha, beta, next, lines);
    }
}
