// Private: the in-register dword transposes shared by the AVX-512 and AMX matmul kernels
// (matmul-avx512.cpp, matmul-amx.cpp, the heads and rows of the VNNI paths of few columns); only for files compiled with the AVX-512 flags. Static, so
// no copy is merged across files built with different flags.
#pragma once

#include <immintrin.h>

namespace ld::ggml::mm {

// In-register transpose of a 16x16 dword matrix: r[i] = row i -> o[j] = column j.
static inline void transpose16x16_epi32(const __m512i * r, __m512i * o) {
    __m512i a[16], b[16];
    for (int i = 0; i < 8; ++i) {
        a[2 * i] = _mm512_unpacklo_epi32(r[2 * i], r[2 * i + 1]);
        a[2 * i + 1] = _mm512_unpackhi_epi32(r[2 * i], r[2 * i + 1]);
    }
    for (int j = 0; j < 4; ++j) {
        b[4 * j + 0] = _mm512_unpacklo_epi64(a[4 * j], a[4 * j + 2]);
        b[4 * j + 1] = _mm512_unpackhi_epi64(a[4 * j], a[4 * j + 2]);
        b[4 * j + 2] = _mm512_unpacklo_epi64(a[4 * j + 1], a[4 * j + 3]);
        b[4 * j + 3] = _mm512_unpackhi_epi64(a[4 * j + 1], a[4 * j + 3]);
    }
    // b[4j+m], 128-bit lane L = column 4L+m of rows 4j..4j+3
    for (int m = 0; m < 4; ++m) {
        const __m512i c0 = _mm512_shuffle_i32x4(b[m], b[4 + m], 0x44);
        const __m512i c1 = _mm512_shuffle_i32x4(b[m], b[4 + m], 0xEE);
        const __m512i c2 = _mm512_shuffle_i32x4(b[8 + m], b[12 + m], 0x44);
        const __m512i c3 = _mm512_shuffle_i32x4(b[8 + m], b[12 + m], 0xEE);
        o[0 + m] = _mm512_shuffle_i32x4(c0, c2, 0x88);
        o[4 + m] = _mm512_shuffle_i32x4(c0, c2, 0xDD);
        o[8 + m] = _mm512_shuffle_i32x4(c1, c3, 0x88);
        o[12 + m] = _mm512_shuffle_i32x4(c1, c3, 0xDD);
    }
}

// In-register transpose of 16 rows of 4 dwords: r[i] = row i (xmm) -> o[j] = dword j of every row (row i in
// lane i). The rows k, k + 4, k + 8, k + 12 go to the 128-bit lanes of one zmm, so that the 4x4 dword transposes
// inside the lanes leave row i in lane i (the lane numbers of vinserti32x4 must be literals at every
// optimization level).
static inline void transpose16x4_epi32(const __m128i * r, __m512i * o) {
    __m512i z[4];
    for (int k = 0; k < 4; ++k)
        z[k] = _mm512_inserti32x4(_mm512_inserti32x4(_mm512_inserti32x4(_mm512_castsi128_si512(r[k]), r[k + 4], 1), r[k + 8], 2),
                                  r[k + 12], 3);
    const __m512i t0 = _mm512_unpacklo_epi32(z[0], z[1]), t1 = _mm512_unpackhi_epi32(z[0], z[1]);
    const __m512i t2 = _mm512_unpacklo_epi32(z[2], z[3]), t3 = _mm512_unpackhi_epi32(z[2], z[3]);
    o[0] = _mm512_unpacklo_epi64(t0, t2);
    o[1] = _mm512_unpackhi_epi64(t0, t2);
    o[2] = _mm512_unpacklo_epi64(t1, t3);
    o[3] = _mm512_unpackhi_epi64(t1, t3);
}

}  // namespace ld::ggml::mm
