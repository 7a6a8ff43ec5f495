// reduce.cu — row-wise reductions over the last dimension (one block per row):
//   reduce_sum_<T>(x, y, rows, n)   y[r] = Σ_j x[r, j]
//   reduce_mean_<T>(x, y, rows, n)  y[r] = Σ_j x[r, j] / n
// Shapes: x rows × n row-major, y [rows]. Launch: grid = rows, block = 256
// threads (a multiple of 32). Sums in f32.

#define REDUCE(OP, DIV, T)                                                                             \
    extern "C" __global__ void reduce_##OP##_##T(const T* __restrict__ x, T* __restrict__ y, int rows,  \
                                                 int n) {                                              \
        __shared__ float scratch[32];                                                                  \
        int r = blockIdx.x;                                                                            \
        if (r >= rows) return;                                                                         \
        const T* xr = x + (long long)r * n;                                                            \
        float s = 0.0f, f[1];                                                                          \
        for (int i = threadIdx.x; i < n; i += blockDim.x) {                                            \
            load_vec<T, 1>(xr + i, f);                                                                 \
            s += f[0];                                                                                 \
        }                                                                                              \
        f[0] = block_sum(s, scratch) / (DIV);                                                          \
        if (threadIdx.x == 0) store_vec<T, 1>(y + r, f);                                               \
    }

#define REDUCE_ALL(T) REDUCE(sum, 1.0f, T) REDUCE(mean, (float)n, T)
REDUCE_ALL(float)
REDUCE_ALL(bf16)
REDUCE_ALL(f16)
