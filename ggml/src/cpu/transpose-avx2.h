// Private: the in-register 8x8 dword transpose shared by the AVX2 matmul tables (matmul-avx2.cpp,
// matmul-avxvnni.cpp); only for files compiled with at least the AVX2 flags. Static, so no copy is
// merged across files built with different flags.
#pragma once

#include <immintrin.h>

namespace ld::ggml::mm {

// 8x8 dword transpose in registers: r[i] = row i -> o[j] = column j.
static inline void transpose8x8_epi32(const __m256i * r, __m256i * o) {
    __m256i a[8], b[8];
    for (int i = 0; i < 4; ++i) {
        a[2 * i] = _mm256_unpacklo_epi32(r[2 * i], r[2 * i + 1]);
        a[2 * i + 1] = _mm256_unpackhi_epi32(r[2 * i], r[2 * i + 1]);
    }
    for (int i = 0; i < 2; ++i) {
        b[4 * i + 0] = _mm256_unpacklo_epi64(a[4 * i], a[4 * i + 2]);
        b[4 * i + 1] = _mm256_unpackhi_epi64(a[4 * i], a[4 * i + 2]);
        b[4 * i + 2] = _mm256_unpacklo_epi64(a[4 * i + 1], a[4 * i + 3]);
        b[4 * i + 3] = _mm256_unpackhi_epi64(a[4 * i + 1], a[4 * i + 3]);
    }
    for (int j = 0; j < 4; ++j) {
        o[j] = _mm256_permute2x128_si256(b[j], b[4 + j], 0x20);
        o[4 + j] = _mm256_permute2x128_si256(b[j], b[4 + j], 0x31);
    }
}

}  // namespace ld::ggml::mm
