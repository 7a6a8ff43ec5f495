// norm_check.cpp — norm.cu's row kernels on the emulator against double-precision
// references: row lengths that take the element path and the 16-byte path.
#include "emu.h"
// clang-format off
#include "../../cuda/common.cuh"
#include "../../cuda/norm.cu"
// clang-format on
#include "check.h"

template <typename T>
static void run(const char* sfx, int rows, int n, double tol) {
    auto x = chk::store<T>(chk::randn((size_t)rows * n, 2.0f));
    auto w = chk::store<T>(chk::randn(n)), b = chk::store<T>(chk::randn(n));
    auto xf = chk::load(x), wf = chk::load(w), bf = chk::load(b);
    std::vector<float> ln(xf.size()), rms(xf.size()), sm(xf.size());
    for (int r = 0; r < rows; ++r) {
        double mean = 0, var = 0, sq = 0, mx = -INFINITY, se = 0;
        for (int i = 0; i < n; ++i) mean += xf[r * n + i], sq += (double)xf[r * n + i] * xf[r * n + i];
        mean /= n;
        for (int i = 0; i < n; ++i) var += (xf[r * n + i] - mean) * (xf[r * n + i] - mean), mx = std::max(mx, (double)xf[r * n + i]);
        for (int i = 0; i < n; ++i) se += std::exp(xf[r * n + i] - mx);
        for (int i = 0; i < n; ++i) {
            double v = xf[r * n + i];
            ln[r * n + i] = (v - mean) / std::sqrt(var / n + 1e-5) * wf[i] + bf[i];
            rms[r * n + i] = v / std::sqrt(sq / n + 1e-6) * wf[i];
            sm[r * n + i] = std::exp(v - mx) / se;
        }
    }
    auto y = chk::poison<T>(xf.size());
    void (*lnk)(const T*, const T*, const T*, T*, int, int, float);
    void (*rmsk)(const T*, const T*, T*, int, int, float);
    void (*smk)(const T*, T*, int, int);
    if constexpr (std::is_same_v<T, bf16>) lnk = layer_norm_bf16, rmsk = rms_norm_bf16, smk = softmax_bf16;
    else lnk = layer_norm_float, rmsk = rms_norm_float, smk = softmax_float;
    std::string shape = std::to_string(rows) + "x" + std::to_string(n);
    emu::launch({unsigned(rows)}, {256}, lnk, x.data(), w.data(), b.data(), y.data(), rows, n, 1e-5f);
    chk::report<T>(std::string("layer_norm_") + sfx + " " + shape, chk::load(y), ln, tol);
    y = chk::poison<T>(xf.size());
    emu::launch({unsigned(rows)}, {256}, rmsk, x.data(), w.data(), y.data(), rows, n, 1e-6f);
    chk::report<T>(std::string("rms_norm_") + sfx + " " + shape, chk::load(y), rms, tol);
    y = chk::poison<T>(xf.size());
    emu::launch({unsigned(rows)}, {256}, smk, x.data(), y.data(), rows, n);
    chk::report<T>(std::string("softmax_") + sfx + " " + shape, chk::load(y), sm, tol);
}

int main() {
    for (int n : {1030, 1032, 4100}) {
        run<float>("float", 3, n, 1e-5);
        run<bf16>("bf16", 3, n, 1e-2);
    }
    std::printf("%d failed\n", chk::failures);
    return chk::failures != 0;
}
