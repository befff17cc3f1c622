// The byte layout of every GGUF/ggml quantization block, defined once for every backend
// (C++ now; CUDA and Metal include it later). All fields are bytes, u16/fp16 or packed u32, so the
// structs have 2-byte natural alignment and no padding; the static_asserts pin every size.
// Layouts and element orders are described in shared spec gguf.md §2.3 and in the comments below.
#pragma once

#include <cstddef>
#include <cstdint>

#include "ld-ggml/fp16.h"

namespace ld::ggml {

constexpr int QK4_0 = 32, QK4_1 = 32, QK5_0 = 32, QK5_1 = 32, QK8_0 = 32, QK8_1 = 32;
constexpr int QK_K = 256;          // super-block size of the K, IQ and Q8_K types
constexpr int K_SCALE_SIZE = 12;   // packed 6-bit scales/mins of Q4_K and Q5_K
constexpr int QK4_NL = 32, QK_MXFP4 = 32;

#pragma pack(push, 1)
// Q4_0: y[j] = d*(lo(qs[j])-8), y[j+16] = d*(hi(qs[j])-8)
struct block_q4_0 { fp16_t d; uint8_t qs[QK4_0 / 2]; };
// Q4_1: y = d*q + m
struct block_q4_1 { fp16_t d; fp16_t m; uint8_t qs[QK4_1 / 2]; };
// Q5_0: 5th bit of element j in bit j of qh (little-endian u32, unaligned: read with memcpy)
struct block_q5_0 { fp16_t d; uint8_t qh[4]; uint8_t qs[QK5_0 / 2]; };
struct block_q5_1 { fp16_t d; fp16_t m; uint8_t qh[4]; uint8_t qs[QK5_1 / 2]; };
struct block_q8_0 { fp16_t d; int8_t qs[QK8_0]; };
// Q8_1 (activations of Q4_1/Q5_1): s = fp16(d * sum(qs))
struct block_q8_1 { fp16_t d; fp16_t s; int8_t qs[QK8_1]; };

// Q2_K: 16 sub-blocks of 16, scales[s] = sc | m<<4, y = d*sc*q - dmin*m
struct block_q2_K { uint8_t scales[QK_K / 16]; uint8_t qs[QK_K / 4]; fp16_t d; fp16_t dmin; };
// Q3_K: high bits in hmask, 16 signed 6-bit scales packed in 12 bytes
struct block_q3_K { uint8_t hmask[QK_K / 8]; uint8_t qs[QK_K / 4]; uint8_t scales[12]; fp16_t d; };
// Q4_K: 8 sub-blocks of 32, 6-bit scale and min each
struct block_q4_K { fp16_t d; fp16_t dmin; uint8_t scales[K_SCALE_SIZE]; uint8_t qs[QK_K / 2]; };
struct block_q5_K { fp16_t d; fp16_t dmin; uint8_t scales[K_SCALE_SIZE]; uint8_t qh[QK_K / 8]; uint8_t qs[QK_K / 2]; };
// Q6_K: y = d*scales[i/16]*(q-32)
struct block_q6_K { uint8_t ql[QK_K / 2]; uint8_t qh[QK_K / 4]; int8_t scales[QK_K / 16]; fp16_t d; };
// Q8_K (activations of the K types): f32 d (negative when the signed max is positive), bsums per 16
struct block_q8_K { float d; int8_t qs[QK_K]; int16_t bsums[QK_K / 16]; };

// IQ4_NL: nibbles index kvalues_iq4nl, order as Q4_0
struct block_iq4_nl { fp16_t d; uint8_t qs[QK4_NL / 2]; };
// IQ4_XS: 8 sub-blocks of 32 with 6-bit scales (low 4 bits in scales_l, high 2 in scales_h)
struct block_iq4_xs { fp16_t d; uint16_t scales_h; uint8_t scales_l[QK_K / 64]; uint8_t qs[QK_K / 2]; };
// MXFP4: E8M0 exponent then 16 bytes of FP4 (E2M1, doubled) codes, order as Q4_0
struct block_mxfp4 { uint8_t e; uint8_t qs[QK_MXFP4 / 2]; };

// The lattice ("grid") types: a grid index selects 8 (IQ1, IQ2) or 4 (IQ3) magnitudes from
// iq-grids.h; signs and sub-block scales are stored beside. Per 32-value sub-block ib:
// IQ2_XXS: qs[4ib..4ib+3] as two u32: the 4 grid bytes (8 values each), then 4 x 7-bit sign indices
//   (kIqSigns) at bits 0/7/14/21 and the 4-bit scale ls at bits 28..31; y = d*(0.5+ls)*0.25 * grid.
struct block_iq2_xxs { fp16_t d; uint16_t qs[QK_K / 8]; };
// IQ2_XS: qs[j] = 9-bit grid index | 7-bit sign index << 9 (8 values each); a 4-bit scale per 16
//   values (low nibble first), y = d*(0.5+ls)*0.25 * grid.
struct block_iq2_xs { fp16_t d; uint16_t qs[QK_K / 8]; uint8_t scales[QK_K / 32]; };
// IQ2_S: qs[0..31] low 8 bits of the 10-bit grid indices (2 more in qh, 2 bits per index),
//   qs[32..63] one sign bit per value; 4-bit scales per 16 values as IQ2_XS.
struct block_iq2_s { fp16_t d; uint8_t qs[QK_K / 4]; uint8_t qh[QK_K / 32]; uint8_t scales[QK_K / 32]; };
// IQ3_XXS: qs[0..63] grid bytes (4 values each), then per 32 values one u32 of 4 x 7-bit sign
//   indices and the 4-bit scale at bits 28..31; y = d*(0.5+ls)*0.5 * grid.
struct block_iq3_xxs { fp16_t d; uint8_t qs[3 * QK_K / 8]; };
// IQ3_S: 9-bit grid indices (qs low bits, qh one bit each), one sign bit per value, a 4-bit scale per
//   32 values (low nibble first); y = d*(1+2*ls) * grid.
struct block_iq3_s { fp16_t d; uint8_t qs[QK_K / 4]; uint8_t qh[QK_K / 32]; uint8_t signs[QK_K / 8]; uint8_t scales[QK_K / 64]; };
// IQ1_S: 11-bit grid indices of values {-1,0,1} (qs low 8 bits, 3 bits each in qh[ib] bits 0..11),
//   per 32 values a 3-bit scale s (qh bits 12..14) and the delta sign (bit 15):
//   y = d*(2s+1) * (grid + (bit15 ? -1/8 : 1/8)).
struct block_iq1_s { fp16_t d; uint8_t qs[QK_K / 8]; uint16_t qh[QK_K / 32]; };
// IQ1_M: as IQ1_S but qh is one nibble per 8 values (3 index bits, then the delta sign), a 3-bit scale
//   per 16 values (4 per u16 of scales, bits 0..11) and the fp16 d spread over the top nibbles of the
//   4 scale u16s (u16 k gives bits 4k..4k+3).
struct block_iq1_m { uint8_t qs[QK_K / 8]; uint8_t qh[QK_K / 16]; uint8_t scales[QK_K / 32]; };
#pragma pack(pop)

static_assert(sizeof(block_q4_0) == 18, "block_q4_0 size");
static_assert(sizeof(block_q4_1) == 20, "block_q4_1 size");
static_assert(sizeof(block_q5_0) == 22, "block_q5_0 size");
static_assert(sizeof(block_q5_1) == 24, "block_q5_1 size");
static_assert(sizeof(block_q8_0) == 34, "block_q8_0 size");
static_assert(sizeof(block_q8_1) == 36, "block_q8_1 size");
static_assert(sizeof(block_q2_K) == 84, "block_q2_K size");
static_assert(sizeof(block_q3_K) == 110, "block_q3_K size");
static_assert(sizeof(block_q4_K) == 144, "block_q4_K size");
static_assert(sizeof(block_q5_K) == 176, "block_q5_K size");
static_assert(sizeof(block_q6_K) == 210, "block_q6_K size");
static_assert(sizeof(block_q8_K) == 292, "block_q8_K size");
static_assert(sizeof(block_iq4_nl) == 18, "block_iq4_nl size");
static_assert(sizeof(block_iq4_xs) == 136, "block_iq4_xs size");
static_assert(sizeof(block_mxfp4) == 17, "block_mxfp4 size");
static_assert(sizeof(block_iq2_xxs) == 66, "block_iq2_xxs size");
static_assert(sizeof(block_iq2_xs) == 74, "block_iq2_xs size");
static_assert(sizeof(block_iq2_s) == 82, "block_iq2_s size");
static_assert(sizeof(block_iq3_xxs) == 98, "block_iq3_xxs size");
static_assert(sizeof(block_iq3_s) == 110, "block_iq3_s size");
static_assert(sizeof(block_iq1_s) == 50, "block_iq1_s size");
static_assert(sizeof(block_iq1_m) == 56, "block_iq1_m size");

// Code tables (public format constants).
constexpr int8_t kvalues_iq4nl[16] = {-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113};
constexpr int8_t kvalues_mxfp4[16] = {0, 1, 2, 3, 4, 6, 8, 12, 0, -1, -2, -3, -4, -6, -8, -12};
// IQ2_XXS / IQ2_XS / IQ3_XXS sign index i (7 bits) -> the signs of 8 values (bit j set: value j is
// negative): the 7 stored bits plus an 8th that makes the count of negatives even.
constexpr uint8_t iq_signs_of(int i) {
    int p = 0;
    for (int b = 0; b < 7; ++b) p ^= (i >> b) & 1;
    return (uint8_t)(i | (p << 7));
}
// IQ1_S / IQ1_M: the delta added to every grid value (its sign is stored per group).
constexpr float IQ1_DELTA = 0.125f;

}  // namespace ld::ggml
