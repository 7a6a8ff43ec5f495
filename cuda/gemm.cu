// gemm.cu — batched GEMM over strided operands, f32 accumulation:
//   C[b, i, j] = alpha · Σ_k A[b, i, k]·B[b, k, j] + beta · C[b, i, j]
// Shape letters: batch, M, N, K; every operand has an offset, a batch stride
// and row/column strides in elements (a transposed operand is just swapped
// strides; a broadcast batch has stride 0), as the CPU GemmParams.
//   gemm_f32        SIMT, block tile 128×128×8, 256 threads of 8×8 outputs,
//                   operands staged through shared memory
//   gemm_bf16/f16   tensor cores: mma.sync.m16n8k16 (sm_80+), block tile
//                   128×128×32, 8 warps of 64×32, f32 accumulators
// Launch: grid (ceil(N/128), ceil(M/128), batch), block 256.

struct GemmParams {
    int m, n, k;
    float alpha, beta;
    long long a_off, a_bs, a_rs, a_cs;
    long long b_off, b_bs, b_rs, b_cs;
    long long c_off, c_bs, c_rs, c_cs;
};

#define BM 128
#define BN 128

extern "C" __global__ void __launch_bounds__(256) gemm_f32(const float* __restrict__ A, const float* __restrict__ B,
                                                           float* __restrict__ C, GemmParams p) {
    const int BK = 8;
    __shared__ float As[BK][BM + 4];
    __shared__ float Bs[BK][BN + 4];
    int bz = blockIdx.z, row0 = blockIdx.y * BM, col0 = blockIdx.x * BN;
    const float* a = A + p.a_off + bz * p.a_bs;
    const float* b = B + p.b_off + bz * p.b_bs;
    int tx = threadIdx.x % 16, ty = threadIdx.x / 16;
    float acc[8][8] = {};
    for (int k0 = 0; k0 < p.k; k0 += BK) {
        // 128×8 of A and 8×128 of B: 4 elements each per thread.
        for (int e = threadIdx.x; e < BM * BK; e += 256) {
            int i = e / BK, kk = e % BK;
            int gi = row0 + i, gk = k0 + kk;
            As[kk][i] = (gi < p.m && gk < p.k) ? a[gi * p.a_rs + gk * p.a_cs] : 0.0f;
            int j = e % BN, kb = e / BN;
            int gj = col0 + j, gkb = k0 + kb;
            Bs[kb][j] = (gj < p.n && gkb < p.k) ? b[gkb * p.b_rs + gj * p.b_cs] : 0.0f;
        }
        __syncthreads();
#pragma unroll
        for (int kk = 0; kk < BK; ++kk) {
            float ra[8], rb[8];
#pragma unroll
            for (int r = 0; r < 8; ++r) ra[r] = As[kk][ty * 8 + r];
#pragma unroll
            for (int c = 0; c < 8; ++c) rb[c] = Bs[kk][tx * 8 + c];
#pragma unroll
            for (int r = 0; r < 8; ++r)
#pragma unroll
                for (int c = 0; c < 8; ++c) acc[r][c] = fmaf(ra[r], rb[c], acc[r][c]);
        }
        __syncthreads();
    }
    float* c = C + p.c_off + bz * p.c_bs;
#pragma unroll
    for (int r = 0; r < 8; ++r) {
        int gi = row0 + ty * 8 + r;
        if (gi >= p.m) continue;
#pragma unroll
        for (int cc = 0; cc < 8; ++cc) {
            int gj = col0 + tx * 8 + cc;
            if (gj >= p.n) continue;
            float* out = c + gi * p.c_rs + gj * p.c_cs;
            float v = p.alpha * acc[r][cc];
            *out = p.beta == 0.0f ? v : v + p.beta * *out;
        }
    }
}

// Tiles in shared memory, k contiguous (+8 halves of padding against bank conflicts):
// As[i][k] and Bs[j][k], so every fragment register is one aligned 32-bit load.
// (fragment layout of m16n8k16: common.cuh, mma_bf16_16816).
#define GEMM_TC(T, MMA)                                                                                  \
    extern "C" __global__ void __launch_bounds__(256) gemm_##T(const T* __restrict__ A, const T* __restrict__ B, \
                                                               T* __restrict__ C, GemmParams p) {        \
        const int BK = 32, LD = BK + 8;                                                                  \
        __shared__ __align__(16) unsigned short As[BM * LD];                                             \
        __shared__ __align__(16) unsigned short Bs[BN * LD];                                             \
        int bz = blockIdx.z, row0 = blockIdx.y * BM, col0 = blockIdx.x * BN;                             \
        const unsigned short* a = (const unsigned short*)A + p.a_off + bz * p.a_bs;                      \
        const unsigned short* b = (const unsigned short*)B + p.b_off + bz * p.b_bs;                      \
        int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;                                            \
        int wm = (warp / 4) * 64, wn = (warp % 4) * 32;                                                  \
        int g = lane >> 2, t = lane & 3;                                                                 \
        float acc[4][4][4] = {};                                                                         \
        for (int k0 = 0; k0 < p.k; k0 += BK) {                                                           \
            for (int e = threadIdx.x; e < BM * BK; e += 256) {                                           \
                int i = e / BK, kk = e % BK;                                                             \
                int gi = row0 + i, gk = k0 + kk;                                                         \
                As[i * LD + kk] = (gi < p.m && gk < p.k) ? a[gi * p.a_rs + gk * p.a_cs] : (unsigned short)0; \
                int gj = col0 + i;                                                                       \
                Bs[i * LD + kk] = (gj < p.n && gk < p.k) ? b[gk * p.b_rs + gj * p.b_cs] : (unsigned short)0; \
            }                                                                                            \
            __syncthreads();                                                                             \
            _Pragma("unroll") for (int ks = 0; ks < BK; ks += 16) {                                      \
                unsigned fa[4][4], fb[4][2];                                                             \
                _Pragma("unroll") for (int mi = 0; mi < 4; ++mi) {                                       \
                    const unsigned short* s = As + (wm + mi * 16 + g) * LD + ks + 2 * t;                 \
                    fa[mi][0] = *(const unsigned*)s;                                                     \
                    fa[mi][1] = *(const unsigned*)(s + 8 * LD);                                          \
                    fa[mi][2] = *(const unsigned*)(s + 8);                                               \
                    fa[mi][3] = *(const unsigned*)(s + 8 * LD + 8);                                      \
                }                                                                                        \
                _Pragma("unroll") for (int ni = 0; ni < 4; ++ni) {                                       \
                    const unsigned short* s = Bs + (wn + ni * 8 + g) * LD + ks + 2 * t;                  \
                    fb[ni][0] = *(const unsigned*)s;                                                     \
                    fb[ni][1] = *(const unsigned*)(s + 8);                                               \
                }                                                                                        \
                _Pragma("unroll") for (int mi = 0; mi < 4; ++mi)                                         \
                    _Pragma("unroll") for (int ni = 0; ni < 4; ++ni) MMA(acc[mi][ni], fa[mi], fb[ni]);   \
            }                                                                                            \
            __syncthreads();                                                                             \
        }                                                                                                \
        T* c = C + p.c_off + bz * p.c_bs;                                                                \
        _Pragma("unroll") for (int mi = 0; mi < 4; ++mi)                                                 \
            _Pragma("unroll") for (int ni = 0; ni < 4; ++ni)                                             \
                _Pragma("unroll") for (int q = 0; q < 4; ++q) {                                          \
                    int gi = row0 + wm + mi * 16 + g + (q >= 2 ? 8 : 0);                                 \
                    int gj = col0 + wn + ni * 8 + 2 * t + (q & 1);                                       \
                    if (gi < p.m && gj < p.n) {                                                          \
                        T* out = c + gi * p.c_rs + gj * p.c_cs;                                          \
                        float v = p.alpha * acc[mi][ni][q];                                              \
                        *out = from_f32<T>(p.beta == 0.0f ? v : v + p.beta * to_f32(*out));              \
                    }                                                                                    \
                }                                                                                        \
    }

GEMM_TC(bf16, mma_bf16_16816)
GEMM_TC(f16, mma_f16_16816)
