// attention_check.cpp — attention.cu's and flash_attention.cu's kernels on the
// emulator against a double-precision softmax(q·kᵀ·scale + mask)·v over the
// same (rounded) inputs: causal with Tq < Tk, an additive mask, a keep-mask
// with a row that keeps nothing, GQA, ragged tiles, decode over many keys.
#include "emu.h"
// clang-format off
#include "../../cuda/common.cuh"
#include "../../cuda/attention.cu"
#include "../../cuda/flash_attention.cu"
// clang-format on
#include "check.h"

struct Case {
    int b, h, hkv, tq, tk, d;
    bool causal;
    int kind;  // 0 none, 1 additive, 2 keep
};

// q, o [B, Tq, H, D]; k, v [B, Hkv, Tk, D]; one mask [Tq, Tk] shared by every (b, h).
static AttnParams params(const Case& c) {
    AttnParams p{};
    p.b = c.b, p.h = c.h, p.hkv = c.hkv, p.tq = c.tq, p.tk = c.tk, p.d = c.d;
    p.scale = 1.0f / std::sqrt((float)c.d);
    p.causal = c.causal;
    p.q = {0, (long long)c.tq * c.h * c.d, c.d, (long long)c.h * c.d};
    p.o = p.q;
    p.k = {0, (long long)c.hkv * c.tk * c.d, (long long)c.tk * c.d, c.d};
    p.v = p.k;
    p.m_off = 0, p.m_b = 0, p.m_h = 0, p.m_q = c.tk;
    p.has_mask = c.kind != 0;
    return p;
}

static std::vector<float> reference(const Case& c, const AttnParams& p, const std::vector<float>& q,
                                    const std::vector<float>& k, const std::vector<float>& v,
                                    const std::vector<float>& add, const std::vector<unsigned char>& keep) {
    std::vector<float> o((size_t)c.b * c.tq * c.h * c.d);
    for (int b = 0; b < c.b; ++b)
        for (int h = 0; h < c.h; ++h)
            for (int i = 0; i < c.tq; ++i) {
                int kvh = h / (c.h / c.hkv);
                std::vector<double> s(c.tk, -INFINITY);
                double mx = -INFINITY;
                for (int j = 0; j < c.tk; ++j) {
                    if (c.causal && j > i + c.tk - c.tq) continue;
                    if (c.kind == 2 && !keep[i * c.tk + j]) continue;
                    double dot = 0;
                    for (int d = 0; d < c.d; ++d)
                        dot += (double)q[b * p.q.b + h * p.q.h + i * p.q.t + d] * k[b * p.k.b + kvh * p.k.h + j * p.k.t + d];
                    s[j] = dot * p.scale + (c.kind == 1 ? add[i * c.tk + j] : 0.0);
                    mx = std::max(mx, s[j]);
                }
                double sum = 0;
                for (int j = 0; j < c.tk; ++j) sum += s[j] == -INFINITY ? 0 : std::exp(s[j] - mx);
                for (int d = 0; d < c.d; ++d) {
                    double acc = 0;
                    for (int j = 0; j < c.tk; ++j)
                        if (s[j] != -INFINITY) acc += std::exp(s[j] - mx) * v[b * p.v.b + kvh * p.v.h + j * p.v.t + d];
                    o[b * p.o.b + h * p.o.h + i * p.o.t + d] = sum > 0 ? acc / sum : 0.0;
                }
            }
    return o;
}

template <typename T>
// flash: 0 for attention.cu's kernels, else the flash kernels' warps (4 or 8).
static void run(const Case& c, int flash, double tol, bool vec = false) {
    AttnParams p = params(c);
    auto q = chk::store<T>(chk::randn((size_t)c.b * c.tq * c.h * c.d));
    auto k = chk::store<T>(chk::randn((size_t)c.b * c.hkv * c.tk * c.d));
    auto v = chk::store<T>(chk::randn((size_t)c.b * c.hkv * c.tk * c.d));
    auto add = chk::randn((size_t)c.tq * c.tk);
    std::vector<unsigned char> keep((size_t)c.tq * c.tk);
    for (size_t j = 0; j < keep.size(); ++j) keep[j] = (j * 7 + j / c.tk) % 3 != 0 && j / c.tk != 2;
    auto ref = reference(c, p, chk::load(q), chk::load(k), chk::load(v), add, keep);
    auto o = chk::poison<T>(ref.size());
    const char* sfx = std::is_same_v<T, bf16> ? "bf16" : std::is_same_v<T, f16> ? "f16" : "float";
    std::string name;
    if (flash) {
        bool w8 = flash == 8;
        name = std::string(c.kind == 2 ? "flash_cross_attention_" : "flash_attention_") + sfx + "_d" +
               std::to_string(c.d) + (w8 ? "_w8" : "");
        dim3 grid{unsigned((c.tq + 16 * flash - 1) / (16 * flash)), unsigned(c.h), unsigned(c.b)};
        if constexpr (!std::is_same_v<T, float>) {
            constexpr bool B = std::is_same_v<T, bf16>;
            // [bf16?][d128?][w8?]
            void* attn[2][2][2] = {{{(void*)flash_attention_f16_d64, (void*)flash_attention_f16_d64_w8},
                                    {(void*)flash_attention_f16_d128, (void*)flash_attention_f16_d128_w8}},
                                   {{(void*)flash_attention_bf16_d64, (void*)flash_attention_bf16_d64_w8},
                                    {(void*)flash_attention_bf16_d128, (void*)flash_attention_bf16_d128_w8}}};
            void* cross[2][2][2] = {
                {{(void*)flash_cross_attention_f16_d64, (void*)flash_cross_attention_f16_d64_w8},
                 {(void*)flash_cross_attention_f16_d128, (void*)flash_cross_attention_f16_d128_w8}},
                {{(void*)flash_cross_attention_bf16_d64, (void*)flash_cross_attention_bf16_d64_w8},
                 {(void*)flash_cross_attention_bf16_d128, (void*)flash_cross_attention_bf16_d128_w8}}};
            using A = void (*)(const T*, const T*, const T*, T*, const float*, AttnParams);
            using X = void (*)(const T*, const T*, const T*, T*, const unsigned char*, AttnParams);
            int d128 = c.d == 128;
            dim3 block{unsigned(32 * flash)};
            if (c.kind == 2)
                emu::launch(grid, block, (X)cross[B][d128][w8], q.data(), k.data(), v.data(), o.data(), keep.data(), p);
            else
                emu::launch(grid, block, (A)attn[B][d128][w8], q.data(), k.data(), v.data(), o.data(),
                            c.kind ? add.data() : nullptr, p);
        }
    } else if (c.tq == 1 && c.kind == 0 && vec) {
        name = std::string("attention_decode_vec+combine_") + sfx;
        int splits = (c.tk + 255) / 256;
        std::vector<float> part((size_t)c.b * c.h * splits * (c.d + 2));
        void (*dec)(const T*, const T*, const T*, float*, AttnParams);
        void (*comb)(const float*, T*, AttnParams, int);
        if constexpr (std::is_same_v<T, bf16>) dec = attention_decode_vec_bf16, comb = attention_combine_bf16;
        else if constexpr (std::is_same_v<T, f16>) dec = attention_decode_vec_f16, comb = attention_combine_f16;
        else dec = attention_decode_vec_float, comb = attention_combine_float;
        emu::launch({unsigned(splits), unsigned(c.h), unsigned(c.b)}, {256}, dec, q.data(), k.data(), v.data(), part.data(), p);
        emu::launch({unsigned(c.h), unsigned(c.b)}, {128}, comb, (const float*)part.data(), o.data(), p, splits);
    } else if (c.tq == 1 && c.kind == 0) {
        name = std::string("attention_decode+combine_") + sfx;
        int chunk = 64, splits = (c.tk + chunk - 1) / chunk;
        std::vector<float> part((size_t)c.b * c.h * splits * (c.d + 2));
        void (*dec)(const T*, const T*, const T*, float*, AttnParams, int);
        void (*comb)(const float*, T*, AttnParams, int);
        if constexpr (std::is_same_v<T, bf16>) dec = attention_decode_bf16, comb = attention_combine_bf16;
        else if constexpr (std::is_same_v<T, f16>) dec = attention_decode_f16, comb = attention_combine_f16;
        else dec = attention_decode_float, comb = attention_combine_float;
        emu::launch({unsigned(splits), unsigned(c.h), unsigned(c.b)}, {256}, dec, q.data(), k.data(), v.data(), part.data(), p, chunk);
        emu::launch({unsigned(c.h), unsigned(c.b)}, {128}, comb, (const float*)part.data(), o.data(), p, splits);
    } else {
        name = std::string(c.kind == 2 ? "cross_attention_" : "attention_") + sfx;
        dim3 grid{unsigned((c.tq + 7) / 8), unsigned(c.h), unsigned(c.b)};
        void (*attn)(const T*, const T*, const T*, T*, const float*, AttnParams);
        void (*cross)(const T*, const T*, const T*, T*, const unsigned char*, AttnParams);
        if constexpr (std::is_same_v<T, bf16>) attn = attention_bf16, cross = cross_attention_bf16;
        else if constexpr (std::is_same_v<T, f16>) attn = attention_f16, cross = cross_attention_f16;
        else attn = attention_float, cross = cross_attention_float;
        if (c.kind == 2) emu::launch(grid, {256}, cross, q.data(), k.data(), v.data(), o.data(), keep.data(), p);
        else emu::launch(grid, {256}, attn, q.data(), k.data(), v.data(), o.data(), c.kind ? add.data() : nullptr, p);
    }
    char what[200];
    std::snprintf(what, sizeof what, "%s B%d H%d/%d Tq%d Tk%d D%d%s%s", name.c_str(), c.b, c.h, c.hkv, c.tq, c.tk, c.d,
                  c.causal ? " causal" : "", c.kind == 1 ? " +mask" : c.kind == 2 ? " keep" : "");
    chk::report<T>(what, chk::load(o), ref, tol);
}

int main() {
    const Case cases[] = {
        {1, 2, 1, 70, 70, 64, true, 0},     // causal, ragged last tile
        {1, 2, 2, 37, 150, 64, true, 0},    // causal with Tq < Tk (a prefill after a cache)
        {2, 2, 1, 20, 90, 128, false, 1},   // additive mask, GQA, batch
        {1, 2, 2, 70, 77, 64, false, 2},    // keep-mask; row 2 keeps no key
        {1, 2, 2, 130, 64, 128, false, 0},  // several query blocks, one key tile
        {1, 1, 1, 300, 300, 64, true, 0},   // causal over several 128-row blocks
        {1, 2, 1, 1, 300, 64, false, 0},    // decode over many keys
        {2, 4, 2, 1, 700, 128, false, 0},   // decode, three chunks, GQA, batch
        {1, 6, 2, 40, 40, 12, true, 0},     // head dims of no power of two (the odd fixtures)
        {1, 3, 1, 33, 33, 24, true, 0},
        {1, 3, 1, 9, 50, 24, false, 2},
        {1, 5, 5, 17, 17, 8, false, 0},
    };
    for (const Case& c : cases) {
        run<float>(c, 0, 1e-5);
        run<bf16>(c, 0, 1e-2);
        if (c.tq == 1) {
            run<float>(c, 0, 1e-5, true);
            run<bf16>(c, 0, 1e-2, true);
            run<f16>(c, 0, 1e-2, true);
        }
        if (c.tq > 1 && (c.d == 64 || c.d == 128)) {
            for (int warps : {4, 8}) {
                run<bf16>(c, warps, 1e-2);
                run<f16>(c, warps, 1e-2);
            }
        }
    }
    std::printf("%d failed\n", chk::failures);
    return chk::failures != 0;
}
