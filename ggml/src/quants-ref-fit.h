// Helpers shared by our own weight quantizers (quants-ref-k.cpp, quants-ref-iq.cpp): rounding with
// clamping, saturated fp16 scales, fixed-order partial sums and the power-of-two block normalisation.
// Internal to ggml/src; plain scalar code whose results do not depend on the ISA.
#pragma once

#include <algorithm>
#include <cfloat>
#include <cmath>

#include "ld-ggml/fp16.h"

namespace ld::ggml::qfit {

// Partial sums per reduction: fixed, so the summation order (part of the result) never depends on
// the compiler or the ISA.
constexpr int kLanes = 4;

// Nearest integer of v clamped to [lo, hi] (half up); NaN gives lo. Never an out-of-range conversion.
inline int round_clamp(double v, int lo, int hi) {
    if (!(v >= (double)lo)) return lo;
    if (v >= (double)hi) return hi;
    return (int)(v - lo + 0.5) + lo;  // v - lo + 0.5 > 0: truncation is floor
}

// fp16 of a scale, saturated to the largest finite fp16 so that no finite input gives inf/NaN.
inline fp16_t fp16_sat(double v) {
    const double lim = 65504.0;
    if (!(v == v)) v = 0.0;
    if (v > lim) v = lim;
    if (v < -lim) v = -lim;
    return f32_to_fp16((float)v);
}

// Sum of N values (N a multiple of kLanes) as kLanes strided partial sums, then pairwise.
template <int N>
inline double lane_sum(const float * v) {
    static_assert(N % kLanes == 0, "length must be a multiple of the lane count");
    float a[kLanes] = {};
    for (int j = 0; j < N; j += kLanes)
        for (int l = 0; l < kLanes; ++l) a[l] += v[j + l];
    return (double)((a[0] + a[2]) + (a[1] + a[3]));
}

// Power of two p bringing the largest finite |x| of a super-block into [0.5, 1) (exponent clamped
// so that p stays a normal float); xs[j] = x[j] * p (0 for NaN and inf, which then do not disturb
// the fit). Returns 0 when no value is finite and nonzero.
inline float normalize_block(const float * x, int n, float * xs) {
    float amax = 0.0f;
    for (int j = 0; j < n; ++j) {
        const float a = std::fabs(x[j]);
        amax = (a > amax && a <= FLT_MAX) ? a : amax;
    }
    if (amax == 0.0f) return 0.0f;
    int e = 0;
    std::frexp(amax, &e);
    e = std::min(std::max(e, -125), 125);
    const float p = std::ldexp(1.0f, -e);
    for (int j = 0; j < n; ++j) xs[j] = std::fabs(x[j]) <= FLT_MAX ? x[j] * p : 0.0f;  // NaN/inf: fit as 0
    return p;
}

}  // namespace ld::ggml::qfit
