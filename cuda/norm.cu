// norm.cu — row-wise ops over the last dimension (one block per row), and RoPE:
//   layer_norm_<T>(x, w, b, y, rows, n, eps)  y = (x − mean)/√(var + eps)·w + b
//   rms_norm_<T>(x, w, y, rows, n, eps)       y = x/√(mean(x²) + eps)·w
//   softmax_<T>(x, y, rows, n)                y = exp(x − max)/Σ exp(x − max)
//   rope_<T>(x, cos, sin, y, outer, t, inner, d)  rotate-half RoPE on x [outer, t, inner, d]
//                                             with f32 tables cos/sin [t, d/2]
// Shapes: rows × n, row-major. Launch: grid = rows, block = 256 threads
// (a multiple of 32); rope: one thread per (row, pair), blocks of 256.
// Statistics in f32; layer/rms norm move 16 bytes per access when the row allows.

// One row per block: mean, then variance (two passes, as the CPU reference),
// then the affine output; the row's later passes hit L1.
template <typename T, int V>
__device__ __forceinline__ void layer_norm_row(const T* __restrict__ xr, const T* __restrict__ w,
                                               const T* __restrict__ b, T* __restrict__ yr, int n, float eps,
                                               float* scratch) {
    float f[V], fw[V], fb[V], s = 0.0f, q = 0.0f;
    for (int i = threadIdx.x * V; i < n; i += blockDim.x * V) {
        load_vec<T, V>(xr + i, f);
#pragma unroll
        for (int j = 0; j < V; ++j) s += f[j];
    }
    float mean = block_sum(s, scratch) / n;
    for (int i = threadIdx.x * V; i < n; i += blockDim.x * V) {
        load_vec<T, V>(xr + i, f);
#pragma unroll
        for (int j = 0; j < V; ++j) q += (f[j] - mean) * (f[j] - mean);
    }
    float inv = rsqrtf(block_sum(q, scratch) / n + eps);
    for (int i = threadIdx.x * V; i < n; i += blockDim.x * V) {
        load_vec<T, V>(xr + i, f);
        load_vec<T, V>(w + i, fw);
        load_vec<T, V>(b + i, fb);
#pragma unroll
        for (int j = 0; j < V; ++j) f[j] = (f[j] - mean) * inv * fw[j] + fb[j];
        store_vec<T, V>(yr + i, f);
    }
}

template <typename T, int V>
__device__ __forceinline__ void rms_norm_row(const T* __restrict__ xr, const T* __restrict__ w, T* __restrict__ yr,
                                             int n, float eps, float* scratch) {
    float f[V], fw[V], q = 0.0f;
    for (int i = threadIdx.x * V; i < n; i += blockDim.x * V) {
        load_vec<T, V>(xr + i, f);
#pragma unroll
        for (int j = 0; j < V; ++j) q += f[j] * f[j];
    }
    float inv = rsqrtf(block_sum(q, scratch) / n + eps);
    for (int i = threadIdx.x * V; i < n; i += blockDim.x * V) {
        load_vec<T, V>(xr + i, f);
        load_vec<T, V>(w + i, fw);
#pragma unroll
        for (int j = 0; j < V; ++j) f[j] = f[j] * inv * fw[j];
        store_vec<T, V>(yr + i, f);
    }
}

// Rows start 16-byte aligned when n is a multiple of 16 / sizeof(T) (the
// buffers themselves are device allocations, dense from offset 0).
#define LAYER_NORM(T)                                                                                   \
    extern "C" __global__ void layer_norm_##T(const T* __restrict__ x, const T* __restrict__ w,        \
                                              const T* __restrict__ b, T* __restrict__ y, int rows,    \
                                              int n, float eps) {                                      \
        __shared__ float scratch[32];                                                                  \
        int r = blockIdx.x;                                                                            \
        if (r >= rows) return;                                                                         \
        const int V = 16 / sizeof(T);                                                                  \
        long long o = (long long)r * n;                                                                \
        if (n % V == 0) layer_norm_row<T, V>(x + o, w, b, y + o, n, eps, scratch);                     \
        else layer_norm_row<T, 1>(x + o, w, b, y + o, n, eps, scratch);                                \
    }

#define RMS_NORM(T)                                                                                     \
    extern "C" __global__ void rms_norm_##T(const T* __restrict__ x, const T* __restrict__ w,          \
                                            T* __restrict__ y, int rows, int n, float eps) {           \
        __shared__ float scratch[32];                                                                  \
        int r = blockIdx.x;                                                                            \
        if (r >= rows) return;                                                                         \
        const int V = 16 / sizeof(T);                                                                  \
        long long o = (long long)r * n;                                                                \
        if (n % V == 0) rms_norm_row<T, V>(x + o, w, y + o, n, eps, scratch);                          \
        else rms_norm_row<T, 1>(x + o, w, y + o, n, eps, scratch);                                     \
    }

#define SOFTMAX(T)                                                                                      \
    extern "C" __global__ void softmax_##T(const T* __restrict__ x, T* __restrict__ y, int rows, int n) { \
        __shared__ float scratch[32];                                                                  \
        int r = blockIdx.x;                                                                            \
        if (r >= rows) return;                                                                         \
        const T* xr = x + (long long)r * n;                                                            \
        float m = NEG_INF;                                                                             \
        for (int i = threadIdx.x; i < n; i += blockDim.x) m = fmaxf(m, to_f32(xr[i]));                 \
        m = block_max(m, scratch);                                                                     \
        float s = 0.0f;                                                                                \
        for (int i = threadIdx.x; i < n; i += blockDim.x) s += __expf(to_f32(xr[i]) - m);              \
        float inv = 1.0f / block_sum(s, scratch);                                                      \
        T* yr = y + (long long)r * n;                                                                  \
        for (int i = threadIdx.x; i < n; i += blockDim.x) yr[i] = from_f32<T>(__expf(to_f32(xr[i]) - m) * inv); \
    }

#define ROPE(T)                                                                                         \
    extern "C" __global__ void rope_##T(const T* __restrict__ x, const float* __restrict__ cos,         \
                                        const float* __restrict__ sin, T* __restrict__ y, int outer,   \
                                        int t, int inner, int d) {                                     \
        int half = d / 2;                                                                              \
        long long pairs = (long long)outer * t * inner * half;                                         \
        long long stride = (long long)gridDim.x * blockDim.x;                                          \
        for (long long p = (long long)blockIdx.x * blockDim.x + threadIdx.x; p < pairs; p += stride) { \
            int j = p % half;                                                                          \
            long long row = p / half;                                                                  \
            int ti = (row / inner) % t;                                                                \
            const T* xr = x + row * d;                                                                 \
            T* yr = y + row * d;                                                                       \
            float a = to_f32(xr[j]), b = to_f32(xr[j + half]);                                         \
            float c = cos[ti * half + j], s = sin[ti * half + j];                                      \
            yr[j] = from_f32<T>(a * c - b * s);                                                        \
            yr[j + half] = from_f32<T>(b * c + a * s);                                                 \
        }                                                                                              \
    }

#define NORM_ALL(T) LAYER_NORM(T) RMS_NORM(T) SOFTMAX(T) ROPE(T)
NORM_ALL(float)
NORM_ALL(bf16)
NORM_ALL(f16)
