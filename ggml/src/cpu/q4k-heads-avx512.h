// Private: the heads of 16 Q4_K rows' super-blocks (d, dmin and the 12 bytes of 6-bit sub-block scales
// and mins) decoded together with the 16 rows in the lanes, for the AMX K-quant paths
// (matmul-kquant-amx.cpp, matmul-kquant-narrow-amx.cpp); only for files compiled with the AVX-512 flags.
// The values are those of dec::scale_min_k4 and fp16_to_f32 (F16C) per row; -dmin by flipping the sign
// bit (exact, the same as negation). Static, so no copy is merged across files built with other flags.
#pragma once

#include <immintrin.h>

#include <cstddef>
#include <cstdint>

#include "ld-ggml/blocks.h"
#include "transpose-avx512.h"

namespace ld::ggml::mm {

struct Q4KHeads16 {
    __m512i sc[8];  // sub-block scales 0..63 (int32 per row)
    __m512i mn[4];  // mins of sub-blocks 2p, 2p + 1 as an int16 pair (mn[2p] low) per row
    __m512 d, nd;   // d, -dmin per row
};

// Super-block s of rows r < n_rows (row r at base + r * row_bytes); rows past n_rows decode as zero.
// prefetch_next: also ask for super-block s + 1 of every row (into L1).
static inline void decode_q4k_heads16(const uint8_t * base, size_t row_bytes, int n_rows, int64_t s, bool prefetch_next,
                                      Q4KHeads16 & h) {
    __m128i hd[16];  // the 16-byte heads of the rows
    for (int r = 0; r < 16; ++r) {
        if (r >= n_rows) {
            hd[r] = _mm_setzero_si128();
            continue;
        }
        const block_q4_K * x = reinterpret_cast<const block_q4_K *>(base + row_bytes * (size_t)r) + s;
        if (prefetch_next)
            for (size_t o = 0; o < sizeof(block_q4_K); o += 64) _mm_prefetch((const char *)(x + 1) + o, _MM_HINT_T0);
        hd[r] = _mm_loadu_si128((const __m128i *)x);
    }
    __m512i hv[4];  // dword j of every row's head
    transpose16x4_epi32(hd, hv);
    const __m512i D = hv[0];   // d | dmin << 16
    const __m512i A = hv[1];   // scales bytes 0..3
    const __m512i B = hv[2];   // 4..7
    const __m512i Cc = hv[3];  // 8..11
    const __m512i m6 = _mm512_set1_epi32(0x3f3f3f3f), m4 = _mm512_set1_epi32(0x0f0f0f0f), m2 = _mm512_set1_epi32(0x30303030);
    const __m512i sc_lo = _mm512_and_si512(A, m6), mn_lo = _mm512_and_si512(B, m6);
    const __m512i sc_hi = _mm512_or_si512(_mm512_and_si512(Cc, m4), _mm512_and_si512(_mm512_srli_epi32(A, 2), m2));
    const __m512i mn_hi = _mm512_or_si512(_mm512_and_si512(_mm512_srli_epi32(Cc, 4), m4),
                                          _mm512_and_si512(_mm512_srli_epi32(B, 2), m2));
    const __m512i ff = _mm512_set1_epi32(0xff), third = _mm512_set1_epi32(0xff0000);
    for (int j = 0; j < 4; ++j) {
        h.sc[j] = _mm512_and_si512(_mm512_srli_epi32(sc_lo, 8 * j), ff);
        h.sc[4 + j] = _mm512_and_si512(_mm512_srli_epi32(sc_hi, 8 * j), ff);
    }
    h.mn[0] = _mm512_or_si512(_mm512_and_si512(mn_lo, ff), _mm512_and_si512(_mm512_slli_epi32(mn_lo, 8), third));
    h.mn[1] = _mm512_or_si512(_mm512_and_si512(_mm512_srli_epi32(mn_lo, 16), ff), _mm512_and_si512(_mm512_srli_epi32(mn_lo, 8), third));
    h.mn[2] = _mm512_or_si512(_mm512_and_si512(mn_hi, ff), _mm512_and_si512(_mm512_slli_epi32(mn_hi, 8), third));
    h.mn[3] = _mm512_or_si512(_mm512_and_si512(_mm512_srli_epi32(mn_hi, 16), ff), _mm512_and_si512(_mm512_srli_epi32(mn_hi, 8), third));
    h.d = _mm512_cvtph_ps(_mm512_cvtepi32_epi16(D));
    h.nd = _mm512_xor_ps(_mm512_cvtph_ps(_mm512_cvtepi32_epi16(_mm512_srli_epi32(D, 16))), _mm512_set1_ps(-0.0f));
}

}  // namespace ld::ggml::mm
