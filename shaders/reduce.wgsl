// reduce.wgsl — row-wise reductions over the last dimension (one workgroup
// of 256 per row, a shared-memory tree sum):
//   sum:  y[r] = Σ_j x[r, j]
//   mean: y[r] = Σ_j x[r, j] / n
// Shapes: x rows × n row-major, y [rows]. Launch: rows workgroups along x
// (spilling into y past the limit).

struct ReduceParams {
    rows: u32, n: u32, mean: u32, _p0: u32,
};

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> y: array<f32>;
@group(0) @binding(2) var<uniform> p: ReduceParams;

var<workgroup> red: array<f32, 256>;

@compute @workgroup_size(256)
fn reduce(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
          @builtin(local_invocation_index) lid: u32) {
    let r = wg.x + wg.y * nwg.x;
    if (r >= p.rows) { return; }
    var s = 0.0;
    for (var i = lid; i < p.n; i = i + 256u) { s = s + x[r * p.n + i]; }
    red[lid] = s;
    workgroupBarrier();
    for (var k = 128u; k > 0u; k = k >> 1u) {
        if (lid < k) { red[lid] = red[lid] + red[lid + k]; }
        workgroupBarrier();
    }
    if (lid == 0u) {
        y[r] = select(red[0], red[0] / f32(p.n), p.mean != 0u);
    }
}
