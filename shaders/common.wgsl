// common.wgsl — prepended to every shader (after its `enable` lines), as
// common.cuh is to every CUDA file: what several shaders share.
// Every uniform struct mirrors a #[repr(C)] struct of wgpu/params.rs; a test
// checks their sizes and field offsets against naga's layout of the WGSL.

// A view of up to 8 dims: y's dense index i maps to offsets a_off + Σ c_d·a_str[d]
// (and b_off + Σ c_d·b_str[d]). n elements; op and alpha as the entry point reads them.
struct Strided {
    n: u32, op: u32, dims: u32, a_off: u32,
    b_off: u32, alpha: f32, _p0: u32, _p1: u32,
    shape: array<vec4<u32>, 2>,
    a_str: array<vec4<u32>, 2>,
    b_str: array<vec4<u32>, 2>,
};

fn dim_of(a: array<vec4<u32>, 2>, d: u32) -> u32 {
    return a[d / 4u][d % 4u];
}

// The invocation's index in a 1-D launch of workgroups of 256 that spills
// into y past the per-dimension limit.
fn flat_index(gid: vec3<u32>, nwg: vec3<u32>) -> u32 {
    return gid.x + gid.y * nwg.x * 256u;
}
