//! The prefill path of flash attention: a block of query rows against key
//! blocks of BK = 2·NR, with both products on the GEMM micro-kernel:
//!   S [rows, BK] = (scale·Q) [rows, D] · Kᵀ [D, BK]     (A = Q panels, B = K panels)
//!   O [rows, D] = c·O + P [rows, BK] · V [BK, D]        (A = P panels, B = V panels)
//! with the online softmax between them (see flash.rs). Rows are padded to
//! MR and D to NR with zeros, so every micro-kernel call is a full tile.
//! K and V are packed into B panels once per head (`PackedKv`) and shared by
//! every query block of it: packed per block, at CLIP's 577 keys and 48 rows
//! a task, packing took as long as the products.

use crate::cpu::gemm::microkernel::{kernel, Kernel};
use crate::cpu::gemm::pack::pack;
use crate::cpu::math::{exp, max, sum};
use crate::{Attention, Element, Heads, Mask, MatLayout};

/// Up to this many visible keys a block keeps all its scores and weights
/// (48 rows × 8192 × 4 bytes, twice: 3 MB, mostly in L2) instead of
/// streaming key blocks: at Mllama's 6404 keys that is 13% faster.
const WHOLE_KEYS: usize = 8192;

/// K and V of one head (b, kh) as B panels, with Tk padded to Tkp, a
/// multiple of BK = 2·NR keys:
///   k[jp·D·NR + dd·NR + j]: panel jp of keys [jp·NR, jp·NR + NR), [D, NR];
///   v[c·Tkp·NR + key·NR + x]: panel c of dims [c·NR, c·NR + NR), [Tkp, NR].
/// Zero past the last key and past D.
pub(super) struct PackedKv {
    k: Vec<f32>,
    v: Vec<f32>,
    tkp: usize,
    /// The micro-kernel the panels are laid out for, used for the products
    /// too (the instruction set can be capped while a call runs).
    kern: Kernel,
}

/// Where a block's K/V panels come from: packed once for the head (many
/// query rows share them), or packed key block by key block into buffers
/// that stay in L1 (decode, or a few text rows against many image tokens,
/// where packing the whole head first would only add a pass over memory).
pub(super) enum KvSource<'a, T> {
    Packed(&'a PackedKv),
    Raw { k: &'a [T], v: &'a [T] },
}

/// Head (b, kh)'s K as a [D, Tk] operand (rows along D) and V as [Tk, D].
fn kv_layouts(p: &Attention, b: usize, kh: usize) -> (MatLayout, MatLayout) {
    let base = |h: &Heads| h.offset + b * h.b_stride + kh * h.h_stride;
    (
        MatLayout { offset: base(&p.k), batch_stride: 0, row_stride: 1, col_stride: p.k.t_stride },
        MatLayout { offset: base(&p.v), batch_stride: 0, row_stride: p.v.t_stride, col_stride: 1 },
    )
}

pub(super) fn pack_kv<T: Element>(p: &Attention, k: &[T], v: &[T], b: usize, kh: usize) -> PackedKv {
    let kern = kernel();
    let nr = kern.nr;
    let (d, bk) = (p.d, 2 * nr);
    let (blocks, dpan) = (p.tk.div_ceil(bk), d.div_ceil(nr));
    let mut kp = vec![0f32; blocks * 2 * d * nr];
    let tkp = blocks * bk;
    let mut vp = vec![0f32; dpan * tkp * nr];
    let (kl, vl) = kv_layouts(p, b, kh);
    for (j, panel) in kp.chunks_exact_mut(d * nr).enumerate().take(p.tk.div_ceil(nr)) {
        pack(panel, k, &kl, 0, 0, j * nr, p.tk, nr);
    }
    for (c, panel) in vp.chunks_exact_mut(tkp.max(1) * nr).enumerate() {
        pack(&mut panel[..p.tk * nr], v, &vl, 0, 0, c * nr, d, nr);
    }
    PackedKv { k: kp, v: vp, tkp, kern }
}

/// Attention for query rows [q0, q0 + nq) of every query head that reads
/// key/value head (b, kh), into `out` [heads·nq, D] (row r: head
/// kh·group + r / nq, position q0 + r % nq).
#[inline(always)]
pub(super) fn query_block_tiled<T: Element>(
    p: &Attention,
    q: &[T],
    kv: KvSource<T>,
    mask: Mask,
    b: usize,
    kh: usize,
    q0: usize,
    nq: usize,
    out: &mut [f32],
) {
    let kern = match &kv {
        KvSource::Packed(kv) => kv.kern,
        KvSource::Raw { .. } => kernel(),
    };
    let (mr, nr) = (kern.mr, kern.nr);
    // c[MR, NR] (row stride ld) = a-panel · b-panel over kc steps + beta·c.
    let tile = |kc: usize, a: &[f32], b: &[f32], c: &mut [f32], ld: usize, beta: f32| {
        assert!(a.len() >= kc * mr && b.len() >= kc * nr && c.len() >= (mr - 1) * ld + nr);
        // SAFETY: the lengths just checked cover every element the kernel touches.
        unsafe { (kern.run)(kc, a.as_ptr(), b.as_ptr(), c.as_mut_ptr(), ld, 1, 1.0, beta) }
    };
    let d = p.d;
    let rows = out.len() / d;
    let group = p.h / p.hkv;
    let head_pos = |r: usize| (kh * group + r / nq, q0 + r % nq);
    let (dp, bk) = (d.div_ceil(nr) * nr, 2 * nr);
    let (apan, dpan) = (rows.div_ceil(mr), dp / nr);
    let kend = super::visible(p, q0 + nq - 1, 0, p.tk);

    // Q as A panels over k = D: qp[a][dd·MR + i], pre-scaled.
    let mut qp = vec![0f32; apan * mr * d];
    for r in 0..rows {
        let (h, i) = head_pos(r);
        let qr = p.q.row(b, h, i);
        let panel = &mut qp[(r / mr) * mr * d..];
        for dd in 0..d {
            panel[dd * mr + r % mr] = q[qr + dd].to_f32() * p.scale;
        }
    }
    if kend == 0 {
        out.fill(0.0);
        return;
    }
    if let (KvSource::Packed(kv), true) = (&kv, kend <= WHOLE_KEYS) {
        // Every score of the block fits in L2: one softmax per row, then two
        // long products, and no running max to correct.
        let ld = kend.div_ceil(nr) * nr;
        let mut s = vec![0f32; apan * mr * ld];
        for a in 0..apan {
            for jp in 0..ld / nr {
                tile(d, &qp[a * mr * d..], &kv.k[jp * d * nr..], &mut s[a * mr * ld + jp * nr..], ld, 0.0);
            }
        }
        let mut inv = vec![0f32; rows];
        for (r, sr) in s.chunks_exact_mut(ld).enumerate().take(rows) {
            let (h, i) = head_pos(r);
            super::mask_row(sr, super::visible(p, i, 0, kend), mask, b, h, i, 0);
            let mb = max(sr);
            if mb == f32::NEG_INFINITY {
                sr.fill(0.0);
                continue;
            }
            sr.iter_mut().for_each(|x| *x = exp(*x - mb));
            inv[r] = 1.0 / sum(sr);
        }
        // The weights as A panels over k = keys.
        let mut pp = vec![0f32; apan * mr * ld];
        let pl = MatLayout { offset: 0, batch_stride: 0, row_stride: 1, col_stride: ld };
        for (a, panel) in pp.chunks_exact_mut(mr * ld).enumerate() {
            pack(panel, &s, &pl, 0, 0, a * mr, rows, mr);
        }
        let mut o = vec![0f32; apan * mr * dp];
        for a in 0..apan {
            for c in 0..dpan {
                tile(ld, &pp[a * mr * ld..], &kv.v[c * kv.tkp * nr..], &mut o[a * mr * dp + c * nr..], dp, 0.0);
            }
        }
        for (r, row) in out.chunks_exact_mut(d).enumerate() {
            row.iter_mut().zip(&o[r * dp..]).for_each(|(x, y)| *x = y * inv[r]);
        }
        return;
    }
    // Per-block K/V panels when the head's are not packed beforehand.
    let (kl, vl) = kv_layouts(p, b, kh);
    let (mut kbuf, mut vbuf) = match &kv {
        KvSource::Packed(_) => (Vec::new(), Vec::new()),
        KvSource::Raw { .. } => (vec![0f32; 2 * d * nr], vec![0f32; dpan * bk * nr]),
    };
    let mut s = vec![0f32; apan * mr * bk]; // scores, then weights [rows, BK]
    let mut pp = vec![0f32; apan * bk * mr]; // weights as A panels over k = BK
    let mut o = vec![0f32; apan * mr * dp];
    let mut m = vec![f32::NEG_INFINITY; rows];
    let mut l = vec![0f32; rows];

    for k0 in (0..kend).step_by(bk) {
        let kb = bk.min(kend - k0);
        let (kp, vstart, vstride): (&[f32], usize, usize) = match &kv {
            KvSource::Packed(kv) => (&kv.k[k0 * d..][..2 * d * nr], k0 * nr, kv.tkp * nr),
            KvSource::Raw { k, v } => {
                for half in 0..2 {
                    let (panel, j0) = (&mut kbuf[half * d * nr..][..d * nr], k0 + half * nr);
                    if j0 < p.tk {
                        pack(panel, k, &kl, 0, 0, j0, p.tk, nr);
                    } else {
                        panel.fill(0.0);
                    }
                }
                let vl = MatLayout { offset: vl.offset + k0 * p.v.t_stride, ..vl };
                for (c, panel) in vbuf.chunks_exact_mut(bk * nr).enumerate() {
                    pack(&mut panel[..kb * nr], v, &vl, 0, 0, c * nr, d, nr);
                    panel[kb * nr..].fill(0.0);
                }
                (&kbuf[..], 0, bk * nr)
            }
        };
        for a in 0..apan {
            for half in 0..2 {
                tile(d, &qp[a * mr * d..], &kp[half * d * nr..], &mut s[a * mr * bk + half * nr..], bk, 0.0);
            }
        }
        for r in 0..rows {
            let (h, i) = head_pos(r);
            let sr = &mut s[r * bk..(r + 1) * bk];
            let limit = super::visible(p, i, k0, kb);
            super::mask_row(sr, limit, mask, b, h, i, k0);
            let mb = max(sr);
            let ppan = &mut pp[(r / mr) * bk * mr..];
            if mb == f32::NEG_INFINITY {
                for j in 0..bk {
                    ppan[j * mr + r % mr] = 0.0;
                }
                continue;
            }
            let m_new = m[r].max(mb);
            let corr = exp(m[r] - m_new);
            sr.iter_mut().for_each(|x| *x = exp(*x - m_new));
            l[r] = l[r] * corr + sum(sr);
            m[r] = m_new;
            if corr != 1.0 {
                o[r * dp..(r + 1) * dp].iter_mut().for_each(|x| *x *= corr);
            }
            for (j, &pj) in sr.iter().enumerate() {
                ppan[j * mr + r % mr] = pj;
            }
        }
        for a in 0..apan {
            for c in 0..dpan {
                let vp = match &kv {
                    KvSource::Packed(kv) => &kv.v[c * vstride + vstart..],
                    KvSource::Raw { .. } => &vbuf[c * vstride..],
                };
                tile(bk, &pp[a * bk * mr..], vp, &mut o[a * mr * dp + c * nr..], dp, 1.0);
            }
        }
    }
    for r in 0..rows {
        let inv = if l[r] > 0.0 { 1.0 / l[r] } else { 0.0 };
        for (x, y) in out[r * d..(r + 1) * d].iter_mut().zip(&o[r * dp..r * dp + d]) {
            *x = y * inv;
        }
    }
}
