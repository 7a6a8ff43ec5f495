// layout.cu — data movement with no arithmetic:
//   im2col_<T>(x, y, n, c, h, w, k, stride, pad, oh, ow)
//       x [N, C, H, W] → y [N, OH·OW, C·k·k], columns ordered (c, ky, kx) like a
//       conv weight [D, C, k, k] flattened; zero where the window leaves the image
//   concat_<T>(x, y, outer, inner_x, inner_y, at)
//       y[o, at + i] = x[o, i] for o < outer, i < inner_x: one input of a
//       concatenation along a dimension, viewed as [outer, inner] rows
// Launch: one thread per output element (grid-stride), blocks of 256.

#define IM2COL(T)                                                                                       \
    extern "C" __global__ void im2col_##T(const T* __restrict__ x, T* __restrict__ y, int n, int c,    \
                                          int h, int w, int k, int stride, int pad, int oh, int ow) {  \
        long long cols = (long long)c * k * k;                                                         \
        long long total = (long long)n * oh * ow * cols;                                               \
        long long step = (long long)gridDim.x * blockDim.x;                                            \
        for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < total; i += step) {   \
            int col = i % cols;                                                                        \
            long long pix = i / cols;                                                                  \
            int ox = pix % ow, oy = (pix / ow) % oh, b = pix / ((long long)ow * oh);                   \
            int kx = col % k, ky = (col / k) % k, ch = col / (k * k);                                  \
            int iy = oy * stride - pad + ky, ix = ox * stride - pad + kx;                              \
            bool in = iy >= 0 && iy < h && ix >= 0 && ix < w;                                          \
            y[i] = in ? x[(((long long)b * c + ch) * h + iy) * w + ix] : from_f32<T>(0.0f);             \
        }                                                                                              \
    }

// 16 bytes a thread when both row lengths and `at` are whole 16-byte vectors
// (x and y are device buffers, 16-byte aligned).
#define CONCAT(T)                                                                                       \
    extern "C" __global__ void concat_##T(const T* __restrict__ x, T* __restrict__ y, long long outer, \
                                          long long inner_x, long long inner_y, long long at) {        \
        const int V = 16 / sizeof(T);                                                                  \
        long long step = (long long)gridDim.x * blockDim.x;                                            \
        long long i0 = (long long)blockIdx.x * blockDim.x + threadIdx.x;                               \
        if (inner_x % V == 0 && inner_y % V == 0 && at % V == 0) {                                     \
            long long row = inner_x / V, total = outer * row;                                          \
            for (long long i = i0; i < total; i += step)                                               \
                *(uint4*)(y + (i / row) * inner_y + at + (i % row) * V) = *(const uint4*)(x + i * V);  \
            return;                                                                                    \
        }                                                                                              \
        for (long long i = i0; i < outer * inner_x; i += step)                                         \
            y[(i / inner_x) * inner_y + at + i % inner_x] = x[i];                                      \
    }

IM2COL(float) IM2COL(bf16) IM2COL(f16)
CONCAT(float) CONCAT(bf16) CONCAT(f16)
