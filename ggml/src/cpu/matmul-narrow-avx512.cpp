// The avx512 table's path for a panel that meets few activation columns (single-token decoding on AVX-512
// CPUs without AMX): the table's own integer scheme and fold (matmul-avx512.cpp: 16 rows in the lanes,
// vpdpbusd against broadcast activation codes, per block of bl values acc_i starting at -off*asum and
// acc_f += cvt(acc_i) * (s1 * da); Q4_K / Q6_K (Q8_K activations): per super-block t = sum of
// cvt(acc_i) * s1 (+ s2 * A) and acc_f += t * da), but with the weights unpacked in registers straight from
// the rows (narrow-unpack-avx512.h) instead of packed into a panel in memory first, whenever the panel
// meets a single tile (up to C = 6 columns: measured faster at every count on the dense and expert shapes,
// bench/results/kquant-narrow.md). The same integers and the same f32 operations in the same order as the
// packed panel: bit-identical (tested: test-kernels-isa, packing as it computes vs packed panels). s1, s2 are the panel's f32 products: Q4_K d * sc and
// -(dmin * mn) per sub-block of 32, Q6_K d * sc per 16, the others d.
//
// Tile: the avx512 table's (avx512_quant_tile).
#include "avx512-intrinsics.h"

#include <algorithm>
#include <cstddef>
#include <cstring>

#include "matmul-narrow-avx512.h"
#include "narrow-unpack-avx512.h"

namespace ld::ggml::mm {

namespace {

using namespace narrow;

constexpr int C = kAvx512TileCols;

struct TileView {
    const int32_t * q;
    const float * da;
    const int32_t * corr;
    const float * A;
};
TileView tile_view(const uint8_t * tile, int64_t K, int bl) {
    const Avx512QuantTile L = avx512_quant_tile(K, bl);
    return {reinterpret_cast<const int32_t *>(tile), reinterpret_cast<const float *>(tile + L.da),
            reinterpret_cast<const int32_t *>(tile + L.corr), reinterpret_cast<const float *>(tile + L.A)};
}

// ai[c] = the exact int32 sums of one block (dwords w[0 .. DW), tile block tb) for the N columns.
template <int N, int DW>
inline void block_ints(const __m512i * w, const TileView & t, int64_t g0, int64_t tb, __m512i * ai) {
    for (int c = 0; c < N; ++c) ai[c] = _mm512_set1_epi32(t.corr[tb * C + c]);
#pragma GCC unroll 8
    for (int g = 0; g < DW; ++g) {
        const int32_t * a = t.q + (g0 + g) * C;
        for (int c = 0; c < N; ++c) ai[c] = _mm512_dpbusd_epi32(ai[c], w[g], _mm512_set1_epi32(a[c]));
    }
}

// acc[c] += the fold of one block (scales s1 of its rows) for the N columns, as compute_quant_cc does it for
// activations with a da per block.
template <int N, int DW>
inline void block(const __m512i * w, __m512 s1, const TileView & t, int64_t g0, int64_t tb, __m512 * acc) {
    __m512i ai[N];
    block_ints<N, DW>(w, t, g0, tb, ai);
    for (int c = 0; c < N; ++c)
        acc[c] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(ai[c]), _mm512_mul_ps(s1, _mm512_set1_ps(t.da[tb * C + c])), acc[c]);
}

// Q8_K activations (one da per super-block), as quant_blocks with SUPER: sum[c] += cvt(acc_i) * s1 (+ s2 * A,
// A the block's code sum) for each block, then fold_super: acc[c] += sum[c] * da of the super-block.
template <int N, int DW, bool MIN>
inline void block_super(const __m512i * w, __m512 s1, __m512 s2, const TileView & t, int64_t g0, int64_t tb, __m512 * sum) {
    __m512i ai[N];
    block_ints<N, DW>(w, t, g0, tb, ai);
    for (int c = 0; c < N; ++c) {
        sum[c] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(ai[c]), s1, sum[c]);
        if (MIN) sum[c] = _mm512_fmadd_ps(s2, _mm512_set1_ps(t.A[tb * C + c]), sum[c]);
    }
}
template <int N>
inline void fold_super(__m512 * sum, const TileView & t, int64_t tb0, __m512 * acc) {
    for (int c = 0; c < N; ++c) {
        acc[c] = _mm512_fmadd_ps(sum[c], _mm512_set1_ps(t.da[tb0 * C + c]), acc[c]);
        sum[c] = _mm512_setzero_ps();
    }
}

template <int N>
void half_q4_K(const uint8_t * rows, size_t row_bytes, int nr, int64_t K, const TileView & t, __m512 * acc) {
    const int64_t nsb = K / 256;
    SbQ4K u;
    const __m512 neg = _mm512_set1_ps(-0.0f);
    const __m512i lo16 = _mm512_set1_epi32(0xffff);
    __m512 sum[N];
    for (int c = 0; c < N; ++c) sum[c] = _mm512_setzero_ps();
    for (int64_t s = 0; s < nsb; ++s) {
        unpack(rows, row_bytes, nr, s, s + 1 < nsb, u);
        const __m512 dmin = _mm512_xor_ps(u.heads.nd, neg);
        for (int j = 0; j < 8; ++j) {
            const __m512i pair = u.heads.mn[j / 2];
            const __m512i mn = j % 2 ? _mm512_srli_epi32(pair, 16) : _mm512_and_si512(pair, lo16);
            const __m512 s1 = _mm512_mul_ps(u.heads.d, _mm512_cvtepi32_ps(u.heads.sc[j]));
            const __m512 s2 = _mm512_xor_ps(_mm512_mul_ps(dmin, _mm512_cvtepi32_ps(mn)), neg);
            block_super<N, 8, true>(u.w[j], s1, s2, t, s * 64 + 8 * j, s * 8 + j, sum);
        }
        fold_super<N>(sum, t, s * 8, acc);
    }
}

template <int N>
void half_q6_K(const uint8_t * rows, size_t row_bytes, int nr, int64_t K, const TileView & t, __m512 * acc) {
    const int64_t nsb = K / 256;
    SbQ6K u;
    __m512 sum[N];
    for (int c = 0; c < N; ++c) sum[c] = _mm512_setzero_ps();
    for (int64_t s = 0; s < nsb; ++s) {
        unpack(rows, row_bytes, nr, s, s + 1 < nsb, u);
        for (int j = 0; j < 16; ++j) {
            const __m512 s1 = _mm512_mul_ps(u.d, _mm512_cvtepi32_ps(u.sc[j]));
            block_super<N, 4, false>(u.w[j], s1, s1, t, s * 64 + 4 * j, s * 16 + j, sum);
        }
        fold_super<N>(sum, t, s * 16, acc);
    }
}

template <Type T, int N>
void half_blocks(const uint8_t * rows, size_t row_bytes, int nr, int64_t K, const TileView & t, __m512 * acc) {
    const int64_t nb = K / 32;
    Blocks2 u;
    for (int64_t b = 0; b < nb; b += 2) {
        const int nb2 = (int)std::min<int64_t>(2, nb - b);
        unpack<T>(rows, row_bytes, nr, b, nb2, u);
        for (int j = 0; j < nb2; ++j) block<N, 8>(u.w + 8 * j, u.d[j], t, (b + j) * 8, b + j, acc);
    }
}

template <int N>
void half(Type w, const uint8_t * rows, size_t row_bytes, int nr, int64_t K, const TileView & t, __m512 * acc) {
    switch (w) {
        case Type::Q4_K: half_q4_K<N>(rows, row_bytes, nr, K, t, acc); break;
        case Type::Q6_K: half_q6_K<N>(rows, row_bytes, nr, K, t, acc); break;
        case Type::Q8_0: half_blocks<Type::Q8_0, N>(rows, row_bytes, nr, K, t, acc); break;
        case Type::Q5_0: half_blocks<Type::Q5_0, N>(rows, row_bytes, nr, K, t, acc); break;
        default: half_blocks<Type::Q4_0, N>(rows, row_bytes, nr, K, t, acc); break;
    }
}

template <int N>
void compute_n(Type w, const uint8_t * rows, size_t row_bytes, int n_rows, int64_t K, const TileView & t, float * const * ycol) {
    for (int h = 0; 16 * h < n_rows; ++h) {
        const int nr = std::min(16, n_rows - 16 * h);
        __m512 acc[N];
        for (int c = 0; c < N; ++c) acc[c] = _mm512_setzero_ps();
        half<N>(w, rows + row_bytes * (size_t)(16 * h), row_bytes, nr, K, t, acc);
        const __mmask16 mask = nr >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << nr) - 1u);
        for (int c = 0; c < N; ++c) _mm512_mask_storeu_ps(ycol[c] + 16 * h, mask, acc[c]);
    }
}

}  // namespace

int avx512_narrow_max_cols(Type w) {
    switch (w) {
        case Type::Q4_K: case Type::Q6_K: case Type::Q8_0: case Type::Q5_0: case Type::Q4_0: return C;  // a whole tile
        default: return 0;
    }
}

void avx512_compute_narrow(Type w, const uint8_t * rows, size_t row_bytes, int n_rows, int64_t K, const uint8_t * tile,
                           int n_cols, float * const * ycol) {
    const TileView t = tile_view(tile, K, w == Type::Q6_K ? 16 : 32);
    switch (n_cols) {
        case 1: compute_n<1>(w, rows, row_bytes, n_rows, K, t, ycol); break;
        case 2: compute_n<2>(w, rows, row_bytes, n_rows, K, t, ycol); break;
        case 3: compute_n<3>(w, rows, row_bytes, n_rows, K, t, ycol); break;
        case 4: compute_n<4>(w, rows, row_bytes, n_rows, K, t, ycol); break;
        case 5: compute_n<5>(w, rows, row_bytes, n_rows, K, t, ycol); break;
        default: compute_n<6>(w, rows, row_bytes, n_rows, K, t, ycol); break;
    }
}

}  // namespace ld::ggml::mm
