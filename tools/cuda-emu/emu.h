// emu.h — runs iris's CUDA C kernels (cuda/*.cu) on the CPU, so that their
// indexing, fragment layouts and barriers can be checked on a machine with no
// GPU. Every CUDA thread of a block is a fiber (ucontext) in one OS thread;
// blocks run one after another. __syncthreads / __syncwarp are barriers that
// yield until every thread of the block / warp arrives; warp-collective
// instructions (shuffles, mma.sync, ldmatrix) gather the 32 lanes' operands
// through a per-warp exchange buffer and compute what the PTX ISA says each
// lane receives. The kernels' inline PTX lives in wrappers in common.cuh and
// sm90.cuh, which this header and emu_sm90.h replace (IRIS_EMU).
//
// What makes a wrong kernel fail here rather than pass by luck:
// - Shared memory (function statics in one linker section, and the dynamic
//   buffer) is filled with NaN bit patterns before every block, so a read of
//   a word nothing wrote gives NaN.
// - cp.async data lands in shared memory only at the cp.async.wait_group that
//   covers its commit group (a missing wait leaves the poison), and a wgmma's
//   product is added to its accumulators (reading its shared-memory operands
//   then) only at the wgmma.wait_group that covers it.
// - The threads of a block run in a new seeded random order after every
//   barrier phase (EMU_SEED picks the seed), so an order-dependent race shows.
// - Built with AddressSanitizer and UBSan by scripts/cuda-emu.sh.
//
// Written from the PTX ISA's fragment tables, not from the kernels, so a
// kernel that misreads a layout disagrees with its CPU reference here.
#pragma once
#define IRIS_EMU 1

#include <ucontext.h>

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <algorithm>
#include <functional>
#include <random>
#include <vector>

#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __restrict__ __restrict
#define __launch_bounds__(...)
// Every __shared__ variable goes into one section, poisoned per block
// (shared memory in a template function would escape it: GCC ignores the
// section there, so the kernels declare shared memory in the kernel itself).
#define __shared__ static __attribute__((section("emu_smem")))
#define __align__(n) __attribute__((aligned(n)))
extern "C" __attribute__((weak)) char __start_emu_smem[], __stop_emu_smem[];

struct dim3 {
    unsigned x = 1, y = 1, z = 1;
};
struct alignas(16) uint4 {
    unsigned x, y, z, w;
};

inline dim3 threadIdx, blockIdx, blockDim, gridDim;

inline float __int_as_float(int v) { float f; std::memcpy(&f, &v, 4); return f; }
inline float __uint_as_float(unsigned v) { float f; std::memcpy(&f, &v, 4); return f; }
inline unsigned __float_as_uint(float v) { unsigned u; std::memcpy(&u, &v, 4); return u; }
inline float __expf(float x) { return std::exp(x); }
inline float rsqrtf(float x) { return 1.0f / std::sqrt(x); }
using ::erff;
using ::expf;
using std::fmaf;
using std::fmaxf;
using std::fminf;
using ::tanhf;
template <typename T> T min(T a, T b) { return a < b ? a : b; }
template <typename T> T max(T a, T b) { return a > b ? a : b; }

namespace emu {

// A cp.async in flight: its 16 bytes, read at issue, land at the wait.
struct Copy {
    void* dst;
    unsigned char data[16];
};
// One thread's share of a wgmma in flight: computed (its shared operands
// read) when a thread of the warpgroup waits for its group.
struct Wgmma {
    void (*run)(float*, unsigned long long, unsigned long long, int);
    float* d;
    unsigned long long da, db;
    int tid;
};
// A warpgroup's wgmma groups in commit order (group g: every thread's shares
// issued between its g-th and g+1-th commit); those before `done` are computed.
struct WarpgroupQueue {
    std::vector<std::vector<Wgmma>> groups;
    size_t done = 0;
};

struct Fiber {
    ucontext_t ctx;
    dim3 tid;
    bool done = false;
    std::vector<char> stack;
    std::vector<Copy> cp_open;
    std::deque<std::vector<Copy>> cp_groups;
    size_t wg_commits = 0;
};

inline std::vector<Fiber>* fibers;
inline ucontext_t scheduler;
inline int current;
inline std::function<void()> body;
inline unsigned long long progress;  // bumps on every barrier arrival and exit

inline void yield() { swapcontext(&(*fibers)[current].ctx, &scheduler); }
inline Fiber& me() { return (*fibers)[current]; }

// The scheduling order's random source: EMU_SEED, else 1.
inline std::mt19937& order_rng() {
    static std::mt19937 g([] {
        const char* s = std::getenv("EMU_SEED");
        return s ? (unsigned)std::strtoul(s, nullptr, 10) : 1u;
    }());
    return g;
}

// NaN in every 16-bit and 32-bit float reading of shared memory.
inline void poison_shared();

struct Barrier {
    int count = 0;
    unsigned gen = 0;
};

inline void arrive(Barrier& b, int n) {
    ++progress;
    unsigned g = b.gen;
    if (++b.count == n) {
        b.count = 0;
        ++b.gen;
        return;
    }
    while (b.gen == g) yield();
}

inline Barrier block_barrier;
inline Barrier warp_barrier[32];
inline Barrier warpgroup_barrier[8];
inline WarpgroupQueue warpgroup_queue[8];
// Per warp, per lane: up to 16 words of operands, and a pointer.
inline unsigned exchange[32][32][16];
inline const void* exchange_ptr[32][32];

inline int flat_tid() { return threadIdx.x + blockDim.x * (threadIdx.y + blockDim.y * threadIdx.z); }
inline int lane() { return flat_tid() & 31; }
inline int warp() { return flat_tid() >> 5; }
inline void warp_sync() { arrive(warp_barrier[warp()], 32); }

inline void entry() {
    body();
    (*fibers)[current].done = true;
    ++progress;
}

// Runs kernel(args...) over the grid: fibers per block, blocks in order.
template <typename K, typename... A>
void launch(dim3 grid, dim3 block, K kernel, A... args) {
    int threads = block.x * block.y * block.z;
    if (threads % 32) {
        std::fprintf(stderr, "emu: block of %d threads is not whole warps\n", threads);
        std::exit(2);
    }
    gridDim = grid;
    blockDim = block;
    body = [&] { kernel(args...); };
    for (unsigned bz = 0; bz < grid.z; ++bz)
        for (unsigned by = 0; by < grid.y; ++by)
            for (unsigned bx = 0; bx < grid.x; ++bx) {
                blockIdx = {bx, by, bz};
                block_barrier = {};
                for (auto& w : warp_barrier) w = {};
                for (auto& w : warpgroup_barrier) w = {};
                for (auto& q : warpgroup_queue) q = {};
                std::vector<Fiber> fs(threads);
                fibers = &fs;
                poison_shared();
                std::vector<int> order(threads);
                for (int t = 0; t < threads; ++t) order[t] = t;
                for (int t = 0; t < threads; ++t) {
                    Fiber& f = fs[t];
                    f.tid = {unsigned(t % block.x), unsigned(t / block.x % block.y), unsigned(t / (block.x * block.y))};
                    f.stack.resize(256 * 1024);
                    getcontext(&f.ctx);
                    f.ctx.uc_stack.ss_sp = f.stack.data();
                    f.ctx.uc_stack.ss_size = f.stack.size();
                    f.ctx.uc_link = &scheduler;
                    makecontext(&f.ctx, entry, 0);
                }
                for (int alive = threads, stalled = 0; alive > 0;) {
                    unsigned long long before = progress;
                    alive = 0;
                    std::shuffle(order.begin(), order.end(), order_rng());
                    for (int t : order) {
                        if (fs[t].done) continue;
                        current = t;
                        threadIdx = fs[t].tid;
                        swapcontext(&scheduler, &fs[t].ctx);
                        alive += !fs[t].done;
                    }
                    stalled = progress == before ? stalled + 1 : 0;
                    if (stalled > 2) {
                        std::fprintf(stderr, "emu: deadlock in block (%u, %u, %u): %d threads wait at a barrier "
                                             "the others never reach\n", bx, by, bz, alive);
                        std::exit(2);
                    }
                }
            }
}

// Each lane puts `words` words in; returns a view of lane l's words.
inline unsigned* gather_begin(const unsigned* mine, int words) {
    std::memcpy(exchange[warp()][lane()], mine, 4 * words);
    warp_sync();
    return &exchange[warp()][0][0];
}
inline unsigned lane_word(int l, int w) { return exchange[warp()][l][w]; }

// --- 16-bit floats ---
inline float bf16_to_f32(unsigned short h) { return __uint_as_float(unsigned(h) << 16); }
inline unsigned short f32_to_bf16(float f) {
    unsigned u = __float_as_uint(f);
    if ((u & 0x7fffffffu) > 0x7f800000u) return (u >> 16) | 0x40;  // quiet NaN
    u += 0x7fff + ((u >> 16) & 1);  // round to nearest even
    return u >> 16;
}
inline float f16_to_f32(unsigned short h) {
    _Float16 v;
    std::memcpy(&v, &h, 2);
    return float(v);
}
inline unsigned short f32_to_f16(float f) {
    _Float16 v = _Float16(f);
    unsigned short h;
    std::memcpy(&h, &v, 2);
    return h;
}

}  // namespace emu

// --- warp collectives ---
inline float __shfl_xor_sync(unsigned, float v, int mask) {
    unsigned u = __float_as_uint(v);
    emu::gather_begin(&u, 1);
    float r = __uint_as_float(emu::lane_word(emu::lane() ^ mask, 0));
    emu::warp_sync();
    return r;
}
inline float __shfl_sync(unsigned, float v, int src) {
    unsigned u = __float_as_uint(v);
    emu::gather_begin(&u, 1);
    float r = __uint_as_float(emu::lane_word(src & 31, 0));
    emu::warp_sync();
    return r;
}
inline void __syncwarp(unsigned = 0xffffffffu) { emu::warp_sync(); }
inline void __syncthreads() {
    emu::arrive(emu::block_barrier, blockDim.x * blockDim.y * blockDim.z);
}

// --- what common.cuh writes in PTX ---
inline unsigned smem_addr(const void* p) { return 0; }  // unused: the emulator passes pointers

// mma.sync.m16n8k16 row.col, f32 accumulate. g = lane/4, t = lane%4:
//   A (16×16): a[0] (g, 2t..2t+1)  a[1] (g+8, 2t..)  a[2] (g, 2t+8..)  a[3] (g+8, 2t+8..)
//   B (16×8, k × n): b[0] (k 2t..2t+1, n g)  b[1] (k 2t+8.., n g)
//   D (16×8): d[0..1] (g, 2t..2t+1)  d[2..3] (g+8, 2t..2t+1); low half = lower index
template <float (*CVT)(unsigned short)>
inline void mma_16816(float* d, const unsigned* a, const unsigned* b) {
    unsigned mine[6] = {a[0], a[1], a[2], a[3], b[0], b[1]};
    emu::gather_begin(mine, 6);
    float A[16][16], B[16][8];
    for (int l = 0; l < 32; ++l) {
        int g = l >> 2, t = l & 3;
        auto put = [&](float (*m)[16], int r, int c, unsigned w) {
            m[r][c] = CVT(w & 0xffff);
            m[r][c + 1] = CVT(w >> 16);
        };
        put(A, g, 2 * t, emu::lane_word(l, 0));
        put(A, g + 8, 2 * t, emu::lane_word(l, 1));
        put(A, g, 2 * t + 8, emu::lane_word(l, 2));
        put(A, g + 8, 2 * t + 8, emu::lane_word(l, 3));
        unsigned b0 = emu::lane_word(l, 4), b1 = emu::lane_word(l, 5);
        B[2 * t][g] = CVT(b0 & 0xffff);
        B[2 * t + 1][g] = CVT(b0 >> 16);
        B[2 * t + 8][g] = CVT(b1 & 0xffff);
        B[2 * t + 9][g] = CVT(b1 >> 16);
    }
    int g = emu::lane() >> 2, t = emu::lane() & 3;
    for (int q = 0; q < 4; ++q) {
        int r = g + (q >= 2 ? 8 : 0), c = 2 * t + (q & 1);
        float s = 0.0f;
        for (int k = 0; k < 16; ++k) s += A[r][k] * B[k][c];
        d[q] += s;
    }
    emu::warp_sync();
}
inline void mma_bf16_16816(float* d, const unsigned* a, const unsigned* b) { mma_16816<emu::bf16_to_f32>(d, a, b); }
inline void mma_f16_16816(float* d, const unsigned* a, const unsigned* b) { mma_16816<emu::f16_to_f32>(d, a, b); }

// ldmatrix .m8n8 .b16, x4: lane l gives the address of row l%8 of matrix l/8;
// register j of lane l gets matrix j's (row l/4, cols 2(l%4), +1), or with
// .trans its (rows 2(l%4), +1, col l/4).
template <bool TRANS>
inline void ldmatrix_x4_impl(unsigned* r, const void* row) {
    emu::exchange_ptr[emu::warp()][emu::lane()] = row;
    emu::warp_sync();
    int l = emu::lane();
    for (int j = 0; j < 4; ++j) {
        auto at = [&](int rr, int cc) {
            const unsigned short* p = (const unsigned short*)emu::exchange_ptr[emu::warp()][8 * j + rr];
            return (unsigned)p[cc];
        };
        unsigned lo, hi;
        if (!TRANS) {
            lo = at(l / 4, 2 * (l % 4));
            hi = at(l / 4, 2 * (l % 4) + 1);
        } else {
            lo = at(2 * (l % 4), l / 4);
            hi = at(2 * (l % 4) + 1, l / 4);
        }
        r[j] = lo | (hi << 16);
    }
    emu::warp_sync();
}
inline void ldmatrix_x4(unsigned* r, const void* row) { ldmatrix_x4_impl<false>(r, row); }
inline void ldmatrix_x4_trans(unsigned* r, const void* row) { ldmatrix_x4_impl<true>(r, row); }

// cp.async of 16 bytes, of which the first `bytes` come from src and the rest
// are zeros: read now, written to shared memory at the covering wait.
inline void cp_async16(void* dst, const void* src, int bytes) {
    emu::Copy c{dst, {}};
    if (bytes > 0) std::memcpy(c.data, src, bytes);
    emu::me().cp_open.push_back(c);
}
inline void cp_async_commit() {
    emu::me().cp_groups.push_back(std::move(emu::me().cp_open));
    emu::me().cp_open.clear();
}
// cp.async.wait_group N: every committed group but the N newest lands.
template <int N> inline void cp_async_wait() {
    auto& g = emu::me().cp_groups;
    while (g.size() > N) {
        for (const emu::Copy& c : g.front()) std::memcpy(c.dst, c.data, 16);
        g.pop_front();
    }
}

#include "emu_sm90.h"

inline void emu::poison_shared() {
    if (__start_emu_smem) std::memset(__start_emu_smem, 0xff, __stop_emu_smem - __start_emu_smem);
    std::memset(dynamic_smem, 0xff, sizeof dynamic_smem);
}
