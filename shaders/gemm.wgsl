// gemm.wgsl — batched GEMM over strided operands, accumulated in f32:
//   C[b, i, j] = alpha · Σ_k A[b, i, k]·B[b, k, j] + beta · C[b, i, j]
// Storage type T: f32, or f16 in the loader's "f16" specialisation (which
// enables f16 and rebinds the alias below; needs SHADER_F16).
// Shape letters: batch, M, N, K; each operand has (offset, batch stride, row
// stride, column stride) in elements, as the CPU `Gemm` (a transposed operand
// is swapped strides; beta = 0 never reads C).
// Launch: workgroups (ceil(N/64), ceil(M/64), batch) of 16×16 invocations,
// each computing a 4×4 block; 64×16 tiles of A and B staged in workgroup memory.

struct GemmParams {
    m: u32, n: u32, k: u32, batch: u32,
    alpha: f32, beta: f32, _p0: u32, _p1: u32,
    a: vec4<u32>,
    b: vec4<u32>,
    c: vec4<u32>,
};

alias T = f32;
@group(0) @binding(0) var<storage, read> A: array<T>;
@group(0) @binding(1) var<storage, read> B: array<T>;
@group(0) @binding(2) var<storage, read_write> C: array<T>;
@group(0) @binding(3) var<uniform> p: GemmParams;

const TM: u32 = 64u;
const TK: u32 = 16u;
var<workgroup> As: array<f32, 1024>;  // [TK][TM]
var<workgroup> Bs: array<f32, 1024>;  // [TK][TN]

@compute @workgroup_size(16, 16)
fn gemm(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let bz = wg.z;
    let row0 = wg.y * TM;
    let col0 = wg.x * TM;
    let tid = lid.y * 16u + lid.x;
    let abase = p.a.x + bz * p.a.y;
    let bbase = p.b.x + bz * p.b.y;
    var acc: array<f32, 16>;
    for (var k0 = 0u; k0 < p.k; k0 = k0 + TK) {
        for (var e = tid; e < TM * TK; e = e + 256u) {
            let i = e / TK;
            let kk = e % TK;
            var va = 0.0;
            if (row0 + i < p.m && k0 + kk < p.k) { va = f32(A[abase + (row0 + i) * p.a.z + (k0 + kk) * p.a.w]); }
            As[kk * TM + i] = va;
            let j = e % TM;
            let kb = e / TM;
            var vb = 0.0;
            if (col0 + j < p.n && k0 + kb < p.k) { vb = f32(B[bbase + (k0 + kb) * p.b.z + (col0 + j) * p.b.w]); }
            Bs[kb * TM + j] = vb;
        }
        workgroupBarrier();
        for (var kk = 0u; kk < TK; kk = kk + 1u) {
            var ra: array<f32, 4>;
            var rb: array<f32, 4>;
            for (var r = 0u; r < 4u; r = r + 1u) {
                ra[r] = As[kk * TM + lid.y * 4u + r];
                rb[r] = Bs[kk * TM + lid.x * 4u + r];
            }
            for (var r = 0u; r < 4u; r = r + 1u) {
                for (var c = 0u; c < 4u; c = c + 1u) {
                    acc[r * 4u + c] = fma(ra[r], rb[c], acc[r * 4u + c]);
                }
            }
        }
        workgroupBarrier();
    }
    let alpha = p.alpha;
    let beta = p.beta;
    let cbase = p.c.x + bz * p.c.y;
    for (var r = 0u; r < 4u; r = r + 1u) {
        for (var c = 0u; c < 4u; c = c + 1u) {
            let i = row0 + lid.y * 4u + r;
            let j = col0 + lid.x * 4u + c;
            if (i < p.m && j < p.n) {
                let at = cbase + i * p.c.z + j * p.c.w;
                var v = alpha * acc[r * 4u + c];
                if (beta != 0.0) { v = v + beta * f32(C[at]); }
                C[at] = T(v);
            }
        }
    }
}
