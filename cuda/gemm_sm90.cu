// gemm_sm90.cu — the Hopper GEMM (sm_90a): TMA loads into a 4-stage
// shared-memory ring, wgmma multiplies out of it, the epilogue of gemm.cuh.
//   gemm_wgmma_<T>_n<BN>(amap, bmap, C, p, bias)
//   C[b, i, j] = act(alpha · Σ_k A[b, i, k]·B[b, j, k] + beta · C[b, i, j] + bias[j])
// Shape letters: batch, M, N, K. A [batch, M, K] and B [batch, N, K] (a
// Linear weight) are k-contiguous; amap/bmap are their TMA descriptors
// (3-D: k, row, batch; boxes of 64 k × 128 rows of A and 64 k × BN rows of
// B, 128-byte swizzle), so every row stride is a whole 16 bytes. C is any
// strided layout.
// Block tile 128 × BN (128 or 256), k-steps of 64. Warpgroup 0 is the
// producer: it gives up registers (setmaxnreg) and one thread waits for a
// free stage, announces its bytes on the stage's `full` barrier and issues
// the two TMA copies. Warpgroups 1 and 2 take the registers and own 64 rows
// each: they wait on `full`, issue four m64nBNk16 wgmmas over the stage, and
// release the previous stage on its `empty` barrier once that stage's
// wgmmas are done (one group stays in flight). Out-of-range rows and k are
// zeros from TMA. Blocks map to tiles in groups of 8 row tiles, for L2 reuse.
// Launch: grid (ceil(N/BN), ceil(M/128), batch), block 384, dynamic shared
// memory SM90_SMEM(BN) bytes (4 stages, 1024-aligned, + the barriers).

#include "gemm.cuh"
#include "sm90.cuh"

#define SM90_STAGES 4
#define SM90_TILE_A 16384  // 128 rows × 64 k × 2 bytes

// Dynamic shared memory for BN (ops/gemm.rs computes the same).
#define SM90_SMEM(BN) (1024 + SM90_STAGES * (SM90_TILE_A + (BN) * 128) + 2 * SM90_STAGES * 8)

template <typename T, int BN, void (*WGMMA)(float*, unsigned long long, unsigned long long)>
__device__ __forceinline__ void gemm_wgmma(const TmaMap& amap, const TmaMap& bmap, T* __restrict__ C,
                                           const GemmParams& p, const T* __restrict__ bias) {
    const int STAGE = SM90_TILE_A + BN * 128;
    DYNAMIC_SMEM(raw);
    // The swizzle is a function of address bits 4–9: tiles start 1024-aligned.
    char* smem = (char*)(((unsigned long long)raw + 1023) & ~1023ull);
    unsigned long long* full = (unsigned long long*)(smem + SM90_STAGES * STAGE);
    unsigned long long* empty = full + SM90_STAGES;
    int wg = threadIdx.x / 128, tid = threadIdx.x % 128;
    // Blocks in launch order walk down 8 row tiles before moving right, so
    // those in flight together share their B tiles (and 8 A tiles) in L2.
    int tiles_m = gridDim.y, id = blockIdx.y * gridDim.x + blockIdx.x, group = 8 * gridDim.x;
    int first = (id / group) * 8, rows_in = min(8, tiles_m - first);
    int by = first + (id % group) % rows_in, bx = (id % group) / rows_in;
    int bz = blockIdx.z, row0 = by * 128, col0 = bx * BN;
    int ktiles = (p.k + 63) / 64;
    if (threadIdx.x == 0) {
        for (int s = 0; s < SM90_STAGES; ++s) {
            mbar_init(&full[s], 1);
            mbar_init(&empty[s], 2);  // one arrival per consumer warpgroup
        }
        mbar_fence_init();
    }
    __syncthreads();
    if (wg == 0) {
        setmaxnreg_dec<40>();
        if (tid == 0) {
            for (int kt = 0; kt < ktiles; ++kt) {
                int s = kt % SM90_STAGES, round = kt / SM90_STAGES;
                mbar_wait(&empty[s], (round & 1) ^ 1);
                char* a = smem + s * STAGE;
                mbar_expect_tx(&full[s], STAGE);
                tma_load_3d(a, &amap, kt * 64, row0, bz, &full[s]);
                tma_load_3d(a + SM90_TILE_A, &bmap, kt * 64, col0, bz, &full[s]);
            }
        }
    } else {
        setmaxnreg_inc<232>();
        float d[BN / 2];
#pragma unroll
        for (int i = 0; i < BN / 2; ++i) d[i] = 0.0f;
        int rows = (wg - 1) * 64;
        for (int kt = 0; kt < ktiles; ++kt) {
            int s = kt % SM90_STAGES, round = kt / SM90_STAGES;
            mbar_wait(&full[s], round & 1);
            const char* a = smem + s * STAGE + rows * 128;
            const char* b = smem + s * STAGE + SM90_TILE_A;
            wgmma_fence();
#pragma unroll
            for (int kk = 0; kk < 4; ++kk) WGMMA(d, wgmma_desc(a + kk * 32), wgmma_desc(b + kk * 32));
            wgmma_commit();
            // This step's wgmmas stay in flight; the previous step's are done,
            // so its stage goes back to the producer.
            wgmma_wait<1>();
            if (kt > 0 && tid == 0) mbar_arrive(&empty[(kt - 1) % SM90_STAGES]);
        }
        wgmma_wait<0>();
        T* c = C + p.c_off + bz * p.c_bs;
        int warp = tid / 32, g = (tid % 32) / 4, t = tid % 4;
#pragma unroll
        for (int j = 0; j < BN / 8; ++j)
#pragma unroll
            for (int q = 0; q < 4; ++q) {
                int gi = row0 + rows + warp * 16 + g + (q >= 2 ? 8 : 0), gj = col0 + j * 8 + 2 * t + (q & 1);
                if (gi < p.m && gj < p.n) gemm_store(c + gi * p.c_rs + gj * p.c_cs, d[4 * j + q], p, bias, gj);
            }
    }
}

#define GEMM_WGMMA(T, BN, MMA)                                                                               \
    extern "C" __global__ void __launch_bounds__(384, 1)                                                     \
        gemm_wgmma_##T##_n##BN(const __grid_constant__ TmaMap amap, const __grid_constant__ TmaMap bmap,    \
                               T* C, GemmParams p, const T* bias) {                                          \
        gemm_wgmma<T, BN, MMA>(amap, bmap, C, p, bias);                                                      \
    }

GEMM_WGMMA(bf16, 128, wgmma_bf16_m64n128k16)
GEMM_WGMMA(bf16, 256, wgmma_bf16_m64n256k16)
GEMM_WGMMA(f16, 128, wgmma_f16_m64n128k16)
GEMM_WGMMA(f16, 256, wgmma_f16_m64n256k16)
