// norm.wgsl — row-wise ops over the last dimension (one workgroup of 256 per
// row, a shared-memory tree reduction for each statistic), and RoPE:
//   layer_norm: y = (x − mean)/√(var + eps)·w + b     (rows × n)
//   rms_norm:   y = x/√(mean(x²) + eps)·w
//   softmax:    y = exp(x − max)/Σ exp(x − max)
//   rope:       rotate-half RoPE on x [outer, t, inner, d] with cos/sin [t, d/2],
//               one invocation per (row, pair), workgroups of 256 (x + y·nx·256)
// Launch: rows workgroups along x (spilling into y past the limit) for the row ops.

struct Params {
    rows: u32, n: u32, eps: u32, t: u32,
    inner: u32, d: u32, _p0: u32, _p1: u32,
};

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read> w: array<f32>;
@group(0) @binding(2) var<storage, read> b: array<f32>;
@group(0) @binding(3) var<storage, read_write> y: array<f32>;
@group(0) @binding(4) var<uniform> p: Params;

var<workgroup> red: array<f32, 256>;

fn reduce_sum(v: f32, lid: u32) -> f32 {
    red[lid] = v;
    workgroupBarrier();
    for (var s = 128u; s > 0u; s = s >> 1u) {
        if (lid < s) { red[lid] = red[lid] + red[lid + s]; }
        workgroupBarrier();
    }
    let r = red[0];
    workgroupBarrier();
    return r;
}

fn reduce_max(v: f32, lid: u32) -> f32 {
    red[lid] = v;
    workgroupBarrier();
    for (var s = 128u; s > 0u; s = s >> 1u) {
        if (lid < s) { red[lid] = max(red[lid], red[lid + s]); }
        workgroupBarrier();
    }
    let r = red[0];
    workgroupBarrier();
    return r;
}

fn row_of(wg: vec3<u32>, nwg: vec3<u32>) -> u32 {
    return wg.x + wg.y * nwg.x;
}

@compute @workgroup_size(256)
fn layer_norm(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
              @builtin(local_invocation_index) lid: u32) {
    let r = row_of(wg, nwg);
    if (r >= p.rows) { return; }
    let base = r * p.n;
    var s = 0.0;
    for (var i = lid; i < p.n; i = i + 256u) { s = s + x[base + i]; }
    let mean = reduce_sum(s, lid) / f32(p.n);
    var q = 0.0;
    for (var i = lid; i < p.n; i = i + 256u) { let d = x[base + i] - mean; q = q + d * d; }
    let inv = inverseSqrt(reduce_sum(q, lid) / f32(p.n) + bitcast<f32>(p.eps));
    for (var i = lid; i < p.n; i = i + 256u) { y[base + i] = (x[base + i] - mean) * inv * w[i] + b[i]; }
}

@compute @workgroup_size(256)
fn rms_norm(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
            @builtin(local_invocation_index) lid: u32) {
    let r = row_of(wg, nwg);
    if (r >= p.rows) { return; }
    let base = r * p.n;
    var q = 0.0;
    for (var i = lid; i < p.n; i = i + 256u) { let v = x[base + i]; q = q + v * v; }
    let inv = inverseSqrt(reduce_sum(q, lid) / f32(p.n) + bitcast<f32>(p.eps));
    for (var i = lid; i < p.n; i = i + 256u) { y[base + i] = x[base + i] * inv * w[i]; }
}

@compute @workgroup_size(256)
fn softmax(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
           @builtin(local_invocation_index) lid: u32) {
    let r = row_of(wg, nwg);
    if (r >= p.rows) { return; }
    let base = r * p.n;
    var m = -3.4028235e38;
    for (var i = lid; i < p.n; i = i + 256u) { m = max(m, x[base + i]); }
    m = reduce_max(m, lid);
    var s = 0.0;
    for (var i = lid; i < p.n; i = i + 256u) { s = s + exp(x[base + i] - m); }
    let inv = 1.0 / reduce_sum(s, lid);
    for (var i = lid; i < p.n; i = i + 256u) { y[base + i] = exp(x[base + i] - m) * inv; }
}

// RoPE: w holds cos, b holds sin ([t, d/2]); p.rows = outer·t·inner rows of d.
@compute @workgroup_size(256)
fn rope(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let k = gid.x + gid.y * nwg.x * 256u;
    let half = p.d / 2u;
    if (k >= p.rows * half) { return; }
    let j = k % half;
    let row = k / half;
    let ti = (row / p.inner) % p.t;
    let a = x[row * p.d + j];
    let c = x[row * p.d + j + half];
    let co = w[ti * half + j];
    let si = b[ti * half + j];
    y[row * p.d + j] = a * co - c * si;
    y[row * p.d + j + half] = c * co + a * si;
}
