// flash_attention.cu — fused attention on tensor cores (FlashAttention-2's
// schedule) for 16-bit q, k, v with head dim 64 or 128:
//   o = softmax(q·kᵀ·scale + mask)·v, online over key tiles, f32 statistics
//   flash_attention_<T>_d<D>(q, k, v, o, mask, p)     causal, additive f32 mask, or none
//   flash_cross_attention_<T>_d<D>(q, k, v, o, keep, p)  never causal, u8 keep-mask
//       per query row (0 hides a key); a row that keeps no key is zeros
//   ..._w8: the same with 8 warps (128 query rows a block: each K/V tile
//       loaded serves twice the rows)
// Shapes and strides: attention.cuh. Every t stride, offset and b/h stride
// is a multiple of 8 elements (16 bytes): tiles move by cp.async.
// A block takes 64 (or 128) query rows of one (b, h), warps of 16 rows. Q
// comes first through the K/V buffers into registers. Per
// key tile of 64: S = Q·Kᵀ (mma.sync m16n8k16, Q fragments held in
// registers), scale, mask, online softmax in registers, then O += P·V with P
// re-packed from S's accumulators as the A operand (no trip through shared
// memory). K and V have one buffer each: V_j loads while S_j is computed,
// K_{j+1} while P·V_j is. Shared rows are XOR-swizzled by 16-byte chunk.
// Launch: grid (ceil(Tq/BQ), H, B), block 32·WARPS; 32 KB (D = 128) or 16 KB
// of shared memory (for BQ = 128 and D = 64 too: Q fits the K/V buffers).

#include "attention.cuh"

#define FA_BK 64

// Byte offset of 16-byte chunk c of row r, rows of `chunks` chunks (8 or 16).
__device__ __forceinline__ int fa_swz(int r, int c, int chunks) { return (r * chunks + (c ^ (r & 7))) << 4; }

// rows [r0, r0 + R) of one head (t stride `ts`, D contiguous) → tile; rows
// at or past `rows` are zeros.
template <int D, int R>
__device__ __forceinline__ void fa_load(char* tile, const unsigned short* head, long long ts, int r0, int rows) {
    const int chunks = D / 8;
#pragma unroll
    for (int e = threadIdx.x; e < R * chunks; e += blockDim.x) {
        int r = e / chunks, c = e % chunks;
        bool in = r0 + r < rows;
        cp_async16(tile + fa_swz(r, c, chunks), in ? head + (r0 + r) * ts + c * 8 : head, in ? 16 : 0);
    }
}

template <typename T> __device__ __forceinline__ unsigned pack2(float lo, float hi);
template <> __device__ __forceinline__ unsigned pack2<bf16>(float lo, float hi) {
    return (unsigned)f32_to_bf16_bits(lo) | ((unsigned)f32_to_bf16_bits(hi) << 16);
}
template <> __device__ __forceinline__ unsigned pack2<f16>(float lo, float hi) {
    return (unsigned)f32_to_f16_bits(lo) | ((unsigned)f32_to_f16_bits(hi) << 16);
}

// KIND: 0 none/causal, 1 additive f32 mask, 2 u8 keep-mask.
// WARPS warps of 16 query rows: a block takes BQ = 16·WARPS rows.
template <typename T, int D, int WARPS, int KIND, void (*MMA)(float*, const unsigned*, const unsigned*)>
__device__ __forceinline__ void flash(const T* __restrict__ Q, const T* __restrict__ K, const T* __restrict__ V,
                                      T* __restrict__ O, const void* __restrict__ mask, const AttnParams& p,
                                      char* smem) {
    const int chunks = D / 8, FA_BQ = 16 * WARPS;
    // Q passes through the K/V buffers on its way to registers.
    char *qs = smem, *ks = smem, *vs = ks + FA_BK * D * 2;
    int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, g = lane >> 2, t = lane & 3;
    int bi = blockIdx.z, hi = blockIdx.y, kvh = hi / (p.h / p.hkv), q0 = blockIdx.x * FA_BQ;
    const unsigned short* qh = (const unsigned short*)Q + p.q.off + bi * p.q.b + hi * p.q.h;
    const unsigned short* kh = (const unsigned short*)K + p.k.off + bi * p.k.b + kvh * p.k.h;
    const unsigned short* vh = (const unsigned short*)V + p.v.off + bi * p.v.b + kvh * p.v.h;
    int shift = p.tk - p.tq;
    int kend = p.causal ? max(0, min(p.tk, q0 + FA_BQ + shift)) : p.tk;
    const float LOG2E = 1.4426950408889634f, scale2 = p.scale * LOG2E;
    int tiles = (kend + FA_BK - 1) / FA_BK;

    fa_load<D, FA_BQ>(qs, qh, p.q.t, q0, p.tq);
    cp_async_commit();
    cp_async_wait<0>();
    __syncthreads();
    // This warp's 16 query rows as A fragments over the D/16 k-steps.
    unsigned qf[D / 16][4];
#pragma unroll
    for (int kk = 0; kk < D / 16; ++kk)
        ldmatrix_x4(qf[kk], qs + fa_swz(warp * 16 + (lane & 15), 2 * kk + (lane >> 4), chunks));
    __syncthreads();  // every warp has its Q: the buffers take K and V now
    if (tiles > 0) fa_load<D, FA_BK>(ks, kh, p.k.t, 0, p.tk);
    cp_async_commit();
    cp_async_wait<0>();
    __syncthreads();

    // Rows g and g + 8 of the warp's 16: running max, this lane's share of the sum, output.
    int rows[2] = {q0 + warp * 16 + g, q0 + warp * 16 + g + 8};
    float m[2] = {NEG_INF, NEG_INF}, l[2] = {0.0f, 0.0f};
    float o[D / 8][4];
#pragma unroll
    for (int i = 0; i < D / 8; ++i) o[i][0] = o[i][1] = o[i][2] = o[i][3] = 0.0f;

    for (int j = 0; j < tiles; ++j) {
        int k0 = j * FA_BK;
        fa_load<D, FA_BK>(vs, vh, p.v.t, k0, p.tk);
        cp_async_commit();
        float s[FA_BK / 8][4];
#pragma unroll
        for (int i = 0; i < FA_BK / 8; ++i) s[i][0] = s[i][1] = s[i][2] = s[i][3] = 0.0f;
#pragma unroll
        for (int kk = 0; kk < D / 16; ++kk)
#pragma unroll
            for (int nj = 0; nj < FA_BK / 16; ++nj) {
                unsigned b[4];
                int r = nj * 16 + (lane & 7) + ((lane >> 4) << 3);
                ldmatrix_x4(b, ks + fa_swz(r, 2 * kk + ((lane >> 3) & 1), chunks));
                MMA(s[2 * nj], qf[kk], b);
                MMA(s[2 * nj + 1], qf[kk], b + 2);
            }
        // Scale, mask, and the online softmax; row r's values are s[.][2r], s[.][2r + 1].
        // Scores are in log2 units (scale·log2 e folded in), so each exponential is one ex2.
        // A tile every row of the block sees whole, with no mask, skips the per-key tests.
        bool whole = KIND == 0 && k0 + FA_BK <= p.tk && (!p.causal || k0 + FA_BK - 1 <= q0 + shift);
        float alpha[2];
#pragma unroll
        for (int r = 0; r < 2; ++r) {
            int qi = rows[r];
            float mx = NEG_INF;
#pragma unroll
            for (int i = 0; i < FA_BK / 8; ++i)
#pragma unroll
                for (int c = 0; c < 2; ++c) {
                    int kj = k0 + i * 8 + 2 * t + c;
                    float v = s[i][2 * r + c] * scale2;
                    if (!whole) {
                        bool visible = kj < p.tk && qi < p.tq && (!p.causal || kj <= qi + shift);
                        long long at = p.m_off + bi * p.m_b + hi * p.m_h + (long long)qi * p.m_q + kj;
                        if (KIND == 1 && visible) v += ((const float*)mask)[at] * LOG2E;
                        if (KIND == 2 && visible) visible = ((const unsigned char*)mask)[at] != 0;
                        v = visible ? v : NEG_INF;
                    }
                    s[i][2 * r + c] = v;
                    mx = fmaxf(mx, v);
                }
            // The four lanes of a quad hold one row between them.
            mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, 1));
            mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, 2));
            float m_new = fmaxf(m[r], mx);
            alpha[r] = m[r] == NEG_INF ? 0.0f : exp2f(m[r] - m_new);
            float sum = 0.0f;
#pragma unroll
            for (int i = 0; i < FA_BK / 8; ++i)
#pragma unroll
                for (int c = 0; c < 2; ++c) {
                    float v = s[i][2 * r + c];
                    float e = v == NEG_INF ? 0.0f : exp2f(v - m_new);
                    s[i][2 * r + c] = e;
                    sum += e;
                }
            l[r] = l[r] * alpha[r] + sum;
            m[r] = m_new;
        }
#pragma unroll
        for (int i = 0; i < D / 8; ++i) {
            o[i][0] *= alpha[0];
            o[i][1] *= alpha[0];
            o[i][2] *= alpha[1];
            o[i][3] *= alpha[1];
        }
        cp_async_wait<0>();
        __syncthreads();  // V_j has landed; every warp is done with K_j
        if (j + 1 < tiles) fa_load<D, FA_BK>(ks, kh, p.k.t, k0 + FA_BK, p.tk);
        cp_async_commit();
        // O += P·V_j: P's k-step kk (keys 16kk..16kk+15) is S's n-tiles 2kk and 2kk + 1.
#pragma unroll
        for (int kk = 0; kk < FA_BK / 16; ++kk) {
            unsigned a[4] = {pack2<T>(s[2 * kk][0], s[2 * kk][1]), pack2<T>(s[2 * kk][2], s[2 * kk][3]),
                             pack2<T>(s[2 * kk + 1][0], s[2 * kk + 1][1]),
                             pack2<T>(s[2 * kk + 1][2], s[2 * kk + 1][3])};
#pragma unroll
            for (int nd = 0; nd < D / 16; ++nd) {
                unsigned b[4];
                int r = kk * 16 + (lane & 7) + (((lane >> 3) & 1) << 3);
                ldmatrix_x4_trans(b, vs + fa_swz(r, 2 * nd + (lane >> 4), chunks));
                MMA(o[2 * nd], a, b);
                MMA(o[2 * nd + 1], a, b + 2);
            }
        }
        cp_async_wait<0>();
        __syncthreads();  // K_{j+1} has landed; every warp is done with V_j
    }
    T* oh = O + p.o.off + bi * p.o.b + hi * p.o.h;
#pragma unroll
    for (int r = 0; r < 2; ++r) {
        float sum = l[r];
        sum += __shfl_xor_sync(0xffffffffu, sum, 1);
        sum += __shfl_xor_sync(0xffffffffu, sum, 2);
        float inv = sum > 0.0f ? 1.0f / sum : 0.0f;
        if (rows[r] >= p.tq) continue;
        T* orow = oh + (long long)rows[r] * p.o.t;
#pragma unroll
        for (int i = 0; i < D / 8; ++i) {
            orow[i * 8 + 2 * t] = from_f32<T>(o[i][2 * r] * inv);
            orow[i * 8 + 2 * t + 1] = from_f32<T>(o[i][2 * r + 1] * inv);
        }
    }
}

// The K and V tiles (Q passes through them): one shared array for both
// instantiations an entry holds. _w8: 8 warps, 128 query rows a block.
#define FA_SMEM(D, WARPS) ((16 * (WARPS) > 2 * FA_BK ? 16 * (WARPS) : 2 * FA_BK) * (D) * 2)
#define FLASH(T, D, WARPS, SUFFIX, MMA)                                                                     \
    extern "C" __global__ void __launch_bounds__(32 * WARPS, 1) flash_attention_##T##_d##D##SUFFIX(            \
        const T* q, const T* k, const T* v, T* o, const float* mask, AttnParams p) {                        \
        __shared__ __align__(128) char smem[FA_SMEM(D, WARPS)];                                             \
        if (p.has_mask) flash<T, D, WARPS, 1, MMA>(q, k, v, o, mask, p, smem);                              \
        else flash<T, D, WARPS, 0, MMA>(q, k, v, o, nullptr, p, smem);                                      \
    }                                                                                                       \
    extern "C" __global__ void __launch_bounds__(32 * WARPS, 1) flash_cross_attention_##T##_d##D##SUFFIX(      \
        const T* q, const T* k, const T* v, T* o, const unsigned char* keep, AttnParams p) {                \
        __shared__ __align__(128) char smem[FA_SMEM(D, WARPS)];                                             \
        p.causal = 0;                                                                                       \
        if (p.has_mask) flash<T, D, WARPS, 2, MMA>(q, k, v, o, keep, p, smem);                              \
        else flash<T, D, WARPS, 0, MMA>(q, k, v, o, nullptr, p, smem);                                      \
    }

FLASH(bf16, 64, 4, , mma_bf16_16816)
FLASH(bf16, 128, 4, , mma_bf16_16816)
FLASH(f16, 64, 4, , mma_f16_16816)
FLASH(f16, 128, 4, , mma_f16_16816)
FLASH(bf16, 64, 8, _w8, mma_bf16_16816)
FLASH(bf16, 128, 8, _w8, mma_bf16_16816)
FLASH(f16, 64, 8, _w8, mma_f16_16816)
FLASH(f16, 128, 8, _w8, mma_f16_16816)
