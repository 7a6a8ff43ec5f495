// attention.wgsl — fused attention with an online softmax, f32:
//   o = softmax(q·kᵀ·scale + mask)·v, one workgroup of 64 per (query row, head, batch)
// Shape letters: B, H query heads, Hkv key/value heads (head h reads kv head
// h / (H/Hkv)), Tq, Tk, D ≤ 256. q/k/v/o: (offset, b, h, t) strides in
// elements, D contiguous. mask_kind 0 none, 1 additive (f32), 2 keep (1/0 as
// f32; a row that keeps no key yields zeros); mask strides (offset, b, h, q),
// keys contiguous. causal: query i sees keys j ≤ i + Tk − Tq.
// Keys go 64 at a time: one score per invocation, workgroup max and sum, then
// every invocation accumulates its output dims (lid, lid + 64, ...).
// Launch: workgroups (Tq, H, B) of 64.

struct AttentionParams {
    b: u32, h: u32, hkv: u32, tq: u32,
    tk: u32, d: u32, scale: f32, causal: u32,
    mask_kind: u32, _p0: u32, _p1: u32, _p2: u32,
    q: vec4<u32>,
    k: vec4<u32>,
    v: vec4<u32>,
    o: vec4<u32>,
    m: vec4<u32>,
};

@group(0) @binding(0) var<storage, read> Q: array<f32>;
@group(0) @binding(1) var<storage, read> K: array<f32>;
@group(0) @binding(2) var<storage, read> V: array<f32>;
@group(0) @binding(3) var<storage, read> M: array<f32>;
@group(0) @binding(4) var<storage, read_write> O: array<f32>;
@group(0) @binding(5) var<uniform> p: AttentionParams;

const NONE: f32 = -3.4028235e38;
var<workgroup> qs: array<f32, 256>;
var<workgroup> ps: array<f32, 64>;
var<workgroup> red: array<f32, 64>;

fn wg_max(v: f32, lid: u32) -> f32 {
    red[lid] = v;
    workgroupBarrier();
    for (var s = 32u; s > 0u; s = s >> 1u) {
        if (lid < s) { red[lid] = max(red[lid], red[lid + s]); }
        workgroupBarrier();
    }
    let r = red[0];
    workgroupBarrier();
    return r;
}

fn wg_sum(v: f32, lid: u32) -> f32 {
    red[lid] = v;
    workgroupBarrier();
    for (var s = 32u; s > 0u; s = s >> 1u) {
        if (lid < s) { red[lid] = red[lid] + red[lid + s]; }
        workgroupBarrier();
    }
    let r = red[0];
    workgroupBarrier();
    return r;
}

@compute @workgroup_size(64)
fn attention(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let qi = wg.x;
    let hi = wg.y;
    let bi = wg.z;
    let kvh = hi / (p.h / p.hkv);
    let scale = p.scale;
    let qrow = p.q.x + bi * p.q.y + hi * p.q.z + qi * p.q.w;
    for (var dd = lid; dd < p.d; dd = dd + 64u) { qs[dd] = Q[qrow + dd] * scale; }
    workgroupBarrier();
    let kb = p.k.x + bi * p.k.y + kvh * p.k.z;
    let vb = p.v.x + bi * p.v.y + kvh * p.v.z;
    let mrow = p.m.x + bi * p.m.y + hi * p.m.z + qi * p.m.w;
    var kend = p.tk;
    if (p.causal != 0u) {
        kend = u32(clamp(i32(qi) + i32(p.tk) - i32(p.tq) + 1, 0, i32(p.tk)));
    }
    var m = NONE;
    var l = 0.0;
    var acc: array<f32, 4>;
    for (var k0 = 0u; k0 < kend; k0 = k0 + 64u) {
        let kj = k0 + lid;
        var visible = kj < kend;
        if (visible && p.mask_kind == 2u) { visible = M[mrow + kj] != 0.0; }
        var s = NONE;
        if (visible) {
            s = 0.0;
            for (var dd = 0u; dd < p.d; dd = dd + 1u) { s = fma(qs[dd], K[kb + kj * p.k.w + dd], s); }
            if (p.mask_kind == 1u) { s = s + M[mrow + kj]; }
            s = max(s, NONE);
        }
        let m_new = max(m, wg_max(s, lid));
        var pj = 0.0;
        var alpha = 1.0;
        if (m_new > NONE) {
            if (visible && s > NONE) { pj = exp(s - m_new); }
            if (m > NONE) { alpha = exp(m - m_new); } else { alpha = 0.0; }
        }
        l = l * alpha + wg_sum(pj, lid);
        m = m_new;
        ps[lid] = pj;
        workgroupBarrier();
        let n = min(64u, kend - k0);
        for (var i = 0u; i < 4u; i = i + 1u) {
            let dd = lid + 64u * i;
            if (dd < p.d) {
                var o = acc[i] * alpha;
                for (var j = 0u; j < n; j = j + 1u) { o = fma(ps[j], V[vb + (k0 + j) * p.v.w + dd], o); }
                acc[i] = o;
            }
        }
        workgroupBarrier();
    }
    let orow = p.o.x + bi * p.o.y + hi * p.o.z + qi * p.o.w;
    var inv = 0.0;
    if (l > 0.0) { inv = 1.0 / l; }
    for (var i = 0u; i < 4u; i = i + 1u) {
        let dd = lid + 64u * i;
        if (dd < p.d) { O[orow + dd] = acc[i] * inv; }
    }
}
