// common.cuh — what every kernel file shares, pasted in front of each by the
// loader (NVRTC compiles one translation unit, no include paths):
//   - 16-bit float storage (bf16, f16) with conversions through inline PTX,
//     so no cuda_fp16.h / cuda_bf16.h is needed;
//   - warp and block reductions;
//   - strided indexing for tensors of up to MAX_DIMS dimensions.
// Every kernel computes in f32 and stores in its dtype.

#define MAX_DIMS 6
#define NEG_INF __int_as_float(0xff800000u)

struct bf16 { unsigned short x; };
struct f16 { unsigned short x; };

__device__ __forceinline__ float to_f32(float v) { return v; }
__device__ __forceinline__ float to_f32(bf16 v) { return __uint_as_float(((unsigned)v.x) << 16); }
__device__ __forceinline__ float to_f32(f16 v) {
    float f;
    asm("cvt.f32.f16 %0, %1;" : "=f"(f) : "h"(v.x));
    return f;
}

template <typename T> __device__ __forceinline__ T from_f32(float v);
template <> __device__ __forceinline__ float from_f32<float>(float v) { return v; }
template <> __device__ __forceinline__ bf16 from_f32<bf16>(float v) {
    bf16 r;
    asm("cvt.rn.bf16.f32 %0, %1;" : "=h"(r.x) : "f"(v));
    return r;
}
template <> __device__ __forceinline__ f16 from_f32<f16>(float v) {
    f16 r;
    asm("cvt.rn.f16.f32 %0, %1;" : "=h"(r.x) : "f"(v));
    return r;
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
