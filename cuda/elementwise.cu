// elementwise.cu — one thread per output element (grid-stride), f32 math:
//   unary_<op>_<T>(x, y, n, alpha)      y[i] = op(x[i])  (x, y dense, n elements;
//                                       op: gelu, gelu_tanh, quick_gelu, silu, tanh, scale)
//   binary_<op>_<T>(a, b, y, sa, sb, n) y[i] = a[sa(i)] op b[sb(i)], op: add sub mul div;
//                                       sa, sb broadcast the operands to y's shape [n]
//   copy_<S>_<D>(x, y, sx, n)           y[i] = D(x[sx(i)]): strided copy and dtype cast
//   binary_dense_<op>_<T>(a, b, y, n)   the same with a, b dense of y's shape
//   copy_dense16(x, y, n16)             n16 × 16 bytes, same dtype
//   embedding_<T>(table, ids, y, rows, d, vocab)  y[r, :] = table[ids[r], :]; an id ≥ vocab
//                                          gives a zero row (the caller reports it, on the host)
// Launch: blocks of 256 threads, enough blocks to cover n (grid-stride beyond).
// The dense paths move 16 bytes per thread per step when n allows it.

// 16 bytes per thread per step when n is a whole number of them (x and y
// are dense device buffers from offset 0, so 16-byte aligned).
#define UNARY(OP, EXPR, T)                                                                            \
    extern "C" __global__ void unary_##OP##_##T(const T* __restrict__ x, T* __restrict__ y, long long n, \
                                                float alpha) {                                        \
        const int V = 16 / sizeof(T);                                                                 \
        long long stride = (long long)gridDim.x * blockDim.x;                                         \
        long long i0 = (long long)blockIdx.x * blockDim.x + threadIdx.x;                              \
        if (n % V == 0) {                                                                             \
            for (long long i = i0 * V; i < n; i += stride * V) {                                      \
                float f[V];                                                                           \
                load_vec<T, V>(x + i, f);                                                             \
                _Pragma("unroll") for (int j = 0; j < V; ++j) {                                       \
                    float v = f[j];                                                                   \
                    f[j] = EXPR;                                                                      \
                }                                                                                     \
                store_vec<T, V>(y + i, f);                                                            \
            }                                                                                         \
            return;                                                                                   \
        }                                                                                             \
        for (long long i = i0; i < n; i += stride) {                                                  \
            float v = to_f32(x[i]);                                                                   \
            y[i] = from_f32<T>(EXPR);                                                                 \
        }                                                                                             \
    }

#define UNARY_ALL(T)                            \
    UNARY(gelu, op_gelu(v), T)                  \
    UNARY(gelu_tanh, op_gelu_tanh(v), T)        \
    UNARY(quick_gelu, op_quick_gelu(v), T)      \
    UNARY(silu, op_silu(v), T)                  \
    UNARY(tanh, op_tanh(v), T)                  \
    UNARY(scale, v * alpha, T)

UNARY_ALL(float)
UNARY_ALL(bf16)
UNARY_ALL(f16)

#define BINARY(OP, EXPR, T)                                                                            \
    extern "C" __global__ void binary_##OP##_##T(const T* __restrict__ a, const T* __restrict__ b,     \
                                                 T* __restrict__ y, Strided sa, Strided sb, long long n) { \
        long long stride = (long long)gridDim.x * blockDim.x;                                          \
        for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += stride) {     \
            float p = to_f32(a[strided_at(sa, i)]), q = to_f32(b[strided_at(sb, i)]);                  \
            y[i] = from_f32<T>(EXPR);                                                                  \
        }                                                                                              \
    }

// Both operands dense, of y's shape (a residual add, SwiGLU's product):
// 16 bytes per thread per step when n allows, no index arithmetic.
#define BINARY_DENSE(OP, EXPR, T)                                                                      \
    extern "C" __global__ void binary_dense_##OP##_##T(const T* __restrict__ a, const T* __restrict__ b, \
                                                       T* __restrict__ y, long long n) {               \
        const int V = 16 / sizeof(T);                                                                  \
        long long stride = (long long)gridDim.x * blockDim.x;                                          \
        long long i0 = (long long)blockIdx.x * blockDim.x + threadIdx.x;                               \
        if (n % V == 0) {                                                                              \
            for (long long i = i0 * V; i < n; i += stride * V) {                                       \
                float fa[V], fb[V];                                                                    \
                load_vec<T, V>(a + i, fa);                                                             \
                load_vec<T, V>(b + i, fb);                                                             \
                _Pragma("unroll") for (int j = 0; j < V; ++j) {                                        \
                    float p = fa[j], q = fb[j];                                                        \
                    fa[j] = EXPR;                                                                      \
                }                                                                                      \
                store_vec<T, V>(y + i, fa);                                                            \
            }                                                                                          \
            return;                                                                                    \
        }                                                                                              \
        for (long long i = i0; i < n; i += stride) {                                                   \
            float p = to_f32(a[i]), q = to_f32(b[i]);                                                  \
            y[i] = from_f32<T>(EXPR);                                                                  \
        }                                                                                              \
    }

#define BINARY_ALL(T)                                                                                  \
    BINARY(add, p + q, T) BINARY(sub, p - q, T) BINARY(mul, p * q, T) BINARY(div, p / q, T)            \
    BINARY_DENSE(add, p + q, T) BINARY_DENSE(sub, p - q, T) BINARY_DENSE(mul, p * q, T)                \
    BINARY_DENSE(div, p / q, T)

BINARY_ALL(float)
BINARY_ALL(bf16)
BINARY_ALL(f16)

#define COPY(S, D)                                                                                      \
    extern "C" __global__ void copy_##S##_##D(const S* __restrict__ x, D* __restrict__ y, Strided sx,  \
                                              long long n) {                                           \
        long long stride = (long long)gridDim.x * blockDim.x;                                          \
        for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += stride)       \
            y[i] = from_f32<D>(to_f32(x[strided_at(sx, i)]));                                          \
    }

COPY(float, float) COPY(float, bf16) COPY(float, f16)
COPY(bf16, float) COPY(bf16, bf16) COPY(bf16, f16)
COPY(f16, float) COPY(f16, bf16) COPY(f16, f16)

// Dense 16-byte copy: n16 chunks of 16 bytes (the caller handles the tail).
extern "C" __global__ void copy_dense16(const uint4* __restrict__ x, uint4* __restrict__ y, long long n16) {
    long long stride = (long long)gridDim.x * blockDim.x;
    for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < n16; i += stride) y[i] = x[i];
}

// One block row per id; 16-byte moves when d·sizeof(T) is a multiple of 16.
#define EMBEDDING(T)                                                                                     \
    extern "C" __global__ void embedding_##T(const T* __restrict__ table, const unsigned* __restrict__ ids, \
                                             T* __restrict__ y, int rows, int d, int vocab) {             \
        int r = blockIdx.x;                                                                              \
        if (r >= rows) return;                                                                           \
        unsigned id = ids[r];                                                                            \
        T* dst = y + (long long)r * d;                                                                   \
        if (id >= (unsigned)vocab) {                                                                     \
            float zero[1] = {0.0f};                                                                      \
            for (int i = threadIdx.x; i < d; i += blockDim.x) store_vec<T, 1>(dst + i, zero);            \
            return;                                                                                      \
        }                                                                                                \
        const T* src = table + (long long)id * d;                                                        \
        if ((d * sizeof(T)) % 16 == 0) {                                                                 \
            const uint4* s4 = (const uint4*)src;                                                         \
            uint4* d4 = (uint4*)dst;                                                                     \
            for (int i = threadIdx.x; i < d * (int)sizeof(T) / 16; i += blockDim.x) d4[i] = s4[i];        \
        } else {                                                                                         \
            for (int i = threadIdx.x; i < d; i += blockDim.x) dst[i] = src[i];                           \
        }                                                                                                \
    }

EMBEDDING(float)
EMBEDDING(bf16)
EMBEDDING(f16)
