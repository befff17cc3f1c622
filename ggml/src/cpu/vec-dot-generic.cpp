// Generic (scalar, reference) dot products, one per weight type, against the activation row in
// the weight's vec_dot_type. Exact int32 sums per block, then f32 scaling as in spec gguf.md §2.6
// (see vec-dot.h). No SIMD, no FMA contraction (the build uses -ffp-contract=off).
#include "ld-ggml/vec-dot.h"

#include <cstring>

#include "ld-ggml/blocks.h"
#include "ld-ggml/fp16.h"
#include "ld-ggml/quants-ref.h"
#include "iq-decode.h"
#include "quant-decode.h"

namespace ld::ggml {

namespace {

int32_t dot32(const uint8_t * u, int off, const int8_t * a) {
    int32_t s = 0;
    for (int j = 0; j < 32; ++j) s += ((int32_t)u[j] - off) * (int32_t)a[j];
    return s;
}

}  // namespace

float vec_dot_f32_f32(int64_t n, const void * w, const void * a) {
    const float * x = static_cast<const float *>(w);
    const float * y = static_cast<const float *>(a);
    float s = 0.0f;
    for (int64_t i = 0; i < n; ++i) s += x[i] * y[i];
    return s;
}

float vec_dot_f16_f16(int64_t n, const void * w, const void * a) {
    const fp16_t * x = static_cast<const fp16_t *>(w);
    const fp16_t * y = static_cast<const fp16_t *>(a);
    float s = 0.0f;
    for (int64_t i = 0; i < n; ++i) s += fp16_to_f32(x[i]) * fp16_to_f32(y[i]);
    return s;
}

float vec_dot_bf16_bf16(int64_t n, const void * w, const void * a) {
    const bf16_t * x = static_cast<const bf16_t *>(w);
    const bf16_t * y = static_cast<const bf16_t *>(a);
    float s = 0.0f;
    for (int64_t i = 0; i < n; ++i) s += bf16_to_f32(x[i]) * bf16_to_f32(y[i]);
    return s;
}

float vec_dot_q4_0_q8_0(int64_t n, const void * w, const void * a) {
    const block_q4_0 * x = static_cast<const block_q4_0 *>(w);
    const block_q8_0 * y = static_cast<const block_q8_0 *>(a);
    float s = 0.0f;
    uint8_t u[32];
    for (int64_t b = 0; b < n / 32; ++b) {
        dec::codes_q4_0(x[b].qs, u);
        s += (float)dot32(u, 8, y[b].qs) * (fp16_to_f32(x[b].d) * fp16_to_f32(y[b].d));
    }
    return s;
}

float vec_dot_q4_1_q8_1(int64_t n, const void * w, const void * a) {
    const block_q4_1 * x = static_cast<const block_q4_1 *>(w);
    const block_q8_1 * y = static_cast<const block_q8_1 *>(a);
    float s = 0.0f;
    uint8_t u[32];
    for (int64_t b = 0; b < n / 32; ++b) {
        dec::codes_q4_0(x[b].qs, u);
        s += (float)dot32(u, 0, y[b].qs) * (fp16_to_f32(x[b].d) * fp16_to_f32(y[b].d)) +
             fp16_to_f32(x[b].m) * fp16_to_f32(y[b].s);
    }
    return s;
}

float vec_dot_q5_0_q8_0(int64_t n, const void * w, const void * a) {
    const block_q5_0 * x = static_cast<const block_q5_0 *>(w);
    const block_q8_0 * y = static_cast<const block_q8_0 *>(a);
    float s = 0.0f;
    uint8_t u[32];
    for (int64_t b = 0; b < n / 32; ++b) {
        dec::codes_q5(x[b].qh, x[b].qs, u);
        s += (float)dot32(u, 16, y[b].qs) * (fp16_to_f32(x[b].d) * fp16_to_f32(y[b].d));
    }
    return s;
}

float vec_dot_q5_1_q8_1(int64_t n, const void * w, const void * a) {
    const block_q5_1 * x = static_cast<const block_q5_1 *>(w);
    const block_q8_1 * y = static_cast<const block_q8_1 *>(a);
    float s = 0.0f;
    uint8_t u[32];
    for (int64_t b = 0; b < n / 32; ++b) {
        dec::codes_q5(x[b].qh, x[b].qs, u);
        s += (float)dot32(u, 0, y[b].qs) * (fp16_to_f32(x[b].d) * fp16_to_f32(y[b].d)) +
             fp16_to_f32(x[b].m) * fp16_to_f32(y[b].s);
    }
    return s;
}

float vec_dot_q8_0_q8_0(int64_t n, const void * w, const void * a) {
    const block_q8_0 * x = static_cast<const block_q8_0 *>(w);
    const block_q8_0 * y = static_cast<const block_q8_0 *>(a);
    float s = 0.0f;
    for (int64_t b = 0; b < n / 32; ++b) {
        int32_t is = 0;
        for (int j = 0; j < 32; ++j) is += (int32_t)x[b].qs[j] * (int32_t)y[b].qs[j];
        s += (float)is * (fp16_to_f32(x[b].d) * fp16_to_f32(y[b].d));
    }
    return s;
}

// IQ4_NL and MXFP4 share the scheme: Q4_0-ordered nibbles index a 16-entry value table, one scale
// per block (fp16 d for IQ4_NL, the E8M0 exponent for MXFP4).
inline float block_scale(const block_iq4_nl & x) { return fp16_to_f32(x.d); }
inline float block_scale(const block_mxfp4 & x) { return e8m0_to_f32_half(x.e); }

template <typename Block, const int8_t * Table>
float vec_dot_table4_q8_0(int64_t n, const void * w, const void * a) {
    const Block * x = static_cast<const Block *>(w);
    const block_q8_0 * y = static_cast<const block_q8_0 *>(a);
    float s = 0.0f;
    uint8_t u[32];
    for (int64_t b = 0; b < n / 32; ++b) {
        dec::codes_q4_0(x[b].qs, u);
        int32_t is = 0;
        for (int j = 0; j < 32; ++j) is += (int32_t)Table[u[j]] * (int32_t)y[b].qs[j];
        s += (float)is * (block_scale(x[b]) * fp16_to_f32(y[b].d));
    }
    return s;
}

float vec_dot_iq4_nl_q8_0(int64_t n, const void * w, const void * a) {
    return vec_dot_table4_q8_0<block_iq4_nl, kvalues_iq4nl>(n, w, a);
}

float vec_dot_mxfp4_q8_0(int64_t n, const void * w, const void * a) {
    return vec_dot_table4_q8_0<block_mxfp4, kvalues_mxfp4>(n, w, a);
}

float vec_dot_q2_K_q8_K(int64_t n, const void * w, const void * a) {
    const block_q2_K * x = static_cast<const block_q2_K *>(w);
    const block_q8_K * y = static_cast<const block_q8_K *>(a);
    float s = 0.0f;
    uint8_t u[256];
    for (int64_t b = 0; b < n / 256; ++b) {
        dec::codes_q2_K(x[b], u);
        int32_t S = 0, Mn = 0;
        for (int g = 0; g < 16; ++g) {
            int32_t d = 0;
            for (int l = 0; l < 16; ++l) d += (int32_t)u[16 * g + l] * (int32_t)y[b].qs[16 * g + l];
            S += (x[b].scales[g] & 15) * d;
            Mn += (x[b].scales[g] >> 4) * (int32_t)y[b].bsums[g];
        }
        const float dw = fp16_to_f32(x[b].d), dmin = fp16_to_f32(x[b].dmin);
        s += (dw * y[b].d) * (float)S - (dmin * y[b].d) * (float)Mn;
    }
    return s;
}

float vec_dot_q3_K_q8_K(int64_t n, const void * w, const void * a) {
    const block_q3_K * x = static_cast<const block_q3_K *>(w);
    const block_q8_K * y = static_cast<const block_q8_K *>(a);
    float s = 0.0f;
    int8_t q[256];
    for (int64_t b = 0; b < n / 256; ++b) {
        dec::codes_q3_K(x[b], q);
        int32_t S = 0;
        for (int g = 0; g < 16; ++g) {
            int32_t d = 0;
            for (int l = 0; l < 16; ++l) d += (int32_t)q[16 * g + l] * (int32_t)y[b].qs[16 * g + l];
            S += dec::scale_q3_K(x[b].scales, g) * d;
        }
        s += (fp16_to_f32(x[b].d) * y[b].d) * (float)S;
    }
    return s;
}

// Q4_K and Q5_K share the scheme: 8 sub-blocks of 32 codes, a 6-bit scale and min each, and the
// mins folded in through the activation's bsums. Codes: 4 bits (Q4_K) or 5 bits (Q5_K).
template <typename Block, void (*Codes)(const Block &, uint8_t *)>
float vec_dot_k4_q8_K(int64_t n, const void * w, const void * a) {
    const Block * x = static_cast<const Block *>(w);
    const block_q8_K * y = static_cast<const block_q8_K *>(a);
    float s = 0.0f;
    uint8_t u[256];
    for (int64_t b = 0; b < n / 256; ++b) {
        Codes(x[b], u);
        int32_t S = 0, Mn = 0;
        for (int j = 0; j < 8; ++j) {
            int sc, m;
            dec::scale_min_k4(j, x[b].scales, sc, m);
            S += sc * dot32(u + 32 * j, 0, y[b].qs + 32 * j);
            Mn += m * ((int32_t)y[b].bsums[2 * j] + (int32_t)y[b].bsums[2 * j + 1]);
        }
        const float dw = fp16_to_f32(x[b].d), dmin = fp16_to_f32(x[b].dmin);
        s += (dw * y[b].d) * (float)S - (dmin * y[b].d) * (float)Mn;
    }
    return s;
}

float vec_dot_q4_K_q8_K(int64_t n, const void * w, const void * a) {
    return vec_dot_k4_q8_K<block_q4_K, dec::codes_q4_K>(n, w, a);
}

float vec_dot_q5_K_q8_K(int64_t n, const void * w, const void * a) {
    return vec_dot_k4_q8_K<block_q5_K, dec::codes_q5_K>(n, w, a);
}

float vec_dot_q6_K_q8_K(int64_t n, const void * w, const void * a) {
    const block_q6_K * x = static_cast<const block_q6_K *>(w);
    const block_q8_K * y = static_cast<const block_q8_K *>(a);
    float s = 0.0f;
    uint8_t u[256];
    for (int64_t b = 0; b < n / 256; ++b) {
        dec::codes_q6_K(x[b], u);
        int32_t S = 0;
        for (int g = 0; g < 16; ++g) {
            int32_t d = 0;
            for (int l = 0; l < 16; ++l) d += ((int32_t)u[16 * g + l] - 32) * (int32_t)y[b].qs[16 * g + l];
            S += (int32_t)x[b].scales[g] * d;
        }
        s += (fp16_to_f32(x[b].d) * y[b].d) * (float)S;
    }
    return s;
}

float vec_dot_iq4_xs_q8_K(int64_t n, const void * w, const void * a) {
    const block_iq4_xs * x = static_cast<const block_iq4_xs *>(w);
    const block_q8_K * y = static_cast<const block_q8_K *>(a);
    float s = 0.0f;
    uint8_t u[256];
    for (int64_t b = 0; b < n / 256; ++b) {
        dec::codes_iq4_xs(x[b], u);
        int32_t S = 0;
        for (int j = 0; j < 8; ++j) {
            int32_t d = 0;
            for (int l = 0; l < 32; ++l) d += (int32_t)kvalues_iq4nl[u[32 * j + l]] * (int32_t)y[b].qs[32 * j + l];
            S += (dec::scale_iq4_xs(x[b], j) - 32) * d;
        }
        s += (fp16_to_f32(x[b].d) * y[b].d) * (float)S;
    }
    return s;
}

// The lattice types: per sub-block of BL values the exact int32 sum of v * a (v the decoded integer
// values, iq-decode.h), then sum += (s_b * d_a) * isum, with s_b the sub-block scale (IQ1: s_b / 8,
// v being in units of 1/8).
template <typename Block, int BL, bool IQ1>
float vec_dot_iq_q8_K(int64_t n, const void * w, const void * a) {
    const Block * x = static_cast<const Block *>(w);
    const block_q8_K * y = static_cast<const block_q8_K *>(a);
    float s = 0.0f;
    int8_t v[256];
    float sc[16];
    for (int64_t b = 0; b < n / 256; ++b) {
        dec::iq_decode(x[b], v, sc);
        for (int g = 0; g < 256 / BL; ++g) {
            int32_t is = 0;
            for (int l = 0; l < BL; ++l) is += (int32_t)v[BL * g + l] * (int32_t)y[b].qs[BL * g + l];
            const float sb = IQ1 ? sc[g] * 0.125f : sc[g];
            s += (sb * y[b].d) * (float)is;
        }
    }
    return s;
}

float vec_dot_iq2_xxs_q8_K(int64_t n, const void * w, const void * a) { return vec_dot_iq_q8_K<block_iq2_xxs, dec::kIqBlIq2xxs, false>(n, w, a); }
float vec_dot_iq2_xs_q8_K(int64_t n, const void * w, const void * a) { return vec_dot_iq_q8_K<block_iq2_xs, dec::kIqBlIq2xs, false>(n, w, a); }
float vec_dot_iq2_s_q8_K(int64_t n, const void * w, const void * a) { return vec_dot_iq_q8_K<block_iq2_s, dec::kIqBlIq2s, false>(n, w, a); }
float vec_dot_iq3_xxs_q8_K(int64_t n, const void * w, const void * a) { return vec_dot_iq_q8_K<block_iq3_xxs, dec::kIqBlIq3xxs, false>(n, w, a); }
float vec_dot_iq3_s_q8_K(int64_t n, const void * w, const void * a) { return vec_dot_iq_q8_K<block_iq3_s, dec::kIqBlIq3s, false>(n, w, a); }
float vec_dot_iq1_s_q8_K(int64_t n, const void * w, const void * a) { return vec_dot_iq_q8_K<block_iq1_s, dec::kIqBlIq1s, true>(n, w, a); }
float vec_dot_iq1_m_q8_K(int64_t n, const void * w, const void * a) { return vec_dot_iq_q8_K<block_iq1_m, dec::kIqBlIq1m, true>(n, w, a); }

vec_dot_fn vec_dot_generic(Type wtype) {
    switch (wtype) {
        case Type::F32: return &vec_dot_f32_f32;
        case Type::F16: return &vec_dot_f16_f16;
        case Type::BF16: return &vec_dot_bf16_bf16;
        case Type::Q4_0: return &vec_dot_q4_0_q8_0;
        case Type::Q4_1: return &vec_dot_q4_1_q8_1;
        case Type::Q5_0: return &vec_dot_q5_0_q8_0;
        case Type::Q5_1: return &vec_dot_q5_1_q8_1;
        case Type::Q8_0: return &vec_dot_q8_0_q8_0;
        case Type::Q2_K: return &vec_dot_q2_K_q8_K;
        case Type::Q3_K: return &vec_dot_q3_K_q8_K;
        case Type::Q4_K: return &vec_dot_q4_K_q8_K;
        case Type::Q5_K: return &vec_dot_q5_K_q8_K;
        case Type::Q6_K: return &vec_dot_q6_K_q8_K;
        case Type::IQ4_NL: return &vec_dot_iq4_nl_q8_0;
        case Type::IQ4_XS: return &vec_dot_iq4_xs_q8_K;
        case Type::MXFP4: return &vec_dot_mxfp4_q8_0;
        case Type::IQ2_XXS: return &vec_dot_iq2_xxs_q8_K;
        case Type::IQ2_XS: return &vec_dot_iq2_xs_q8_K;
        case Type::IQ2_S: return &vec_dot_iq2_s_q8_K;
        case Type::IQ3_XXS: return &vec_dot_iq3_xxs_q8_K;
        case Type::IQ3_S: return &vec_dot_iq3_s_q8_K;
        case Type::IQ1_S: return &vec_dot_iq1_s_q8_K;
        case Type::IQ1_M: return &vec_dot_iq1_m_q8_K;
        default: return nullptr;
    }
}

void quantize_activation_row(Type wtype, const float * x, void * dst, int64_t n) {
    const TypeTraits * t = type_traits(wtype);
    switch (t ? t->vec_dot_type : Type::F32) {
        case Type::F32: std::memcpy(dst, x, (size_t)n * sizeof(float)); break;
        case Type::F16: quantize_row_f16_ref(x, static_cast<fp16_t *>(dst), n); break;
        case Type::BF16: quantize_row_bf16_ref(x, static_cast<bf16_t *>(dst), n); break;
        case Type::Q8_0: quantize_row_q8_0_ref(x, static_cast<block_q8_0 *>(dst), n); break;
        case Type::Q8_1: quantize_row_q8_1_ref(x, static_cast<block_q8_1 *>(dst), n); break;
        case Type::Q8_K: quantize_row_q8_K_ref(x, static_cast<block_q8_K *>(dst), n); break;
        default: break;
    }
}

}  // namespace ld::ggml
