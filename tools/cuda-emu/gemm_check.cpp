// gemm_check.cpp — gemm.cu's kernels on the emulator against a double-precision
// reference over the same (rounded) inputs: odd sizes, both B layouts, batches,
// alpha, beta, and the bias/activation epilogue; the pipelined tensor-core
// kernels on the shapes their 16-byte row alignment admits.
#include "emu.h"
// clang-format off
#include "../../cuda/common.cuh"
#include "../../cuda/gemm.cu"
// clang-format on
#include "check.h"

struct Case {
    int batch, m, n, k;
    bool b_kmajor;  // B stored [N, K] (a linear layer's weight) instead of [K, N]
    float alpha, beta;
    bool bias;
    int act;  // an Act code
};

static double act_ref(int act, double v) {
    switch (act) {
        case ACT_GELU: return 0.5 * v * (1.0 + std::erf(v / std::sqrt(2.0)));
        case ACT_GELU_TANH: return 0.5 * v * (1.0 + std::tanh(0.7978845608028654 * (v + 0.044715 * v * v * v)));
        case ACT_QUICK_GELU: return v / (1.0 + std::exp(-1.702 * v));
        case ACT_SILU: return v / (1.0 + std::exp(-v));
        default: return v;
    }
}

template <typename T>
using Kernel = void (*)(const T*, const T*, T*, GemmParams, const T*);

template <typename T>
void run(const char* name, Kernel<T> kernel, const Case& c, double tol) {
    int b = c.batch, m = c.m, n = c.n, k = c.k;
    auto a = chk::store<T>(chk::randn((size_t)b * m * k));
    auto bm = chk::store<T>(chk::randn((size_t)b * k * n));
    auto c0 = chk::store<T>(chk::randn((size_t)b * m * n));
    auto bias = chk::store<T>(chk::randn(n));
    auto af = chk::load(a), bf = chk::load(bm), cf = chk::load(c0), biasf = chk::load(bias);
    GemmParams p{};
    p.m = m, p.n = n, p.k = k, p.alpha = c.alpha, p.beta = c.beta;
    p.a_off = 0, p.a_bs = (long long)m * k, p.a_rs = k, p.a_cs = 1;
    p.b_off = 0, p.b_bs = (long long)k * n;
    if (c.b_kmajor) p.b_rs = 1, p.b_cs = k;
    else p.b_rs = n, p.b_cs = 1;
    p.c_off = 0, p.c_bs = (long long)m * n, p.c_rs = n, p.c_cs = 1;
    p.act = c.act;
    std::vector<float> ref((size_t)b * m * n);
    for (int z = 0; z < b; ++z)
        for (int i = 0; i < m; ++i)
            for (int j = 0; j < n; ++j) {
                double s = 0;
                for (int kk = 0; kk < k; ++kk)
                    s += (double)af[z * p.a_bs + i * k + kk] * bf[z * p.b_bs + kk * p.b_rs + j * p.b_cs];
                size_t o = (size_t)z * m * n + i * n + j;
                double v = c.alpha * s + (c.beta != 0 ? c.beta * cf[o] : 0.0) + (c.bias ? biasf[j] : 0.0);
                ref[o] = act_ref(c.act, v);
            }
    auto out = c.beta != 0 ? c0 : chk::poison<T>((size_t)b * m * n);
    bool gemv = std::string(name).rfind("gemv", 0) == 0;  // 8 columns a block, not 128×128 tiles
    dim3 grid = gemv ? dim3{unsigned((n + 7) / 8), 1, unsigned(b)}
                     : dim3{unsigned((n + 127) / 128), unsigned((m + 127) / 128), unsigned(b)};
    emu::launch(grid, {256}, kernel, a.data(),
                bm.data(), out.data(), p,
                c.bias ? bias.data() : nullptr);
    char what[160];
    std::snprintf(what, sizeof what, "%s b%d %dx%dx%d B%s a%.1f b%.1f%s act %d", name, b, m, n, k,
                  c.b_kmajor ? "[n,k]" : "[k,n]", c.alpha, c.beta, c.bias ? " bias" : "", c.act);
    chk::report<T>(what, chk::load(out), ref, tol);
}

int main() {
    // Every case has K and the row strides multiples of 8 (16 bytes), so the
    // pipelined kernels run on all of them too.
    const Case cases[] = {
        {1, 130, 136, 72, true, 1.0f, 0.0f, false, ACT_NONE},
        {1, 33, 200, 40, false, 1.0f, 0.0f, true, ACT_GELU},
        {2, 64, 72, 48, true, 0.5f, 1.0f, false, ACT_NONE},
        {1, 1, 24, 32, false, 1.0f, 0.0f, true, ACT_QUICK_GELU},
        {1, 200, 136, 136, false, 1.0f, 1.0f, true, ACT_SILU},
        {1, 129, 50, 104, true, 1.0f, 0.0f, true, ACT_GELU_TANH},
        {2, 3, 40, 64, true, 1.0f, 1.0f, true, ACT_SILU},
        {1, 8, 300, 520, true, 1.0f, 0.0f, false, ACT_NONE},
    };
    for (const Case& c : cases) {
        run<float>("gemm_f32", gemm_f32, c, 1e-5);
        run<bf16>("gemm_bf16", gemm_bf16, c, 1e-2);
        run<f16>("gemm_f16", gemm_f16, c, 1e-2);
        if (c.b_kmajor && c.m <= 8) {
            run<float>("gemv_bk_float", gemv_bk_float, c, 1e-5);
            run<bf16>("gemv_bk_bf16", gemv_bk_bf16, c, 1e-2);
        }
        if (c.b_kmajor) {
            run<bf16>("gemm_tc_bf16_bk", gemm_tc_bf16_bk, c, 1e-2);
            run<f16>("gemm_tc_f16_bk", gemm_tc_f16_bk, c, 1e-2);
        } else if (c.n % 8 == 0) {
            run<bf16>("gemm_tc_bf16_bn", gemm_tc_bf16_bn, c, 1e-2);
            run<f16>("gemm_tc_f16_bn", gemm_tc_f16_bn, c, 1e-2);
        }
    }
    std::printf("%d failed\n", chk::failures);
    return chk::failures != 0;
}
