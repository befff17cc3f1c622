// Private: the Q8_0 rule of the transposing column quantizers, one vector lane per column of x[32 rows][ld]
// (the dequant-rows tables' dq_q8_cols16 and the vocab head's panel writers, embd-panels-*.cpp): the
// column's amax over the 32 rows (a NaN never wins: maxps returns its second operand on a NaN),
// d = amax / 127, id = 1 / d (0 when d is 0); per row q = round half away from zero of x * id (y - trunc(y)
// is exact for |y| < 2^23, so comparing it with +-0.5 decides exactly as roundf), NaN -> 0, clamped to
// [-128, 127]. For files compiled with AVX2 (the 8-lane forms) or AVX-512 (the 16-lane forms); static, so
// no copy is merged across files built with different flags.
#pragma once

#if defined(__AVX2__)  // (x86 files built with at least AVX2; empty elsewhere)

#include <immintrin.h>

#include <cstdint>

namespace ld::ggml::q8col {

constexpr int kRows = 32;

#if defined(__AVX512F__) && defined(__AVX512BW__)
// d of 16 columns (x: their row 0); id = 1 / d or 0.
static inline __m512 scale16(const float * x, int64_t ld, __m512 & id) {
    const __m512 absmask = _mm512_castsi512_ps(_mm512_set1_epi32(0x7FFFFFFF));
    __m512 am = _mm512_setzero_ps();
    for (int r = 0; r < kRows; ++r) am = _mm512_max_ps(_mm512_and_ps(_mm512_loadu_ps(x + r * ld), absmask), am);
    const __m512 d = _mm512_div_ps(am, _mm512_set1_ps(127.0f));
    id = _mm512_maskz_div_ps(_mm512_cmp_ps_mask(d, _mm512_setzero_ps(), _CMP_NEQ_UQ), _mm512_set1_ps(1.0f), d);
    return d;
}

// The int32 codes of y = x * id.
static inline __m512i round16(__m512 y) {
    const __m512i one = _mm512_set1_epi32(1);
    y = _mm512_maskz_mov_ps(_mm512_cmp_ps_mask(y, y, _CMP_ORD_Q), y);  // NaN -> 0
    y = _mm512_min_ps(_mm512_max_ps(y, _mm512_set1_ps(-128.0f)), _mm512_set1_ps(127.0f));
    __m512i t = _mm512_cvttps_epi32(y);
    const __m512 fr = _mm512_sub_ps(y, _mm512_cvtepi32_ps(t));  // exact
    t = _mm512_mask_add_epi32(t, _mm512_cmp_ps_mask(fr, _mm512_set1_ps(0.5f), _CMP_GE_OQ), t, one);
    return _mm512_mask_sub_epi32(t, _mm512_cmp_ps_mask(fr, _mm512_set1_ps(-0.5f), _CMP_LE_OQ), t, one);
}
#endif

#if defined(__AVX2__)
// d of 8 columns (x: their row 0); id = 1 / d or 0.
static inline __m256 scale8(const float * x, int64_t ld, __m256 & id) {
    const __m256 absmask = _mm256_castsi256_ps(_mm256_set1_epi32(0x7FFFFFFF));
    __m256 am = _mm256_setzero_ps();
    for (int r = 0; r < kRows; ++r) am = _mm256_max_ps(_mm256_and_ps(_mm256_loadu_ps(x + r * ld), absmask), am);
    const __m256 d = _mm256_div_ps(am, _mm256_set1_ps(127.0f));
    id = _mm256_and_ps(_mm256_cmp_ps(d, _mm256_setzero_ps(), _CMP_NEQ_UQ), _mm256_div_ps(_mm256_set1_ps(1.0f), d));
    return d;
}

// The int32 codes of y = x * id.
static inline __m256i round8(__m256 y) {
    y = _mm256_and_ps(y, _mm256_cmp_ps(y, y, _CMP_ORD_Q));  // NaN -> 0
    y = _mm256_min_ps(_mm256_max_ps(y, _mm256_set1_ps(-128.0f)), _mm256_set1_ps(127.0f));
    __m256i t = _mm256_cvttps_epi32(y);
    const __m256 fr = _mm256_sub_ps(y, _mm256_cvtepi32_ps(t));  // exact
    t = _mm256_sub_epi32(t, _mm256_castps_si256(_mm256_cmp_ps(fr, _mm256_set1_ps(0.5f), _CMP_GE_OQ)));    // -1: +1
    return _mm256_add_epi32(t, _mm256_castps_si256(_mm256_cmp_ps(fr, _mm256_set1_ps(-0.5f), _CMP_LE_OQ)));  // -1
}
#endif

}  // namespace ld::ggml::q8col

#endif  // __AVX2__
