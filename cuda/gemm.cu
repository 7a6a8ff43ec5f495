// gemm.cu — batched GEMM over strided operands, f32 accumulation, with the
// epilogue of the CPU's gemm_packed:
//   C[b, i, j] = act(alpha · Σ_k A[b, i, k]·B[b, k, j] + beta · C[b, i, j] + bias[j])
// (bias may be null; act is an `Act` code of common.cuh). Operands whose rows
// are contiguous and 16-byte aligned take the pipelined gemm_tc_* kernels
// below (sm_80+) or gemm_sm90.cu's wgmma kernel (Hopper).
// Shape letters: batch, M, N, K; every operand has an offset, a batch stride
// and row/column strides in elements (a transposed operand is just swapped
// strides; a broadcast batch has stride 0), as the CPU GemmParams.
//   gemm_f32        SIMT, block tile 128×128×8, 256 threads of 8×8 outputs,
//                   operands staged through shared memory
//   gemm_bf16/f16   tensor cores: mma.sync.m16n8k16 (sm_80+), block tile
//                   128×128×32, 8 warps of 64×32, f32 accumulators
// Launch: grid (ceil(N/128), ceil(M/128), batch), block 256.

#include "gemm.cuh"

#define BM 128
#define BN 128

extern "C" __global__ void __launch_bounds__(256) gemm_f32(const float* __restrict__ A, const float* __restrict__ B,
                                                           float* __restrict__ C, GemmParams p,
                                                           const float* __restrict__ bias) {
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
            gemm_store(c + gi * p.c_rs + gj * p.c_cs, acc[r][cc], p, bias, gj);
        }
    }
}

// Tiles in shared memory, k contiguous (+8 halves of padding against bank conflicts):
// As[i][k] and Bs[j][k], so every fragment register is one aligned 32-bit load.
// (fragment layout of m16n8k16: common.cuh, mma_bf16_16816).
#define GEMM_TC(T, MMA)                                                                                  \
    extern "C" __global__ void __launch_bounds__(256) gemm_##T(const T* __restrict__ A, const T* __restrict__ B, \
                                                               T* __restrict__ C, GemmParams p,         \
                                                               const T* __restrict__ bias) {             \
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
                    if (gi < p.m && gj < p.n)                                                            \
                        gemm_store(c + gi * p.c_rs + gj * p.c_cs, acc[mi][ni][q], p, bias, gj);          \
                }                                                                                        \
    }

GEMM_TC(bf16, mma_bf16_16816)
GEMM_TC(f16, mma_f16_16816)

// ---------------------------------------------------------------------------
// gemm_tc_<T>_bk / gemm_tc_<T>_bn — the same product for operands whose rows
// are contiguous and 16-byte aligned (every Linear, most matmuls): A [M, K]
// k-contiguous; B stored [N, K] (bk: a Linear weight) or [K, N] (bn).
// Block tile 128×128×32, 8 warps of 64×32 (mma.sync m16n8k16, f32
// accumulators). Tiles go global → shared by cp.async into a 3-stage ring
// (16 KB a stage, 48 KB in all), so two tiles are in flight while one is
// multiplied; fragments come out by ldmatrix (.trans for bn). Rows are
// XOR-swizzled by 16-byte chunk so the 8 rows one ldmatrix reads sit in
// distinct banks. Launch: grid (ceil(N/128), ceil(M/128), batch), block 256.
#define TC_BK 32
#define TC_STAGES 3
#define TC_TILE_BYTES (BM * TC_BK * 2)

// Byte offset of 16-byte chunk c of row r: rows of 4 chunks (64 B, a [128, 32]
// tile) XOR chunk with row bits 1–2; rows of 16 chunks (256 B, a [32, 128]
// tile) XOR chunk with row bits 0–2.
__device__ __forceinline__ int swz4(int r, int c) { return r * 64 + ((c ^ ((r >> 1) & 3)) << 4); }
__device__ __forceinline__ int swz16(int r, int c) { return r * 256 + ((c ^ (r & 7)) << 4); }

// Rows [r0, r0 + 128) × k [k0, k0 + 32) of a k-contiguous operand with
// `rows` rows: 512 chunks, two per thread; chunks past the edges are zeros.
__device__ __forceinline__ void tc_load_kmajor(char* tile, const unsigned short* base, long long rs, int rows,
                                               int r0, int k, int k0) {
#pragma unroll
    for (int e = threadIdx.x; e < 512; e += 256) {
        int r = e >> 2, c = e & 3, gr = r0 + r, gk = k0 + c * 8;
        int n = gr < rows ? max(0, min(8, k - gk)) : 0;
        cp_async16(tile + swz4(r, c), n > 0 ? base + gr * rs + gk : base, 2 * n);
    }
}

// k [k0, k0 + 32) × columns [n0, n0 + 128) of an n-contiguous B [K, N].
__device__ __forceinline__ void tc_load_nmajor(char* tile, const unsigned short* base, long long rs, int cols,
                                               int n0, int k, int k0) {
#pragma unroll
    for (int e = threadIdx.x; e < 512; e += 256) {
        int r = e >> 4, c = e & 15, gk = k0 + r, gn = n0 + c * 8;
        int n = gk < k ? max(0, min(8, cols - gn)) : 0;
        cp_async16(tile + swz16(r, c), n > 0 ? base + gk * rs + gn : base, 2 * n);
    }
}

// The ring of stages, declared in the kernels below (shared memory lives in the
// kernel, not in a template, so that the emulator can poison it per block).
typedef char TcRing[TC_STAGES][2][TC_TILE_BYTES];

template <typename T, bool B_KMAJOR, void (*MMA)(float*, const unsigned*, const unsigned*)>
__device__ __forceinline__ void gemm_tc(const T* __restrict__ A, const T* __restrict__ B, T* __restrict__ C,
                                        const GemmParams& p, const T* __restrict__ bias, TcRing& smem) {
    int bz = blockIdx.z, row0 = blockIdx.y * BM, col0 = blockIdx.x * BN;
    const unsigned short* a = (const unsigned short*)A + p.a_off + bz * p.a_bs;
    const unsigned short* b = (const unsigned short*)B + p.b_off + bz * p.b_bs;
    int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    int wm = (warp / 4) * 64, wn = (warp % 4) * 32;
    int ktiles = (p.k + TC_BK - 1) / TC_BK;
    auto load = [&](int stage, int kt) {
        tc_load_kmajor(smem[stage][0], a, p.a_rs, p.m, row0, p.k, kt * TC_BK);
        if (B_KMAJOR) tc_load_kmajor(smem[stage][1], b, p.b_cs, p.n, col0, p.k, kt * TC_BK);
        else tc_load_nmajor(smem[stage][1], b, p.b_rs, p.n, col0, p.k, kt * TC_BK);
    };
#pragma unroll
    for (int s = 0; s < TC_STAGES - 1; ++s) {
        if (s < ktiles) load(s, s);
        cp_async_commit();
    }
    float acc[4][4][4] = {};
    for (int kt = 0; kt < ktiles; ++kt) {
        // Tile kt has landed (one group is committed per step, empty or not),
        // and every warp is done with the stage the next load overwrites.
        cp_async_wait<TC_STAGES - 2>();
        __syncthreads();
        int next = kt + TC_STAGES - 1;
        if (next < ktiles) load(next % TC_STAGES, next);
        cp_async_commit();
        const char* as = smem[kt % TC_STAGES][0];
        const char* bs = smem[kt % TC_STAGES][1];
#pragma unroll
        for (int ks = 0; ks < TC_BK; ks += 16) {
            unsigned fa[4][4], fb[4][2];
#pragma unroll
            for (int mi = 0; mi < 4; ++mi)
                ldmatrix_x4(fa[mi], as + swz4(wm + mi * 16 + (lane & 15), (ks >> 3) + (lane >> 4)));
#pragma unroll
            for (int nj = 0; nj < 2; ++nj) {
                unsigned t[4];
                if (B_KMAJOR) {
                    int r = wn + nj * 16 + (lane & 7) + ((lane >> 4) << 3);
                    ldmatrix_x4(t, bs + swz4(r, (ks >> 3) + ((lane >> 3) & 1)));
                } else {
                    int r = ks + (lane & 7) + (((lane >> 3) & 1) << 3);
                    ldmatrix_x4_trans(t, bs + swz16(r, (wn + nj * 16) / 8 + (lane >> 4)));
                }
                fb[2 * nj][0] = t[0];
                fb[2 * nj][1] = t[1];
                fb[2 * nj + 1][0] = t[2];
                fb[2 * nj + 1][1] = t[3];
            }
#pragma unroll
            for (int mi = 0; mi < 4; ++mi)
#pragma unroll
                for (int ni = 0; ni < 4; ++ni) MMA(acc[mi][ni], fa[mi], fb[ni]);
        }
    }
    cp_async_wait<0>();
    T* c = C + p.c_off + bz * p.c_bs;
    int g = lane >> 2, t = lane & 3;
#pragma unroll
    for (int mi = 0; mi < 4; ++mi)
#pragma unroll
        for (int ni = 0; ni < 4; ++ni)
#pragma unroll
            for (int q = 0; q < 4; ++q) {
                int gi = row0 + wm + mi * 16 + g + (q >= 2 ? 8 : 0);
                int gj = col0 + wn + ni * 8 + 2 * t + (q & 1);
                if (gi < p.m && gj < p.n) gemm_store(c + gi * p.c_rs + gj * p.c_cs, acc[mi][ni][q], p, bias, gj);
            }
}

#define GEMM_TC_PIPE(T, MMA)                                                                                 \
    extern "C" __global__ void __launch_bounds__(256)                                                        \
        gemm_tc_##T##_bk(const T* A, const T* B, T* C, GemmParams p, const T* bias) {                        \
        __shared__ __align__(128) TcRing smem;                                                               \
        gemm_tc<T, true, MMA>(A, B, C, p, bias, smem);                                                       \
    }                                                                                                        \
    extern "C" __global__ void __launch_bounds__(256)                                                        \
        gemm_tc_##T##_bn(const T* A, const T* B, T* C, GemmParams p, const T* bias) {                        \
        __shared__ __align__(128) TcRing smem;                                                               \
        gemm_tc<T, false, MMA>(A, B, C, p, bias, smem);                                                      \
    }

GEMM_TC_PIPE(bf16, mma_bf16_16816)
GEMM_TC_PIPE(f16, mma_f16_16816)

// ---------------------------------------------------------------------------
// gemv_bk_<T> — the same product for a few rows (M ≤ 8: a decode step) in a
// Linear's layout, B stored [N, K]: memory-bound on B, so each warp streams
// one row of B (one output column) with 16-byte loads, the M rows of A dotted
// against it from L1, and a warp reduction. Needs K and every row stride a
// whole 16 bytes. Launch: grid (ceil(N/8), 1, batch), block 256 (8 warps).
#define GEMV_ROWS 8

template <typename T>
__device__ __forceinline__ void gemv_bk(const T* __restrict__ A, const T* __restrict__ B, T* __restrict__ C,
                                        const GemmParams& p, const T* __restrict__ bias) {
    const int V = 16 / sizeof(T);
    int lane = threadIdx.x & 31, j = blockIdx.x * 8 + (threadIdx.x >> 5), bz = blockIdx.z;
    if (j >= p.n) return;
    const T* a = A + p.a_off + bz * p.a_bs;
    const T* w = B + p.b_off + bz * p.b_bs + j * p.b_cs;
    float acc[GEMV_ROWS] = {};
    for (int k = lane * V; k < p.k; k += 32 * V) {
        float fw[V], fa[V];
        load_vec<T, V>(w + k, fw);
#pragma unroll
        for (int m = 0; m < GEMV_ROWS; ++m) {
            if (m < p.m) {
                load_vec<T, V>(a + m * p.a_rs + k, fa);
#pragma unroll
                for (int e = 0; e < V; ++e) acc[m] = fmaf(fa[e], fw[e], acc[m]);
            }
        }
    }
    T* c = C + p.c_off + bz * p.c_bs;
#pragma unroll
    for (int m = 0; m < GEMV_ROWS; ++m) {
        float s = warp_sum(acc[m]);
        if (lane == 0 && m < p.m) gemm_store(c + m * p.c_rs + j * p.c_cs, s, p, bias, j);
    }
}

#define GEMV(T)                                                                                              \
    extern "C" __global__ void __launch_bounds__(256)                                                        \
        gemv_bk_##T(const T* A, const T* B, T* C, GemmParams p, const T* bias) {                             \
        gemv_bk<T>(A, B, C, p, bias);                                                                        \
    }

GEMV(float)
GEMV(bf16)
GEMV(f16)
