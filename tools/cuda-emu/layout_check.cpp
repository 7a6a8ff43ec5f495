// layout_check.cpp — the data-movement kernels on the emulator against plain
// loops: im2col (padding, stride), concat into wider rows, embedding, each on
// shapes for its 16-byte and its element path.
#include "emu.h"
// clang-format off
#include "../../cuda/common.cuh"
#include "../../cuda/layout.cu"
#include "../../cuda/elementwise.cu"
// clang-format on
#include "check.h"

static void im2col(int n, int c, int h, int w, int k, int stride, int pad) {
    int oh = (h + 2 * pad - k) / stride + 1, ow = (w + 2 * pad - k) / stride + 1;
    auto x = chk::randn((size_t)n * c * h * w);
    std::vector<float> ref((size_t)n * oh * ow * c * k * k);
    for (int b = 0; b < n; ++b)
        for (int oy = 0; oy < oh; ++oy)
            for (int ox = 0; ox < ow; ++ox)
                for (int ch = 0; ch < c; ++ch)
                    for (int ky = 0; ky < k; ++ky)
                        for (int kx = 0; kx < k; ++kx) {
                            int iy = oy * stride - pad + ky, ix = ox * stride - pad + kx;
                            bool in = iy >= 0 && iy < h && ix >= 0 && ix < w;
                            size_t o = (((size_t)(b * oh + oy) * ow + ox) * c + ch) * k * k + ky * k + kx;
                            ref[o] = in ? x[(((size_t)b * c + ch) * h + iy) * w + ix] : 0.0f;
                        }
    auto y = chk::poison<float>(ref.size());
    emu::launch({2}, {256}, im2col_float, (const float*)x.data(), y.data(), n, c, h, w, k, stride, pad, oh, ow);
    chk::report("im2col_float " + std::to_string(h) + "x" + std::to_string(w) + " k" + std::to_string(k) + " pad" +
                    std::to_string(pad),
                y, ref, 0.0);
}

static void concat(long long outer, long long ix, long long iy, long long at) {
    auto x = chk::randn(outer * ix);
    auto y = chk::randn(outer * iy), ref = y;
    for (long long o = 0; o < outer; ++o)
        for (long long i = 0; i < ix; ++i) ref[o * iy + at + i] = x[o * ix + i];
    emu::launch({1}, {256}, concat_float, (const float*)x.data(), y.data(), outer, ix, iy, at);
    chk::report("concat_float " + std::to_string(outer) + "x" + std::to_string(ix) + " at " + std::to_string(at) +
                    " into rows of " + std::to_string(iy),
                y, ref, 0.0);
}

template <typename T>
static void embedding(const char* sfx, int d) {
    int vocab = 11, rows = 6;
    auto table = chk::store<T>(chk::randn((size_t)vocab * d));
    // 11 is past the table: a zero row.
    std::vector<unsigned> ids = {3, 0, 10, 11, 7, 1};
    auto tf = chk::load(table);
    std::vector<float> ref((size_t)rows * d);
    for (int r = 0; r < rows; ++r)
        for (int i = 0; i < d; ++i) ref[(size_t)r * d + i] = ids[r] < (unsigned)vocab ? tf[(size_t)ids[r] * d + i] : 0.0f;
    auto y = chk::poison<T>(ref.size());
    void (*k)(const T*, const unsigned*, T*, int, int, int);
    if constexpr (std::is_same_v<T, bf16>) k = embedding_bf16;
    else k = embedding_float;
    emu::launch({unsigned(rows)}, {128}, k, (const T*)table.data(), (const unsigned*)ids.data(), y.data(), rows, d, vocab);
    chk::report(std::string("embedding_") + sfx + " d" + std::to_string(d), chk::load(y), ref, 0.0);
}

int main() {
    im2col(1, 3, 28, 28, 14, 14, 0);  // a ViT's patches
    im2col(2, 2, 9, 7, 3, 2, 1);      // padding and a ragged stride
    concat(5, 7, 19, 4);   // element moves
    concat(5, 8, 20, 12);  // 16-byte moves
    embedding<float>("float", 36);  // 144-byte rows: 16-byte moves
    embedding<float>("float", 7);   // element moves
    embedding<bf16>("bf16", 40);
    std::printf("%d failed\n", chk::failures);
    return chk::failures != 0;
}
