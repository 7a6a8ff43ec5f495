// reduce_check.cpp — reduce.cu's row sums and means on the emulator against
// double-precision references: rows longer and shorter than a block.
#include "emu.h"
// clang-format off
#include "../../cuda/common.cuh"
#include "../../cuda/reduce.cu"
// clang-format on
#include "check.h"

template <typename T>
static void run(const char* sfx, int rows, int n, double tol) {
    auto x = chk::store<T>(chk::randn((size_t)rows * n, 2.0f));
    auto xf = chk::load(x);
    std::vector<float> sum(rows), mean(rows);
    for (int r = 0; r < rows; ++r) {
        double s = 0;
        for (int i = 0; i < n; ++i) s += xf[(size_t)r * n + i];
        sum[r] = (float)s, mean[r] = (float)(s / n);
    }
    void (*sk)(const T*, T*, int, int);
    void (*mk)(const T*, T*, int, int);
    if constexpr (std::is_same_v<T, bf16>) sk = reduce_sum_bf16, mk = reduce_mean_bf16;
    else sk = reduce_sum_float, mk = reduce_mean_float;
    std::string shape = std::to_string(rows) + "x" + std::to_string(n);
    auto y = chk::poison<T>(rows);
    emu::launch({unsigned(rows)}, {256}, sk, x.data(), y.data(), rows, n);
    chk::report<T>(std::string("reduce_sum_") + sfx + " " + shape, chk::load(y), sum, tol);
    y = chk::poison<T>(rows);
    emu::launch({unsigned(rows)}, {256}, mk, x.data(), y.data(), rows, n);
    chk::report<T>(std::string("reduce_mean_") + sfx + " " + shape, chk::load(y), mean, tol);
}

int main() {
    for (int n : {1030, 7}) {
        run<float>("float", 5, n, 1e-5);
        run<bf16>("bf16", 5, n, 1e-2);
    }
    std::printf("%d failed\n", chk::failures);
    return chk::failures != 0;
}
