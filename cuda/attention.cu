// attention.cu — fused attention with an online softmax (flash-style): the
// scores never leave the chip.
//   attention_<T>(q, k, v, o, mask, p)   o = softmax(q·kᵀ·scale + mask)·v
//       causal (query i sees keys j ≤ i + Tk − Tq), an additive f32 mask, or none
//   cross_attention_<T>(q, k, v, o, keep, p)  the same, never causal, with a u8
//       keep-mask per query row (0 hides a key); a row that keeps no key is zeros
//   attention_decode_<T>(q, k, v, part, p, chunk)  Tq = 1 over a long KV cache,
//       split over the keys: each block writes (max, sum, o·sum) of its chunk
//   attention_decode_vec_<T>(q, k, v, part, p)  the same with one key per thread
//       and 16-byte loads, where D and the strides allow (chunk 256)
//   attention_combine_<T>(part, o, p, splits)  merges the chunks' partials
// Shape letters: B batch, H query heads, Hkv key/value heads (query head h
// reads kv head h / (H/Hkv)), Tq, Tk, D ≤ 128 (head dim, contiguous). q, k, v,
// o each have an offset and b/h/t strides in elements (any permutation of
// [B, T, H, D] goes in as a view); masks have offset and b/h/q strides, keys
// contiguous.
// Launch: attention/cross: grid (ceil(Tq/8), H, B), block 256 = 8 warps, one
//   query row per warp, keys staged 32 at a time in shared memory.
//   decode: grid (splits, H, B), block 256; combine: grid (H, B), block D.

#include "attention.cuh"

#define ROWS 8
#define KT 32
#define DMAX 128

// One block's staging: a tile of keys and values, the block's query rows
// (pre-scaled), and each row's probabilities for the tile.
struct AttnSmem {
    float ks[KT][DMAX + 1];
    float vs[KT][DMAX];
    float qs[ROWS][DMAX];
    float ps[ROWS][KT];
};

// kind: 0 none/causal, 1 additive f32 mask, 2 u8 keep-mask.
template <typename T, int KIND>
__device__ __forceinline__ void attend(const T* __restrict__ Q, const T* __restrict__ K, const T* __restrict__ V,
                                       T* __restrict__ O, const void* __restrict__ mask, const AttnParams& p,
                                       AttnSmem& sm) {
    float (*ks)[DMAX + 1] = sm.ks;
    float (*vs)[DMAX] = sm.vs;
    float (*qs)[DMAX] = sm.qs;
    float (*ps)[KT] = sm.ps;
    int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    int bi = blockIdx.z, hi = blockIdx.y, kvh = hi / (p.h / p.hkv);
    int qi = (int)blockIdx.x * ROWS + warp;
    bool active = qi < p.tq;
    const T* q = Q + p.q.off + bi * p.q.b + hi * p.q.h + (long long)qi * p.q.t;
    const T* kb = K + p.k.off + bi * p.k.b + kvh * p.k.h;
    const T* vb = V + p.v.off + bi * p.v.b + kvh * p.v.h;
    for (int dd = lane; dd < p.d; dd += 32) qs[warp][dd] = active ? to_f32(q[dd]) * p.scale : 0.0f;
    float acc[DMAX / 32];
#pragma unroll
    for (int i = 0; i < DMAX / 32; ++i) acc[i] = 0.0f;
    float m = NEG_INF, l = 0.0f;
    int shift = p.tk - p.tq;
    // Keys past the block's last visible one are never loaded.
    int last = min((int)blockIdx.x * ROWS + ROWS - 1, p.tq - 1);
    int kend = p.causal ? min(p.tk, last + shift + 1) : p.tk;
    for (int k0 = 0; k0 < kend; k0 += KT) {
        __syncthreads();
        for (int e = threadIdx.x; e < KT * p.d; e += blockDim.x) {
            int j = e / p.d, dd = e % p.d, kj = k0 + j;
            bool in = kj < p.tk;
            ks[j][dd] = in ? to_f32(kb[(long long)kj * p.k.t + dd]) : 0.0f;
            vs[j][dd] = in ? to_f32(vb[(long long)kj * p.v.t + dd]) : 0.0f;
        }
        __syncthreads();
        if (!active) continue;
        int kj = k0 + lane;
        float s = NEG_INF;
        bool visible = kj < p.tk && (!p.causal || kj <= qi + shift);
        if (KIND == 2 && visible) {
            const unsigned char* km = (const unsigned char*)mask + p.m_off + bi * p.m_b + hi * p.m_h + (long long)qi * p.m_q;
            visible = km[kj] != 0;
        }
        if (visible) {
            s = 0.0f;
            for (int dd = 0; dd < p.d; ++dd) s = fmaf(qs[warp][dd], ks[lane][dd], s);
            if (KIND == 1) {
                const float* am = (const float*)mask + p.m_off + bi * p.m_b + hi * p.m_h + (long long)qi * p.m_q;
                s += am[kj];
            }
        }
        float m_new = fmaxf(m, warp_max(s));
        float pj = (m_new == NEG_INF || s == NEG_INF) ? 0.0f : __expf(s - m_new);
        float alpha = (m == NEG_INF) ? 0.0f : __expf(m - m_new);
        l = l * alpha + warp_sum(pj);
        m = m_new;
        ps[warp][lane] = pj;
        __syncwarp();
#pragma unroll
        for (int i = 0; i < DMAX / 32; ++i) {
            int dd = lane + 32 * i;
            if (dd < p.d) {
                float o = acc[i] * alpha;
                for (int j = 0; j < KT; ++j) o = fmaf(ps[warp][j], vs[j][dd], o);
                acc[i] = o;
            }
        }
        __syncwarp();
    }
    if (!active) return;
    T* o = O + p.o.off + bi * p.o.b + hi * p.o.h + (long long)qi * p.o.t;
    float inv = l > 0.0f ? 1.0f / l : 0.0f;
#pragma unroll
    for (int i = 0; i < DMAX / 32; ++i) {
        int dd = lane + 32 * i;
        if (dd < p.d) o[dd] = from_f32<T>(acc[i] * inv);
    }
}

#define ATTENTION(T)                                                                                     \
    extern "C" __global__ void __launch_bounds__(256) attention_##T(const T* q, const T* k, const T* v, T* o, \
                                                                    const float* mask, AttnParams p) {   \
        __shared__ AttnSmem sm;                                                                          \
        if (p.has_mask) attend<T, 1>(q, k, v, o, mask, p, sm);                                           \
        else attend<T, 0>(q, k, v, o, nullptr, p, sm);                                                   \
    }                                                                                                    \
    extern "C" __global__ void __launch_bounds__(256) cross_attention_##T(                               \
        const T* q, const T* k, const T* v, T* o, const unsigned char* keep, AttnParams p) {             \
        __shared__ AttnSmem sm;                                                                          \
        p.causal = 0;                                                                                    \
        if (p.has_mask) attend<T, 2>(q, k, v, o, keep, p, sm);                                           \
        else attend<T, 0>(q, k, v, o, nullptr, p, sm);                                                   \
    }

ATTENTION(float)
ATTENTION(bf16)
ATTENTION(f16)

// Decode: one query row per (b, h); block `split` takes keys [split·chunk,
// (split+1)·chunk), its 8 warps a key each in turn, and writes its partial
// (m, l, Σ p·v) to part[((b·H + h)·splits + split)·(D + 2)].
#define DECODE(T)                                                                                         \
    extern "C" __global__ void __launch_bounds__(256) attention_decode_##T(                               \
        const T* __restrict__ Q, const T* __restrict__ K, const T* __restrict__ V, float* __restrict__ part, \
        AttnParams p, int chunk) {                                                                        \
        __shared__ float qs[DMAX];                                                                        \
        __shared__ float wm[ROWS], wl[ROWS];                                                              \
        __shared__ float wo[ROWS][DMAX];                                                                  \
        int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;                                             \
        int split = blockIdx.x, hi = blockIdx.y, bi = blockIdx.z, kvh = hi / (p.h / p.hkv);               \
        const T* q = Q + p.q.off + bi * p.q.b + hi * p.q.h;                                               \
        for (int dd = threadIdx.x; dd < p.d; dd += blockDim.x) qs[dd] = to_f32(q[dd]) * p.scale;          \
        __syncthreads();                                                                                  \
        const T* kb = K + p.k.off + bi * p.k.b + kvh * p.k.h;                                             \
        const T* vb = V + p.v.off + bi * p.v.b + kvh * p.v.h;                                             \
        float m = NEG_INF, l = 0.0f, acc[DMAX / 32];                                                      \
        _Pragma("unroll") for (int i = 0; i < DMAX / 32; ++i) acc[i] = 0.0f;                              \
        int start = split * chunk, end = min(p.tk, start + chunk);                                        \
        for (int kj = start + warp; kj < end; kj += ROWS) {                                               \
            const T* kr = kb + (long long)kj * p.k.t;                                                     \
            float s = 0.0f;                                                                               \
            for (int dd = lane; dd < p.d; dd += 32) s = fmaf(qs[dd], to_f32(kr[dd]), s);                  \
            s = warp_sum(s);                                                                              \
            float m_new = fmaxf(m, s);                                                                    \
            float alpha = m == NEG_INF ? 0.0f : __expf(m - m_new), pj = __expf(s - m_new);                \
            l = l * alpha + pj;                                                                           \
            m = m_new;                                                                                    \
            const T* vr = vb + (long long)kj * p.v.t;                                                     \
            _Pragma("unroll") for (int i = 0; i < DMAX / 32; ++i) {                                       \
                int dd = lane + 32 * i;                                                                   \
                if (dd < p.d) acc[i] = acc[i] * alpha + pj * to_f32(vr[dd]);                              \
            }                                                                                             \
        }                                                                                                 \
        if (lane == 0) { wm[warp] = m; wl[warp] = l; }                                                    \
        _Pragma("unroll") for (int i = 0; i < DMAX / 32; ++i) {                                           \
            int dd = lane + 32 * i;                                                                       \
            if (dd < p.d) wo[warp][dd] = acc[i];                                                          \
        }                                                                                                 \
        __syncthreads();                                                                                  \
        float* out = part + (((long long)bi * p.h + hi) * gridDim.x + split) * (p.d + 2);                 \
        float mb = NEG_INF;                                                                               \
        for (int w = 0; w < ROWS; ++w) mb = fmaxf(mb, wm[w]);                                             \
        for (int dd = threadIdx.x; dd < p.d + 1; dd += blockDim.x) {                                      \
            float sum = 0.0f;                                                                             \
            for (int w = 0; w < ROWS; ++w) {                                                              \
                float f = (wm[w] == NEG_INF) ? 0.0f : __expf(wm[w] - mb);                                 \
                sum += f * (dd < p.d ? wo[w][dd] : wl[w]);                                                \
            }                                                                                             \
            out[dd < p.d ? dd + 2 : 1] = sum;                                                             \
        }                                                                                                 \
        if (threadIdx.x == 0) out[0] = mb;                                                                \
    }                                                                                                     \
    extern "C" __global__ void attention_combine_##T(const float* __restrict__ part, T* __restrict__ O,   \
                                                     AttnParams p, int splits) {                          \
        int hi = blockIdx.x, bi = blockIdx.y;                                                             \
        const float* in = part + ((long long)bi * p.h + hi) * splits * (p.d + 2);                         \
        float m = NEG_INF;                                                                                \
        for (int s = 0; s < splits; ++s) m = fmaxf(m, in[s * (p.d + 2)]);                                 \
        T* o = O + p.o.off + bi * p.o.b + hi * p.o.h;                                                     \
        for (int dd = threadIdx.x; dd < p.d; dd += blockDim.x) {                                          \
            float num = 0.0f, den = 0.0f;                                                                 \
            for (int s = 0; s < splits; ++s) {                                                            \
                const float* r = in + s * (p.d + 2);                                                      \
                float f = (r[0] == NEG_INF) ? 0.0f : __expf(r[0] - m);                                    \
                num += f * r[dd + 2];                                                                     \
                den += f * r[1];                                                                          \
            }                                                                                             \
            o[dd] = from_f32<T>(den > 0.0f ? num / den : 0.0f);                                           \
        }                                                                                                 \
    }

DECODE(float)
DECODE(bf16)
DECODE(f16)

// attention_decode_vec_<T>: the same partials as attention_decode_<T> when
// D / (16 / sizeof(T)) is a power of two and rows are 16-byte aligned: one
// key per thread (chunk = 256 = the block), so a score is one thread's dot
// product over 16-byte loads, with no shuffles; the chunk's softmax by block
// reductions; then Σ p·v with thread t holding 16 bytes of D (slice t % G of
// G) for keys t / G, t / G + 256 / G, ..., summed across those groups through
// shared memory.
// Its shared memory, declared in the kernel (not in the template, so that the
// emulator can poison it per block).
struct DecodeVecSmem {
    float qs[DMAX];
    float ps[256];
    float scratch[32];
    float red[256 * 8];  // (256 / G) groups × D = 256·VE floats
};

template <typename T>
__device__ __forceinline__ void decode_vec(const T* __restrict__ Q, const T* __restrict__ K, const T* __restrict__ V,
                                           float* __restrict__ part, const AttnParams& p, DecodeVecSmem& sm) {
    const int VE = 16 / sizeof(T);
    float(&qs)[DMAX] = sm.qs;
    float(&ps)[256] = sm.ps;
    float(&scratch)[32] = sm.scratch;
    float(&red)[256 * 8] = sm.red;
    int t = threadIdx.x, split = blockIdx.x, hi = blockIdx.y, bi = blockIdx.z, kvh = hi / (p.h / p.hkv);
    const T* q = Q + p.q.off + bi * p.q.b + hi * p.q.h;
    for (int dd = t; dd < p.d; dd += blockDim.x) qs[dd] = to_f32(q[dd]) * p.scale;
    __syncthreads();
    const T* kb = K + p.k.off + bi * p.k.b + kvh * p.k.h;
    const T* vb = V + p.v.off + bi * p.v.b + kvh * p.v.h;
    int start = split * 256, n = min(256, p.tk - start);
    float s = NEG_INF;
    if (t < n) {
        const T* kr = kb + (long long)(start + t) * p.k.t;
        s = 0.0f;
        for (int d0 = 0; d0 < p.d; d0 += VE) {
            float f[VE];
            load_vec<T, VE>(kr + d0, f);
#pragma unroll
            for (int e = 0; e < VE; ++e) s = fmaf(qs[d0 + e], f[e], s);
        }
    }
    float m = block_max(s, scratch);
    float e = s == NEG_INF ? 0.0f : __expf(s - m);
    float l = block_sum(e, scratch);
    ps[t] = e;
    __syncthreads();
    int groups = p.d / VE, rows = 256 / groups, g = t % groups, r = t / groups;
    float o[VE];
#pragma unroll
    for (int i = 0; i < VE; ++i) o[i] = 0.0f;
    for (int j = r; j < n; j += rows) {
        float f[VE];
        load_vec<T, VE>(vb + (long long)(start + j) * p.v.t + g * VE, f);
#pragma unroll
        for (int i = 0; i < VE; ++i) o[i] = fmaf(ps[j], f[i], o[i]);
    }
#pragma unroll
    for (int i = 0; i < VE; ++i) red[r * p.d + g * VE + i] = o[i];
    __syncthreads();
    float* out = part + (((long long)bi * p.h + hi) * gridDim.x + split) * (p.d + 2);
    for (int dd = t; dd < p.d; dd += blockDim.x) {
        float sum = 0.0f;
        for (int i = 0; i < rows; ++i) sum += red[i * p.d + dd];
        out[dd + 2] = sum;
    }
    if (t == 0) {
        out[0] = m;
        out[1] = l;
    }
}

#define DECODE_VEC(T)                                                                                       \
    extern "C" __global__ void __launch_bounds__(256) attention_decode_vec_##T(                             \
        const T* __restrict__ q, const T* __restrict__ k, const T* __restrict__ v, float* __restrict__ part, \
        AttnParams p) {                                                                                     \
        __shared__ DecodeVecSmem sm;                                                                        \
        decode_vec<T>(q, k, v, part, p, sm);                                                                \
    }

DECODE_VEC(float)
DECODE_VEC(bf16)
DECODE_VEC(f16)
