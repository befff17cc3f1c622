// The transposed embedding straight into the avx512 table's Q8_0 panels (embd-panels.h).
#include "avx512-intrinsics.h"

#include "embd-panels.h"
#include "q8-columns-x86.h"

namespace ld::ggml::mm {

void embd_q8_0_panel16_avx512(const float * x, int64_t ld, uint8_t * codes, float * s1) {
    constexpr int kRows = q8col::kRows, kR = 32;  // vocabulary rows of a block; rows of the avx512 panel
    __m512 id;
    const __m512 d = q8col::scale16(x, ld, id);
    // s1 = the fp16 block scale as f32 (vcvtps2ph rounds as the reference f32_to_fp16; d is never NaN)
    _mm512_storeu_ps(s1, _mm512_cvtph_ps(_mm512_cvtps_ph(d, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC)));
    const __m128i flip = _mm_set1_epi8((char)0x80);
    __m128i u[kRows];  // u[r]: the 16 columns' codes of vocabulary row r
    for (int r = 0; r < kRows; ++r)
        u[r] = _mm_xor_si128(_mm512_cvtepi32_epi8(q8col::round16(_mm512_mul_ps(_mm512_loadu_ps(x + r * ld), id))), flip);
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
