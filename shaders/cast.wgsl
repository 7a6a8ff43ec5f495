enable f16;

// cast.wgsl — strided copy with a dtype cast (needs SHADER_F16), one
// invocation per output element (x + y·nx·256):
//   f32_to_f16: y[i] = f16(x[s(i)])     f16_to_f32: y[i] = f32(h[s(i)])
// s maps the dense index of the output shape (≤ 8 dims) to the strided source.

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read> h: array<f16>;
@group(0) @binding(2) var<storage, read_write> y16: array<f16>;
@group(0) @binding(3) var<storage, read_write> y32: array<f32>;
@group(0) @binding(4) var<uniform> p: Strided;

fn source(i0: u32) -> u32 {
    var i = i0;
    var o = p.a_off;
    for (var d = i32(p.dims) - 1; d >= 0; d = d - 1) {
        let n = dim_of(p.shape, u32(d));
        o = o + (i % n) * dim_of(p.a_str, u32(d));
        i = i / n;
    }
    return o;
}

@compute @workgroup_size(256)
fn f32_to_f16(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = flat_index(gid, nwg);
    if (i >= p.n) { return; }
    y16[i] = f16(x[source(i)]);
}

@compute @workgroup_size(256)
fn f16_to_f32(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = flat_index(gid, nwg);
    if (i >= p.n) { return; }
    y32[i] = f32(h[source(i)]);
}
