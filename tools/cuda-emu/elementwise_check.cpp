// elementwise_check.cpp — elementwise.cu on the emulator against references:
// the dense paths at lengths that take the element loop and the 16-byte
// vectors, a broadcast binary op and a strided cast.
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

// A [3,1,5] + [1,4,5] broadcast add and a transposed, offset view cast to bf16.
static void strided() {
    auto a = chk::randn(15), b = chk::randn(20);
    Strided sa{{3, 4, 5}, {5, 0, 1}, 0, 3}, sb{{3, 4, 5}, {0, 5, 1}, 0, 3};
    std::vector<float> ref(60);
    for (int i = 0; i < 3; ++i)
        for (int j = 0; j < 4; ++j)
            for (int k = 0; k < 5; ++k) ref[(i * 4 + j) * 5 + k] = a[i * 5 + k] + b[j * 5 + k];
    auto y = chk::poison<float>(60);
    emu::launch({1}, {256}, binary_add_float, (const float*)a.data(), (const float*)b.data(), y.data(), sa, sb, 60LL);
    chk::report("binary_add_float [3,1,5]+[1,4,5]", y, ref, 0.0);
    auto x = chk::randn(40);
    Strided sx{{7, 5}, {1, 7}, 3, 2};
    std::vector<float> want(35);
    for (int i = 0; i < 7; ++i)
        for (int j = 0; j < 5; ++j) want[i * 5 + j] = chk::load(chk::store<bf16>({x[3 + i + 7 * j]}))[0];
    auto z = chk::poison<bf16>(35);
    emu::launch({1}, {256}, copy_float_bf16, (const float*)x.data(), z.data(), sx, 35LL);
    chk::report("copy_float_bf16 [5,7]T+3", chk::load(z), want, 0.0);
}

int main() {
    strided();
    for (long long n : {1001, 1040, 5000}) {
        run<float>("float", n, 1e-6);
        run<bf16>("bf16", n, 1e-2);
    }
    std::printf("%d failed\n", chk::failures);
    return chk::failures != 0;
}
