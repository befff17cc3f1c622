// Reference (scalar, ISA-independent) elementwise and small ops of cpu-nn.h: RMSNorm, RoPE, GELU-tanh,
// GEGLU, softcap, softmax and the MoE router. Written straight from the maths; the tests' ground truth.
#include <cmath>
#include <limits>
#include <vector>

#include "ld-ggml/error.h"
#include "ld-ggml/cpu-nn.h"
#include "nn-common.h"

namespace ld::ggml {

void rms_norm_ref(const float * x, int64_t n_rows, int64_t n, const float * weight, float eps, float * out) {
    nn_check_rows("rms_norm", x, out, n_rows, n);
    if (!(eps >= 0.0f)) throw Error(strfmt("rms_norm: eps must be >= 0, got %g", (double)eps));
    for (int64_t r = 0; r < n_rows; ++r) {
        const float * xr = x + r * n;
        float * yr = out + r * n;
        double ss = 0.0;
        for (int64_t i = 0; i < n; ++i) ss += (double)xr[i] * xr[i];
        const float inv = (float)(1.0 / std::sqrt(ss / (double)n + (double)eps));
        for (int64_t i = 0; i < n; ++i) yr[i] = weight ? xr[i] * inv * weight[i] : xr[i] * inv;
    }
}

void rope_neox_ref(float * x, int64_t n_tok, int64_t n_head, int64_t head_dim, const int32_t * pos,
                   const RopeParams & p) {
    const int64_t n_rot = rope_check("rope_neox", x, n_tok, n_head, head_dim, pos, p);
    const int64_t half = n_rot / 2;
    for (int64_t t = 0; t < n_tok; ++t) {
        for (int64_t h = 0; h < n_head; ++h) {
            float * xh = x + (t * n_head + h) * head_dim;
            for (int64_t i = 0; i < half; ++i) {
                const float angle = rope_angle(pos[t], i, n_rot, p);
                const float c = (float)std::cos((double)angle), s = (float)std::sin((double)angle);
                const float a = xh[i], b = xh[i + half];
                xh[i] = a * c - b * s;
                xh[i + half] = b * c + a * s;
            }
        }
    }
}

// 0.5 x (1 + tanh(u)) in double, with 1 + tanh(u) = 2 / (1 + e^(-2u)): the same function without the
// cancellation of 1 + tanh(u) for very negative x (where gelu is ~1e-14 and the literal formula loses
// every digit even in double).
float gelu_tanh_value_ref(float xf) {
    const double x = xf;
    const double u = std::sqrt(2.0 / M_PI) * (x + 0.044715 * x * x * x);
    return (float)(x / (1.0 + std::exp(-2.0 * u)));
}

void gelu_tanh_ref(const float * x, int64_t n, float * out) {
    nn_check_rows("gelu_tanh", x, out, 1, n);
    for (int64_t i = 0; i < n; ++i) out[i] = gelu_tanh_value_ref(x[i]);
}

void geglu_ref(const float * gate, const float * up, int64_t n_rows, int64_t n, int64_t ld_in, float * out) {
    geglu_check("geglu", gate, up, n_rows, n, ld_in, out);
    for (int64_t r = 0; r < n_rows; ++r)
        for (int64_t i = 0; i < n; ++i)
            out[r * n + i] = gelu_tanh_value_ref(gate[r * ld_in + i]) * up[r * ld_in + i];
}

void softcap_ref(const float * x, int64_t n, float cap, float * out) {
    nn_check_rows("softcap", x, out, 1, n);
    if (!(cap > 0.0f)) throw Error(strfmt("softcap: cap must be > 0, got %g", (double)cap));
    for (int64_t i = 0; i < n; ++i) out[i] = (float)((double)cap * std::tanh((double)x[i] / (double)cap));
}

void softmax_ref(const float * x, int64_t n_rows, int64_t n, float * out) {
    nn_check_rows("softmax", x, out, n_rows, n);
    for (int64_t r = 0; r < n_rows; ++r) softmax_row_scalar(x + r * n, n, out + r * n);
}

void router_topk_ref(const float * logits, int64_t n_tok, int64_t n_expert, int64_t k,
                     const float * per_expert_scale, int32_t * ids_out, float * weights_out) {
    router_check("router_topk", logits, n_tok, n_expert, k, ids_out, weights_out);
    std::vector<float> p((size_t)n_expert);
    std::vector<uint8_t> taken((size_t)n_expert);
    for (int64_t t = 0; t < n_tok; ++t)
        router_token(logits + t * n_expert, n_expert, k, per_expert_scale, p.data(), taken.data(),
                     ids_out + t * k, weights_out + t * k);
}

}  // namespace ld::ggml
