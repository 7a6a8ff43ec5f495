// common.cuh — what every kernel file shares, pasted in front of each by the
// loader (NVRTC compiles one translation unit, no include paths):
//   - 16-bit float storage (bf16, f16) with conversions through inline PTX,
//     so no cuda_fp16.h / cuda_bf16.h is needed;
//   - tensor-core and async-copy instructions (mma.sync, ldmatrix, cp.async);
//   - warp and block reductions;
//   - strided indexing for tensors of up to MAX_DIMS dimensions.
// Every kernel computes in f32 and stores in its dtype.

#define MAX_DIMS 6
#define NEG_INF __int_as_float(0xff800000u)

struct bf16 { unsigned short x; };
struct f16 { unsigned short x; };

// Inline PTX, each behind a wrapper that tools/cuda-emu/emu.h replaces when
// the kernels run on the CPU emulator (IRIS_EMU).
#ifndef IRIS_EMU
__device__ __forceinline__ float f16_bits_to_f32(unsigned short h) {
    float f;
    asm("cvt.f32.f16 %0, %1;" : "=f"(f) : "h"(h));
    return f;
}
__device__ __forceinline__ unsigned short f32_to_bf16_bits(float v) {
    unsigned short r;
    asm("cvt.rn.bf16.f32 %0, %1;" : "=h"(r) : "f"(v));
    return r;
}
__device__ __forceinline__ unsigned short f32_to_f16_bits(float v) {
    unsigned short r;
    asm("cvt.rn.f16.f32 %0, %1;" : "=h"(r) : "f"(v));
    return r;
}

// A shared-memory address as the 32-bit operand ldmatrix and cp.async take.
__device__ __forceinline__ unsigned smem_u32(const void* p) {
    unsigned r;
    asm("{ .reg .u64 a; cvta.to.shared.u64 a, %1; cvt.u32.u64 %0, a; }" : "=r"(r) : "l"(p));
    return r;
}

// D += A·B for one 16×8×16 tile (sm_80+): a[4], b[2] hold pairs of 16-bit
// values, low half first. g = lane/4, t = lane%4:
//   A: a0 (g, 2t..2t+1)  a1 (g+8, 2t..)  a2 (g, 2t+8..)  a3 (g+8, 2t+8..)
//   B: b0 (k 2t..2t+1, n g)  b1 (k 2t+8.., n g)
//   D: d0,d1 (g, 2t..2t+1)  d2,d3 (g+8, 2t..2t+1)
__device__ __forceinline__ void mma_bf16_16816(float* d, const unsigned* a, const unsigned* b) {
    asm volatile(
        "mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, "
        "{%0,%1,%2,%3};"
        : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
        : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]));
}
__device__ __forceinline__ void mma_f16_16816(float* d, const unsigned* a, const unsigned* b) {
    asm volatile(
        "mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, "
        "{%0,%1,%2,%3};"
        : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
        : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]));
}

// Four 8×8 tiles of 16-bit values from shared memory: lane l names row l%8 of
// tile l/8; register j gets tile j's (row l/4, cols 2(l%4)..+1), or with
// _trans its (rows 2(l%4)..+1, col l/4).
__device__ __forceinline__ void ldmatrix_x4(unsigned* r, const void* row) {
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0,%1,%2,%3}, [%4];"
                 : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
                 : "r"(smem_u32(row))
                 : "memory");
}
__device__ __forceinline__ void ldmatrix_x4_trans(unsigned* r, const void* row) {
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0,%1,%2,%3}, [%4];"
                 : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
                 : "r"(smem_u32(row))
                 : "memory");
}

// 16 bytes global → shared without passing through registers (sm_80+); only
// the first `bytes` are read, the rest of the 16 are zeros.
__device__ __forceinline__ void cp_async16(void* dst, const void* src, int bytes) {
    asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;" ::"r"(smem_u32(dst)), "l"(src), "r"(bytes)
                 : "memory");
}
__device__ __forceinline__ void cp_async_commit() { asm volatile("cp.async.commit_group;" ::: "memory"); }
// Waits until at most N of this thread's committed groups are still in flight.
template <int N> __device__ __forceinline__ void cp_async_wait() {
    asm volatile("cp.async.wait_group %0;" ::"n"(N) : "memory");
}
#else
#define f16_bits_to_f32 emu::f16_to_f32
#define f32_to_bf16_bits emu::f32_to_bf16
#define f32_to_f16_bits emu::f32_to_f16
#endif

__device__ __forceinline__ float to_f32(float v) { return v; }
__device__ __forceinline__ float to_f32(bf16 v) { return __uint_as_float(((unsigned)v.x) << 16); }
__device__ __forceinline__ float to_f32(f16 v) { return f16_bits_to_f32(v.x); }

template <typename T> __device__ __forceinline__ T from_f32(float v);
template <> __device__ __forceinline__ float from_f32<float>(float v) { return v; }
template <> __device__ __forceinline__ bf16 from_f32<bf16>(float v) { return bf16{f32_to_bf16_bits(v)}; }
template <> __device__ __forceinline__ f16 from_f32<f16>(float v) { return f16{f32_to_f16_bits(v)}; }

// Activations (f32 math), shared by elementwise.cu and the GEMM epilogues.
__device__ __forceinline__ float op_gelu(float x) { return 0.5f * x * (1.0f + erff(x * 0.70710678118654752f)); }
__device__ __forceinline__ float op_gelu_tanh(float x) {
    return 0.5f * x * (1.0f + tanhf(0.7978845608028654f * (x + 0.044715f * x * x * x)));
}
__device__ __forceinline__ float op_quick_gelu(float x) { return x / (1.0f + expf(-1.702f * x)); }
__device__ __forceinline__ float op_silu(float x) { return x / (1.0f + expf(-x)); }
__device__ __forceinline__ float op_tanh(float x) { return tanhf(x); }

// The GEMM epilogue's activation code (crates/kernels/src/cuda/ops: `act_code`).
enum Act { ACT_NONE = 0, ACT_GELU = 1, ACT_GELU_TANH = 2, ACT_QUICK_GELU = 3, ACT_SILU = 4 };
__device__ __forceinline__ float apply_act(int act, float v) {
    switch (act) {
        case ACT_GELU: return op_gelu(v);
        case ACT_GELU_TANH: return op_gelu_tanh(v);
        case ACT_QUICK_GELU: return op_quick_gelu(v);
        case ACT_SILU: return op_silu(v);
        default: return v;
    }
}

__device__ __forceinline__ float warp_sum(float v) {
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    return v;
}

__device__ __forceinline__ float warp_max(float v) {
    for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
    return v;
}

// Sum over the block (blockDim.x a multiple of 32, at most 1024); every thread gets it.
__device__ __forceinline__ float block_sum(float v, float* scratch) {
    int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, warps = blockDim.x >> 5;
    v = warp_sum(v);
    __syncthreads();
    if (lane == 0) scratch[warp] = v;
    __syncthreads();
    v = lane < warps ? scratch[lane] : 0.0f;
    return warp_sum(v);
}

__device__ __forceinline__ float block_max(float v, float* scratch) {
    int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, warps = blockDim.x >> 5;
    v = warp_max(v);
    __syncthreads();
    if (lane == 0) scratch[warp] = v;
    __syncthreads();
    v = lane < warps ? scratch[lane] : NEG_INF;
    return warp_max(v);
}

// V consecutive values as floats: one 16-byte access (V = 16 / sizeof(T),
// the address 16-byte aligned) or, with V = 1, one element.
template <typename T, int V> __device__ __forceinline__ void load_vec(const T* p, float* f) {
    if (V == 1) {
        f[0] = to_f32(*p);
    } else {
        uint4 u = *(const uint4*)p;
        const T* e = (const T*)&u;
#pragma unroll
        for (int j = 0; j < V; ++j) f[j] = to_f32(e[j]);
    }
}
template <typename T, int V> __device__ __forceinline__ void store_vec(T* p, const float* f) {
    if (V == 1) {
        *p = from_f32<T>(f[0]);
    } else {
        uint4 u;
        T* e = (T*)&u;
#pragma unroll
        for (int j = 0; j < V; ++j) e[j] = from_f32<T>(f[j]);
        *(uint4*)p = u;
    }
}

// A strided view: element i of the dense index space [shape] sits at
// offset + Σ idx_d·strides[d] (strides in elements, 0 for a broadcast dim).
struct Strided {
    long long shape[MAX_DIMS];
    long long strides[MAX_DIMS];
    long long offset;
    int dims;
};

// Unrolled over MAX_DIMS so the indices are constants: the struct stays in
// parameter space instead of a local-memory copy.
__device__ __forceinline__ long long strided_at(const Strided& s, long long i) {
    long long off = s.offset;
#pragma unroll
    for (int d = MAX_DIMS - 1; d >= 0; --d) {
        if (d < s.dims) {
            long long n = s.shape[d];
            off += (i % n) * s.strides[d];
            i /= n;
        }
    }
    return off;
}
