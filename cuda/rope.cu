// rope.cu — rotate-half RoPE:
//   rope_<T>(x, cos, sin, y, outer, t, inner, d)
//     y[.., j]        = x[.., j]·cos − x[.., j + d/2]·sin
//     y[.., j + d/2]  = x[.., j + d/2]·cos + x[.., j]·sin      (j < d/2)
// Shape letters: x and y [outer, t, inner, d] dense; f32 tables cos/sin
// [t, d/2] (row ti for every (outer, inner) of position ti).
// Launch: one thread per (row, pair) — or per V pairs when half of d is a
// whole number of 16-byte vectors — blocks of 256, grid-stride.

// V consecutive pairs a thread when half = d/2 is a whole number of 16-byte
// vectors (x and y dense from offset 0), one pair otherwise.
template <typename T, int V>
__device__ __forceinline__ void rope_pairs(const T* __restrict__ x, const float* __restrict__ cos,
                                           const float* __restrict__ sin, T* __restrict__ y, int outer, int t,
                                           int inner, int d) {
    int half = d / 2;
    long long groups = (long long)outer * t * inner * (half / V);
    long long stride = (long long)gridDim.x * blockDim.x;
    for (long long p = (long long)blockIdx.x * blockDim.x + threadIdx.x; p < groups; p += stride) {
        int j = (int)(p % (half / V)) * V;
        long long row = p / (half / V);
        int ti = (row / inner) % t;
        float a[V], b[V], ya[V], yb[V];
        load_vec<T, V>(x + row * d + j, a);
        load_vec<T, V>(x + row * d + j + half, b);
#pragma unroll
        for (int e = 0; e < V; ++e) {
            float c = cos[ti * half + j + e], s = sin[ti * half + j + e];
            ya[e] = a[e] * c - b[e] * s;
            yb[e] = b[e] * c + a[e] * s;
        }
        store_vec<T, V>(y + row * d + j, ya);
        store_vec<T, V>(y + row * d + j + half, yb);
    }
}

#define ROPE(T)                                                                                         \
    extern "C" __global__ void rope_##T(const T* __restrict__ x, const float* __restrict__ cos,         \
                                        const float* __restrict__ sin, T* __restrict__ y, int outer,   \
                                        int t, int inner, int d) {                                     \
        const int V = 16 / sizeof(T);                                                                  \
        if ((d / 2) % V == 0) rope_pairs<T, V>(x, cos, sin, y, outer, t, inner, d);                    \
        else rope_pairs<T, 1>(x, cos, sin, y, outer, t, inner, d);                                     \
    }

#define ROPE_ALL(T) ROPE(T)
ROPE_ALL(float)
ROPE_ALL(bf16)
ROPE_ALL(f16)
