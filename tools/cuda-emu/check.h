// check.h — what the emulator's checks share: seeded random inputs, 16-bit
// storage round trips, and the relative error ‖out − ref‖/‖ref‖ of DESIGN.md.
#pragma once
#include <cmath>
#include <cstdio>
#include <random>
#include <string>
#include <type_traits>
#include <algorithm>
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

// The per-element bound, in units of the output's scale (max |ref|): 8 units
// of T's epsilon for 16-bit outputs (f16's 8× tighter than bf16's), 1e-4 for
// f32, at least the L2 tolerance asked for, and 0 when that is 0 (exact).
template <typename T> double elem_tol(double tol) {
    if (tol == 0) return 0;
    double eps = std::is_same_v<T, bf16> ? std::ldexp(1.0, -8) : std::is_same_v<T, f16> ? std::ldexp(1.0, -11) : 0;
    return std::max(tol, eps ? 8 * eps : 1e-4);
}

// ‖out − ref‖/‖ref‖ within `tol` and every element within elem_tol<T>: the L2
// figure alone lets a few wrong elements through (one garbage element of a
// 3×65×130 product moves it by about 1e-2).
template <typename T = float>
inline void report(const std::string& what, const std::vector<float>& out, const std::vector<float>& ref, double tol) {
    double num = 0, den = 0, worst = 0, scale = 0;
    bool nan = false;
    for (size_t i = 0; i < ref.size(); ++i) scale = std::max(scale, std::fabs((double)ref[i]));
    for (size_t i = 0; i < ref.size(); ++i) {
        if (!std::isfinite(out[i])) nan = true;
        double e = out[i] - (double)ref[i];
        num += e * e;
        den += ref[i] * (double)ref[i];
        worst = std::max(worst, std::fabs(e));
    }
    double err = std::sqrt(num / (den > 0 ? den : 1)), elem = worst / (scale > 0 ? scale : 1), etol = elem_tol<T>(tol);
    bool ok = !nan && err <= tol && elem <= etol;
    failures += !ok;
    std::printf("%-60s rel err %9.2e  tol %7.0e  max elem %9.2e  tol %7.1e  %s\n", what.c_str(), nan ? NAN : err, tol,
                nan ? NAN : elem, etol, ok ? "pass" : "FAIL");
}

}  // namespace chk
