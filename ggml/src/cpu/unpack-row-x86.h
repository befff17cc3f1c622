// Private: one weight row of a quantized type unpacked to its codes u (one byte per value) and block scales
// s1, s2 with AVX2 (the same bytes and f32 values as the scalar rule mm::unpack_row), for the x86 kernel
// tables that pack panels (matmul-avx2.cpp, matmul-avx512.cpp); only for files compiled with at least the
// AVX2 flags. Static, so no copy is merged across files built with different flags.
#pragma once

#include <immintrin.h>

#include <cstdint>
#include <cstring>

#include "ld-ggml/blocks.h"
#include "ld-ggml/fp16.h"
#include "ld-ggml/types.h"
#include "quant-decode.h"

namespace ld::ggml::mm {

// bit i of x -> byte i = 0xFF or 0 (32 bits)
static inline __m256i bits32_to_bytes(uint32_t x) {
    const __m256i pick = _mm256_setr_epi8(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 2, 2, 2, 2, 2, 2, 3, 3, 3, 3,
                                          3, 3, 3, 3);
    const __m256i bit = _mm256_set1_epi64x((long long)0x8040201008040201ull);
    const __m256i v = _mm256_shuffle_epi8(_mm256_set1_epi32((int)x), pick);  // byte i: byte i / 8 of x
    return _mm256_cmpeq_epi8(_mm256_and_si256(v, bit), bit);
}

// Returns false for the types it does not cover (the caller runs the scalar rule).
static inline __m256i nibbles16(const uint8_t * qs) {  // 16 bytes -> 32 codes: low nibbles then high nibbles
    const __m128i v = _mm_loadu_si128((const __m128i *)qs);
    const __m128i m = _mm_set1_epi8(15);
    return _mm256_set_m128i(_mm_and_si128(_mm_srli_epi16(v, 4), m), _mm_and_si128(v, m));
}

static inline bool unpack_row_simd(Type w, const uint8_t * row, int64_t K, uint8_t * u, float * s1, float * s2) {
    switch (w) {
        case Type::Q4_0: {
            const block_q4_0 * x = reinterpret_cast<const block_q4_0 *>(row);
            for (int64_t b = 0; b < K / 32; ++b) {
                _mm256_storeu_si256((__m256i *)(u + 32 * b), nibbles16(x[b].qs));
                s1[b] = fp16_to_f32(x[b].d);
                s2[b] = 0.0f;
            }
            return true;
        }
        case Type::IQ4_NL: {
            const block_iq4_nl * x = reinterpret_cast<const block_iq4_nl *>(row);
            alignas(16) int8_t tab[16];
            for (int i = 0; i < 16; ++i) tab[i] = (int8_t)(kvalues_iq4nl[i] + 128);
            const __m256i t = _mm256_broadcastsi128_si256(_mm_load_si128((const __m128i *)tab));
            for (int64_t b = 0; b < K / 32; ++b) {
                _mm256_storeu_si256((__m256i *)(u + 32 * b), _mm256_shuffle_epi8(t, nibbles16(x[b].qs)));
                s1[b] = fp16_to_f32(x[b].d);
                s2[b] = 0.0f;
            }
            return true;
        }
        case Type::Q5_0: {
            const block_q5_0 * x = reinterpret_cast<const block_q5_0 *>(row);
            const __m256i h = _mm256_set1_epi8(16);
            for (int64_t b = 0; b < K / 32; ++b) {
                uint32_t qh;
                std::memcpy(&qh, x[b].qh, 4);
                const __m256i hb = _mm256_and_si256(bits32_to_bytes(qh), h);
                _mm256_storeu_si256((__m256i *)(u + 32 * b), _mm256_or_si256(nibbles16(x[b].qs), hb));
                s1[b] = fp16_to_f32(x[b].d);
                s2[b] = 0.0f;
            }
            return true;
        }
        case Type::Q8_0: {
            const block_q8_0 * x = reinterpret_cast<const block_q8_0 *>(row);
            const __m256i f = _mm256_set1_epi8((char)0x80);
            for (int64_t b = 0; b < K / 32; ++b) {
                _mm256_storeu_si256((__m256i *)(u + 32 * b),
                                    _mm256_xor_si256(_mm256_loadu_si256((const __m256i *)x[b].qs), f));
                s1[b] = fp16_to_f32(x[b].d);
                s2[b] = 0.0f;
            }
            return true;
        }
        case Type::Q4_K: {
            const block_q4_K * x = reinterpret_cast<const block_q4_K *>(row);
            const __m256i m = _mm256_set1_epi8(15);
            for (int64_t b = 0; b < K / 256; ++b) {
                for (int c = 0; c < 4; ++c) {
                    const __m256i v = _mm256_loadu_si256((const __m256i *)(x[b].qs + 32 * c));
                    _mm256_storeu_si256((__m256i *)(u + 256 * b + 64 * c), _mm256_and_si256(v, m));
                    _mm256_storeu_si256((__m256i *)(u + 256 * b + 64 * c + 32), _mm256_and_si256(_mm256_srli_epi16(v, 4), m));
                }
                const float d = fp16_to_f32(x[b].d), dmin = fp16_to_f32(x[b].dmin);
                for (int j = 0; j < 8; ++j) {
                    int sc, mn;
                    dec::scale_min_k4(j, x[b].scales, sc, mn);
                    s1[8 * b + j] = d * (float)sc;
                    s2[8 * b + j] = -(dmin * (float)mn);
                }
            }
            return true;
        }
        case Type::Q6_K: {
            const block_q6_K * x = reinterpret_cast<const block_q6_K *>(row);
            const __m256i m4 = _mm256_set1_epi8(15), m2 = _mm256_set1_epi8(0x30);
            for (int64_t b = 0; b < K / 256; ++b) {
                for (int h = 0; h < 2; ++h) {
                    const __m256i L0 = _mm256_loadu_si256((const __m256i *)(x[b].ql + 64 * h));
                    const __m256i L1 = _mm256_loadu_si256((const __m256i *)(x[b].ql + 64 * h + 32));
                    const __m256i H = _mm256_loadu_si256((const __m256i *)(x[b].qh + 32 * h));
                    uint8_t * o = u + 256 * b + 128 * h;
                    _mm256_storeu_si256((__m256i *)(o + 0), _mm256_or_si256(_mm256_and_si256(L0, m4),
                                        _mm256_and_si256(_mm256_slli_epi16(H, 4), m2)));
                    _mm256_storeu_si256((__m256i *)(o + 32), _mm256_or_si256(_mm256_and_si256(L1, m4),
                                        _mm256_and_si256(_mm256_slli_epi16(H, 2), m2)));
                    _mm256_storeu_si256((__m256i *)(o + 64), _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(L0, 4), m4),
                                        _mm256_and_si256(H, m2)));
                    _mm256_storeu_si256((__m256i *)(o + 96), _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(L1, 4), m4),
                                        _mm256_and_si256(_mm256_srli_epi16(H, 2), m2)));
                }
                const float d = fp16_to_f32(x[b].d);
                for (int g = 0; g < 16; ++g) {
                    s1[16 * b + g] = d * (float)x[b].scales[g];
                    s2[16 * b + g] = 0.0f;
                }
            }
            return true;
        }
        default: return false;
    }
}

}  // namespace ld::ggml::mm
