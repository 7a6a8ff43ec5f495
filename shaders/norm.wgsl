// norm.wgsl — row-wise ops over the last dimension (one workgroup of 256 per
// row, a shared-memory tree reduction for each statistic):
//   layer_norm: y = (x − mean)/√(var + eps)·w + b     (rows × n)
//   rms_norm:   y = x/√(mean(x²) + eps)·w
//   softmax:    y = exp(x − max)/Σ exp(x − max)
// Launch: rows workgroups along x (spilling into y past the limit).

struct NormParams {
    rows: u32, n: u32, eps: f32, _p0: u32,
};

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read> w: array<f32>;
@group(0) @binding(2) var<storage, read> b: array<f32>;
@group(0) @binding(3) var<storage, read_write> y: array<f32>;
@group(0) @binding(4) var<uniform> p: NormParams;

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
    let inv = inverseSqrt(reduce_sum(q, lid) / f32(p.n) + p.eps);
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
    let inv = inverseSqrt(reduce_sum(q, lid) / f32(p.n) + p.eps);
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
