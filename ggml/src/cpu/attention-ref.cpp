// Reference attention (cpu-nn.h): naive per (query, head), materialising every score in f32, plus the
// argument validation shared with the tiled version.
#include <cmath>
#include <limits>
#include <vector>

#include "attention-mask.h"
#include "ld-ggml/error.h"
#include "ld-ggml/cpu-nn.h"

namespace ld::ggml {

void attention_validate(const AttnArgs & a) {
    if (a.n_q < 0 || a.n_head < 1 || a.head_dim < 1 || a.n_kv < 0 || a.n_kv_head < 1)
        throw Error(strfmt("attention: bad shape n_q=%lld n_head=%lld head_dim=%lld n_kv=%lld n_kv_head=%lld",
                           (long long)a.n_q, (long long)a.n_head, (long long)a.head_dim, (long long)a.n_kv,
                           (long long)a.n_kv_head));
    if (a.head_dim % 16 != 0)
        throw Error(strfmt("attention: head_dim %lld must be a multiple of 16", (long long)a.head_dim));
    if (a.n_head % a.n_kv_head != 0)
        throw Error(strfmt("attention: n_head %lld is not a multiple of n_kv_head %lld", (long long)a.n_head,
                           (long long)a.n_kv_head));
    if (a.kv_type != Type::F32 && a.kv_type != Type::F16 && a.kv_type != Type::Q8_0)
        throw Error(strfmt("attention: K/V type %s not supported (F32, F16, Q8_0)", type_name((int32_t)a.kv_type)));
    if (a.kv_type == Type::Q8_0 && a.head_dim % 32 != 0)
        throw Error(strfmt("attention: Q8_0 K/V need head_dim %% 32 == 0, got %lld", (long long)a.head_dim));
    if (a.q_stride != 0 && a.q_stride < a.n_head * a.head_dim)
        throw Error(strfmt("attention: q_stride %lld < n_head * head_dim %lld", (long long)a.q_stride,
                           (long long)(a.n_head * a.head_dim)));
    const size_t dense = attn_kv_row_bytes(a) * (size_t)a.n_kv_head;
    if (a.kv_stride != 0 && a.kv_stride < dense)
        throw Error(strfmt("attention: kv_stride %zu bytes < one token's K/V %zu bytes", a.kv_stride, dense));
    if (a.mask == AttnMask::sliding && a.window < 1)
        throw Error(strfmt("attention: sliding mask needs window >= 1, got %d", a.window));
    if (a.mask == AttnMask::canvas && a.window < 0)
        throw Error(strfmt("attention: canvas mask needs window >= 0, got %d", a.window));
    if ((int)a.mask < 0 || (int)a.mask > 2) throw Error(strfmt("attention: unknown mask kind %d", (int)a.mask));
    if (!std::isfinite(a.scale)) throw Error(strfmt("attention: scale %g is not finite", (double)a.scale));
    if (a.n_q > 0 && (!a.q || !a.q_pos || !a.out)) throw Error("attention: null q, q_pos or out");
    if (a.n_kv > 0 && (!a.k || !a.v || !a.k_pos)) throw Error("attention: null k, v or k_pos");
}

namespace {
// All K or V head rows as f32: [n_kv, n_kv_head, head_dim].
std::vector<float> kv_to_f32(const AttnArgs & a, const void * src) {
    const size_t row_bytes = attn_kv_row_bytes(a), stride = attn_kv_stride(a);
    const TypeTraits * tt = type_traits(a.kv_type);
    std::vector<float> out((size_t)(a.n_kv * a.n_kv_head * a.head_dim));
    for (int64_t j = 0; j < a.n_kv; ++j)
        for (int64_t g = 0; g < a.n_kv_head; ++g) {
            const char * row = (const char *)src + (size_t)j * stride + (size_t)g * row_bytes;
            tt->to_float(row, out.data() + (j * a.n_kv_head + g) * a.head_dim, a.head_dim);
        }
    return out;
}
}  // namespace

void attention_ref(const AttnArgs & a) {
    attention_validate(a);
    const int64_t d = a.head_dim, group = a.n_head / a.n_kv_head, qs = attn_q_stride(a);
    const std::vector<float> k = kv_to_f32(a, a.k), v = kv_to_f32(a, a.v);
    std::vector<float> s((size_t)a.n_kv);
    std::vector<double> acc((size_t)d);
    for (int64_t i = 0; i < a.n_q; ++i) {
        for (int64_t h = 0; h < a.n_head; ++h) {
            const int64_t g = h / group;
            const float * qv = a.q + i * qs + h * d;
            float m = -std::numeric_limits<float>::infinity();
            for (int64_t j = 0; j < a.n_kv; ++j) {
                if (!attn_visible(a, a.q_pos[i], a.k_pos[j])) {
                    s[j] = -std::numeric_limits<float>::infinity();
                    continue;
                }
                const float * kv = k.data() + (j * a.n_kv_head + g) * d;
                float dot = 0.0f;
                for (int64_t c = 0; c < d; ++c) dot += qv[c] * kv[c];
                s[j] = dot * a.scale;
                m = s[j] > m ? s[j] : m;
            }
            float * o = a.out + (i * a.n_head + h) * d;
            for (int64_t c = 0; c < d; ++c) acc[c] = 0.0;
            double sum = 0.0;
            if (m != -std::numeric_limits<float>::infinity()) {
                for (int64_t j = 0; j < a.n_kv; ++j) {
                    if (s[j] == -std::numeric_limits<float>::infinity()) continue;
                    const double p = std::exp((double)s[j] - (double)m);
                    sum += p;
                    const float * vv = v.data() + (j * a.n_kv_head + g) * d;
                    for (int64_t c = 0; c < d; ++c) acc[c] += p * vv[c];
                }
            }
            for (int64_t c = 0; c < d; ++c) o[c] = sum > 0.0 ? (float)(acc[c] / sum) : 0.0f;
        }
    }
}

}  // namespace ld::ggml
