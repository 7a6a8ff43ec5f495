// elementwise_check.cpp — elementwise.cu's dense paths on the emulator against
// references: lengths that take the element loop and the 16-byte vectors.
#include "emu.h"
// clang-format off
#include "../../cuda/common.cuh"
#include "../../cuda/elementwise.cu"
// clang-format on
#include "check.h"

template <typename T>
static void run(const char* sfx, long long n, double tol) {
    auto x = chk::store<T>(chk::randn(n)), z = chk::store<T>(chk::randn(n));
    auto xf = chk::load(x), zf = chk::load(z);
    std::vector<float> silu(n), mul(n);
    for (long long i = 0; i < n; ++i) silu[i] = xf[i] / (1.0 + std::exp(-(double)xf[i])), mul[i] = xf[i] * zf[i];
    void (*un)(const T*, T*, long long, float);
    void (*bin)(const T*, const T*, T*, long long);
    if constexpr (std::is_same_v<T, bf16>) un = unary_silu_bf16, bin = binary_dense_mul_bf16;
    else un = unary_silu_float, bin = binary_dense_mul_float;
    const long long v = 16 / sizeof(T), threads = n % v ? n : n / v;
    dim3 grid{unsigned((threads + 255) / 256 > 2 ? 2 : (threads + 255) / 256)};  // 2 blocks: the grid-stride loop runs
    std::string shape = " " + std::to_string(n);
    auto y = chk::poison<T>(n);
    emu::launch(grid, {256}, un, x.data(), y.data(), n, 0.0f);
    chk::report(std::string("unary_silu_") + sfx + shape, chk::load(y), silu, tol);
    y = chk::poison<T>(n);
    emu::launch(grid, {256}, bin, x.data(), z.data(), y.data(), n);
    chk::report(std::string("binary_dense_mul_") + sfx + shape, chk::load(y), mul, tol);
    if (n * sizeof(T) % 16 == 0) {
        y = chk::poison<T>(n);
        emu::launch(grid, {256}, copy_dense16, (const uint4*)x.data(), (uint4*)y.data(), (long long)(n * sizeof(T) / 16));
        chk::report(std::string("copy_dense16 ") + sfx + shape, chk::load(y), xf, 0.0);
    }
}

int main() {
    for (long long n : {1001, 1040, 5000}) {
        run<float>("float", n, 1e-6);
        run<bf16>("bf16", n, 1e-2);
    }
    std::printf("%d failed\n", chk::failures);
    return chk::failures != 0;
}
