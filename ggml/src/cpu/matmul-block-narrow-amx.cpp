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

constexpr int kGroup = 8;        // columns per pass (accumulators and sums in zmm)
constexpr size_t kAhead = 256;  // prefetch distance along a row, bytes (may run past the row: never faults)

// Blocks b .. b + nb2 - 1 (nb2 <= 2) of the 16 rows: w[8 * j + e] = the codes u of tile dword e of block
// b + j, d[j] = the blocks' scales (rows past n_rows: zero).
struct Blocks2 {
    __m512i w[16];
    __m512 d[2];
};

template <Type T> struct BlockOf;
template <> struct BlockOf<Type::Q8_0> { using B = block_q8_0; static constexpr int kPer = 2, kOff = 128; };
template <> struct BlockOf<Type::Q5_0> { using B = block_q5_0; static constexpr int kPer = 2, kOff = 16; };
template <> struct BlockOf<Type::Q4_0> { using B = block_q4_0; static constexpr int kPer = 2, kOff = 8; };

// Q8_0: row r's codes of blocks b, b + 1 in one zmm, transposed (16x16 dwords).
void unpack_q8_0(const uint8_t * rows, size_t row_bytes, int n_rows, int64_t b, int nb2, Blocks2 & u) {
    alignas(32) uint16_t dh[2][16];
    __m512i in[16], out[16];
    for (int r = 0; r < 16; ++r) {
        if (r >= n_rows) {
            in[r] = _mm512_setzero_si512();
            dh[0][r] = dh[1][r] = 0;
            continue;
        }
        const block_q8_0 * x = reinterpret_cast<const block_q8_0 *>(rows + row_bytes * (size_t)r) + b;
        constexpr size_t step = 2 * sizeof(block_q8_0);  // the row's bytes kAhead on
        _mm_prefetch((const char *)x + kAhead, _MM_HINT_T0);
        _mm_prefetch((const char *)x + kAhead + step - 1, _MM_HINT_T0);
        const __m256i q0 = _mm256_loadu_si256((const __m256i *)x[0].qs);
        const __m256i q1 = nb2 > 1 ? _mm256_loadu_si256((const __m256i *)x[1].qs) : _mm256_setzero_si256();
        in[r] = _mm512_inserti64x4(_mm512_castsi256_si512(q0), q1, 1);
        std::memcpy(&dh[0][r], &x[0].d, 2);
        if (nb2 > 1) std::memcpy(&dh[1][r], &x[1].d, 2);
        else dh[1][r] = 0;
    }
    u.d[0] = _mm512_cvtph_ps(_mm256_load_si256((const __m256i *)dh[0]));  // F16C: the values of _cvtsh_ss
    u.d[1] = _mm512_cvtph_ps(_mm256_load_si256((const __m256i *)dh[1]));
    transpose16x16_epi32(in, out);
    const __m512i flip = _mm512_set1_epi8((char)0x80);
    for (int i = 0; i < 16; ++i) u.w[i] = _mm512_xor_si512(out[i], flip);
}

// Q5_0 / Q4_0: the dwords of block b + j of the 16 rows gathered into the lanes (rows past n_rows masked
// off: nothing is read there): d (low half of the dword at the block's start), qh, the 4 qs dwords.
template <Type T>
void unpack_nibbles(const uint8_t * rows, size_t row_bytes, int n_rows, int64_t b, int nb2, Blocks2 & u) {
    using B = typename BlockOf<T>::B;
    const __mmask16 live = n_rows >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << n_rows) - 1u);
    const __m512i idx = _mm512_mullo_epi32(_mm512_set_epi32(15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0),
                                           _mm512_set1_epi32((int)row_bytes));
    for (int r = 0; r < n_rows; ++r) {  // the row's bytes kAhead on
        const char * x = (const char *)(rows + row_bytes * (size_t)r + sizeof(B) * (size_t)b);
        _mm_prefetch(x + kAhead, _MM_HINT_T0);
        _mm_prefetch(x + kAhead + 2 * sizeof(B) - 1, _MM_HINT_T0);
    }
    const __m512i m4 = _mm512_set1_epi8(15);
    for (int j = 0; j < 2; ++j) {
        if (j >= nb2) {
            u.d[j] = _mm512_setzero_ps();
            continue;
        }
        const uint8_t * base = rows + sizeof(B) * (size_t)(b + j);
        const __m512i z = _mm512_setzero_si512();
        const __m512i D = _mm512_mask_i32gather_epi32(z, live, idx, base, 1);
        u.d[j] = _mm512_cvtph_ps(_mm512_cvtepi32_epi16(D));  // F16C: the values of _cvtsh_ss
        for (int e = 0; e < 4; ++e) {
            const __m512i Q = _mm512_mask_i32gather_epi32(z, live, idx, base + offsetof(B, qs) + 4 * e, 1);
            u.w[8 * j + e] = _mm512_and_si512(Q, m4);
            u.w[8 * j + 4 + e] = _mm512_and_si512(_mm512_srli_epi16(Q, 4), m4);
        }
        if constexpr (T == Type::Q5_0) {
            const __m512i H = _mm512_mask_i32gather_epi32(z, live, idx, base + offsetof(block_q5_0, qh), 1);
            const __m512i f = _mm512_set1_epi32(0xf), spread = _mm512_set1_epi32(0x00204081), bit0 = _mm512_set1_epi32(0x01010101);
            for (int e = 0; e < 8; ++e) {  // qh bits 4e .. 4e + 3 -> bit 4 of the 4 bytes
                const __m512i t = _mm512_and_si512(_mm512_srli_epi32(H, 4 * e), f);
                const __m512i bits = _mm512_and_si512(_mm512_mullo_epi32(t, spread), bit0);
                u.w[8 * j + e] = _mm512_or_si512(u.w[8 * j + e], _mm512_slli_epi32(bits, 4));
            }
        }
    }
}

template <Type T>
void unpack(const uint8_t * rows, size_t row_bytes, int n_rows, int64_t b, int nb2, Blocks2 & u) {
    if constexpr (T == Type::Q8_0) unpack_q8_0(rows, row_bytes, n_rows, b, nb2, u);
    else unpack_nibbles<T>(rows, row_bytes, n_rows, b, nb2, u);
}

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
