// sm90.cuh — Hopper's asynchronous machinery as inline PTX (sm_90a): the
// tensor-memory accelerator (TMA) that copies tiles global → shared,
// completing on an mbarrier, and warpgroup MMA (wgmma) that multiplies
// tiles straight out of shared memory. tools/cuda-emu/emu.h replaces each
// wrapper when the kernels run on the CPU emulator (IRIS_EMU).
#ifndef IRIS_SM90_CUH
#define IRIS_SM90_CUH

#ifndef IRIS_EMU
// A TMA descriptor (CUtensorMap), made on the host by cuTensorMapEncodeTiled
// and passed by value as a __grid_constant__ parameter.
struct __align__(64) TmaMap {
    unsigned long long v[16];
};

#define DYNAMIC_SMEM(name) extern __shared__ __align__(1024) unsigned char name[]

__device__ __forceinline__ void mbar_init(unsigned long long* bar, unsigned count) {
    asm volatile("mbarrier.init.shared::cta.b64 [%0], %1;" ::"r"(smem_u32(bar)), "r"(count) : "memory");
}
// Makes initialised barriers visible to the async proxy (TMA) before use.
__device__ __forceinline__ void mbar_fence_init() { asm volatile("fence.mbarrier_init.release.cluster;" ::: "memory"); }
// One arrival that also announces `bytes` of TMA traffic this phase waits for.
__device__ __forceinline__ void mbar_expect_tx(unsigned long long* bar, unsigned bytes) {
    asm volatile("mbarrier.arrive.expect_tx.shared::cta.b64 _, [%0], %1;" ::"r"(smem_u32(bar)), "r"(bytes)
                 : "memory");
}
__device__ __forceinline__ void mbar_arrive(unsigned long long* bar) {
    asm volatile("mbarrier.arrive.shared::cta.b64 _, [%0];" ::"r"(smem_u32(bar)) : "memory");
}
// Waits until the phase of parity `parity` has completed (a barrier fresh
// from init has phase 0 pending: parity 1 passes at once).
__device__ __forceinline__ void mbar_wait(unsigned long long* bar, unsigned parity) {
    unsigned done = 0;
    while (!done)
        asm volatile(
            "{ .reg .pred p; mbarrier.try_wait.parity.shared::cta.b64 p, [%1], %2; selp.u32 %0, 1, 0, p; }"
            : "=r"(done)
            : "r"(smem_u32(bar)), "r"(parity)
            : "memory");
}

// The box of `map` at coordinates (x, y, z), innermost first, into shared
// memory at dst; completes `bytes` of the barrier's transaction count.
__device__ __forceinline__ void tma_load_3d(void* dst, const TmaMap* map, int x, int y, int z,
                                            unsigned long long* bar) {
    asm volatile(
        "cp.async.bulk.tensor.3d.shared::cluster.global.tile.mbarrier::complete_tx::bytes [%0], [%1, {%2, %3, %4}], "
        "[%5];" ::"r"(smem_u32(dst)),
        "l"(map), "r"(x), "r"(y), "r"(z), "r"(smem_u32(bar))
        : "memory");
}

// A shared-memory matrix descriptor for wgmma: a K-major tile whose rows
// are 128 bytes, 128-byte swizzled as TMA wrote it (16-byte chunk c of row r
// at c ^ (r % 8)), 8-row groups 1024 bytes apart. Bits: 0–13 address >> 4,
// 16–29 leading offset >> 4 (unused for this layout), 32–45 stride offset
// >> 4, 62–63 swizzle mode (1 = 128 B).
__device__ __forceinline__ unsigned long long wgmma_desc(const void* tile) {
    unsigned long long a = smem_u32(tile);
    return ((a & 0x3ffff) >> 4) | (1ull << 16) | ((1024ull >> 4) << 32) | (1ull << 62);
}

__device__ __forceinline__ void wgmma_fence() { asm volatile("wgmma.fence.sync.aligned;" ::: "memory"); }
__device__ __forceinline__ void wgmma_commit() { asm volatile("wgmma.commit_group.sync.aligned;" ::: "memory"); }
template <int N> __device__ __forceinline__ void wgmma_wait() {
    asm volatile("wgmma.wait_group.sync.aligned %0;" ::"n"(N) : "memory");
}

// D[64×N] += A[64×16]·B[16×N], A and B K-major in shared memory, f32
// accumulators: thread i of the warpgroup (warp w = i/32, g = lane/4,
// t = lane%4) holds d[4j..4j+1] = (16w + g, 8j + 2t..+1) and
// d[4j+2..4j+3] = (16w + g + 8, 8j + 2t..+1), j < N/8. One asm operand per
// accumulator: N/2 of them, then the two descriptors and the constant 1.
#define WGMMA_REGS_64 \
    "%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, " \
    "%16, %17, %18, %19, %20, %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31, " \
    "%32, %33, %34, %35, %36, %37, %38, %39, %40, %41, %42, %43, %44, %45, %46, %47, " \
    "%48, %49, %50, %51, %52, %53, %54, %55, %56, %57, %58, %59, %60, %61, %62, %63"
#define WGMMA_REGS_128 \
    WGMMA_REGS_64 ", " \
    "%64, %65, %66, %67, %68, %69, %70, %71, %72, %73, %74, %75, %76, %77, %78, %79, " \
    "%80, %81, %82, %83, %84, %85, %86, %87, %88, %89, %90, %91, %92, %93, %94, %95, " \
    "%96, %97, %98, %99, %100, %101, %102, %103, %104, %105, %106, %107, %108, %109, %110, %111, " \
    "%112, %113, %114, %115, %116, %117, %118, %119, %120, %121, %122, %123, %124, %125, %126, %127"
#define WGMMA_OUT_64 \
    "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3]), "+f"(d[4]), "+f"(d[5]), "+f"(d[6]), "+f"(d[7]), \
    "+f"(d[8]), "+f"(d[9]), "+f"(d[10]), "+f"(d[11]), "+f"(d[12]), "+f"(d[13]), "+f"(d[14]), "+f"(d[15]), \
    "+f"(d[16]), "+f"(d[17]), "+f"(d[18]), "+f"(d[19]), "+f"(d[20]), "+f"(d[21]), "+f"(d[22]), "+f"(d[23]), \
    "+f"(d[24]), "+f"(d[25]), "+f"(d[26]), "+f"(d[27]), "+f"(d[28]), "+f"(d[29]), "+f"(d[30]), "+f"(d[31]), \
    "+f"(d[32]), "+f"(d[33]), "+f"(d[34]), "+f"(d[35]), "+f"(d[36]), "+f"(d[37]), "+f"(d[38]), "+f"(d[39]), \
    "+f"(d[40]), "+f"(d[41]), "+f"(d[42]), "+f"(d[43]), "+f"(d[44]), "+f"(d[45]), "+f"(d[46]), "+f"(d[47]), \
    "+f"(d[48]), "+f"(d[49]), "+f"(d[50]), "+f"(d[51]), "+f"(d[52]), "+f"(d[53]), "+f"(d[54]), "+f"(d[55]), \
    "+f"(d[56]), "+f"(d[57]), "+f"(d[58]), "+f"(d[59]), "+f"(d[60]), "+f"(d[61]), "+f"(d[62]), "+f"(d[63])
#define WGMMA_OUT_128 \
    WGMMA_OUT_64, \
    "+f"(d[64]), "+f"(d[65]), "+f"(d[66]), "+f"(d[67]), "+f"(d[68]), "+f"(d[69]), "+f"(d[70]), "+f"(d[71]), \
    "+f"(d[72]), "+f"(d[73]), "+f"(d[74]), "+f"(d[75]), "+f"(d[76]), "+f"(d[77]), "+f"(d[78]), "+f"(d[79]), \
    "+f"(d[80]), "+f"(d[81]), "+f"(d[82]), "+f"(d[83]), "+f"(d[84]), "+f"(d[85]), "+f"(d[86]), "+f"(d[87]), \
    "+f"(d[88]), "+f"(d[89]), "+f"(d[90]), "+f"(d[91]), "+f"(d[92]), "+f"(d[93]), "+f"(d[94]), "+f"(d[95]), \
    "+f"(d[96]), "+f"(d[97]), "+f"(d[98]), "+f"(d[99]), "+f"(d[100]), "+f"(d[101]), "+f"(d[102]), "+f"(d[103]), \
    "+f"(d[104]), "+f"(d[105]), "+f"(d[106]), "+f"(d[107]), "+f"(d[108]), "+f"(d[109]), "+f"(d[110]), "+f"(d[111]), \
    "+f"(d[112]), "+f"(d[113]), "+f"(d[114]), "+f"(d[115]), "+f"(d[116]), "+f"(d[117]), "+f"(d[118]), "+f"(d[119]), \
    "+f"(d[120]), "+f"(d[121]), "+f"(d[122]), "+f"(d[123]), "+f"(d[124]), "+f"(d[125]), "+f"(d[126]), "+f"(d[127])
#define WGMMA_DEF(NAME, N, TYPE, REGS, OUT, IA, IB, IONE)                                                   \
    __device__ __forceinline__ void NAME(float* d, unsigned long long da, unsigned long long db) {           \
        asm volatile("{\n.reg .pred p;\nsetp.ne.b32 p, %" IONE ", 0;\n"                                     \
                     "wgmma.mma_async.sync.aligned.m64n" #N "k16.f32." TYPE "." TYPE " {" REGS "}, %" IA      \
                     ", %" IB ", p, 1, 1, 0, 0;\n}"                                                           \
                     : OUT                                                                                   \
                     : "l"(da), "l"(db), "r"(1));                                                            \
    }
WGMMA_DEF(wgmma_bf16_m64n128k16, 128, "bf16", WGMMA_REGS_64, WGMMA_OUT_64, "64", "65", "66")
WGMMA_DEF(wgmma_f16_m64n128k16, 128, "f16", WGMMA_REGS_64, WGMMA_OUT_64, "64", "65", "66")
WGMMA_DEF(wgmma_bf16_m64n256k16, 256, "bf16", WGMMA_REGS_128, WGMMA_OUT_128, "128", "129", "130")
WGMMA_DEF(wgmma_f16_m64n256k16, 256, "f16", WGMMA_REGS_128, WGMMA_OUT_128, "128", "129", "130")

// Moves registers between warpgroups (sm_90a): the producer gives them up,
// the consumers take them. Needs the kernel's register cap at entry
// (__launch_bounds__(threads, 1)).
template <int N> __device__ __forceinline__ void setmaxnreg_dec() {
    asm volatile("setmaxnreg.dec.sync.aligned.u32 %0;" ::"n"(N));
}
template <int N> __device__ __forceinline__ void setmaxnreg_inc() {
    asm volatile("setmaxnreg.inc.sync.aligned.u32 %0;" ::"n"(N));
}
#endif

#endif
