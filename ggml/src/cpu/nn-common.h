// Private helpers shared by the reference (nn-ref.cpp) and optimized (nn.cpp) ops: argument checks
// that throw ld::ggml::Error, the RoPE angle, the scalar row softmax and the per-token router. Inline so both
// versions use the very same code where the header promises bit-identical results.
#pragma once

#include <cmath>
#include <cstdint>
#include <limits>

#include "ld-ggml/error.h"
#include "ld-ggml/cpu-nn.h"

namespace ld::ggml {

float gelu_tanh_value_ref(float x);  // nn-ref.cpp: the GELU-tanh formula in double

inline void nn_check_rows(const char * op, const float * x, const float * out, int64_t n_rows, int64_t n) {
    if (n_rows < 0 || n < 0) throw Error(strfmt("%s: negative shape [%lld, %lld]", op, (long long)n_rows, (long long)n));
    if (n_rows > 0 && n > 0 && (!x || !out)) throw Error(strfmt("%s: null input or output pointer", op));
}

inline void geglu_check(const char * op, const float * gate, const float * up, int64_t n_rows, int64_t n,
                        int64_t ld_in, const float * out) {
    if (n_rows < 0 || n < 0) throw Error(strfmt("%s: negative shape [%lld, %lld]", op, (long long)n_rows, (long long)n));
    if (ld_in < n) throw Error(strfmt("%s: ld_in %lld < n %lld", op, (long long)ld_in, (long long)n));
    if (n_rows > 0 && n > 0 && (!gate || !up || !out)) throw Error(strfmt("%s: null pointer", op));
}

// Validates the RoPE arguments and returns the number of rotated dims.
inline int64_t rope_check(const char * op, const float * x, int64_t n_tok, int64_t n_head, int64_t head_dim,
                          const int32_t * pos, const RopeParams & p) {
    if (n_tok < 0 || n_head < 0 || head_dim <= 0)
        throw Error(strfmt("%s: bad shape [%lld, %lld, %lld]", op, (long long)n_tok, (long long)n_head, (long long)head_dim));
    const int64_t n_rot = p.n_rot == 0 ? head_dim : p.n_rot;
    if (n_rot < 0 || n_rot % 2 != 0 || n_rot > head_dim)
        throw Error(strfmt("%s: n_rot %lld must be even and in [0, head_dim %lld]", op, (long long)n_rot, (long long)head_dim));
    if (!(p.theta_base > 0.0f)) throw Error(strfmt("%s: theta_base must be > 0, got %g", op, (double)p.theta_base));
    if (n_tok > 0 && n_head > 0 && (!x || !pos)) throw Error(strfmt("%s: null x or pos", op));
    if (p.inv_freq)
        for (int64_t i = 0; i < n_rot / 2; ++i)
            if (!std::isfinite(p.inv_freq[i]))
                throw Error(strfmt("%s: inv_freq[%lld] = %g is not finite", op, (long long)i, (double)p.inv_freq[i]));
    if (p.freq_factors)
        for (int64_t i = 0; i < n_rot / 2; ++i)
            if (!(p.freq_factors[i] > 0.0f))
                throw Error(strfmt("%s: freq_factors[%lld] = %g must be > 0", op, (long long)i, (double)p.freq_factors[i]));
    return n_rot;
}

// The rotation angle of pair i at position pos, in f32 like HF: inv_freq = 1 / base^(2i / n_rot)
// (exponent and power rounded to f32), divided by the frequency factor, times the f32 position.
inline float rope_inv_freq(int64_t i, int64_t n_rot, const RopeParams & p) {
    float inv;
    if (p.inv_freq) {
        inv = p.inv_freq[i];
    } else {
        const float expo = (float)(2 * i) / (float)n_rot;
        const float powv = (float)std::pow((double)p.theta_base, (double)expo);
        inv = 1.0f / powv;
    }
    if (p.freq_factors) inv = inv / p.freq_factors[i];
    return inv;
}
inline float rope_angle(int32_t pos, int64_t i, int64_t n_rot, const RopeParams & p) {
    return (float)pos * rope_inv_freq(i, n_rot, p);
}

// Softmax of one row in f32 (max subtracted, std::exp per element, sum in double, one division).
inline void softmax_row_scalar(const float * x, int64_t n, float * out) {
    float m = -std::numeric_limits<float>::infinity();
    for (int64_t i = 0; i < n; ++i) m = x[i] > m ? x[i] : m;
    if (m == -std::numeric_limits<float>::infinity()) {
        for (int64_t i = 0; i < n; ++i) out[i] = 0.0f;
        return;
    }
    double sum = 0.0;
    for (int64_t i = 0; i < n; ++i) {
        const float e = std::exp(x[i] - m);
        out[i] = e;
        sum += e;
    }
    const float inv = (float)(1.0 / sum);
    for (int64_t i = 0; i < n; ++i) out[i] *= inv;
}

inline void router_check(const char * op, const float * logits, int64_t n_tok, int64_t n_expert, int64_t k,
                         const int32_t * ids, const float * w) {
    if (n_tok < 0 || n_expert <= 0) throw Error(strfmt("%s: bad shape [%lld, %lld]", op, (long long)n_tok, (long long)n_expert));
    if (k < 1 || k > n_expert) throw Error(strfmt("%s: k = %lld must be in [1, n_expert = %lld]", op, (long long)k, (long long)n_expert));
    if (n_tok > 0 && (!logits || !ids || !w)) throw Error(strfmt("%s: null pointer", op));
}

// One token of the router (see router_topk in cpu-nn.h). p: scratch of n_expert floats,
// taken: scratch of n_expert bytes.
inline void router_token(const float * logits, int64_t n_expert, int64_t k, const float * per_expert_scale,
                         float * p, uint8_t * taken, int32_t * ids, float * w) {
    softmax_row_scalar(logits, n_expert, p);
    for (int64_t e = 0; e < n_expert; ++e) taken[e] = 0;
    float sum = 0.0f;
    for (int64_t j = 0; j < k; ++j) {
        int64_t best = -1;
        for (int64_t e = 0; e < n_expert; ++e) {
            if (taken[e]) continue;
            if (best < 0 || p[e] > p[best]) best = e;  // strict '>': ties keep the lower id
        }
        taken[best] = 1;
        ids[j] = (int32_t)best;
        w[j] = p[best];
        sum += p[best];
    }
    for (int64_t j = 0; j < k; ++j) {
        w[j] = w[j] / sum;
        if (per_expert_scale) w[j] *= per_expert_scale[ids[j]];
    }
}

}  // namespace ld::ggml
