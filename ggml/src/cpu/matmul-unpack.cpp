// Scalar unpackers of the integer matmul scheme (matmul-impl.h): every quantized weight type to
// (codes u, s1, s2) per block, and every activation block type to (codes, da, asum, A). Used by all
// ISAs to pack panels and tiles; the SIMD files may replace the hot types with vector versions that
// must give the same bytes.
#include <cstring>

#include "ld-ggml/blocks.h"
#include "ld-ggml/fp16.h"
#include "matmul-impl.h"
#include "iq-decode.h"
#include "quant-decode.h"

namespace ld::ggml::mm {

bool quant_cfg(Type w, QuantCfg & c) {
    switch (w) {
        case Type::Q4_0: c = {32, 8, false, Type::Q8_0}; return true;
        case Type::Q4_1: c = {32, 0, true, Type::Q8_1}; return true;
        case Type::Q5_0: c = {32, 16, false, Type::Q8_0}; return true;
        case Type::Q5_1: c = {32, 0, true, Type::Q8_1}; return true;
        case Type::Q8_0: c = {32, 128, false, Type::Q8_0}; return true;
        case Type::IQ4_NL: c = {32, 128, false, Type::Q8_0}; return true;
        case Type::MXFP4: c = {32, 128, false, Type::Q8_0}; return true;
        case Type::Q2_K: c = {16, 0, true, Type::Q8_K}; return true;
        case Type::Q3_K: c = {16, 4, false, Type::Q8_K}; return true;
        case Type::Q4_K: c = {32, 0, true, Type::Q8_K}; return true;
        case Type::Q5_K: c = {32, 0, true, Type::Q8_K}; return true;
        case Type::Q6_K: c = {16, 32, false, Type::Q8_K}; return true;
        case Type::IQ4_XS: c = {32, 128, false, Type::Q8_K}; return true;
        // the lattice types: u = v + 128 with v the signed grid value (|v| <= 62), s1 the sub-block scale
        case Type::IQ2_XXS: case Type::IQ3_XXS: case Type::IQ3_S: case Type::IQ1_S: c = {32, 128, false, Type::Q8_K}; return true;
        case Type::IQ2_XS: case Type::IQ2_S: case Type::IQ1_M: c = {16, 128, false, Type::Q8_K}; return true;
        default: return false;
    }
}

namespace {

// A lattice-type row: codes v + 128, one s1 per sub-block of BL values (IQ1: the scale / 8), s2 = 0.
template <typename Block, int BL, bool IQ1>
void unpack_iq(const void * row, int64_t K, uint8_t * u, float * s1, float * s2) {
    const Block * x = static_cast<const Block *>(row);
    int8_t v[256];
    float sc[16];
    for (int64_t b = 0; b < K / 256; ++b) {
        dec::iq_decode(x[b], v, sc);
        for (int i = 0; i < 256; ++i) u[256 * b + i] = (uint8_t)(v[i] + 128);
        for (int g = 0; g < 256 / BL; ++g) {
            s1[(256 / BL) * b + g] = IQ1 ? sc[g] * 0.125f : sc[g];
            s2[(256 / BL) * b + g] = 0.0f;
        }
    }
}

}  // namespace

void unpack_row(Type w, const void * row, int64_t K, uint8_t * u, float * s1, float * s2) {
    switch (w) {
        case Type::Q4_0: {
            const block_q4_0 * x = static_cast<const block_q4_0 *>(row);
            for (int64_t b = 0; b < K / 32; ++b) {
                dec::codes_q4_0(x[b].qs, u + 32 * b);
                s1[b] = fp16_to_f32(x[b].d);
                s2[b] = 0.0f;
            }
            break;
        }
        case Type::Q4_1: {
            const block_q4_1 * x = static_cast<const block_q4_1 *>(row);
            for (int64_t b = 0; b < K / 32; ++b) {
                dec::codes_q4_0(x[b].qs, u + 32 * b);
                s1[b] = fp16_to_f32(x[b].d);
                s2[b] = fp16_to_f32(x[b].m);
            }
            break;
        }
        case Type::Q5_0: {
            const block_q5_0 * x = static_cast<const block_q5_0 *>(row);
            for (int64_t b = 0; b < K / 32; ++b) {
                dec::codes_q5(x[b].qh, x[b].qs, u + 32 * b);
                s1[b] = fp16_to_f32(x[b].d);
                s2[b] = 0.0f;
            }
            break;
        }
        case Type::Q5_1: {
            const block_q5_1 * x = static_cast<const block_q5_1 *>(row);
            for (int64_t b = 0; b < K / 32; ++b) {
                dec::codes_q5(x[b].qh, x[b].qs, u + 32 * b);
                s1[b] = fp16_to_f32(x[b].d);
                s2[b] = fp16_to_f32(x[b].m);
            }
            break;
        }
        case Type::Q8_0: {
            const block_q8_0 * x = static_cast<const block_q8_0 *>(row);
            for (int64_t b = 0; b < K / 32; ++b) {
                for (int j = 0; j < 32; ++j) u[32 * b + j] = (uint8_t)((int)x[b].qs[j] + 128);
                s1[b] = fp16_to_f32(x[b].d);
                s2[b] = 0.0f;
            }
            break;
        }
        case Type::IQ4_NL: {
            const block_iq4_nl * x = static_cast<const block_iq4_nl *>(row);
            uint8_t c[32];
            for (int64_t b = 0; b < K / 32; ++b) {
                dec::codes_q4_0(x[b].qs, c);
                for (int j = 0; j < 32; ++j) u[32 * b + j] = (uint8_t)(kvalues_iq4nl[c[j]] + 128);
                s1[b] = fp16_to_f32(x[b].d);
                s2[b] = 0.0f;
            }
            break;
        }
        case Type::MXFP4: {
            const block_mxfp4 * x = static_cast<const block_mxfp4 *>(row);
            uint8_t c[32];
            for (int64_t b = 0; b < K / 32; ++b) {
                dec::codes_q4_0(x[b].qs, c);
                for (int j = 0; j < 32; ++j) u[32 * b + j] = (uint8_t)(kvalues_mxfp4[c[j]] + 128);
                s1[b] = e8m0_to_f32_half(x[b].e);
                s2[b] = 0.0f;
            }
            break;
        }
        case Type::Q2_K: {
            const block_q2_K * x = static_cast<const block_q2_K *>(row);
            for (int64_t b = 0; b < K / 256; ++b) {
                dec::codes_q2_K(x[b], u + 256 * b);
                const float d = fp16_to_f32(x[b].d), dmin = fp16_to_f32(x[b].dmin);
                for (int g = 0; g < 16; ++g) {
                    s1[16 * b + g] = d * (float)(x[b].scales[g] & 15);
                    s2[16 * b + g] = -(dmin * (float)(x[b].scales[g] >> 4));
                }
            }
            break;
        }
        case Type::Q3_K: {
            const block_q3_K * x = static_cast<const block_q3_K *>(row);
            int8_t q[256];
            for (int64_t b = 0; b < K / 256; ++b) {
                dec::codes_q3_K(x[b], q);
                for (int i = 0; i < 256; ++i) u[256 * b + i] = (uint8_t)(q[i] + 4);
                const float d = fp16_to_f32(x[b].d);
                for (int g = 0; g < 16; ++g) {
                    s1[16 * b + g] = d * (float)dec::scale_q3_K(x[b].scales, g);
                    s2[16 * b + g] = 0.0f;
                }
            }
            break;
        }
        case Type::Q4_K: {
            const block_q4_K * x = static_cast<const block_q4_K *>(row);
            for (int64_t b = 0; b < K / 256; ++b) {
                dec::codes_q4_K(x[b], u + 256 * b);
                const float d = fp16_to_f32(x[b].d), dmin = fp16_to_f32(x[b].dmin);
                for (int j = 0; j < 8; ++j) {
                    int sc, m;
                    dec::scale_min_k4(j, x[b].scales, sc, m);
                    s1[8 * b + j] = d * (float)sc;
                    s2[8 * b + j] = -(dmin * (float)m);
                }
            }
            break;
        }
        case Type::Q5_K: {
            const block_q5_K * x = static_cast<const block_q5_K *>(row);
            for (int64_t b = 0; b < K / 256; ++b) {
                dec::codes_q5_K(x[b], u + 256 * b);
                const float d = fp16_to_f32(x[b].d), dmin = fp16_to_f32(x[b].dmin);
                for (int j = 0; j < 8; ++j) {
                    int sc, m;
                    dec::scale_min_k4(j, x[b].scales, sc, m);
                    s1[8 * b + j] = d * (float)sc;
                    s2[8 * b + j] = -(dmin * (float)m);
                }
            }
            break;
        }
        case Type::Q6_K: {
            const block_q6_K * x = static_cast<const block_q6_K *>(row);
            for (int64_t b = 0; b < K / 256; ++b) {
                dec::codes_q6_K(x[b], u + 256 * b);
                const float d = fp16_to_f32(x[b].d);
                for (int g = 0; g < 16; ++g) {
                    s1[16 * b + g] = d * (float)x[b].scales[g];
                    s2[16 * b + g] = 0.0f;
                }
            }
            break;
        }
        case Type::IQ4_XS: {
            const block_iq4_xs * x = static_cast<const block_iq4_xs *>(row);
            uint8_t c[256];
            for (int64_t b = 0; b < K / 256; ++b) {
                dec::codes_iq4_xs(x[b], c);
                for (int i = 0; i < 256; ++i) u[256 * b + i] = (uint8_t)(kvalues_iq4nl[c[i]] + 128);
                const float d = fp16_to_f32(x[b].d);
                for (int j = 0; j < 8; ++j) {
                    s1[8 * b + j] = d * (float)(dec::scale_iq4_xs(x[b], j) - 32);
                    s2[8 * b + j] = 0.0f;
                }
            }
            break;
        }
        case Type::IQ2_XXS: unpack_iq<block_iq2_xxs, dec::kIqBlIq2xxs, false>(row, K, u, s1, s2); break;
        case Type::IQ2_XS: unpack_iq<block_iq2_xs, dec::kIqBlIq2xs, false>(row, K, u, s1, s2); break;
        case Type::IQ2_S: unpack_iq<block_iq2_s, dec::kIqBlIq2s, false>(row, K, u, s1, s2); break;
        case Type::IQ3_XXS: unpack_iq<block_iq3_xxs, dec::kIqBlIq3xxs, false>(row, K, u, s1, s2); break;
        case Type::IQ3_S: unpack_iq<block_iq3_s, dec::kIqBlIq3s, false>(row, K, u, s1, s2); break;
        case Type::IQ1_S: unpack_iq<block_iq1_s, dec::kIqBlIq1s, true>(row, K, u, s1, s2); break;
        case Type::IQ1_M: unpack_iq<block_iq1_m, dec::kIqBlIq1m, true>(row, K, u, s1, s2); break;
        default: break;
    }
}

void act_blocks(Type act, int bl, const void * row, int64_t K, int8_t * qs, float * da, int32_t * asum, float * A) {
    const int64_t nb = K / bl;
    if (act == Type::Q8_0 || act == Type::Q8_1) {
        // bl is 32 here (every Q8_0/Q8_1 partner is a 32-block type)
        for (int64_t b = 0; b < nb; ++b) {
            const int8_t * q;
            float d, s = 0.0f;
            if (act == Type::Q8_0) {
                const block_q8_0 & y = static_cast<const block_q8_0 *>(row)[b];
                q = y.qs; d = fp16_to_f32(y.d);
            } else {
                const block_q8_1 & y = static_cast<const block_q8_1 *>(row)[b];
                q = y.qs; d = fp16_to_f32(y.d); s = fp16_to_f32(y.s);
            }
            int32_t sum = 0;
            for (int j = 0; j < 32; ++j) { qs[32 * b + j] = q[j]; sum += q[j]; }
            da[b] = d;
            asum[b] = sum;
            A[b] = act == Type::Q8_0 ? d * (float)sum : s;
        }
    } else {  // Q8_K, bl = 16 or 32
        const block_q8_K * y = static_cast<const block_q8_K *>(row);
        const int per = 256 / bl;
        for (int64_t b = 0; b < nb; ++b) {
            const block_q8_K & yb = y[b / per];
            const int j = (int)(b % per);
            if (bl == 32) std::memcpy(qs + bl * b, yb.qs + bl * j, 32);  // (constant sizes: inlined copies)
            else std::memcpy(qs + bl * b, yb.qs + bl * j, (size_t)bl);
            // the codes' sum (equal to the bsums the quantizer wrote; recomputed so an all-zero block
            // never depends on them)
            int32_t sum = 0;
            for (int l = 0; l < bl; ++l) sum += yb.qs[bl * j + l];
            da[b] = yb.d;
            asum[b] = sum;
            A[b] = yb.d * (float)sum;
        }
    }
}

}  // namespace ld::ggml::mm
