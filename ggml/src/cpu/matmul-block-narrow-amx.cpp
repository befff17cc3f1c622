// The AMX table's Q8_0, Q5_0 and Q4_0 path for a panel that meets few activation columns (single-token
// decoding, the experts of a short prompt): AVX512-VNNI straight from the weight rows instead of tiles. The
// per-block tile path (matmul-amx.cpp) runs one 16x16 product and one 16-row fold per block of 32 whatever
// the number of columns; here the work is proportional to the columns. 16 weight rows sit in the lanes,
// their unsigned codes u (Q8_0: c + 128, Q5_0: 0..31, Q4_0: 0..15; w = d * (u - off)) are the unsigned
// operand of vpdpbusd, the activation codes a of the AMX tile are broadcast (the signed operand), and per
// block
//     i[r, n] = sum_k u * a  -  off * asum[n]   (= sum_k (u - off) * a exactly: the tiles' integers)
// The fold is the tile path's, operation for operation: acc[n][r] += (cvt(i) * da[n]) * d[r] (one fma),
// blocks in order, so the result is bit-identical (tested: test-kernels-isa, packing as it computes vs
// packed panels, N = 1, 5, 8 here).
//
// Two blocks of 16 rows at a time. Q8_0: row r's 2 x 32 code bytes in one zmm; one 16x16 dword transpose
// gives dword e of block b (e < 8) and of block b + 1 (8 + e) of every row in the lanes. Q5_0 / Q4_0: the
// block's dwords gathered across the 16 rows (vpgatherdd, one row per lane); tile dword e < 4 holds values
// 4e.. (low nibbles of qs dword e), e >= 4 values 16 + 4(e - 4).. (high nibbles of qs dword e - 4); Q5_0's
// fifth bits (qh bits 4e .. 4e + 3) are spread to the bytes by a multiply.
#include "avx512-intrinsics.h"

#include <algorithm>
#include <cstddef>
#include <cstring>

#include "ld-ggml/blocks.h"
#include "matmul-amx.h"
#include "narrow-unpack-avx512.h"

namespace ld::ggml::mm::amx {

namespace {

using namespace narrow;

constexpr int kGroup = 8;        // columns per pass (accumulators and sums in zmm)

// acc[n] += the fold of block j of u (tile block tb) for columns c0 .. c0 + N - 1.
template <int N, int OFF>
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
        const __m512i i = _mm512_sub_epi32(S[n], _mm512_set1_epi32(OFF * asum[c0 + n]));
        const __m512 v = _mm512_mul_ps(_mm512_cvtepi32_ps(i), _mm512_set1_ps(da[c0 + n]));
        acc[n] = _mm512_fmadd_ps(v, u.d[j], acc[n]);
    }
}

// One half (16 rows) against columns c0 .. c0 + N - 1, all blocks; results to ycol[c] + 16 * half.
template <Type T, int N>
void half_group(const uint8_t * rows, size_t row_bytes, int nr, int64_t nb, const uint8_t * tile, const BlockTileLayout & L,
                int c0, int half, float * const * ycol) {
    __m512 acc[N];
    for (int n = 0; n < N; ++n) acc[n] = _mm512_setzero_ps();
    const int8_t * tq = reinterpret_cast<const int8_t *>(tile + L.q);
    const float * da = reinterpret_cast<const float *>(tile + L.da);
    const int32_t * asum = reinterpret_cast<const int32_t *>(tile + L.asum);
    Blocks2 u;
    constexpr int kPer = BlockOf<T>::kPer;
    for (int64_t b = 0; b < nb; b += kPer) {
        const int nb2 = (int)std::min<int64_t>(kPer, nb - b);
        unpack<T>(rows, row_bytes, nr, b, nb2, u);
        for (int j = 0; j < nb2; ++j)
            block_fold<N, BlockOf<T>::kOff>(u, j, tq + (size_t)(b + j) * 8 * (C * 4), da + (b + j) * C, asum + (b + j) * C, c0, acc);
    }
    const __mmask16 mask = nr >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << nr) - 1u);
    for (int n = 0; n < N; ++n) _mm512_mask_storeu_ps(ycol[c0 + n] + 16 * half, mask, acc[n]);
}

using HalfFn = void (*)(const uint8_t *, size_t, int, int64_t, const uint8_t *, const BlockTileLayout &, int, int,
                        float * const *);
template <Type T>
constexpr HalfFn kHalfFns[kGroup + 1] = {nullptr,           &half_group<T, 1>, &half_group<T, 2>, &half_group<T, 3>,
                                         &half_group<T, 4>, &half_group<T, 5>, &half_group<T, 6>, &half_group<T, 7>,
                                         &half_group<T, 8>};

template <Type T>
void compute(const uint8_t * rows, size_t row_bytes, int n_rows, int64_t K, const uint8_t * tile, int n_cols,
             float * const * ycol) {
    const BlockTileLayout L = block_tile_layout(32, K);
    for (int half = 0; 16 * half < n_rows; ++half) {
        const int nr = std::min(16, n_rows - 16 * half);
        // (the blocks of a half are unpacked again per group of 8 columns: callers send at most kNarrowMaxCols)
        for (int c0 = 0; c0 < n_cols; c0 += kGroup)
            kHalfFns<T>[std::min(kGroup, n_cols - c0)](rows + row_bytes * (size_t)(16 * half), row_bytes, nr, L.nb, tile, L,
                                                       c0, half, ycol);
    }
}

}  // namespace

bool block_narrow_has(Type w) { return w == Type::Q8_0 || w == Type::Q5_0 || w == Type::Q4_0; }

void block_compute_narrow(Type w, const uint8_t * rows, size_t row_bytes, int n_rows, int64_t K, const uint8_t * tile,
                          int n_cols, float * const * ycol) {
    switch (w) {
        case Type::Q8_0: compute<Type::Q8_0>(rows, row_bytes, n_rows, K, tile, n_cols, ycol); break;
        case Type::Q5_0: compute<Type::Q5_0>(rows, row_bytes, n_rows, K, tile, n_cols, ycol); break;
        default: compute<Type::Q4_0>(rows, row_bytes, n_rows, K, tile, n_cols, ycol); break;
    }
}

}  // namespace ld::ggml::mm::amx
