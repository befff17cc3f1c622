// Private: the AVX2 tables' path for a panel that meets few activation columns (single-token decoding, the
// experts of a short prompt), shared by the avx2_vnni table (matmul-narrow-avxvnni.cpp: vpdpbusd) and the
// avx2 table (matmul-narrow-avx2.cpp: vpmaddubsw) through the Dot operation; only for files compiled with
// at least the AVX2 flags (static, so no copy is merged across files built with different flags).
//
// The 8 rows' codes are unpacked row by row (the rows' own value order, no transposition into the panel
// layout) and each 32-value chunk of a row meets the column's 32 activation codes in one Dot (8 dwords:
// dword i sums values 4i..4i+3); the 8 rows' partial sums are reduced by a horizontal-add tree to the rows'
// block sums in lanes:
//     p[r] = Dot(u[r][k0..k0+31], a[k0..k0+31])
//     X = hadd(hadd(p0, p1), hadd(p2, p3)), Y = the same of rows 4-7  (lane 4m+j: row j, 16-value half m)
//     first half = [X.lo | Y.lo], second half = [X.hi | Y.hi]          (rows 0-7 in order)
// A block of 32 values sums both halves, a block of 16 each. The block sum plus the tile's offset correction
// (Dot::kCorr; none when Dot multiplies the signed values u - 128 itself) is the packed panel path's exact
// int32, and the fold is that path's (u8p::fold_block, blocks in order): the result is bit-identical to
// pack_panel + compute of the table (test-kernels-isa compares them for every type).
#pragma once

#include <immintrin.h>

#include <vector>

#include "matmul-impl.h"
#include "panel-u8-avx2.h"

namespace ld::ggml::mm::narrow8 {

constexpr int R = u8p::R;

struct Scratch {
    std::vector<uint8_t> u;    // [8][K] codes of the rows
    std::vector<uint8_t> act;  // [n_cols][K] activation codes of the columns
    std::vector<float> s1, s2, r1, r2;  // [nb][8] (lanes = rows); per-row staging
};
static inline Scratch & scratch() {
    static thread_local Scratch s;
    return s;
}

// The 16-value half sums of 8 rows' 32-value chunk at k0 against the activation chunk a: lo = values
// 0-15, hi = values 16-31, lanes = rows.
template <class Dot>
static inline void chunk_sums(const Dot & dot, const uint8_t * u, int64_t K, int64_t k0, __m256i a, __m256i & lo, __m256i & hi) {
    __m256i p[R];
    for (int r = 0; r < R; ++r) p[r] = dot(_mm256_loadu_si256((const __m256i *)(u + r * K + k0)), a);
    const __m256i X = _mm256_hadd_epi32(_mm256_hadd_epi32(p[0], p[1]), _mm256_hadd_epi32(p[2], p[3]));
    const __m256i Y = _mm256_hadd_epi32(_mm256_hadd_epi32(p[4], p[5]), _mm256_hadd_epi32(p[6], p[7]));
    lo = _mm256_permute2x128_si256(X, Y, 0x20);
    hi = _mm256_permute2x128_si256(X, Y, 0x31);
}

// The block sum plus its offset correction, folded as the packed path folds (u8p::fold_block).
template <bool MIN>
static inline __m256 fold(__m256 acc, __m256i sum, int32_t corr, float da, float A, const float * s1, const float * s2) {
    const __m256i ai = _mm256_add_epi32(sum, _mm256_set1_epi32(corr));
    return u8p::fold_block<MIN>(acc, ai, _mm256_loadu_ps(s1), da, MIN ? _mm256_loadu_ps(s2) : _mm256_setzero_ps(), A);
}

template <int C, int BL, bool MIN, class Dot>
static inline void compute_rows(const Dot & dot, const Scratch & S, const uint8_t * tile, int64_t K, int n_rows, int n_cols,
                                float * const * ycol) {
    const u8p::TileLayout T = u8p::tile_layout<C>(K, BL);
    const float * da = reinterpret_cast<const float *>(tile + T.da);
    const int32_t * corr = reinterpret_cast<const int32_t *>(tile + T.corr);
    const float * A = reinterpret_cast<const float *>(tile + T.A);
    const uint8_t * u = S.u.data();
    auto cr = [&](int64_t b, int c) { return dot.kCorr ? corr[b * C + c] : 0; };
    for (int c = 0; c < n_cols; ++c) {
        const uint8_t * act = S.act.data() + (size_t)c * K;
        __m256 acc = _mm256_setzero_ps();
        for (int64_t k0 = 0; k0 < K; k0 += 32) {
            __m256i lo, hi;
            chunk_sums(dot, u, K, k0, _mm256_loadu_si256((const __m256i *)(act + k0)), lo, hi);
            if (BL == 32) {
                const int64_t b = k0 / 32;
                acc = fold<MIN>(acc, _mm256_add_epi32(lo, hi), cr(b, c), da[b * C + c], A[b * C + c], S.s1.data() + b * R,
                                S.s2.data() + b * R);
            } else {  // two blocks of 16
                const int64_t b = k0 / 16;
                acc = fold<MIN>(acc, lo, cr(b, c), da[b * C + c], A[b * C + c], S.s1.data() + b * R, S.s2.data() + b * R);
                acc = fold<MIN>(acc, hi, cr(b + 1, c), da[(b + 1) * C + c], A[(b + 1) * C + c], S.s1.data() + (b + 1) * R,
                                S.s2.data() + (b + 1) * R);
            }
        }
        u8p::store_rows(ycol[c], acc, n_rows);
    }
}

// The rows' codes and scales into S (rows past n_rows: zero codes and scales; their outputs are not stored)
// and the n_cols columns' activation codes, contiguous (the tile interleaves them by dword: q[K/4][C][4]).
template <int C>
static inline void stage(Type w, const uint8_t * rows, size_t row_bytes, int n_rows, int64_t K, int64_t nb, const uint8_t * tile,
                         int n_cols, Scratch & S) {
    S.u.resize((size_t)(R * K));
    S.act.resize((size_t)(n_cols * K));
    S.s1.resize((size_t)(nb * R));
    S.s2.resize((size_t)(nb * R));
    S.r1.resize((size_t)nb);
    S.r2.resize((size_t)nb);
    const uint32_t * tq = reinterpret_cast<const uint32_t *>(tile);
    for (int c = 0; c < n_cols; ++c) {
        uint32_t * dst = reinterpret_cast<uint32_t *>(S.act.data() + (size_t)c * K);
        for (int64_t G = 0; G < K / 4; ++G) dst[G] = tq[G * C + c];
    }
    for (int r = 0; r < R; ++r) {
        uint8_t * u = S.u.data() + (size_t)r * K;
        if (r < n_rows) {
            const uint8_t * row = rows + row_bytes * (size_t)r;
            if (r + 2 < n_rows) {  // the weights stream from memory: ask for the row after next
                const uint8_t * nx = rows + row_bytes * (size_t)(r + 2);
                for (size_t o = 0; o < row_bytes; o += 64) _mm_prefetch((const char *)nx + o, _MM_HINT_T0);
            }
            if (!unpack_row_simd(w, row, K, u, S.r1.data(), S.r2.data())) unpack_row(w, row, K, u, S.r1.data(), S.r2.data());
        } else {
            std::fill(u, u + K, (uint8_t)0);
            std::fill(S.r1.begin(), S.r1.end(), 0.0f);
            std::fill(S.r2.begin(), S.r2.end(), 0.0f);
        }
        for (int64_t b = 0; b < nb; ++b) {
            S.s1[(size_t)(b * R + r)] = S.r1[(size_t)b];
            S.s2[(size_t)(b * R + r)] = S.r2[(size_t)b];
        }
    }
}

// Stages the rows and columns, then the products with dot (the block length and mins from w's config).
template <int C, class Dot>
static inline void run(const Dot & dot, Type w, const QuantCfg & cf, const uint8_t * rows, size_t row_bytes, int n_rows, int64_t K,
                       const uint8_t * tile, int n_cols, float * const * ycol) {
    Scratch & S = scratch();
    stage<C>(w, rows, row_bytes, n_rows, K, K / cf.bl, tile, n_cols, S);
    if (cf.bl == 32) {
        if (cf.has_min) compute_rows<C, 32, true>(dot, S, tile, K, n_rows, n_cols, ycol);
        else compute_rows<C, 32, false>(dot, S, tile, K, n_rows, n_cols, ycol);
    } else {
        if (cf.has_min) compute_rows<C, 16, true>(dot, S, tile, K, n_rows, n_cols, ycol);
        else compute_rows<C, 16, false>(dot, S, tile, K, n_rows, n_cols, ycol);
    }
}

}  // namespace ld::ggml::mm::narrow8
