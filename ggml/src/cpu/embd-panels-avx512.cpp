// The transposed embedding straight into the avx512 table's Q8_0 panels (embd-panels.h).
#include <immintrin.h>

// GCC 12's AVX-512 headers build some results from _mm512_undefined_*(), which -Wall reports as (maybe-)
// uninitialized (a known false positive).
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
#endif

#include "embd-panels.h"

namespace ld::ggml::mm {

void embd_q8_0_panel16_avx512(const float * x, int64_t ld, uint8_t * codes, float * s1) {
    constexpr int kRows = 32, kR = 32;  // vocabulary rows of a block; rows of the avx512 panel
    const __m512 absmask = _mm512_castsi512_ps(_mm512_set1_epi32(0x7FFFFFFF));
    __m512 am = _mm512_setzero_ps();
    for (int r = 0; r < kRows; ++r)  // maxps returns its second operand on a NaN: a NaN never wins
        am = _mm512_max_ps(_mm512_and_ps(_mm512_loadu_ps(x + r * ld), absmask), am);
    const __m512 d = _mm512_div_ps(am, _mm512_set1_ps(127.0f));
    const __mmask16 nz = _mm512_cmp_ps_mask(d, _mm512_setzero_ps(), _CMP_NEQ_UQ);
    const __m512 id = _mm512_maskz_div_ps(nz, _mm512_set1_ps(1.0f), d);
    // s1 = the fp16 block scale as f32 (vcvtps2ph rounds as the reference f32_to_fp16; d is never NaN)
    _mm512_storeu_ps(s1, _mm512_cvtph_ps(_mm512_cvtps_ph(d, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC)));
    const __m512 lo = _mm512_set1_ps(-128.0f), hi = _mm512_set1_ps(127.0f), half = _mm512_set1_ps(0.5f),
                 mhalf = _mm512_set1_ps(-0.5f);
    const __m512i one = _mm512_set1_epi32(1);
    const __m128i flip = _mm_set1_epi8((char)0x80);
    __m128i u[kRows];  // u[r]: the 16 columns' codes of vocabulary row r
    for (int r = 0; r < kRows; ++r) {
        __m512 y = _mm512_mul_ps(_mm512_loadu_ps(x + r * ld), id);
        y = _mm512_maskz_mov_ps(_mm512_cmp_ps_mask(y, y, _CMP_ORD_Q), y);  // NaN -> 0
        y = _mm512_min_ps(_mm512_max_ps(y, lo), hi);
        __m512i t = _mm512_cvttps_epi32(y);
        const __m512 fr = _mm512_sub_ps(y, _mm512_cvtepi32_ps(t));  // exact
        t = _mm512_mask_add_epi32(t, _mm512_cmp_ps_mask(fr, half, _CMP_GE_OQ), t, one);
        t = _mm512_mask_sub_epi32(t, _mm512_cmp_ps_mask(fr, mhalf, _CMP_LE_OQ), t, one);
        u[r] = _mm_xor_si128(_mm512_cvtepi32_epi8(t), flip);
    }
    // group g: vocabulary rows 4g .. 4g + 3 interleaved per column into dwords (columns 0-3, 4-7, 8-11, 12-15)
    for (int g = 0; g < kRows / 4; ++g) {
        const __m128i a01l = _mm_unpacklo_epi8(u[4 * g], u[4 * g + 1]), a01h = _mm_unpackhi_epi8(u[4 * g], u[4 * g + 1]);
        const __m128i a23l = _mm_unpacklo_epi8(u[4 * g + 2], u[4 * g + 3]), a23h = _mm_unpackhi_epi8(u[4 * g + 2], u[4 * g + 3]);
        uint8_t * o = codes + (size_t)g * (kR * 4);
        _mm_storeu_si128((__m128i *)(o + 0), _mm_unpacklo_epi16(a01l, a23l));
        _mm_storeu_si128((__m128i *)(o + 16), _mm_unpackhi_epi16(a01l, a23l));
        _mm_storeu_si128((__m128i *)(o + 32), _mm_unpacklo_epi16(a01h, a23h));
        _mm_storeu_si128((__m128i *)(o + 48), _mm_unpackhi_epi16(a01h, a23h));
    }
}

}  // namespace ld::ggml::mm
