//! Flash-style attention on the CPU: one rayon task per (b, key/value head,
//! block of query rows of every head in its group); keys in blocks with an
//! online softmax, so no Tq×Tk matrix exists. Per key block, with m the
//! running max and l the running sum:
//!   s_j = scale·q·k_j + mask_j
//!   m' = max(m, max_j s_j);  c = e^(m − m');  p_j = e^(s_j − m')
//!   l' = c·l + Σ p_j;        acc' = c·acc + Σ p_j·v_j
//! and out = acc / l at the end. Blocks of TILED_ROWS rows or more run on the
//! GEMM micro-kernel (tiled.rs); smaller ones (decode, GQA groups of up to
//! 7 heads included) stay here, reading K and V where they lie
//! (`query_block_body`).

use rayon::prelude::*;

use super::tiled::{attention_kernel, pack_kv, KvSource, PackedKv};
use crate::cpu::gemm::round_row;
use crate::cpu::isa::{dispatch_isa, SendPtr};
use crate::cpu::math::{exp, exp_sum, max};
use crate::{Attention, Element, Mask, Result};

/// Query rows per task: four 12-row panels on AVX-512, so each packed key
/// block serves 48 rows; two 32-row panels on the AMX tiles.
const BQ: usize = 48;
const BQ_TILES: usize = 64;
/// Fewer rows than this a block (decode: a GQA group's heads, one row each)
/// take the few-row path: on the micro-kernel's 12-row panels 4 rows paid for
/// 12 and for packing K and V (decode over 4096 keys, 4 heads a group, bf16,
/// 2 threads: 3.1 ms, 1.4 on the few-row path with the group together).
const TILED_ROWS: usize = 8;

pub fn attention<T: Element>(p: &Attention, q: &[T], k: &[T], v: &[T], mask: Mask, o: &mut [T]) -> Result<()> {
    p.check(q.len(), k.len(), v.len(), o.len(), mask.map(<[f32]>::len, <[u8]>::len))?;
    if p.b * p.h * p.tq * p.d == 0 {
        return Ok(());
    }
    // A task takes one key/value head with all the query heads that read it
    // (GQA), so each key block is loaded once per group: nq query rows per
    // head, group·nq rows in all, head-major.
    let group = p.h / p.hkv;
    let bq = if attention_kernel::<T>().tiles { BQ_TILES } else { BQ };
    // Blocks of equal size: 577 rows as 10 of 58, not 9 of 64 and one row.
    let per_head = (bq / group).max(1);
    let blocks = p.tq.div_ceil(per_head);
    let per_head = p.tq.div_ceil(blocks);
    let out = SendPtr(o.as_mut_ptr());
    // Blocks of TILED_ROWS rows or more run on the micro-kernel; when four or
    // more blocks read a head, its K/V are packed once for all of them (two or
    // three, e.g. 64 text rows over 6404 image tokens, pack block by block).
    let tiled = group * per_head.min(p.tq) >= TILED_ROWS;
    let prepack = tiled && blocks >= 4;
    let packed: Vec<PackedKv> = if prepack {
        (0..p.b * p.hkv).into_par_iter().map(|bg| pack_kv(p, k, v, bg / p.hkv, bg % p.hkv)).collect()
    } else {
        Vec::new()
    };
    (0..p.b * p.hkv * blocks).into_par_iter().for_each(|task| {
        let (bg, qb) = (task / blocks, task % blocks);
        let (b, kh) = (bg / p.hkv, bg % p.hkv);
        let q0 = qb * per_head;
        let nq = per_head.min(p.tq - q0);
        let mut acc = vec![0f32; group * nq * p.d];
        if tiled && group * nq >= TILED_ROWS {
            let kv = if prepack { KvSource::Packed(&packed[bg]) } else { KvSource::Raw { k, v } };
            group_block(p, q, kv, mask, b, kh, q0, nq, &mut acc);
        } else {
            query_block(p, q, k, v, mask, b, kh, q0, nq, &mut acc);
        }
        for (r, row) in acc.chunks(p.d).enumerate() {
            let or = p.o.row(b, kh * group + r / nq, q0 + r % nq);
            // SAFETY: Attention::check bounded O; tasks own disjoint rows.
            round_row(row, unsafe { std::slice::from_raw_parts_mut(out.get().add(or), p.d) });
        }
    });
    Ok(())
}

dispatch_isa!(fn group_block<T: Element>(
    p: &Attention, q: &[T], kv: KvSource<T>, mask: Mask, b: usize, kh: usize, q0: usize, nq: usize, out: &mut [f32]
) = super::tiled::query_block_tiled);

dispatch_isa!(fn query_block<T: Element>(
    p: &Attention, q: &[T], k: &[T], v: &[T], mask: Mask, b: usize, kh: usize, q0: usize, nq: usize, out: &mut [f32]
) = query_block_body);

/// Keys a chunk on the few-row path: a row's scores (4 KB) stay in L1.
const CHUNK: usize = 1024;

/// Attention for query rows [q0, q0 + nq) of every head reading key/value
/// head (b, kh), into `out` [group·nq, D] head-major: the few-row path
/// (decode). K and V are read where they lie, widened to f32 in registers,
/// in chunks of CHUNK keys: each row's scores of a chunk, its softmax
/// (`exp_sum`), then its weighted sum of V rows. The chunk is the outer loop,
/// so a GQA group's heads find its K and V in L2.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn query_block_body<T: Element>(
    p: &Attention,
    q: &[T],
    k: &[T],
    v: &[T],
    mask: Mask,
    b: usize,
    kh: usize,
    q0: usize,
    nq: usize,
    out: &mut [f32],
) {
    let d = p.d;
    let rows = out.len() / d;
    // Row r: query row q0 + r % nq of head kh·group + r / nq.
    let at = |r: usize| (kh * (p.h / p.hkv) + r / nq, q0 + r % nq);
    // Keys past the last row's causal limit are never seen by this block.
    let kend = super::visible(p, q0 + nq - 1, 0, p.tk);
    let mut qs = vec![0f32; rows * d];
    for r in 0..rows {
        let (h, i) = at(r);
        let qr = p.q.row(b, h, i);
        for (x, y) in qs[r * d..(r + 1) * d].iter_mut().zip(&q[qr..qr + d]) {
            *x = y.to_f32() * p.scale;
        }
    }
    let mut s = vec![0f32; CHUNK.min(kend)];
    let mut m = vec![f32::NEG_INFINITY; rows];
    let mut l = vec![0f32; rows];
    out.fill(0.0);
    for k0 in (0..kend).step_by(CHUNK) {
        let bk = CHUNK.min(kend - k0);
        for r in 0..rows {
            let (h, i) = at(r);
            let s = &mut s[..bk];
            let limit = super::visible(p, i, k0, bk);
            scores(s, &qs[r * d..(r + 1) * d], k, limit, |j| p.k.row(b, kh, k0 + j));
            super::mask_row(s, limit, mask, b, h, i, k0);
            let mb = max(s);
            if mb == f32::NEG_INFINITY {
                continue;
            }
            let m_new = m[r].max(mb);
            let corr = exp(m[r] - m_new);
            l[r] = l[r] * corr + exp_sum(s, 1.0, m_new);
            m[r] = m_new;
            let acc = &mut out[r * d..(r + 1) * d];
            if corr != 1.0 {
                acc.iter_mut().for_each(|x| *x *= corr);
            }
            accumulate(acc, &s[..limit], v, |j| p.v.row(b, kh, k0 + j));
        }
    }
    for r in 0..rows {
        let inv = if l[r] > 0.0 { 1.0 / l[r] } else { 0.0 };
        out[r * d..(r + 1) * d].iter_mut().for_each(|x| *x *= inv);
    }
}

/// s[j] = q · k[row(j)..][..D] for j < limit, four keys at a time (four
/// independent sums of 16 lanes), k widened to f32 as it is read.
#[inline(always)]
fn scores<T: Element>(s: &mut [f32], q: &[f32], k: &[T], limit: usize, row: impl Fn(usize) -> usize) {
    let d = q.len();
    let n = d / 16 * 16;
    let mut j = 0;
    while j + 4 <= limit {
        for t in j + 8..(j + 12).min(limit) {
            prefetch(&k[row(t)..][..d]);
        }
        let (k0, k1, k2, k3) = (&k[row(j)..][..d], &k[row(j + 1)..][..d], &k[row(j + 2)..][..d], &k[row(j + 3)..][..d]);
        let (mut a0, mut a1, mut a2, mut a3) = ([0f32; 16], [0f32; 16], [0f32; 16], [0f32; 16]);
        for c in (0..n).step_by(16) {
            let x: &[f32; 16] = q[c..c + 16].try_into().unwrap();
            let y0: &[T; 16] = k0[c..c + 16].try_into().unwrap();
            let y1: &[T; 16] = k1[c..c + 16].try_into().unwrap();
            let y2: &[T; 16] = k2[c..c + 16].try_into().unwrap();
            let y3: &[T; 16] = k3[c..c + 16].try_into().unwrap();
            for e in 0..16 {
                a0[e] += x[e] * y0[e].to_f32();
                a1[e] += x[e] * y1[e].to_f32();
                a2[e] += x[e] * y2[e].to_f32();
                a3[e] += x[e] * y3[e].to_f32();
            }
        }
        for (t, (a, kr)) in [(a0, k0), (a1, k1), (a2, k2), (a3, k3)].iter().enumerate() {
            let tail: f32 = q[n..].iter().zip(&kr[n..]).map(|(x, y)| x * y.to_f32()).sum();
            s[j + t] = hsum(*a) + tail;
        }
        j += 4;
    }
    for (jj, sj) in s.iter_mut().enumerate().take(limit).skip(j) {
        *sj = q.iter().zip(&k[row(jj)..][..d]).map(|(x, y)| x * y.to_f32()).sum();
    }
}

/// Asks for `x`'s cache lines ahead of their use: in a [B, T, H, D] cache a
/// head's K/V rows lie H·D apart, a page or more, which the hardware
/// prefetcher does not follow.
#[inline(always)]
fn prefetch<T>(x: &[T]) {
    #[cfg(target_arch = "x86_64")]
    for off in (0..std::mem::size_of_val(x)).step_by(64) {
        // SAFETY: a hint; the address is inside `x`.
        unsafe {
            std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(x.as_ptr().cast::<i8>().add(off))
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = x;
}

/// Σ a, halving the lanes four times (shuffles and vector adds; summed one
/// by one, the 16 lanes were 15 dependent scalar adds a key).
#[inline(always)]
fn hsum(a: [f32; 16]) -> f32 {
    let a: [f32; 8] = std::array::from_fn(|i| a[i] + a[i + 8]);
    let a: [f32; 4] = std::array::from_fn(|i| a[i] + a[i + 4]);
    (a[0] + a[2]) + (a[1] + a[3])
}

/// acc[0..D] += Σ_j w_j · v[row(j)..][..D], 64 columns at a time held in
/// registers, v widened to f32 as it is read.
#[inline(always)]
fn accumulate<T: Element>(acc: &mut [f32], w: &[f32], v: &[T], row: impl Fn(usize) -> usize) {
    const W: usize = 64;
    let d = acc.len();
    let mut d0 = 0;
    while d0 + W <= d {
        let mut a: [f32; W] = acc[d0..d0 + W].try_into().unwrap();
        for (j, &wj) in w.iter().enumerate() {
            if j + 8 < w.len() {
                prefetch(&v[row(j + 8) + d0..][..W]);
            }
            let vr: &[T; W] = v[row(j) + d0..][..W].try_into().unwrap();
            for c in 0..W {
                a[c] += wj * vr[c].to_f32();
            }
        }
        acc[d0..d0 + W].copy_from_slice(&a);
        d0 += W;
    }
    if d0 < d {
        for (j, &wj) in w.iter().enumerate() {
            for (x, y) in acc[d0..].iter_mut().zip(&v[row(j) + d0..][..d - d0]) {
                *x += wj * y.to_f32();
            }
        }
    }
}
