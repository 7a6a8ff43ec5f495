// elementwise_check.cpp — elementwise.cu on the emulator against references:
// every unary op and every dense binary op in f32, bf16 and f16 at lengths that
// take the element loop and the 16-byte vectors, a broadcast binary op and a
// strided cast.
#include "emu.h"
// clang-format off
#include "../../cuda/common.cuh"
#include "../../cuda/elementwise.cu"
// clang-format on
#include "check.h"

// NAME##_<T>: the kernel of T's type.
#define KERNEL(NAME)                                                     \
    [] {                                                                 \
        if constexpr (std::is_same_v<T, bf16>) return NAME##_bf16;       \
        else if constexpr (std::is_same_v<T, f16>) return NAME##_f16;    \
        else return NAME##_float;                                        \
    }()

// Every unary op and every dense binary op, against double-precision formulas.
template <typename T>
static void run(const char* sfx, long long n, double tol) {
    auto x = chk::store<T>(chk::randn(n, 2.0f)), z = chk::store<T>(chk::randn(n));
    auto xf = chk::load(x), zf = chk::load(z);
    // Divisors kept away from zero.
    for (auto& v : zf) v = v + (v < 0 ? -2.0f : 2.0f);
    z = chk::store<T>(zf), zf = chk::load(z);
    using Un = void (*)(const T*, T*, long long, float);
    using Bin = void (*)(const T*, const T*, T*, long long);
    struct U {
        const char* name;
        Un k;
        double (*f)(double);
        float alpha;
    } unary[] = {
        {"gelu", KERNEL(unary_gelu), [](double v) { return 0.5 * v * (1 + std::erf(v / std::sqrt(2.0))); }, 0},
        {"gelu_tanh", KERNEL(unary_gelu_tanh),
         [](double v) { return 0.5 * v * (1 + std::tanh(std::sqrt(2 / 3.14159265358979323846) * (v + 0.044715 * v * v * v))); }, 0},
        {"quick_gelu", KERNEL(unary_quick_gelu), [](double v) { return v / (1 + std::exp(-1.702 * v)); }, 0},
        {"silu", KERNEL(unary_silu), [](double v) { return v / (1 + std::exp(-v)); }, 0},
        {"tanh", KERNEL(unary_tanh), [](double v) { return std::tanh(v); }, 0},
        {"scale", KERNEL(unary_scale), [](double v) { return -1.5 * v; }, -1.5f},
    };
    struct B {
        const char* name;
        Bin k;
        double (*f)(double, double);
    } binary[] = {
        {"add", KERNEL(binary_dense_add), [](double p, double q) { return p + q; }},
        {"sub", KERNEL(binary_dense_sub), [](double p, double q) { return p - q; }},
        {"mul", KERNEL(binary_dense_mul), [](double p, double q) { return p * q; }},
        {"div", KERNEL(binary_dense_div), [](double p, double q) { return p / q; }},
    };
    const long long v = 16 / sizeof(T), threads = n % v ? n : n / v;
    dim3 grid{unsigned((threads + 255) / 256 > 2 ? 2 : (threads + 255) / 256)};  // 2 blocks: the grid-stride loop runs
    std::string shape = " " + std::to_string(n);
    std::vector<float> ref(n);
    for (const U& u : unary) {
        for (long long i = 0; i < n; ++i) ref[i] = u.f(xf[i]);
        auto y = chk::poison<T>(n);
        emu::launch(grid, {256}, u.k, x.data(), y.data(), n, u.alpha);
        chk::report<T>(std::string("unary_") + u.name + "_" + sfx + shape, chk::load(y), ref, tol);
    }
    for (const B& b : binary) {
        for (long long i = 0; i < n; ++i) ref[i] = b.f(xf[i], zf[i]);
        auto y = chk::poison<T>(n);
        emu::launch(grid, {256}, b.k, x.data(), z.data(), y.data(), n);
        chk::report<T>(std::string("binary_dense_") + b.name + "_" + sfx + shape, chk::load(y), ref, tol);
    }
    if (n * sizeof(T) % 16 == 0) {
        auto y = chk::poison<T>(n);
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
        run<f16>("f16", n, 2e-3);
    }
    std::printf("%d failed\n", chk::failures);
    return chk::failures != 0;
}
