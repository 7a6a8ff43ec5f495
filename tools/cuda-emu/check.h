// check.h — what the emulator's checks share: seeded random inputs, 16-bit
// storage round trips, and the relative error ‖out − ref‖/‖ref‖ of DESIGN.md.
#pragma once
#include <cmath>
#include <cstdio>
#include <random>
#include <string>
#include <vector>

namespace chk {

inline std::mt19937& rng() {
    static std::mt19937 g(1234);
    return g;
}

inline std::vector<float> randn(size_t n, float scale = 1.0f) {
    std::normal_distribution<float> d(0.0f, scale);
    std::vector<float> v(n);
    for (auto& x : v) x = d(rng());
    return v;
}

// Storage of floats as T, and back (the reference sees the rounded inputs).
template <typename T> std::vector<T> store(const std::vector<float>& v);
template <> inline std::vector<float> store<float>(const std::vector<float>& v) { return v; }
template <> inline std::vector<bf16> store<bf16>(const std::vector<float>& v) {
    std::vector<bf16> o(v.size());
    for (size_t i = 0; i < v.size(); ++i) o[i].x = emu::f32_to_bf16(v[i]);
    return o;
}
template <> inline std::vector<f16> store<f16>(const std::vector<float>& v) {
    std::vector<f16> o(v.size());
    for (size_t i = 0; i < v.size(); ++i) o[i].x = emu::f32_to_f16(v[i]);
    return o;
}
template <typename T> std::vector<float> load(const std::vector<T>& v) {
    std::vector<float> o(v.size());
    for (size_t i = 0; i < v.size(); ++i) o[i] = to_f32(v[i]);
    return o;
}

// Poison: every output element must be written by the kernel.
template <typename T> std::vector<T> poison(size_t n) { return store<T>(std::vector<float>(n, NAN)); }

inline int failures = 0;

inline void report(const std::string& what, const std::vector<float>& out, const std::vector<float>& ref, double tol) {
    double num = 0, den = 0;
    bool nan = false;
    for (size_t i = 0; i < ref.size(); ++i) {
        if (!std::isfinite(out[i])) nan = true;
        num += (out[i] - ref[i]) * (double)(out[i] - ref[i]);
        den += ref[i] * (double)ref[i];
    }
    double err = std::sqrt(num / (den > 0 ? den : 1));
    bool ok = !nan && err <= tol;
    failures += !ok;
    std::printf("%-60s rel err %9.2e  tol %7.0e  %s\n", what.c_str(), nan ? NAN : err, tol, ok ? "pass" : "FAIL");
}

}  // namespace chk
