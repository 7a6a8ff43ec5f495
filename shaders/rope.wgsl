// rope.wgsl — rotate-half RoPE, f32:
//   y[.., j]       = x[.., j]·cos − x[.., j + d/2]·sin
//   y[.., j + d/2] = x[.., j + d/2]·cos + x[.., j]·sin      (j < d/2)
// Shape letters: x and y [outer, t, inner, d] dense, rows = outer·t·inner;
// cos/sin [t, d/2] (row ti for every (outer, inner) of position ti).
// Launch: one invocation per (row, pair), workgroups of 256 (x + y·nx·256).

struct RopeParams {
    rows: u32, t: u32, inner: u32, d: u32,
};

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read> cos_t: array<f32>;
@group(0) @binding(2) var<storage, read> sin_t: array<f32>;
@group(0) @binding(3) var<storage, read_write> y: array<f32>;
@group(0) @binding(4) var<uniform> p: RopeParams;

@compute @workgroup_size(256)
fn rope(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let k = flat_index(gid, nwg);
    let half = p.d / 2u;
    if (k >= p.rows * half) { return; }
    let j = k % half;
    let row = k / half;
    let ti = (row / p.inner) % p.t;
    let a = x[row * p.d + j];
    let b = x[row * p.d + j + half];
    let c = cos_t[ti * half + j];
    let s = sin_t[ti * half + j];
    y[row * p.d + j] = a * c - b * s;
    y[row * p.d + j + half] = b * c + a * s;
}
