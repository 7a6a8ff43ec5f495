// emu_sm90.h — the emulator's Hopper half (included by emu.h): what
// sm90.cuh writes in PTX. TMA copies a box at once, 128-byte swizzled, and
// completes its bytes on the mbarrier; mbarriers count arrivals and bytes
// per phase; wgmma reads its operands through the descriptors' address,
// stride and swizzle fields and adds this thread's accumulator share.
#pragma once

// --- sm90.cuh: TMA, mbarriers, wgmma ---
#define __grid_constant__
struct alignas(64) TmaMap {
    unsigned long long v[16];
};

namespace emu {
alignas(1024) inline unsigned char dynamic_smem[256 * 1024];

// The emulator's own tensor-map encoding (a real one is opaque): base
// pointer, dims (innermost first), strides of dims 1 and 2 in bytes, box,
// element bytes. Boxes land in shared memory 128-byte swizzled.
inline TmaMap tma_map(const void* base, unsigned long long d0, unsigned long long d1, unsigned long long d2,
                      unsigned long long s1, unsigned long long s2, unsigned box0, unsigned box1, unsigned elem) {
    TmaMap m{};
    m.v[0] = (unsigned long long)base;
    m.v[1] = d0, m.v[2] = d1, m.v[3] = d2, m.v[4] = s1, m.v[5] = s2, m.v[6] = box0, m.v[7] = box1, m.v[8] = elem;
    return m;
}

struct Mbar {
    int count = 0, arrived = 0;
    long long tx = 0;
    unsigned completed = 0;
};
inline std::vector<std::pair<const void*, Mbar>> mbars;
inline Mbar& mbar(const void* p) {
    for (auto& [k, v] : mbars)
        if (k == p) return v;
    std::fprintf(stderr, "emu: mbarrier used before mbarrier.init\n");
    std::exit(2);
}
inline void mbar_check(Mbar& b) {
    ++progress;
    if (b.arrived == b.count && b.tx == 0) b.arrived = 0, ++b.completed;
}
// 128-byte swizzle of a byte offset from a 1024-aligned base: chunk ^= row % 8.
inline size_t swizzle128(size_t off) { return off ^ (((off >> 7) & 7) << 4); }
}  // namespace emu

#define DYNAMIC_SMEM(name) unsigned char* name = emu::dynamic_smem
inline void mbar_init(unsigned long long* bar, unsigned count) {
    for (auto& [k, v] : emu::mbars)
        if (k == bar) {
            v = emu::Mbar{int(count)};
            return;
        }
    emu::mbars.push_back({bar, emu::Mbar{int(count)}});
}
inline void mbar_fence_init() {}
inline void mbar_expect_tx(unsigned long long* bar, unsigned bytes) {
    emu::Mbar& b = emu::mbar(bar);
    b.tx += bytes;
    ++b.arrived;
    emu::mbar_check(b);
}
inline void mbar_arrive(unsigned long long* bar) {
    emu::Mbar& b = emu::mbar(bar);
    ++b.arrived;
    emu::mbar_check(b);
}
inline void mbar_wait(unsigned long long* bar, unsigned parity) {
    while ((emu::mbar(bar).completed & 1) == parity) emu::yield();
}
inline void tma_load_3d(void* dst, const TmaMap* map, int x, int y, int z, unsigned long long* bar) {
    const unsigned long long* m = map->v;
    const char* base = (const char*)m[0];
    unsigned box0 = m[6], box1 = m[7], eb = m[8];
    if (((size_t)dst & 1023) || box0 * eb != 128) {
        std::fprintf(stderr, "emu: TMA box must be 128-byte rows into a 1024-aligned tile\n");
        std::exit(2);
    }
    for (unsigned r = 0; r < box1; ++r)
        for (unsigned e = 0; e < box0; ++e) {
            long long gx = x + e, gy = y + r;
            bool in = gx < (long long)m[1] && gy < (long long)m[2] && z < (long long)m[3];
            char* out = (char*)dst + emu::swizzle128((size_t)(r * box0 + e) * eb);
            if (in) std::memcpy(out, base + gx * eb + gy * m[4] + z * m[5], eb);
            else std::memset(out, 0, eb);
        }
    emu::Mbar& b = emu::mbar(bar);
    b.tx -= (long long)box0 * box1 * eb;
    emu::mbar_check(b);
}

inline unsigned long long wgmma_desc(const void* tile) {
    unsigned long long a = (const unsigned char*)tile - emu::dynamic_smem;
    return ((a & 0x3ffff) >> 4) | (1ull << 16) | ((1024ull >> 4) << 32) | (1ull << 62);
}
inline void wgmma_fence() {}
inline void wgmma_commit() { ++emu::me().wg_commits; }
// wgmma.wait_group N: every group of the warpgroup but this thread's N newest
// is computed now, for all 128 threads (it is one operation of the group).
template <int N> inline void wgmma_wait() {
    emu::WarpgroupQueue& q = emu::warpgroup_queue[emu::flat_tid() / 128];
    size_t until = emu::me().wg_commits >= N ? emu::me().wg_commits - N : 0;
    for (; q.done < until && q.done < q.groups.size(); ++q.done)
        for (const emu::Wgmma& w : q.groups[q.done]) w.run(w.d, w.da, w.db, w.tid);
    q.done = std::max(q.done, until);
}

namespace emu {
// Element (r, k) of a K-major tile a descriptor names (128-byte swizzle only).
template <float (*CVT)(unsigned short)>
inline float desc_at(unsigned long long desc, int r, int k) {
    if ((desc >> 62) != 1) {
        std::fprintf(stderr, "emu: wgmma descriptor without the 128-byte swizzle\n");
        std::exit(2);
    }
    size_t start = (desc & 0x3fff) << 4, sbo = ((desc >> 32) & 0x3fff) << 4;
    size_t addr = start + (r / 8) * sbo + (r % 8) * 128 + 2 * k;
    unsigned short h;
    std::memcpy(&h, dynamic_smem + swizzle128(addr), 2);
    return CVT(h);
}
// Thread `tid`'s (of 128) share of D[64×N] += A[64×16]·B[16×N] (sm90.cuh's layout).
template <int N, float (*CVT)(unsigned short)>
inline void wgmma_m64k16(float* d, unsigned long long da, unsigned long long db, int tid) {
    int w = tid / 32, g = (tid % 32) / 4, t = tid % 4;
    for (int j = 0; j < N / 8; ++j)
        for (int q = 0; q < 4; ++q) {
            int r = 16 * w + g + (q >= 2 ? 8 : 0), c = 8 * j + 2 * t + (q & 1);
            float s = 0.0f;
            for (int k = 0; k < 16; ++k) s += desc_at<CVT>(da, r, k) * desc_at<CVT>(db, c, k);
            d[4 * j + q] += s;
        }
}
}  // namespace emu
// Issued when all 128 threads of the warpgroup issue it (the tensor cores
// start it then, so no warp of the group runs ahead of the others' issue),
// computed at the wgmma.wait_group that covers its commit group.
#define EMU_WGMMA(NAME, N, CVT)                                                        \
    inline void NAME(float* d, unsigned long long da, unsigned long long db) {    \
        auto& groups = emu::warpgroup_queue[emu::flat_tid() / 128].groups;            \
        if (groups.size() <= emu::me().wg_commits) groups.resize(emu::me().wg_commits + 1); \
        groups[emu::me().wg_commits].push_back(                                       \
            {&emu::wgmma_m64k16<N, CVT>, d, da, db, emu::flat_tid() % 128});           \
        emu::arrive(emu::warpgroup_barrier[emu::flat_tid() / 128], 128);              \
    }
EMU_WGMMA(wgmma_bf16_m64n128k16, 128, emu::bf16_to_f32)
EMU_WGMMA(wgmma_f16_m64n128k16, 128, emu::f16_to_f32)
EMU_WGMMA(wgmma_bf16_m64n256k16, 256, emu::bf16_to_f32)
EMU_WGMMA(wgmma_f16_m64n256k16, 256, emu::f16_to_f32)
template <int N> inline void setmaxnreg_dec() {}
template <int N> inline void setmaxnreg_inc() {}
