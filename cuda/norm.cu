// norm.cu — row-wise ops over the last dimension (one block per row):
//   layer_norm_<T>(x, w, b, y, rows, n, eps)  y = (x − mean)/√(var + eps)·w + b
//   rms_norm_<T>(x, w, y, rows, n, eps)       y = x/√(mean(x²) + eps)·w
//   softmax_<T>(x, y, rows, n)                y = exp(x − max)/Σ exp(x − max)
// Shapes: rows × n, row-major. Launch: grid = rows, block = 256 threads
// (a multiple of 32). Statistics in f32; 16 bytes per access when the row allows.

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

template <typename T, int V>
__device__ __forceinline__ void softmax_row(const T* __restrict__ xr, T* __restrict__ yr, int n, float* scratch) {
    float f[V], m = NEG_INF, s = 0.0f;
    for (int i = threadIdx.x * V; i < n; i += blockDim.x * V) {
        load_vec<T, V>(xr + i, f);
#pragma unroll
        for (int j = 0; j < V; ++j) m = fmaxf(m, f[j]);
    }
    m = block_max(m, scratch);
    for (int i = threadIdx.x * V; i < n; i += blockDim.x * V) {
        load_vec<T, V>(xr + i, f);
#pragma unroll
        for (int j = 0; j < V; ++j) s += __expf(f[j] - m);
    }
    float inv = 1.0f / block_sum(s, scratch);
    for (int i = threadIdx.x * V; i < n; i += blockDim.x * V) {
        load_vec<T, V>(xr + i, f);
#pragma unroll
        for (int j = 0; j < V; ++j) f[j] = __expf(f[j] - m) * inv;
        store_vec<T, V>(yr + i, f);
    }
}

#define SOFTMAX(T)                                                                                      \
    extern "C" __global__ void softmax_##T(const T* __restrict__ x, T* __restrict__ y, int rows, int n) { \
        __shared__ float scratch[32];                                                                  \
        int r = blockIdx.x;                                                                            \
        if (r >= rows) return;                                                                         \
        const int V = 16 / sizeof(T);                                                                  \
        long long o = (long long)r * n;                                                                \
        if (n % V == 0) softmax_row<T, V>(x + o, y + o, n, scratch);                                   \
        else softmax_row<T, 1>(x + o, y + o, n, scratch);                                              \
    }

#define NORM_ALL(T) LAYER_NORM(T) RMS_NORM(T) SOFTMAX(T)
NORM_ALL(float)
NORM_ALL(bf16)
NORM_ALL(f16)
