//! The prefill path of flash attention: a block of query rows against key
//! blocks of BK = 2·NR, with both products on the GEMM micro-kernel:
//!   S [rows, BK] = (scale·Q) [rows, D] · Kᵀ [D, BK]     (A = Q panels, B = K panels)
//!   O [rows, D] = c·O + P [rows, BK] · V [BK, D]        (A = P panels, B = V panels)
//! with the online softmax between them (see flash.rs). Rows are padded to
//! MR and D to NR with zeros, so every micro-kernel call is a full tile.
//! bf16 operands on a CPU with AVX512-BF16 run both products on `vdpbf16ps`
//! (`attention_kernel`): Q, K, V and the weights P packed as bf16 pairs, the
//! scores, the softmax and both sums in f32; Q is packed unscaled (exact) and
//! the scores scaled in f32.
//! K and V are packed into B panels once per head (`PackedKv`) and shared by
//! every query block of it: packed per block, at CLIP's 577 keys and 48 rows
//! a task, packing took as long as the products.

use crate::cpu::gemm::microkernel::{kernel, Kernel};
use crate::cpu::gemm::pack::pack_for;
use crate::cpu::gemm::{pairs, Packed};
use crate::cpu::math::{exp, exp_sum, max};
use crate::{Attention, DType, Element, Heads, Mask, MatLayout};

/// Up to this many visible keys a block keeps all its scores and weights
/// (48 rows × 8192 × 4 bytes, twice: 3 MB, mostly in L2) instead of
/// streaming key blocks: at Mllama's 6404 keys that is 13% faster.
const WHOLE_KEYS: usize = 8192;

/// The micro-kernel attention on elements T runs on: for bf16, the AMX
/// tiles where the CPU has them, else bf16 pairs on `vdpbf16ps` where it has
/// AVX512-BF16; else f32 panels.
pub(super) fn attention_kernel<T: Element>() -> Kernel {
    if T::DTYPE == DType::BF16 {
        if let Some(k) = pairs::kernel() {
            return k;
        }
    }
    kernel()
}

/// Writes `x` (k steps) as line `i` of an A panel `mr` lines wide:
/// f32 panel[s·mr + i] = x[s]; pair slots
/// panel[s·mr + i] = bf16(x[2s]) | bf16(x[2s + 1]) << 16 (pairs.rs); for the
/// AMX tiles the same pairs in chunks of 16 slots, a line's 16 together:
/// panel[(s / 16)·16·mr + i·16 + s % 16] (amx.rs).
#[inline(always)]
fn put_line(panel: &mut [f32], mr: usize, i: usize, x: &[f32], kern: &Kernel) {
    let pair = |two: &[f32]| bf16_bits(two[0]) | two.get(1).map_or(0, |&v| bf16_bits(v)) << 16;
    if kern.tiles {
        let out: &mut [u32] = bytemuck::cast_slice_mut(panel);
        let mut whole = 0;
        #[cfg(target_arch = "x86_64")]
        if crate::cpu::isa::isa() >= crate::cpu::isa::Isa::Avx512Bf16 {
            // SAFETY: the CPU has AVX512-BF16; `chunks_bf16` stays within x and the panel.
            whole = unsafe { chunks_bf16(out, mr, i, x) };
        }
        for (c, chunk) in x.chunks(32).enumerate().skip(whole) {
            let row = &mut out[(c * mr + i) * 16..][..16];
            for (slot, two) in row.iter_mut().zip(chunk.chunks(2)) {
                *slot = pair(two);
            }
            row[chunk.len().div_ceil(2)..].fill(0);
        }
    } else if kern.pairs {
        let out: &mut [u32] = bytemuck::cast_slice_mut(panel);
        for (s, two) in x.chunks(2).enumerate() {
            out[s * mr + i] = pair(two);
        }
    } else {
        for (s, &v) in x.iter().enumerate() {
            panel[s * mr + i] = v;
        }
    }
}

/// The whole chunks of 32 steps of `put_line`'s AMX layout, 32 values
/// rounded by one `vcvtne2ps2bf16` (to nearest even, as `bf16_bits`; it reads
/// subnormals as zero, as `tdpbf16ps` does anyway). Returns the chunks written.
/// Not `round_row` chunk by chunk: a call per 32 values made CLIP-L's 577-token
/// attention 2.98 → 3.5 ms.
///
/// # Safety
/// AVX512-BF16; `out` holds line i of every chunk of x.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512bf16")]
unsafe fn chunks_bf16(out: &mut [u32], mr: usize, i: usize, x: &[f32]) -> usize {
    use std::arch::x86_64::*;
    let whole = x.len() / 32;
    for c in 0..whole {
        let row = &mut out[(c * mr + i) * 16..][..16];
        let (lo, hi) = (_mm512_loadu_ps(x.as_ptr().add(32 * c)), _mm512_loadu_ps(x.as_ptr().add(32 * c + 16)));
        _mm512_storeu_si512(
            row.as_mut_ptr() as *mut __m512i,
            std::mem::transmute::<__m512bh, __m512i>(_mm512_cvtne2ps_pbh(hi, lo)),
        );
    }
    whole
}

/// bf16(x) rounded to nearest even, as bits (x finite: scores, weights, Q).
/// Not `half::bf16::from_f32` (pairs.rs's `bits`): with its NaN case it does
/// not vectorise here and made bf16 attention twice as slow (CLIP-L 577:
/// 8.3 → 16 ms).
#[inline(always)]
fn bf16_bits(x: f32) -> u32 {
    let u = x.to_bits();
    (u + 0x7fff + ((u >> 16) & 1)) >> 16
}

/// K and V of one head (b, kh) as B panels, with Tk padded to Tkp, a
/// multiple of BK = 2·NR keys (Kd = the kernel's depth of D: D, or ⌈D/2⌉
/// pair slots; V's depth Tkp likewise):
///   k[jp·Kd·NR + s·NR + j]: panel jp of keys [jp·NR, jp·NR + NR), [Kd, NR];
///   v[c·depth(Tkp)·NR + s·NR + x]: panel c of dims [c·NR, c·NR + NR).
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

thread_local! {
    /// The whole-keys path's scores, weights and output, kept between blocks.
    static SCRATCH: std::cell::Cell<Packed> = std::cell::Cell::new(Packed::default());
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
    let kern = attention_kernel::<T>();
    let nr = kern.nr;
    let (d, bk) = (p.d, 2 * nr);
    let (blocks, dpan) = (p.tk.div_ceil(bk), d.div_ceil(nr));
    let kd = kern.depth(d);
    let mut kp = vec![0f32; blocks * 2 * kd * nr];
    let tkp = blocks * bk;
    let vd = kern.depth(tkp);
    let mut vp = vec![0f32; dpan * vd * nr];
    let (kl, vl) = kv_layouts(p, b, kh);
    if kd > 0 {
        for (j, panel) in kp.chunks_exact_mut(kd * nr).enumerate().take(p.tk.div_ceil(nr)) {
            pack_for(&kern, panel, k, &kl, 0, j * nr, p.tk, nr, d);
        }
    }
    for (c, panel) in vp.chunks_exact_mut(vd.max(1) * nr).enumerate() {
        pack_for(&kern, &mut panel[..kern.depth(p.tk) * nr], v, &vl, 0, c * nr, d, nr, p.tk);
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
        KvSource::Raw { .. } => attention_kernel::<T>(),
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
    // Depths in panel slots: of D (the scores), of a key block, of the V panels.
    let (kd, bkd) = (kern.depth(d), kern.depth(bk));
    // f32 panels hold scale·Q; pairs hold Q itself and the scores are scaled.
    let (qscale, sscale) = if kern.pairs { (1.0, p.scale) } else { (p.scale, 1.0) };
    // Without an additive mask the scale waits for the exponent, e^(scale·(s − max)),
    // where it costs nothing (a keep mask's −inf and the max are the same either way).
    let deferred = !matches!(mask, Mask::Additive(..)) && sscale > 0.0;
    let escale = if deferred { sscale } else { 1.0 };
    let rescale = |sr: &mut [f32]| {
        if !deferred && sscale != 1.0 {
            sr.iter_mut().for_each(|x| *x *= sscale);
        }
    };

    // Q as A panels over k = D: qp[a][s·MR + i].
    let mut qp = vec![0f32; apan * mr * kd];
    let mut line = vec![0f32; d];
    for r in 0..rows {
        let (h, i) = head_pos(r);
        let qr = p.q.row(b, h, i);
        for (x, y) in line.iter_mut().zip(&q[qr..qr + d]) {
            *x = y.to_f32() * qscale;
        }
        put_line(&mut qp[(r / mr) * mr * kd..], mr, r % mr, &line, &kern);
    }
    if kend == 0 {
        out.fill(0.0);
        return;
    }
    if let (KvSource::Packed(kv), true) = (&kv, kend <= WHOLE_KEYS) {
        // Every score of the block fits in L2: one softmax per row, then two
        // long products, and no running max to correct.
        let ld = kend.div_ceil(nr) * nr;
        let lds = kern.depth(ld);
        let vd = kern.depth(kv.tkp);
        // Scores, weights as A panels over k = keys (`put_line`'s layout) and
        // the output, in this thread's scratch, not zeroed: every element a
        // real row reads is written first (a padded row reaches only padded rows).
        {
            // Taken and put back, not borrowed in a closure: a closure would not
            // be compiled for this function's instruction set.
            let mut buf = SCRATCH.take();
            let (ns, np, no) = (apan * mr * ld, apan * mr * lds, apan * mr * dp);
            let (s, rest) = buf.resize(ns + np + no).split_at_mut(ns);
            let (pp, rest) = rest.split_at_mut(np);
            let o = &mut rest[..no];
            let mut inv = vec![0f32; rows];
            for a in 0..apan {
                for jp in 0..ld / nr {
                    tile(kd, &qp[a * mr * kd..], &kv.k[jp * kd * nr..], &mut s[a * mr * ld + jp * nr..], ld, 0.0);
                }
            }
            for (r, sr) in s.chunks_exact_mut(ld).enumerate().take(rows) {
                let (h, i) = head_pos(r);
                rescale(sr);
                super::mask_row(sr, super::visible(p, i, 0, kend), mask, b, h, i, 0);
                let mb = max(sr);
                if mb == f32::NEG_INFINITY {
                    sr.fill(0.0);
                } else {
                    inv[r] = 1.0 / exp_sum(sr, escale, mb);
                }
                put_line(&mut pp[(r / mr) * mr * lds..], mr, r % mr, sr, &kern);
            }
            // The padded rows of the weights as zeros all the same, so that no stale
            // bits (NaN, subnormals) reach the products.
            let zeros = vec![0f32; ld];
            for r in rows..apan * mr {
                put_line(&mut pp[(r / mr) * mr * lds..], mr, r % mr, &zeros, &kern);
            }
            for a in 0..apan {
                for c in 0..dpan {
                    tile(lds, &pp[a * mr * lds..], &kv.v[c * vd * nr..], &mut o[a * mr * dp + c * nr..], dp, 0.0);
                }
            }
            for (r, row) in out.chunks_exact_mut(d).enumerate() {
                row.iter_mut().zip(&o[r * dp..]).for_each(|(x, y)| *x = y * inv[r]);
            }
            SCRATCH.set(buf);
        }
        return;
    }
    // Per-block K/V panels when the head's are not packed beforehand.
    let (kl, vl) = kv_layouts(p, b, kh);
    let (mut kbuf, mut vbuf) = match &kv {
        KvSource::Packed(_) => (Vec::new(), Vec::new()),
        KvSource::Raw { .. } => (vec![0f32; 2 * kd * nr], vec![0f32; dpan * bkd * nr]),
    };
    let mut s = vec![0f32; apan * mr * bk]; // scores, then weights [rows, BK]
    let mut pp = vec![0f32; apan * bkd * mr]; // weights as A panels over k = BK
    let mut o = vec![0f32; apan * mr * dp];
    let mut m = vec![f32::NEG_INFINITY; rows];
    let mut l = vec![0f32; rows];

    for k0 in (0..kend).step_by(bk) {
        let kb = bk.min(kend - k0);
        let (kp, vstart, vstride): (&[f32], usize, usize) = match &kv {
            KvSource::Packed(kv) => (&kv.k[k0 * kd..][..2 * kd * nr], kern.depth(k0) * nr, kern.depth(kv.tkp) * nr),
            KvSource::Raw { k, v } => {
                for half in 0..2 {
                    let (panel, j0) = (&mut kbuf[half * kd * nr..][..kd * nr], k0 + half * nr);
                    if j0 < p.tk {
                        pack_for(&kern, panel, k, &kl, 0, j0, p.tk, nr, d);
                    } else {
                        panel.fill(0.0);
                    }
                }
                let vl = MatLayout { offset: vl.offset + k0 * p.v.t_stride, ..vl };
                let live = kern.depth(kb) * nr;
                for (c, panel) in vbuf.chunks_exact_mut(bkd * nr).enumerate() {
                    pack_for(&kern, &mut panel[..live], v, &vl, 0, c * nr, d, nr, kb);
                    panel[live..].fill(0.0);
                }
                (&kbuf[..], 0, bkd * nr)
            }
        };
        for a in 0..apan {
            for half in 0..2 {
                tile(kd, &qp[a * mr * kd..], &kp[half * kd * nr..], &mut s[a * mr * bk + half * nr..], bk, 0.0);
            }
        }
        for r in 0..rows {
            let (h, i) = head_pos(r);
            let sr = &mut s[r * bk..(r + 1) * bk];
            let limit = super::visible(p, i, k0, kb);
            rescale(sr);
            super::mask_row(sr, limit, mask, b, h, i, k0);
            let mb = max(sr);
            let ppan = &mut pp[(r / mr) * bkd * mr..];
            if mb == f32::NEG_INFINITY {
                sr.fill(0.0);
                put_line(ppan, mr, r % mr, sr, &kern);
                continue;
            }
            let m_new = m[r].max(mb);
            let corr = exp(escale * (m[r] - m_new));
            l[r] = l[r] * corr + exp_sum(sr, escale, m_new);
            m[r] = m_new;
            if corr != 1.0 {
                o[r * dp..(r + 1) * dp].iter_mut().for_each(|x| *x *= corr);
            }
            put_line(ppan, mr, r % mr, sr, &kern);
        }
        for a in 0..apan {
            for c in 0..dpan {
                let vp = match &kv {
                    KvSource::Packed(kv) => &kv.v[c * vstride + vstart..],
                    KvSource::Raw { .. } => &vbuf[c * vstride..],
                };
                tile(bkd, &pp[a * bkd * mr..], vp, &mut o[a * mr * dp + c * nr..], dp, 1.0);
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
