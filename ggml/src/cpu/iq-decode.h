// Scalar decoders of the lattice ("grid") types IQ1_S, IQ1_M, IQ2_XXS, IQ2_XS, IQ2_S, IQ3_XXS and
// IQ3_S (layouts in blocks.h), shared by the reference dequantizers, the generic dot products and the
// matmul unpackers. One 256-value block decodes to
//   v[256]  the signed integer value of every element (grid magnitude with its sign; IQ1: 8*g +- 1,
//           i.e. the value in units of 1/8, so it stays an integer),
//   s[256/bl] the f32 scale of each sub-block of bl values, computed exactly as the format defines it
//           (so that y = s * v, and for IQ1 y = s * (v / 8), is bit for bit the reference value).
// Internal linkage (as quant-decode.h): the file is compiled with several ISA flag sets.
#pragma once

#include <cstdint>
#include <cstring>

#include "ld-ggml/blocks.h"
#include "ld-ggml/fp16.h"
#include "ld-ggml/iq-grids.h"

namespace ld::ggml::dec {
namespace {

// A packed grid table (iq-grids.h) expanded to int8 magnitudes [N][E].
template <int N, int E>
struct GridTable {
    int8_t v[N][E];
    constexpr GridTable(const uint16_t (&packed)[N], const int8_t * levels, int bits) : v() {
        for (int i = 0; i < N; ++i)
            for (int j = 0; j < E; ++j) v[i][j] = levels[(packed[i] >> (bits * j)) & ((1 << bits) - 1)];
    }
};

constexpr GridTable<256, 8> kIq2xxsGrid(iqgrid::kGridIq2xxs, iqgrid::kLevelsIq2, 2);
constexpr GridTable<512, 8> kIq2xsGrid(iqgrid::kGridIq2xs, iqgrid::kLevelsIq2, 2);
constexpr GridTable<1024, 8> kIq2sGrid(iqgrid::kGridIq2s, iqgrid::kLevelsIq2, 2);
constexpr GridTable<256, 4> kIq3xxsGrid(iqgrid::kGridIq3xxs, iqgrid::kLevelsIq3xxs, 3);
constexpr GridTable<512, 4> kIq3sGrid(iqgrid::kGridIq3s, iqgrid::kLevelsIq3s, 3);
constexpr GridTable<2048, 8> kIq1Grid(iqgrid::kGridIq1s, iqgrid::kLevelsIq1, 2);

inline uint32_t u32_at(const void * p) { uint32_t v; std::memcpy(&v, p, 4); return v; }
inline uint16_t u16_at(const void * p) { uint16_t v; std::memcpy(&v, p, 2); return v; }

// 8 values: magnitudes g[8], negated where bit j of the sign mask is set.
inline void put8(const int8_t * g, unsigned signs, int8_t * v) {
    for (int j = 0; j < 8; ++j) v[j] = (int8_t)((signs >> j) & 1 ? -g[j] : g[j]);
}

// Sub-block length of each lattice type (the granularity of s).
constexpr int kIqBlIq2xxs = 32, kIqBlIq2xs = 16, kIqBlIq2s = 16, kIqBlIq3xxs = 32, kIqBlIq3s = 32,
              kIqBlIq1s = 32, kIqBlIq1m = 16;

inline void iq_decode(const block_iq2_xxs & x, int8_t * v, float * s) {
    const float d = fp16_to_f32(x.d);
    for (int ib = 0; ib < 8; ++ib) {
        const uint32_t a = u32_at(x.qs + 4 * ib), b = u32_at(x.qs + 4 * ib + 2);
        s[ib] = d * (0.5f + (float)(b >> 28)) * 0.25f;
        for (int l = 0; l < 4; ++l)
            put8(kIq2xxsGrid.v[(a >> (8 * l)) & 255], iq_signs_of((int)((b >> (7 * l)) & 127)), v + 32 * ib + 8 * l);
    }
}

inline void iq_decode(const block_iq2_xs & x, int8_t * v, float * s) {
    const float d = fp16_to_f32(x.d);
    for (int k = 0; k < 16; ++k) s[k] = d * (0.5f + (float)((x.scales[k / 2] >> (4 * (k % 2))) & 15)) * 0.25f;
    for (int j = 0; j < 32; ++j) {
        const unsigned q = u16_at(x.qs + j);
        put8(kIq2xsGrid.v[q & 511], iq_signs_of((int)(q >> 9)), v + 8 * j);
    }
}

inline void iq_decode(const block_iq2_s & x, int8_t * v, float * s) {
    const float d = fp16_to_f32(x.d);
    for (int k = 0; k < 16; ++k) s[k] = d * (0.5f + (float)((x.scales[k / 2] >> (4 * (k % 2))) & 15)) * 0.25f;
    for (int j = 0; j < 32; ++j) {
        const int idx = x.qs[j] | (((x.qh[j / 4] >> (2 * (j % 4))) & 3) << 8);
        put8(kIq2sGrid.v[idx], x.qs[32 + j], v + 8 * j);
    }
}

inline void iq_decode(const block_iq3_xxs & x, int8_t * v, float * s) {
    const float d = fp16_to_f32(x.d);
    for (int ib = 0; ib < 8; ++ib) {
        const uint32_t b = u32_at(x.qs + 64 + 4 * ib);
        s[ib] = d * (0.5f + (float)(b >> 28)) * 0.5f;
        for (int l = 0; l < 4; ++l) {
            int8_t g[8];
            std::memcpy(g, kIq3xxsGrid.v[x.qs[8 * ib + 2 * l]], 4);
            std::memcpy(g + 4, kIq3xxsGrid.v[x.qs[8 * ib + 2 * l + 1]], 4);
            put8(g, iq_signs_of((int)((b >> (7 * l)) & 127)), v + 32 * ib + 8 * l);
        }
    }
}

inline void iq_decode(const block_iq3_s & x, int8_t * v, float * s) {
    const float d = fp16_to_f32(x.d);
    for (int ib = 0; ib < 8; ++ib) s[ib] = d * (float)(1 + 2 * ((x.scales[ib / 2] >> (4 * (ib % 2))) & 15));
    for (int j = 0; j < 32; ++j) {  // 8 values: grid entries 2j, 2j+1
        int8_t g[8];
        for (int h = 0; h < 2; ++h) {
            const int q = 2 * j + h;
            const int idx = x.qs[q] | (((x.qh[q / 8] >> (q % 8)) & 1) << 8);
            std::memcpy(g + 4 * h, kIq3sGrid.v[idx], 4);
        }
        put8(g, x.signs[j], v + 8 * j);
    }
}

// IQ1: 8 values of grid entry idx (-1/0/1) with the delta sign: v = 8*g + (neg ? -1 : 1).
inline void put8_iq1(int idx, bool neg, int8_t * v) {
    const int8_t * g = kIq1Grid.v[idx];
    for (int j = 0; j < 8; ++j) v[j] = (int8_t)(8 * g[j] + (neg ? -1 : 1));
}

inline void iq_decode(const block_iq1_s & x, int8_t * v, float * s) {
    const float d = fp16_to_f32(x.d);
    for (int ib = 0; ib < 8; ++ib) {
        const unsigned qh = u16_at(x.qh + ib);
        s[ib] = d * (float)(2 * ((qh >> 12) & 7) + 1);
        for (int l = 0; l < 4; ++l)
            put8_iq1(x.qs[4 * ib + l] | (int)(((qh >> (3 * l)) & 7) << 8), (qh & 0x8000) != 0, v + 32 * ib + 8 * l);
    }
}

// IQ1_M: the fp16 super-block scale from the top nibbles of the 4 scale u16s.
inline float iq1_m_d(const block_iq1_m & x) {
    uint16_t sc[4];
    std::memcpy(sc, x.scales, 8);
    const uint16_t bits = (uint16_t)((sc[0] >> 12) | ((sc[1] >> 8) & 0x00F0) | ((sc[2] >> 4) & 0x0F00) | (sc[3] & 0xF000));
    return fp16_to_f32(fp16_t{bits});
}

inline void iq_decode(const block_iq1_m & x, int8_t * v, float * s) {
    const float d = iq1_m_d(x);
    uint16_t sc[4];
    std::memcpy(sc, x.scales, 8);
    for (int k = 0; k < 16; ++k) s[k] = d * (float)(2 * ((sc[k / 4] >> (3 * (k % 4))) & 7) + 1);
    for (int g = 0; g < 32; ++g) {
        const unsigned h = (x.qh[g / 2] >> (4 * (g % 2))) & 15;
        put8_iq1(x.qs[g] | (int)((h & 7) << 8), (h & 8) != 0, v + 8 * g);
    }
}

}  // namespace
}  // namespace ld::ggml::dec
