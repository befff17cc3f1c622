// The AMX table's Q8_0 path for a panel that meets few activation columns (single-token decoding, the
// experts of a short prompt): AVX512-VNNI straight from the weight rows instead of tiles. The per-block tile
// path (matmul-amx.cpp) runs one 16x16 product and one 16-row fold per block of 32 whatever the number of
// columns; here the work is proportional to the columns. 16 weight rows sit in the lanes, their codes
// c + 128 (0..255) are the unsigned operand of vpdpbusd, the activation codes a of the AMX tile are
// broadcast (the signed operand), and per block
//     i[r, n] = sum_k (c + 128) * a  -  128 * asum[n]   (= sum_k c * a exactly: the tiles' integers)
// The fold is the tile path's, operation for operation: acc[n][r] += (cvt(i) * da[n]) * d[r] (one fma),
// blocks in order, so the result is bit-identical (tested: test-kernels-isa, packing as it computes vs
// packed panels, N = 1, 5, 8 here).
//
// Two blocks of 16 rows at a time: row r's 2 x 32 code bytes in one zmm, one 16x16 dword transpose gives
// dword e of block b (e < 8) and of block b + 1 (8 + e) of every row in the lanes.
#include <immintrin.h>

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
#endif

#include <algorithm>
#include <cstddef>
#include <cstring>

#include "ld-ggml/blocks.h"
#include "matmul-amx.h"
#include "transpose-avx512.h"

namespace ld::ggml::mm::amx {

namespace {

constexpr int kGroup = 8;  // columns per pass (accumulators and sums in zmm)

// Blocks b, b + 1 (nb2 of them: 1 or 2) of the 16 rows: w[8 * j + e] = dword e of block b + j (codes + 128),
// d[j] = the blocks' scales (rows past n_rows: zero).
struct Blocks2 {
    __m512i w[16];
    __m512 d[2];
};

void unpack2(const uint8_t * rows, size_t row_bytes, int n_rows, int64_t b, int nb2, bool prefetch_next, Blocks2 & u) {
    __m512i in[16], out[16];
    alignas(32) uint16_t dh[2][16];
    for (int r = 0; r < 16; ++r) {
        if (r >= n_rows) {
            in[r] = _mm512_setzero_si512();
            dh[0][r] = dh[1][r] = 0;
            continue;
        }
        const block_q8_0 * x = reinterpret_cast<const block_q8_0 *>(rows + row_bytes * (size_t)r) + b;
        if (prefetch_next) {
            _mm_prefetch((const char *)(x + 2), _MM_HINT_T0);
            _mm_prefetch((const char *)(x + 4) - 1, _MM_HINT_T0);
        }
        const __m256i q0 = _mm256_loadu_si256((const __m256i *)x[0].qs);
        const __m256i q1 = nb2 > 1 ? _mm256_loadu_si256((const __m256i *)x[1].qs) : _mm256_setzero_si256();
        in[r] = _mm512_inserti64x4(_mm512_castsi256_si512(q0), q1, 1);
        std::memcpy(&dh[0][r], &x[0].d, 2);
        if (nb2 > 1) std::memcpy(&dh[1][r], &x[1].d, 2);
        else dh[1][r] = 0;
    }
    transpose16x16_epi32(in, out);
    const __m512i flip = _mm512_set1_epi8((char)0x80);
    for (int i = 0; i < 16; ++i) u.w[i] = _mm512_xor_si512(out[i], flip);
    u.d[0] = _mm512_cvtph_ps(_mm256_load_si256((const __m256i *)dh[0]));  // F16C: the values of _cvtsh_ss
    u.d[1] = _mm512_cvtph_ps(_mm256_load_si256((const __m256i *)dh[1]));
}

// acc[n] += the fold of block j of u (tile block tb) for columns c0 .. c0 + N - 1.
template <int N>
inline void block_fold(const Blocks2 & u, int j, const int8_t * tq, const float * da, const int32_t * asum, int c0,
                       __m512 * acc) {
    __m512i S[N];
    for (int n = 0; n < N; ++n) S[n] = _mm512_setzero_si512();
#pragma GCC unroll 8
    for (int e = 0; e < 8; ++e) {
        const int32_t * a = reinterpret_cast<const int32_t *>(tq + (size_t)e * (C * 4)) + c0;
        for (int n = 0; n < N; ++n) S[n] = _mm512_dpbusd_epi32(S[n], u.w[8 * j + e], _mm512_set1_epi32(a[n]));
    }
    for (int n = 0; n < N; ++n) {
        const __m512i i = _mm512_sub_epi32(S[n], _mm512_set1_epi32(128 * asum[c0 + n]));
        const __m512 v = _mm512_mul_ps(_mm512_cvtepi32_ps(i), _mm512_set1_ps(da[c0 + n]));
        acc[n] = _mm512_fmadd_ps(v, u.d[j], acc[n]);
    }
}

// One half (16 rows) against columns c0 .. c0 + N - 1, all blocks; results to ycol[c] + 16 * half.
template <int N>
void half_group(const uint8_t * rows, size_t row_bytes, int nr, int64_t nb, const uint8_t * tile, const BlockTileLayout & T,
                int c0, int half, float * const * ycol) {
    __m512 acc[N];
    for (int n = 0; n < N; ++n) acc[n] = _mm512_setzero_ps();
    const int8_t * tq = reinterpret_cast<const int8_t *>(tile + T.q);
    const float * da = reinterpret_cast<const float *>(tile + T.da);
    const int32_t * asum = reinterpret_cast<const int32_t *>(tile + T.asum);
    Blocks2 u;
    for (int64_t b = 0; b < nb; b += 2) {
        const int nb2 = (int)std::min<int64_t>(2, nb - b);
        unpack2(rows, row_bytes, nr, b, nb2, b + 2 < nb, u);
        for (int j = 0; j < nb2; ++j)
            block_fold<N>(u, j, tq + (size_t)(b + j) * 8 * (C * 4), da + (b + j) * C, asum + (b + j) * C, c0, acc);
    }
    const __mmask16 mask = nr >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << nr) - 1u);
    for (int n = 0; n < N; ++n) _mm512_mask_storeu_ps(ycol[c0 + n] + 16 * half, mask, acc[n]);
}

using HalfFn = void (*)(const uint8_t *, size_t, int, int64_t, const uint8_t *, const BlockTileLayout &, int, int,
                        float * const *);
constexpr HalfFn kHalfFns[kGroup + 1] = {nullptr,          &half_group<1>, &half_group<2>, &half_group<3>, &half_group<4>,
                                         &half_group<5>,   &half_group<6>, &half_group<7>, &half_group<8>};

}  // namespace

void q8_0_compute_narrow(const uint8_t * rows, size_t row_bytes, int n_rows, int64_t K, const uint8_t * tile, int n_cols,
                         float * const * ycol) {
    const BlockTileLayout T = block_tile_layout(32, K);
    for (int half = 0; 16 * half < n_rows; ++half) {
        const int nr = std::min(16, n_rows - 16 * half);
        // (the blocks of a half are unpacked again per group of 8 columns: callers send at most kNarrowMaxCols)
        for (int c0 = 0; c0 < n_cols; c0 += kGroup)
            kHalfFns[std::min(kGroup, n_cols - c0)](rows + row_bytes * (size_t)(16 * half), row_bytes, nr, T.nb, tile, T, c0,
                                                    half, ycol);
    }
}

}  // namespace ld::ggml::mm::amx
