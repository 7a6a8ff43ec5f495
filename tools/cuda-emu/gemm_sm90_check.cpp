// gemm_sm90_check.cpp — gemm_sm90.cu's TMA + wgmma kernel on the emulator
// against a double-precision reference: ragged M, N and K (TMA's zero fill),
// more k-steps than stages (the ring wraps), batches, the epilogue, and a
// grid past one group of 8 row tiles.
#include "emu.h"
// clang-format off
#include "../../cuda/common.cuh"
#include "../../cuda/gemm_sm90.cu"
// clang-format on
#include "check.h"

template <typename T>
static void run(const char* name, void (*kernel)(TmaMap, TmaMap, T*, GemmParams, const T*), int bn, int b, int m,
                int n, int k, bool bias_on, int act, double tol, float alpha = 1.0f, float beta = 0.0f) {
    auto a = chk::store<T>(chk::randn((size_t)b * m * k));
    auto w = chk::store<T>(chk::randn((size_t)b * n * k));
    auto bias = chk::store<T>(chk::randn(n));
    auto af = chk::load(a), wf = chk::load(w), biasf = chk::load(bias);
    GemmParams p{};
    p.m = m, p.n = n, p.k = k, p.alpha = alpha, p.beta = beta, p.act = act;
    p.c_bs = (long long)m * n, p.c_rs = n, p.c_cs = 1;
    TmaMap amap = emu::tma_map(a.data(), k, m, b, 2ull * k, 2ull * m * k, 64, 128, 2);
    TmaMap bmap = emu::tma_map(w.data(), k, n, b, 2ull * k, 2ull * n * k, 64, bn, 2);
    // With beta ≠ 0 the output starts as C (a residual) and must be read back, not poisoned.
    auto c0 = chk::store<T>(chk::randn((size_t)b * m * n));
    auto c0f = chk::load(c0);
    std::vector<float> ref((size_t)b * m * n);
    for (int z = 0; z < b; ++z)
        for (int i = 0; i < m; ++i)
            for (int j = 0; j < n; ++j) {
                double s = 0.0;
                for (int kk = 0; kk < k; ++kk) s += (double)af[((size_t)z * m + i) * k + kk] * wf[((size_t)z * n + j) * k + kk];
                size_t o = ((size_t)z * m + i) * n + j;
                s = alpha * s + (beta != 0.0f ? beta * (double)c0f[o] : 0.0) + (bias_on ? biasf[j] : 0.0);
                ref[o] = act == ACT_SILU ? s / (1.0 + std::exp(-s)) : s;
            }
    auto out = beta != 0.0f ? c0 : chk::poison<T>(ref.size());
    emu::launch({unsigned((n + bn - 1) / bn), unsigned((m + 127) / 128), unsigned(b)}, {384}, kernel, amap, bmap,
                out.data(), p, bias_on ? bias.data() : nullptr);
    char what[160];
    std::snprintf(what, sizeof what, "%s b%d %dx%dx%d%s act %d a%.1f b%.1f", name, b, m, n, k, bias_on ? " bias" : "",
                  act, alpha, beta);
    chk::report<T>(what, chk::load(out), ref, tol);
}

int main() {
    for (int bn : {128, 256}) {
        auto bf = bn == 128 ? gemm_wgmma_bf16_n128 : gemm_wgmma_bf16_n256;
        auto hf = bn == 128 ? gemm_wgmma_f16_n128 : gemm_wgmma_f16_n256;
        std::string b = "gemm_wgmma_bf16_n" + std::to_string(bn), h = "gemm_wgmma_f16_n" + std::to_string(bn);
        run<bf16>(b.c_str(), bf, bn, 1, 130, 136, 72, false, ACT_NONE, 1e-2);
        run<bf16>(b.c_str(), bf, bn, 1, 64, 300, 320, true, ACT_SILU, 1e-2);
        run<f16>(h.c_str(), hf, bn, 2, 200, 40, 40, true, ACT_NONE, 1e-2);
        // Past one group of 8 row tiles: the grouped block order must reach every tile once (poisoned output).
        run<bf16>(b.c_str(), bf, bn, 1, 1100, 300, 64, false, ACT_NONE, 1e-2);
        // The epilogue's scale and the residual read back through beta (Linear + residual).
        run<bf16>(b.c_str(), bf, bn, 1, 130, 136, 200, true, ACT_NONE, 1e-2, 0.5f, 1.0f);
        run<f16>(h.c_str(), hf, bn, 2, 70, 72, 64, false, ACT_SILU, 1e-2, -1.5f, 0.5f);
    }
    std::printf("%d failed\n", chk::failures);
    return chk::failures != 0;
}
