// elementwise.wgsl — one invocation per output element, f32:
//   unary:     y[i] = op(x[i]) for i < n; op 0 gelu (erf), 1 gelu_tanh, 2 quick_gelu,
//              3 silu, 4 tanh, 5 scale by alpha
//   binary:    y[i] = a[sa(i)] op b[sb(i)]; op 0 add, 1 sub, 2 mul, 3 div; sa, sb map the
//              dense index of y's shape (≤ 8 dims) to strided offsets (0 = broadcast)
//   copy:      y[i] = x[sa(i)] (strided gather into a dense buffer)
//   embedding: y[r, j] = table[ids[r], j] for r < rows, j < d (p.op holds the
//              table's rows; an id past them gives a zero row)
// Shape letters: n elements, dims ≤ 8. Launch: workgroups of 256 along x,
// spilling into y when n/256 exceeds the per-dimension limit (index = x + y·nx·256).

fn erf_approx(x: f32) -> f32 {
    // Abramowitz–Stegun 7.1.26 is too coarse for 1e-5; use the series/continued
    // fraction split of erf with f32 accuracy (max error ~1e-7).
    let a = abs(x);
    var r: f32;
    if (a < 2.0) {
        let t = a * a;
        // Taylor series of erf to 24 terms converges well below 2.
        var term = a;
        var sum = a;
        for (var k = 1u; k < 40u; k = k + 1u) {
            term = -term * t / f32(k);
            sum = sum + term / f32(2u * k + 1u);
        }
        r = sum * 1.1283791670955126;
    } else {
        // erfc continued fraction (Lentz) for the tail.
        let t = 1.0 / (1.0 + 0.5 * a);
        let y = t * exp(-a * a - 1.26551223 + t * (1.00002368 + t * (0.37409196 + t * (0.09678418 + t * (-0.18628806
            + t * (0.27886807 + t * (-1.13520398 + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277)))))))));
        r = 1.0 - y;
    }
    return select(r, -r, x < 0.0);
}

fn unary_op(op: u32, v: f32, alpha: f32) -> f32 {
    switch op {
        case 0u: { return 0.5 * v * (1.0 + erf_approx(v * 0.70710678118654752)); }
        case 1u: { return 0.5 * v * (1.0 + tanh(0.7978845608028654 * (v + 0.044715 * v * v * v))); }
        case 2u: { return v / (1.0 + exp(-1.702 * v)); }
        case 3u: { return v / (1.0 + exp(-v)); }
        case 4u: { return tanh(v); }
        default: { return v * alpha; }
    }
}

@group(0) @binding(0) var<storage, read> ua: array<f32>;
@group(0) @binding(1) var<storage, read> ub: array<f32>;
@group(0) @binding(2) var<storage, read_write> uy: array<f32>;
@group(0) @binding(3) var<uniform> p: Strided;

fn offsets(i0: u32) -> vec2<u32> {
    var i = i0;
    var oa = p.a_off;
    var ob = p.b_off;
    for (var d = i32(p.dims) - 1; d >= 0; d = d - 1) {
        let n = dim_of(p.shape, u32(d));
        let c = i % n;
        i = i / n;
        oa = oa + c * dim_of(p.a_str, u32(d));
        ob = ob + c * dim_of(p.b_str, u32(d));
    }
    return vec2<u32>(oa, ob);
}

@compute @workgroup_size(256)
fn binary(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = flat_index(gid, nwg);
    if (i >= p.n) { return; }
    let o = offsets(i);
    let x = ua[o.x];
    let y = ub[o.y];
    var r: f32;
    switch p.op {
        case 0u: { r = x + y; }
        case 1u: { r = x - y; }
        case 2u: { r = x * y; }
        default: { r = x / y; }
    }
    uy[i] = r;
}

@compute @workgroup_size(256)
fn unary(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = flat_index(gid, nwg);
    if (i >= p.n) { return; }
    uy[i] = unary_op(p.op, ua[p.a_off + i], p.alpha);
}

@compute @workgroup_size(256)
fn copy(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = flat_index(gid, nwg);
    if (i >= p.n) { return; }
    uy[i] = ua[offsets(i).x];
}

// Embedding: ub holds the ids (as u32 bits), p.dims = d, p.n = ids·d, p.op = the table's rows.
@compute @workgroup_size(256)
fn embedding(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = flat_index(gid, nwg);
    if (i >= p.n) { return; }
    let d = p.dims;
    let id = bitcast<u32>(ub[i / d]);
    if (id >= p.op) {
        uy[i] = 0.0;
        return;
    }
    uy[i] = ua[id * d + i % d];
}
