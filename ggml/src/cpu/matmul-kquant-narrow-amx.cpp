// The AMX table's Q4_K / Q6_K path for a panel that meets few activation columns (single-token decoding,
// the experts of a short prompt): AVX512-VNNI instead of tiles. The AMX super-block path
// (matmul-kquant-amx.cpp) splits every weight value v = code * sc into two bytes whatever the number of
// columns, which dominates when a panel meets one tile of a few columns. Here the unsigned codes u go into
// vpdpbusd as they are (the unsigned operand: 16 weight rows in the lanes, 4 values per lane), the
// activation codes a are broadcast from the AMX tile (the signed operand, one dword per column), and the
// sub-block scales are applied to the int32 sums of each sub-block:
//     Q4_K (8 sub-blocks of 32, u = code 0..15):   I = sum_j sc_j * sum_{k in j} u_k a_k
//     Q6_K (16 sub-blocks of 16, code = u - 32):   I = sum_j sc_j * sum_{k in j} u_k a_k - 32 sum_j sc_j bsum_j
// (bsum_j: the activation codes' sum over sub-block j, from the tile), exact int32, equal to sum_k v * a,
// the integers of the tiles. So the work is proportional to the columns. The fold per super-block is the
// AMX one, operation for operation (same f32 rounding, same order):
//     Q4_K: acc[n][r] += da[n] * (d[r] * cvt(I) + (-dmin[r]) * cvt(sum_j mn[r, j] * bsum[n, j]))
//     Q6_K: acc[n][r] += da[n] * (d[r] * cvt(I))
// so the result is bit-identical to the tile path (tested: test-kernels-isa, packing as it computes vs
// packed panels, N = 1, 5, 8 here and 9 on the tiles).
//
// Per super-block and half of the panel (16 rows) the rows' code bytes are transposed in registers (16x16
// dword transposes: lane = row) and unpacked into w[sub-block][dword] of u, in the tile's value order:
//   Q4_K: raw dword e of 32-byte chunk q holds values 4e.. of sub-block 2q (low nibbles) and of 2q + 1
//         (high nibbles);
//   Q6_K: for half hh of the super-block and dword e, ql dwords 16hh + e, 16hh + 8 + e and qh dword 8hh + e
//         give values 128hh + 4e + {0, 32, 64, 96} (low nibbles of the first ql, of the second, high
//         nibbles of the first, of the second; qh bits 0-1, 2-3, 4-5, 6-7 on top).
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

constexpr int kGroup = 8;  // activation columns per pass over an unpacked super-block (int32 sums in zmm)

// I[n] = sum_j sc_j * sum_{dwords of j} u * a  for the N columns c0 .. c0 + N - 1 (a: super-block s's tile
// rows). P sub-blocks run side by side (P * N independent sum chains: vpdpbusd's latency is hidden even for
// one column).
template <int N, class Sb>
inline void scaled_sums(const Sb & u, const __m512i * sc, const int8_t * tq, int c0, __m512i * I) {
    constexpr int P = N <= 4 ? 4 : 2;
    for (int n = 0; n < N; ++n) I[n] = _mm512_setzero_si512();
    for (int j0 = 0; j0 < Sb::kSub; j0 += P) {
        __m512i S[P][N];
        for (int p = 0; p < P; ++p)
            for (int n = 0; n < N; ++n) S[p][n] = _mm512_setzero_si512();
#pragma GCC unroll 8
        for (int e = 0; e < Sb::kDw; ++e)
            for (int p = 0; p < P; ++p) {
                const __m512i w = u.w[j0 + p][e];
                const int32_t * a = reinterpret_cast<const int32_t *>(tq + (size_t)(Sb::kDw * (j0 + p) + e) * (C * 4)) + c0;
                for (int n = 0; n < N; ++n) S[p][n] = _mm512_dpbusd_epi32(S[p][n], w, _mm512_set1_epi32(a[n]));
            }
        for (int p = 0; p < P; ++p)
            for (int n = 0; n < N; ++n) I[n] = _mm512_add_epi32(I[n], _mm512_mullo_epi32(S[p][n], sc[j0 + p]));
    }
}

// acc[n][16 rows] += the fold of super-block s for columns c0 .. c0 + N - 1 (N <= kGroup); da, bs: the
// tile's at super-block s.
template <int N>
void group_sb(const SbQ4K & u, const int8_t * tq, const float * da, const uint32_t * bs, int c0, float * acc) {
    __m512i I[N];
    scaled_sums<N>(u, u.heads.sc, tq, c0, I);
    for (int n = 0; n < N; ++n) {
        const int c = c0 + n;
        __m512i m = _mm512_setzero_si512();
        for (int p = 0; p < 4; ++p) m = _mm512_dpwssd_epi32(m, u.heads.mn[p], _mm512_set1_epi32((int)bs[p * C + c]));
        __m512 v = _mm512_mul_ps(_mm512_cvtepi32_ps(I[n]), u.heads.d);
        v = _mm512_fmadd_ps(_mm512_cvtepi32_ps(m), u.heads.nd, v);
        _mm512_store_ps(acc + 16 * n, _mm512_fmadd_ps(v, _mm512_set1_ps(da[c]), _mm512_load_ps(acc + 16 * n)));
    }
}

template <int N>
void group_sb(const SbQ6K & u, const int8_t * tq, const float * da, const uint32_t * bs, int c0, float * acc) {
    __m512i I[N];
    scaled_sums<N>(u, u.sc, tq, c0, I);
    for (int n = 0; n < N; ++n) {
        const int c = c0 + n;
        __m512i m = _mm512_setzero_si512();  // sum_j sc_j * bsum_j
        for (int p = 0; p < 8; ++p) m = _mm512_dpwssd_epi32(m, u.scp[p], _mm512_set1_epi32((int)bs[p * C + c]));
        const __m512i i = _mm512_sub_epi32(I[n], _mm512_slli_epi32(m, 5));
        const __m512 v = _mm512_mul_ps(_mm512_cvtepi32_ps(i), u.d);
        _mm512_store_ps(acc + 16 * n, _mm512_fmadd_ps(v, _mm512_set1_ps(da[c]), _mm512_load_ps(acc + 16 * n)));
    }
}

template <class Sb>
void compute(const uint8_t * rows, size_t row_bytes, int n_rows, int64_t K, const uint8_t * tile, int n_cols,
             float * const * ycol) {
    using GroupFn = void (*)(const Sb &, const int8_t *, const float *, const uint32_t *, int, float *);
    static constexpr GroupFn kFns[kGroup + 1] = {nullptr,         &group_sb<1>, &group_sb<2>, &group_sb<3>, &group_sb<4>,
                                                 &group_sb<5>,    &group_sb<6>, &group_sb<7>, &group_sb<8>};
    const KqTileLayout T = kq_tile_layout(K);
    const int64_t nsb = T.nsb;
    const int8_t * tq = reinterpret_cast<const int8_t *>(tile + T.q);
    const float * da = reinterpret_cast<const float *>(tile + T.da);
    const uint32_t * bs = reinterpret_cast<const uint32_t *>(tile + T.bs);
    alignas(64) float acc[C][16];
    Sb u;
    for (int h = 0; h * 16 < n_rows; ++h) {
        const int nr = std::min(16, n_rows - 16 * h);
        std::memset(acc, 0, sizeof(float) * 16 * (size_t)n_cols);
        for (int64_t s = 0; s < nsb; ++s) {
            unpack(rows + row_bytes * (size_t)(16 * h), row_bytes, nr, s, s + 1 < nsb, u);
            for (int c0 = 0; c0 < n_cols; c0 += kGroup)
                kFns[std::min(kGroup, n_cols - c0)](u, tq + (size_t)s * 64 * (C * 4), da + s * C,
                                                    bs + s * kBsPairs * C, c0, acc[c0]);
        }
        const __mmask16 mask = nr >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << nr) - 1u);
        for (int c = 0; c < n_cols; ++c) _mm512_mask_storeu_ps(ycol[c] + 16 * h, mask, _mm512_load_ps(acc[c]));
    }
}

}  // namespace

void kq_compute_narrow(Type w, const uint8_t * rows, size_t row_bytes, int n_rows, int64_t K, const uint8_t * tile,
                       int n_cols, float * const * ycol) {
    if (w == Type::Q4_K) compute<SbQ4K>(rows, row_bytes, n_rows, K, tile, n_cols, ycol);
    else compute<SbQ6K>(rows, row_bytes, n_rows, K, tile, n_cols, ycol);
}

}  // namespace ld::ggml::mm::amx
