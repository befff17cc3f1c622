// Reference dequantization and quantization of the legacy 32-value block types Q4_0, Q4_1, Q5_0,
// Q5_1, Q8_0 (reference rule and the x86 runtime activation rule) and Q8_1.
// Layouts and formulas: docs/format.md §2.3; activation rules: docs/format.md §2.5. The quantizers reproduce the
// reference rules bit for bit (gguf-py's quantize and ggml's *_ref functions): f32 arithmetic in the
// order written here, and no FMA contraction (the build uses -ffp-contract=off).
#include <cmath>
#include <cstring>

#include "ld-ggml/quants-ref.h"

namespace ld::ggml {

namespace {

// Truncates v toward zero and clamps to [lo, hi] without undefined float->int conversion:
// NaN and everything below lo give lo, everything at or above hi+1 gives hi.
inline int trunc_clamp(float v, int lo, int hi) {
    if (!(v >= (float)lo)) return lo;
    if (v >= (float)hi + 1.0f) return hi;
    return (int)v;
}

// roundf (half away from zero) clamped to the int8 range; NaN gives 0.
inline int8_t round_away_i8(float v) {
    if (!(v == v)) return 0;
    if (v >= 127.0f) return 127;
    if (v <= -128.0f) return -128;
    return (int8_t)std::roundf(v);
}

// Round half to even (the default FP rounding mode) clamped to int8, as the saturating packs of the
// x86 runtime do; NaN gives 0.
inline int8_t round_even_i8(float v) {
    if (!(v == v)) return 0;
    if (v >= 127.0f) return 127;
    if (v <= -128.0f) return -128;
    return (int8_t)std::nearbyintf(v);
}

inline uint32_t load_u32_le(const uint8_t * p) {
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}

inline void store_u32_le(uint8_t * p, uint32_t v) {
    p[0] = (uint8_t)v; p[1] = (uint8_t)(v >> 8); p[2] = (uint8_t)(v >> 16); p[3] = (uint8_t)(v >> 24);
}

// The value with the largest magnitude, keeping its sign; the first one on ties.
inline float signed_absmax(const float * x, int n) {
    float amax = std::fabs(x[0]), max = x[0];
    for (int j = 1; j < n; ++j) {
        const float a = std::fabs(x[j]);
        if (a > amax) { amax = a; max = x[j]; }
    }
    return max;
}

inline float absmax(const float * x, int n) {
    float amax = 0.0f;
    for (int j = 0; j < n; ++j) amax = std::fmax(amax, std::fabs(x[j]));
    return amax;
}

inline void min_max(const float * x, int n, float & mn, float & mx) {
    mn = x[0]; mx = x[0];
    for (int j = 1; j < n; ++j) {
        if (x[j] < mn) mn = x[j];
        if (x[j] > mx) mx = x[j];
    }
}

}  // namespace

// ---------------------------------------------------------------- dequantization (32 values/block)

void dequantize_row_q4_0(const block_q4_0 * x, float * y, int64_t n) {
    const int64_t nb = n / QK4_0;
    for (int64_t b = 0; b < nb; ++b, y += QK4_0) {
        const float d = fp16_to_f32(x[b].d);
        for (int j = 0; j < QK4_0 / 2; ++j) {
            y[j] = d * (float)((x[b].qs[j] & 15) - 8);
            y[j + 16] = d * (float)((x[b].qs[j] >> 4) - 8);
        }
    }
}

void dequantize_row_q4_1(const block_q4_1 * x, float * y, int64_t n) {
    const int64_t nb = n / QK4_1;
    for (int64_t b = 0; b < nb; ++b, y += QK4_1) {
        const float d = fp16_to_f32(x[b].d), m = fp16_to_f32(x[b].m);
        for (int j = 0; j < QK4_1 / 2; ++j) {
            y[j] = d * (float)(x[b].qs[j] & 15) + m;
            y[j + 16] = d * (float)(x[b].qs[j] >> 4) + m;
        }
    }
}

void dequantize_row_q5_0(const block_q5_0 * x, float * y, int64_t n) {
    const int64_t nb = n / QK5_0;
    for (int64_t b = 0; b < nb; ++b, y += QK5_0) {
        const float d = fp16_to_f32(x[b].d);
        const uint32_t qh = load_u32_le(x[b].qh);
        for (int j = 0; j < QK5_0 / 2; ++j) {
            const int lo = (x[b].qs[j] & 15) | (int)(((qh >> j) & 1u) << 4);
            const int hi = (x[b].qs[j] >> 4) | (int)(((qh >> (j + 16)) & 1u) << 4);
            y[j] = d * (float)(lo - 16);
            y[j + 16] = d * (float)(hi - 16);
        }
    }
}

void dequantize_row_q5_1(const block_q5_1 * x, float * y, int64_t n) {
    const int64_t nb = n / QK5_1;
    for (int64_t b = 0; b < nb; ++b, y += QK5_1) {
        const float d = fp16_to_f32(x[b].d), m = fp16_to_f32(x[b].m);
        const uint32_t qh = load_u32_le(x[b].qh);
        for (int j = 0; j < QK5_1 / 2; ++j) {
            const int lo = (x[b].qs[j] & 15) | (int)(((qh >> j) & 1u) << 4);
            const int hi = (x[b].qs[j] >> 4) | (int)(((qh >> (j + 16)) & 1u) << 4);
            y[j] = d * (float)lo + m;
            y[j + 16] = d * (float)hi + m;
        }
    }
}

void dequantize_row_q8_0(const block_q8_0 * x, float * y, int64_t n) {
    const int64_t nb = n / QK8_0;
    for (int64_t b = 0; b < nb; ++b, y += QK8_0) {
        const float d = fp16_to_f32(x[b].d);
        for (int j = 0; j < QK8_0; ++j) y[j] = d * (float)x[b].qs[j];
    }
}

void dequantize_row_q8_1(const block_q8_1 * x, float * y, int64_t n) {
    const int64_t nb = n / QK8_1;
    for (int64_t b = 0; b < nb; ++b, y += QK8_1) {
        const float d = fp16_to_f32(x[b].d);
        for (int j = 0; j < QK8_1; ++j) y[j] = d * (float)x[b].qs[j];
    }
}

// ---------------------------------------------------------------- quantization (reference rules)

// Q4_0: d = max/-8 with max the signed value of largest magnitude; q = trunc(x/d + 8.5) in 0..15.
void quantize_row_q4_0_ref(const float * x, block_q4_0 * y, int64_t n) {
    const int64_t nb = n / QK4_0;
    for (int64_t b = 0; b < nb; ++b, x += QK4_0) {
        const float max = signed_absmax(x, QK4_0);
        const float d = max / -8.0f;
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        y[b].d = f32_to_fp16(d);
        for (int j = 0; j < QK4_0 / 2; ++j) {
            const int q0 = trunc_clamp(x[j] * id + 8.5f, 0, 15);
            const int q1 = trunc_clamp(x[j + 16] * id + 8.5f, 0, 15);
            y[b].qs[j] = (uint8_t)(q0 | (q1 << 4));
        }
    }
}

// Q4_1: d = (max-min)/15, m = min; q = trunc((x-min)/d + 0.5) in 0..15.
void quantize_row_q4_1_ref(const float * x, block_q4_1 * y, int64_t n) {
    const int64_t nb = n / QK4_1;
    for (int64_t b = 0; b < nb; ++b, x += QK4_1) {
        float mn, mx;
        min_max(x, QK4_1, mn, mx);
        const float d = (mx - mn) / 15.0f;
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        y[b].d = f32_to_fp16(d);
        y[b].m = f32_to_fp16(mn);
        for (int j = 0; j < QK4_1 / 2; ++j) {
            const int q0 = trunc_clamp((x[j] - mn) * id + 0.5f, 0, 15);
            const int q1 = trunc_clamp((x[j + 16] - mn) * id + 0.5f, 0, 15);
            y[b].qs[j] = (uint8_t)(q0 | (q1 << 4));
        }
    }
}

// Q5_0: d = max/-16; q = trunc(x/d + 16.5) in 0..31; bit 4 of element j goes to bit j of qh.
void quantize_row_q5_0_ref(const float * x, block_q5_0 * y, int64_t n) {
    const int64_t nb = n / QK5_0;
    for (int64_t b = 0; b < nb; ++b, x += QK5_0) {
        const float max = signed_absmax(x, QK5_0);
        const float d = max / -16.0f;
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        y[b].d = f32_to_fp16(d);
        uint32_t qh = 0;
        for (int j = 0; j < QK5_0 / 2; ++j) {
            const int q0 = trunc_clamp(x[j] * id + 16.5f, 0, 31);
            const int q1 = trunc_clamp(x[j + 16] * id + 16.5f, 0, 31);
            y[b].qs[j] = (uint8_t)((q0 & 15) | ((q1 & 15) << 4));
            qh |= (uint32_t)(q0 >> 4) << j;
            qh |= (uint32_t)(q1 >> 4) << (j + 16);
        }
        store_u32_le(y[b].qh, qh);
    }
}

// Q5_1: d = (max-min)/31, m = min; q = trunc((x-min)/d + 0.5) in 0..31.
void quantize_row_q5_1_ref(const float * x, block_q5_1 * y, int64_t n) {
    const int64_t nb = n / QK5_1;
    for (int64_t b = 0; b < nb; ++b, x += QK5_1) {
        float mn, mx;
        min_max(x, QK5_1, mn, mx);
        const float d = (mx - mn) / 31.0f;
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        y[b].d = f32_to_fp16(d);
        y[b].m = f32_to_fp16(mn);
        uint32_t qh = 0;
        for (int j = 0; j < QK5_1 / 2; ++j) {
            const int q0 = trunc_clamp((x[j] - mn) * id + 0.5f, 0, 31);
            const int q1 = trunc_clamp((x[j + 16] - mn) * id + 0.5f, 0, 31);
            y[b].qs[j] = (uint8_t)((q0 & 15) | ((q1 & 15) << 4));
            qh |= (uint32_t)(q0 >> 4) << j;
            qh |= (uint32_t)(q1 >> 4) << (j + 16);
        }
        store_u32_le(y[b].qh, qh);
    }
}

// Q8_0 reference: d = amax/127 (stored fp16), q = roundf(x * (1/d)) with the unrounded f32 d.
void quantize_row_q8_0_ref(const float * x, block_q8_0 * y, int64_t n) {
    const int64_t nb = n / QK8_0;
    for (int64_t b = 0; b < nb; ++b, x += QK8_0) {
        const float d = absmax(x, QK8_0) / 127.0f;
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        y[b].d = f32_to_fp16(d);
        for (int j = 0; j < QK8_0; ++j) y[b].qs[j] = round_away_i8(x[j] * id);
    }
}

// Q8_0 as ggml's x86 (AVX/AVX2/AVX-512) runtime quantizes activations: same stored d, but the
// multiplier is 127/amax and rounding is half to even.
void quantize_row_q8_0_x86_ref(const float * x, block_q8_0 * y, int64_t n) {
    const int64_t nb = n / QK8_0;
    for (int64_t b = 0; b < nb; ++b, x += QK8_0) {
        const float amax = absmax(x, QK8_0);
        const float d = amax / 127.0f;
        const float id = amax != 0.0f ? 127.0f / amax : 0.0f;
        y[b].d = f32_to_fp16(d);
        for (int j = 0; j < QK8_0; ++j) y[b].qs[j] = round_even_i8(x[j] * id);
    }
}

// Q8_1: as the Q8_0 reference, plus s = fp16(d * sum(q)) with the unrounded d.
void quantize_row_q8_1_ref(const float * x, block_q8_1 * y, int64_t n) {
    const int64_t nb = n / QK8_1;
    for (int64_t b = 0; b < nb; ++b, x += QK8_1) {
        const float d = absmax(x, QK8_1) / 127.0f;
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        int sum = 0;
        for (int j = 0; j < QK8_1; ++j) {
            y[b].qs[j] = round_away_i8(x[j] * id);
            sum += y[b].qs[j];
        }
        y[b].d = f32_to_fp16(d);
        y[b].s = f32_to_fp16((float)sum * d);
    }
}

}  // namespace ld::ggml
