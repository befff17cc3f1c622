// The transposed embedding straight into the byte-code Q8_0 panels of the avx2 / avx2_vnni tables
// (embd-panels.h; layout: panel-u8-avx2.h).
#include <immintrin.h>

#include "embd-panels.h"
#include "q8-columns-x86.h"

namespace ld::ggml::mm {

void embd_q8_0_panel8_avx2(const float * x, int64_t ld, uint8_t * codes, float * s1) {
    constexpr int kRows = q8col::kRows, kR = 8;  // vocabulary rows of a block; rows of the panel
    __m256 id;
    const __m256 d = q8col::scale8(x, ld, id);
    // s1 = the fp16 block scale as f32 (vcvtps2ph rounds as the reference f32_to_fp16; d is never NaN)
    _mm256_storeu_ps(s1, _mm256_cvtph_ps(_mm256_cvtps_ph(d, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC)));
    const __m128i flip = _mm_set1_epi8((char)0x80);
    __m128i u[kRows];  // u[r]: the 8 columns' codes of vocabulary row r (low 8 bytes)
    for (int r = 0; r < kRows; ++r) {
        const __m256i t = q8col::round8(_mm256_mul_ps(_mm256_loadu_ps(x + r * ld), id));
        const __m128i w = _mm_packs_epi32(_mm256_castsi256_si128(t), _mm256_extracti128_si256(t, 1));
        u[r] = _mm_xor_si128(_mm_packs_epi16(w, w), flip);
    }
    // group g: vocabulary rows 4g .. 4g + 3 interleaved per column into dwords (columns 0-3, 4-7)
    for (int g = 0; g < kRows / 4; ++g) {
        const __m128i a01 = _mm_unpacklo_epi8(u[4 * g], u[4 * g + 1]), a23 = _mm_unpacklo_epi8(u[4 * g + 2], u[4 * g + 3]);
        uint8_t * o = codes + (size_t)g * (kR * 4);
        _mm_storeu_si128((__m128i *)(o + 0), _mm_unpacklo_epi16(a01, a23));
        _mm_storeu_si128((__m128i *)(o + 16), _mm_unpackhi_epi16(a01, a23));
    }
}

}  // namespace ld::ggml::mm
