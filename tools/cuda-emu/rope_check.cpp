// rope_check.cpp — rope.cu on the emulator against a plain loop, on head
// dims for its 16-byte path and its single-pair path.
#include "emu.h"
// clang-format off
#include "../../cuda/common.cuh"
#include "../../cuda/rope.cu"
// clang-format on
#include "check.h"

static void rope(int d) {
    int outer = 2, t = 5, inner = 3, half = d / 2;
    auto x = chk::randn((size_t)outer * t * inner * d);
    std::vector<float> cos(t * half), sin(t * half);
    for (int i = 0; i < t * half; ++i) cos[i] = std::cos(0.3f * i), sin[i] = std::sin(0.3f * i);
    std::vector<float> ref(x.size());
    for (size_t row = 0; row < x.size() / d; ++row) {
        int ti = (row / inner) % t;
        for (int j = 0; j < half; ++j) {
            float a = x[row * d + j], b = x[row * d + j + half], c = cos[ti * half + j], s = sin[ti * half + j];
            ref[row * d + j] = a * c - b * s;
            ref[row * d + j + half] = b * c + a * s;
        }
    }
    auto y = chk::poison<float>(x.size());
    emu::launch({1}, {256}, rope_float, (const float*)x.data(), (const float*)cos.data(), (const float*)sin.data(),
                y.data(), outer, t, inner, d);
    chk::report("rope_float 2x5x3x" + std::to_string(d), y, ref, 1e-6);
}

int main() {
    rope(16);  // 16-byte pairs
    rope(6);   // single pairs
    std::printf("%d failed\n", chk::failures);
    return chk::failures != 0;
}
