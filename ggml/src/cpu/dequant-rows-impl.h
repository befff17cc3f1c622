// Private: the bodies of the kernels of dequant-rows.h; each ISA file (dequant-rows-generic.cpp,
// -avx2.cpp, -avx512.cpp) includes this header once and compiles it with its own flags.
//   * row dequantizers: portable loops in the generic build; with AVX2 (-avx2 / -avx512 files) the
//     byte unpacking and int -> float conversions use intrinsics, 8 floats a step with AVX2, 16
//     with AVX-512F; F16 uses F16C;
//   * the transposing Q8_0 quantizer: 16 columns a step, SSE2 (generic, avx2) or AVX-512.
// Every value is computed exactly as the reference (quants-ref-*.cpp): the same products in the
// same order (the build never contracts to FMA), so the results are equal bit for bit.
// Everything here has internal linkage (anonymous namespace) and calls only internal-linkage helpers
// (quant-decode.h), so no code built with wider ISA flags can be picked by the linker for another file.
#pragma once

#include <cstdint>
#include <cstring>

#if defined(__AVX2__)
#include <immintrin.h>
#elif defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "ld-ggml/blocks.h"
#include "ld-ggml/dequant-rows.h"
#include "ld-ggml/types.h"
#include "q8-columns-x86.h"
#include "quant-decode.h"

namespace ld::ggml {

// One row kernel per fast type: y[n] from the n values at x; the transposing Q8_0 quantizer.
using DequantRowFn = to_float_fn;
struct DequantRows {
    const char * name;
    DequantRowFn f32, f16, bf16, q8_0, q4_K, q6_K;
    q8_0_columns_fn q8_0_columns;
};

// Baseline-ISA helpers of the column quantizer, defined once in dequant-rows-generic.cpp (they use
// the shared f32_to_fp16, which must not be compiled with wider flags here).
namespace dqdetail {
// The scalar quantizer (quantize_row_q8_0_ref on each column); any n.
void q8_0_columns_scalar(const float * x, int64_t ld, int64_t n, uint8_t * dst, size_t stride);
// The fp16 scale d[k] into the block at dst + k * stride, k < n.
void q8_0_store_d(const float * d, int64_t n, uint8_t * dst, size_t stride);
}  // namespace dqdetail

namespace {

inline float dq_bits_f32(uint32_t u) { float f; std::memcpy(&f, &u, 4); return f; }

// fp16 -> f32, branch free (the reference fp16_to_f32: subnormals as man * 2^-24, inf / NaN
// keep their payload).
inline float dq_fp16(uint16_t h) {
    const uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
    const uint32_t e = (h >> 10) & 0x1Fu, man = h & 0x3FFu;
    const uint32_t normal = sign | ((e + 112u) << 23) | (man << 13);
    const uint32_t special = sign | 0x7F800000u | (man << 13);
    const float sub_abs = (float)(int32_t)man * (1.0f / 16777216.0f);
    uint32_t sub;
    std::memcpy(&sub, &sub_abs, 4);
    sub |= sign;
    return dq_bits_f32(e == 0x1Fu ? special : (e == 0 ? sub : normal));
}

#if defined(__AVX2__)
// y[i] = a * (float)q[i] for 16 int8 codes (the reference's product, one rounding).
inline void dq_scale16(const int8_t * q, float a, float * y) {
#if defined(__AVX512F__)
    _mm512_storeu_ps(y, _mm512_mul_ps(_mm512_set1_ps(a),
                                      _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i *)q)))));
#else
    const __m256 va = _mm256_set1_ps(a);
    for (int i = 0; i < 16; i += 8)
        _mm256_storeu_ps(y + i, _mm256_mul_ps(va, _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(
                                                      _mm_loadl_epi64((const __m128i *)(q + i))))));
#endif
}
// y[i] = a * (float)u[i] - m for 16 uint8 codes (Q4_K: product, then the subtraction).
inline void dq_affine16(const uint8_t * u, float a, float m, float * y) {
#if defined(__AVX512F__)
    const __m512 v = _mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(_mm_loadu_si128((const __m128i *)u)));
    _mm512_storeu_ps(y, _mm512_sub_ps(_mm512_mul_ps(_mm512_set1_ps(a), v), _mm512_set1_ps(m)));
#else
    const __m256 va = _mm256_set1_ps(a), vm = _mm256_set1_ps(m);
    for (int i = 0; i < 16; i += 8) {
        const __m256 v = _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)(u + i))));
        _mm256_storeu_ps(y + i, _mm256_sub_ps(_mm256_mul_ps(va, v), vm));
    }
#endif
}
#endif

void dq_f32(const void * x, float * y, int64_t n) { std::memcpy(y, x, (size_t)n * sizeof(float)); }

void dq_f16(const void * x, float * y, int64_t n) {
    const uint16_t * h = (const uint16_t *)x;
    int64_t i = 0;
#if defined(__F16C__) && defined(__AVX2__)
    // vcvtph2ps is exact for every finite value and infinity; NaN lanes (which it would quiet)
    // are rebuilt as the reference does: sign | 0x7F800000 | payload << 13.
    const __m256i e_mask = _mm256_set1_epi32(0x7C00), man_mask = _mm256_set1_epi32(0x3FF);
    for (; i + 8 <= n; i += 8) {
        const __m128i hv = _mm_loadu_si128((const __m128i *)(h + i));
        const __m256 f = _mm256_cvtph_ps(hv);
        const __m256i u = _mm256_cvtepu16_epi32(hv);
        const __m256i special = _mm256_cmpeq_epi32(_mm256_and_si256(u, e_mask), e_mask);
        const __m256i sign = _mm256_slli_epi32(_mm256_and_si256(u, _mm256_set1_epi32(0x8000)), 16);
        const __m256i nanbits = _mm256_or_si256(_mm256_or_si256(sign, _mm256_set1_epi32(0x7F800000)),
                                                _mm256_slli_epi32(_mm256_and_si256(u, man_mask), 13));
        _mm256_storeu_ps(y + i, _mm256_blendv_ps(f, _mm256_castsi256_ps(nanbits), _mm256_castsi256_ps(special)));
    }
#endif
    for (; i < n; ++i) y[i] = dq_fp16(h[i]);
}

void dq_bf16(const void * x, float * y, int64_t n) {
    const uint16_t * h = (const uint16_t *)x;
    uint32_t * u = (uint32_t *)(void *)y;
    for (int64_t i = 0; i < n; ++i) u[i] = (uint32_t)h[i] << 16;
}

void dq_q8_0(const void * x, float * y, int64_t n) {
    const block_q8_0 * b = (const block_q8_0 *)x;
    for (int64_t k = 0; k < n / QK8_0; ++k, y += QK8_0) {
        const float d = dq_fp16(b[k].d);
        const int8_t * qs = b[k].qs;
#if defined(__AVX2__)
        dq_scale16(qs, d, y);
        dq_scale16(qs + 16, d, y + 16);
#else
        for (int j = 0; j < QK8_0; ++j) y[j] = d * (float)qs[j];
#endif
    }
}

void dq_q4_K(const void * x, float * y, int64_t n) {
    const block_q4_K * b = (const block_q4_K *)x;
    for (int64_t k = 0; k < n / QK_K; ++k, y += QK_K) {
        const float d = dq_fp16(b[k].d), dmin = dq_fp16(b[k].dmin);
        float dl[8], ml[8];
        for (int j = 0; j < 8; ++j) {
            int sc, m;
            dec::scale_min_k4(j, b[k].scales, sc, m);
            dl[j] = d * (float)sc;
            ml[j] = dmin * (float)m;
        }
        for (int c = 0; c < 4; ++c) {
            const uint8_t * qs = b[k].qs + 32 * c;
            float * y0 = y + 64 * c;
            const float d0 = dl[2 * c], m0 = ml[2 * c], d1 = dl[2 * c + 1], m1 = ml[2 * c + 1];
#if defined(__AVX2__)
            alignas(32) uint8_t u[64];
            const __m256i v = _mm256_loadu_si256((const __m256i *)qs), m4 = _mm256_set1_epi8(15);
            _mm256_store_si256((__m256i *)u, _mm256_and_si256(v, m4));
            _mm256_store_si256((__m256i *)(u + 32), _mm256_and_si256(_mm256_srli_epi16(v, 4), m4));
            for (int i = 0; i < 32; i += 16) dq_affine16(u + i, d0, m0, y0 + i);
            for (int i = 32; i < 64; i += 16) dq_affine16(u + i, d1, m1, y0 + i);
#else
            for (int l = 0; l < 32; ++l) y0[l] = d0 * (float)(qs[l] & 15) - m0;
            for (int l = 0; l < 32; ++l) y0[32 + l] = d1 * (float)(qs[l] >> 4) - m1;
#endif
        }
    }
}

void dq_q6_K(const void * x, float * y, int64_t n) {
    const block_q6_K * b = (const block_q6_K *)x;
    for (int64_t k = 0; k < n / QK_K; ++k, y += QK_K) {
        const float d = dq_fp16(b[k].d);
        alignas(32) int8_t q[QK_K];  // q - 32, element order
#if defined(__AVX2__)
        const __m256i m4 = _mm256_set1_epi8(15), m30 = _mm256_set1_epi8(0x30), k32 = _mm256_set1_epi8(32);
        for (int h = 0; h < 2; ++h) {
            const __m256i L0 = _mm256_loadu_si256((const __m256i *)(b[k].ql + 64 * h));
            const __m256i L1 = _mm256_loadu_si256((const __m256i *)(b[k].ql + 64 * h + 32));
            const __m256i Hb = _mm256_loadu_si256((const __m256i *)(b[k].qh + 32 * h));
            const __m256i q0 = _mm256_or_si256(_mm256_and_si256(L0, m4), _mm256_and_si256(_mm256_slli_epi16(Hb, 4), m30));
            const __m256i q1 = _mm256_or_si256(_mm256_and_si256(L1, m4), _mm256_and_si256(_mm256_slli_epi16(Hb, 2), m30));
            const __m256i q2 = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(L0, 4), m4), _mm256_and_si256(Hb, m30));
            const __m256i q3 = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(L1, 4), m4),
                                               _mm256_and_si256(_mm256_srli_epi16(Hb, 2), m30));
            __m256i * o = (__m256i *)(q + 128 * h);
            _mm256_store_si256(o + 0, _mm256_sub_epi8(q0, k32));
            _mm256_store_si256(o + 1, _mm256_sub_epi8(q1, k32));
            _mm256_store_si256(o + 2, _mm256_sub_epi8(q2, k32));
            _mm256_store_si256(o + 3, _mm256_sub_epi8(q3, k32));
        }
        for (int s = 0; s < QK_K / 16; ++s) dq_scale16(q + 16 * s, d * (float)b[k].scales[s], y + 16 * s);
#else
        for (int h = 0; h < 2; ++h) {
            const uint8_t * L = b[k].ql + 64 * h;
            const uint8_t * H = b[k].qh + 32 * h;
            int8_t * o = q + 128 * h;
            for (int l = 0; l < 32; ++l) {
                o[l] = (int8_t)(((L[l] & 15) | ((H[l] & 3) << 4)) - 32);
                o[l + 32] = (int8_t)(((L[l + 32] & 15) | (((H[l] >> 2) & 3) << 4)) - 32);
                o[l + 64] = (int8_t)(((L[l] >> 4) | (((H[l] >> 4) & 3) << 4)) - 32);
                o[l + 96] = (int8_t)(((L[l + 32] >> 4) | (((H[l] >> 6) & 3) << 4)) - 32);
            }
        }
        for (int s = 0; s < QK_K / 16; ++s) {
            const float dl = d * (float)b[k].scales[s];
            for (int j = 0; j < 16; ++j) y[16 * s + j] = dl * (float)q[16 * s + j];
        }
#endif
    }
}

// ---------------------------------------------------------------- transposing Q8_0 quantizer
// 16 columns of x[32, ld] per step, one vector lane per column: the column's amax over the 32 rows,
// d = amax / 127, id = 1 / d (0 when d is 0), then per row q = round half away from zero of x * id
// (y - trunc(y) is exact for |y| < 2^23, so comparing it with +-0.5 decides exactly as roundf), NaN
// -> 0, clamped to [-128, 127]; the 32 x 16 bytes are transposed in registers into 16 blocks.

constexpr int64_t kQRows = 32, kQLanes = 16;

#if defined(__SSE2__)
// In-register transpose of a 16 x 16 byte matrix: four rounds of interleaving rows i and i + 8;
// each round rotates the 8 index bits (row, column) left by one, four rounds swap row and column.
inline void dq_transpose16x16(__m128i * x) {
    __m128i y[16];
    for (int round = 0; round < 4; ++round) {
        for (int i = 0; i < 8; ++i) {
            y[2 * i] = _mm_unpacklo_epi8(x[i], x[i + 8]);
            y[2 * i + 1] = _mm_unpackhi_epi8(x[i], x[i + 8]);
        }
        for (int i = 0; i < 16; ++i) x[i] = y[i];
    }
}

inline void dq_store_q16(__m128i * q, uint8_t * dst, size_t stride) {
    dq_transpose16x16(q);
    dq_transpose16x16(q + 16);
    for (int64_t k = 0; k < kQLanes; ++k) {
        int8_t * qs = ((block_q8_0 *)(dst + (size_t)k * stride))->qs;
        _mm_storeu_si128((__m128i *)qs, q[k]);
        _mm_storeu_si128((__m128i *)(qs + 16), q[16 + k]);
    }
}
#endif

#if defined(__AVX512F__) && defined(__AVX512BW__) && defined(__AVX512DQ__)
void dq_q8_cols16(const float * x, int64_t ld, uint8_t * dst, size_t stride) {
    __m512 id;
    const __m512 d = q8col::scale16(x, ld, id);
    // fp16 of d: vcvtps2ph rounds to nearest even with subnormals and overflow to inf, as the
    // reference f32_to_fp16 (d is never NaN: amax ignores NaNs).
    alignas(32) uint16_t dh[kQLanes];
    _mm256_store_si256((__m256i *)dh, _mm512_cvtps_ph(d, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
    for (int64_t k = 0; k < kQLanes; ++k) std::memcpy(dst + (size_t)k * stride, &dh[k], sizeof(uint16_t));
    __m128i q[kQRows];  // q[r]: the 16 columns of row r
    for (int64_t r = 0; r < kQRows; ++r) q[r] = _mm512_cvtepi32_epi8(q8col::round16(_mm512_mul_ps(_mm512_loadu_ps(x + r * ld), id)));
    dq_store_q16(q, dst, stride);
}
#elif defined(__AVX2__) && defined(__F16C__)
void dq_q8_cols16(const float * x, int64_t ld, uint8_t * dst, size_t stride) {
    __m256 id[2];
    for (int i = 0; i < 2; ++i) {
        const __m256 d = q8col::scale8(x + 8 * i, ld, id[i]);
        // fp16 of d: vcvtps2ph rounds to nearest even with subnormals and overflow to inf, as the reference
        // f32_to_fp16 (d is never NaN: amax ignores NaNs)
        alignas(16) uint16_t dh[8];
        _mm_store_si128((__m128i *)dh, _mm256_cvtps_ph(d, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
        for (int k = 0; k < 8; ++k) std::memcpy(dst + (size_t)(8 * i + k) * stride, &dh[k], sizeof(uint16_t));
    }
    __m128i q[kQRows];  // q[r]: the 16 columns of row r
    for (int64_t r = 0; r < kQRows; ++r) {
        __m256i t[2];
        for (int i = 0; i < 2; ++i) t[i] = q8col::round8(_mm256_mul_ps(_mm256_loadu_ps(x + r * ld + 8 * i), id[i]));
        // 16 int32 -> 16 int16 in order (packs works per 128-bit lane) -> 16 int8
        const __m256i w = _mm256_permute4x64_epi64(_mm256_packs_epi32(t[0], t[1]), 0xD8);
        q[r] = _mm_packs_epi16(_mm256_castsi256_si128(w), _mm256_extracti128_si256(w, 1));
    }
    dq_store_q16(q, dst, stride);
}
#elif defined(__SSE2__)
void dq_q8_cols16(const float * x, int64_t ld, uint8_t * dst, size_t stride) {
    const __m128 absmask = _mm_castsi128_ps(_mm_set1_epi32(0x7FFFFFFF));
    __m128 am[4] = {_mm_setzero_ps(), _mm_setzero_ps(), _mm_setzero_ps(), _mm_setzero_ps()};
    for (int64_t r = 0; r < kQRows; ++r)
        for (int i = 0; i < 4; ++i)  // maxps returns its second operand when one is NaN: a NaN never wins
            am[i] = _mm_max_ps(_mm_and_ps(_mm_loadu_ps(x + r * ld + 4 * i), absmask), am[i]);
    alignas(16) float amax[kQLanes], dv[kQLanes], id[kQLanes];
    for (int i = 0; i < 4; ++i) _mm_store_ps(amax + 4 * i, am[i]);
    for (int64_t k = 0; k < kQLanes; ++k) {
        dv[k] = amax[k] / 127.0f;
        id[k] = dv[k] != 0.0f ? 1.0f / dv[k] : 0.0f;
    }
    dqdetail::q8_0_store_d(dv, kQLanes, dst, stride);
    const __m128 lo = _mm_set1_ps(-128.0f), hi = _mm_set1_ps(127.0f), half = _mm_set1_ps(0.5f),
                 mhalf = _mm_set1_ps(-0.5f);
    __m128 s[4];
    for (int i = 0; i < 4; ++i) s[i] = _mm_load_ps(id + 4 * i);
    __m128i q[kQRows];  // q[r]: the 16 columns of row r
    for (int64_t r = 0; r < kQRows; ++r) {
        __m128i t[4];
        for (int i = 0; i < 4; ++i) {
            __m128 y = _mm_mul_ps(_mm_loadu_ps(x + r * ld + 4 * i), s[i]);
            y = _mm_and_ps(y, _mm_cmpord_ps(y, y));  // NaN -> 0
            y = _mm_min_ps(_mm_max_ps(y, lo), hi);
            __m128i ti = _mm_cvttps_epi32(y);
            const __m128 fr = _mm_sub_ps(y, _mm_cvtepi32_ps(ti));  // exact
            ti = _mm_sub_epi32(ti, _mm_castps_si128(_mm_cmpge_ps(fr, half)));   // all ones = -1: +1
            ti = _mm_add_epi32(ti, _mm_castps_si128(_mm_cmple_ps(fr, mhalf)));  // -1
            t[i] = ti;
        }
        q[r] = _mm_packs_epi16(_mm_packs_epi32(t[0], t[1]), _mm_packs_epi32(t[2], t[3]));
    }
    dq_store_q16(q, dst, stride);
}
#endif

void dq_q8_0_columns(const float * x, int64_t ld, int64_t n, uint8_t * dst, size_t stride) {
    int64_t k0 = 0;
#if defined(__SSE2__)
    for (; k0 + kQLanes <= n; k0 += kQLanes) dq_q8_cols16(x + k0, ld, dst + (size_t)k0 * stride, stride);
#endif
    if (k0 < n) dqdetail::q8_0_columns_scalar(x + k0, ld, n - k0, dst + (size_t)k0 * stride, stride);
}

}  // namespace

#define LD_DEQUANT_ROWS_TABLE(isa_name) \
    DequantRows { isa_name, dq_f32, dq_f16, dq_bf16, dq_q8_0, dq_q4_K, dq_q6_K, dq_q8_0_columns }

}  // namespace ld::ggml
