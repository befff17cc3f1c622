// Scalar decoders of the packed fields of the block types (docs/format.md §2.3), shared by the generic
// dot products and the weight unpackers of the matmul: each returns the small integers exactly as
// stored (quant codes, sub-block scales and mins), never a float. Included by files built with different
// ISA flags (generic, AVX-512/AMX, NEON): everything has internal linkage so no out-of-line copy compiled
// for one ISA can be picked by the linker for another.
#pragma once

#include <cstdint>
#include <cstring>

#include "ld-ggml/blocks.h"

namespace ld::ggml::dec {
namespace {

// Q4_K / Q5_K: 6-bit scale and min of sub-block j (0..7) from the 12 packed bytes.
inline void scale_min_k4(int j, const uint8_t * s, int & sc, int & m) {
    if (j < 4) {
        sc = s[j] & 63;
        m = s[j + 4] & 63;
    } else {
        sc = (s[j + 4] & 15) | ((s[j - 4] >> 6) << 4);
        m = (s[j + 4] >> 4) | ((s[j] >> 6) << 4);
    }
}

// Q3_K: signed 6-bit scale of sub-block s (0..15), in -32..31.
inline int scale_q3_K(const uint8_t * scales, int s) {
    const int lo4 = s < 8 ? (scales[s] & 15) : (scales[s - 8] >> 4);
    const int hi2 = (scales[8 + s % 4] >> (2 * (s / 4))) & 3;
    return (lo4 | (hi2 << 4)) - 32;
}

inline uint32_t load_u32(const uint8_t * p) { uint32_t v; std::memcpy(&v, p, 4); return v; }

// Codes of one block in element order. Legacy types: 32 values; K types: 256 values.
inline void codes_q4_0(const uint8_t * qs, uint8_t * u /*32*/) {
    for (int j = 0; j < 16; ++j) { u[j] = qs[j] & 15; u[j + 16] = qs[j] >> 4; }
}
inline void codes_q5(const uint8_t * qh4, const uint8_t * qs, uint8_t * u /*32, 0..31*/) {
    const uint32_t qh = load_u32(qh4);
    for (int j = 0; j < 16; ++j) {
        u[j] = (uint8_t)((qs[j] & 15) | (((qh >> j) & 1u) << 4));
        u[j + 16] = (uint8_t)((qs[j] >> 4) | (((qh >> (j + 16)) & 1u) << 4));
    }
}
// Q2_K: 0..3
inline void codes_q2_K(const block_q2_K & b, uint8_t * u /*256*/) {
    for (int i = 0; i < 256; ++i) {
        const int h = i / 128, k = (i % 128) / 32, l = i % 32;
        u[i] = (b.qs[32 * h + l] >> (2 * k)) & 3;
    }
}
// Q3_K: -4..3
inline void codes_q3_K(const block_q3_K & b, int8_t * q /*256*/) {
    for (int i = 0; i < 256; ++i) {
        const int h = i / 128, k = (i % 128) / 32, l = i % 32;
        const int low = (b.qs[32 * h + l] >> (2 * k)) & 3;
        const int hb = (b.hmask[l] >> (4 * h + k)) & 1;
        q[i] = (int8_t)(low - (hb ? 0 : 4));
    }
}
// Q4_K: 0..15
inline void codes_q4_K(const block_q4_K & b, uint8_t * u /*256*/) {
    for (int c = 0; c < 4; ++c)
        for (int l = 0; l < 32; ++l) {
            u[64 * c + l] = b.qs[32 * c + l] & 15;
            u[64 * c + 32 + l] = b.qs[32 * c + l] >> 4;
        }
}
// Q5_K: 0..31
inline void codes_q5_K(const block_q5_K & b, uint8_t * u /*256*/) {
    for (int c = 0; c < 4; ++c)
        for (int l = 0; l < 32; ++l) {
            u[64 * c + l] = (uint8_t)((b.qs[32 * c + l] & 15) | (((b.qh[l] >> (2 * c)) & 1) << 4));
            u[64 * c + 32 + l] = (uint8_t)((b.qs[32 * c + l] >> 4) | (((b.qh[l] >> (2 * c + 1)) & 1) << 4));
        }
}
// Q6_K: 0..63 (the value is code - 32)
inline void codes_q6_K(const block_q6_K & b, uint8_t * u /*256*/) {
    for (int h = 0; h < 2; ++h) {
        const uint8_t * L = b.ql + 64 * h;
        const uint8_t * H = b.qh + 32 * h;
        uint8_t * o = u + 128 * h;
        for (int l = 0; l < 32; ++l) {
            o[l] = (uint8_t)((L[l] & 15) | (((H[l] >> 0) & 3) << 4));
            o[l + 32] = (uint8_t)((L[l + 32] & 15) | (((H[l] >> 2) & 3) << 4));
            o[l + 64] = (uint8_t)((L[l] >> 4) | (((H[l] >> 4) & 3) << 4));
            o[l + 96] = (uint8_t)((L[l + 32] >> 4) | (((H[l] >> 6) & 3) << 4));
        }
    }
}
// IQ4_XS: 6-bit scale of sub-block b (0..7), as stored (the multiplier is ls - 32)
inline int scale_iq4_xs(const block_iq4_xs & x, int b) {
    return ((x.scales_l[b / 2] >> (4 * (b % 2))) & 15) | (((x.scales_h >> (2 * b)) & 3) << 4);
}
// IQ4_XS nibble codes (index into kvalues_iq4nl): sub-block b, element j<16 low nibble, j>=16 high
inline void codes_iq4_xs(const block_iq4_xs & x, uint8_t * u /*256*/) {
    for (int b = 0; b < 8; ++b)
        for (int j = 0; j < 16; ++j) {
            u[32 * b + j] = x.qs[16 * b + j] & 15;
            u[32 * b + 16 + j] = x.qs[16 * b + j] >> 4;
        }
}

}  // namespace
}  // namespace ld::ggml::dec
