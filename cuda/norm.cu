// norm.cu — row-wise ops over the last dimension (one block per row), and RoPE:
//   layer_norm_<T>(x, w, b, y, rows, n, eps)  y = (x − mean)/√(var + eps)·w + b
//   rms_norm_<T>(x, w, y, rows, n, eps)       y = x/√(mean(x²) + eps)·w
//   softmax_<T>(x, y, rows, n)                y = exp(x − max)/Σ exp(x − max)
//   rope_<T>(x, cos, sin, y, outer, t, inner, d)  rotate-half RoPE on x [outer, t, inner, d]
//                                             with f32 tables cos/sin [t, d/2]
// Shapes: rows × n, row-major. Launch: grid = rows, block = 256 threads
// (a multiple of 32); rope: one thread per (row, pair), blocks of 256.
// Statistics in f32, two passes over the row held in registers/L1.

#define LAYER_NORM(T)                                                                                   \
    extern "C" __global__ void layer_norm_##T(const T* __restrict__ x, const T* __restrict__ w,        \
                                              const T* __restrict__ b, T* __restrict__ y, int rows,    \
                                              int n, float eps) {                                      \
        __shared__ float scratch[32];                                                                  \
        int r = blockIdx.x;                                                                            \
        if (r >= rows) return;                                                                         \
        const T* xr = x + (long long)r * n;                                                            \
        float s = 0.0f;                                                                                \
        for (int i = threadIdx.x; i < n; i += blockDim.x) s += to_f32(xr[i]);                          \
        float mean = block_sum(s, scratch) / n;                                                        \
        float q = 0.0f;                                                                                \
        for (int i = threadIdx.x; i < n; i += blockDim.x) {                                            \
            float d = to_f32(xr[i]) - mean;                                                            \
            q += d * d;                                                                                \
        }                                                                                              \
        float inv = rsqrtf(block_sum(q, scratch) / n + eps);                                           \
        T* yr = y + (long long)r * n;                                                                  \
        for (int i = threadIdx.x; i < n; i += blockDim.x)                                              \
            yr[i] = from_f32<T>((to_f32(xr[i]) - mean) * inv * to_f32(w[i]) + to_f32(b[i]));           \
    }

#define RMS_NORM(T)                                                                                     \
    extern "C" __global__ void rms_norm_##T(const T* __restrict__ x, const T* __restrict__ w,          \
                                            T* __restrict__ y, int rows, int n, float eps) {           \
        __shared__ float scratch[32];                                                                  \
        int r = blockIdx.x;                                                                            \
        if (r >= rows) return;                                                                         \
        const T* xr = x + (long long)r * n;                                                            \
        float q = 0.0f;                                                                                \
        for (int i = threadIdx.x; i < n; i += blockDim.x) {                                            \
            float v = to_f32(xr[i]);                                                                   \
            q += v * v;                                                                                \
        }                                                                                              \
        float inv = rsqrtf(block_sum(q, scratch) / n + eps);                                           \
        T* yr = y + (long long)r * n;                                                                  \
        for (int i = threadIdx.x; i < n; i += blockDim.x) yr[i] = from_f32<T>(to_f32(xr[i]) * inv * to_f32(w[i])); \
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
