// layout.wgsl — data movement, one invocation per output element (x + y·nx·256):
//   im2col: x [N, C, H, W] → y [N, OH·OW, C·k·k], columns (c, ky, kx) like a conv
//           weight flattened; zero where the window leaves the image
//   concat: y[o·inner_y + at + i] = x[o·inner_x + i] for o < outer, i < inner_x
//           (one part of a concatenation, or rows written into a KV cache)

struct LayoutParams {
    n: u32, c: u32, h: u32, w: u32,
    k: u32, stride: u32, pad: u32, oh: u32,
    ow: u32, total: u32, inner_x: u32, inner_y: u32,
    at: u32, _p0: u32, _p1: u32, _p2: u32,
};

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> y: array<f32>;
@group(0) @binding(2) var<uniform> p: LayoutParams;

@compute @workgroup_size(256)
fn im2col(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = flat_index(gid, nwg);
    if (i >= p.total) { return; }
    let cols = p.c * p.k * p.k;
    let col = i % cols;
    let pix = i / cols;
    let ox = pix % p.ow;
    let oy = (pix / p.ow) % p.oh;
    let bi = pix / (p.ow * p.oh);
    let kx = col % p.k;
    let ky = (col / p.k) % p.k;
    let ch = col / (p.k * p.k);
    let iy = i32(oy * p.stride + ky) - i32(p.pad);
    let ix = i32(ox * p.stride + kx) - i32(p.pad);
    var v = 0.0;
    if (iy >= 0 && iy < i32(p.h) && ix >= 0 && ix < i32(p.w)) {
        v = x[((bi * p.c + ch) * p.h + u32(iy)) * p.w + u32(ix)];
    }
    y[i] = v;
}

@compute @workgroup_size(256)
fn concat(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = flat_index(gid, nwg);
    if (i >= p.total) { return; }
    y[(i / p.inner_x) * p.inner_y + p.at + i % p.inner_x] = x[i];
}
