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
#include "q4k-heads-avx512.h"
#include "transpose-avx512.h"

namespace ld::ggml::mm::amx {

namespace {

constexpr int kGroup = 8;  // activation columns per pass over an unpacked super-block (int32 sums in zmm)

// One super-block of 16 rows, unpacked (rows past the panel: zero): 64 dwords of codes as [sub-block][dword].
struct alignas(64) SbQ4K {
    static constexpr int kSub = 8, kDw = 8;
    __m512i w[kSub][kDw];
    Q4KHeads16 heads;
};
struct alignas(64) SbQ6K {
    static constexpr int kSub = 16, kDw = 4;
    __m512i w[kSub][kDw];
    __m512i sc[16];     // int8 scales, sign-extended per row
    __m512i scp[8];     // (sc[2p], sc[2p + 1]) as an int16 pair per row
    __m512 d;
};

void transpose_rows(const uint8_t * rows, size_t row_bytes, int n_rows, size_t offset, __m512i * out) {
    __m512i in[16];
    for (int r = 0; r < 16; ++r)
        in[r] = r < n_rows ? _mm512_loadu_si512((const void *)(rows + row_bytes * (size_t)r + offset)) : _mm512_setzero_si512();
    transpose16x16_epi32(in, out);  // out[i] = dword i of every row
}

// Super-block s of the rows (row r at rows + r * row_bytes; rows past n_rows zero).
void unpack(const uint8_t * rows, size_t row_bytes, int n_rows, int64_t s, bool prefetch_next, SbQ4K & u) {
    decode_q4k_heads16(rows, row_bytes, n_rows, s, prefetch_next, u.heads);
    __m512i out[16];
    const __m512i m4 = _mm512_set1_epi8(15);
    for (int h = 0; h < 2; ++h) {  // bytes 64h .. 64h + 63 of the codes: chunks 2h, 2h + 1
        transpose_rows(rows, row_bytes, n_rows, sizeof(block_q4_K) * (size_t)s + offsetof(block_q4_K, qs) + 64 * h, out);
        for (int i = 0; i < 16; ++i) {
            const int q = 2 * h + i / 8, e = i % 8;  // chunk, raw dword within its 32 bytes
            u.w[2 * q][e] = _mm512_and_si512(out[i], m4);
            u.w[2 * q + 1][e] = _mm512_and_si512(_mm512_srli_epi16(out[i], 4), m4);
        }
    }
}

void unpack(const uint8_t * rows, size_t row_bytes, int n_rows, int64_t s, bool prefetch_next, SbQ6K & u) {
    const size_t sb = sizeof(block_q6_K) * (size_t)s;
    // heads: the 16 scale bytes of each row (rows k, k + 4, k + 8, k + 12 in the lanes of z[k], so that the
    // 4x4 dword transposes inside the lanes leave row r in lane r), d per row
    __m128i hd[16];
    alignas(64) uint16_t dh[16];
    for (int r = 0; r < 16; ++r) {
        if (r >= n_rows) {
            hd[r] = _mm_setzero_si128();
            dh[r] = 0;
            continue;
        }
        const block_q6_K * x = reinterpret_cast<const block_q6_K *>(rows + row_bytes * (size_t)r + sb);
        if (prefetch_next) {
            for (size_t o = 0; o < sizeof(block_q6_K); o += 64) _mm_prefetch((const char *)(x + 1) + o, _MM_HINT_T0);
            _mm_prefetch((const char *)(x + 1) + sizeof(block_q6_K) - 1, _MM_HINT_T0);
        }
        hd[r] = _mm_loadu_si128((const __m128i *)x->scales);
        std::memcpy(&dh[r], &x->d, 2);
    }
    __m512i z[4];
    for (int k = 0; k < 4; ++k)
        z[k] = _mm512_inserti32x4(_mm512_inserti32x4(_mm512_inserti32x4(_mm512_castsi128_si512(hd[k]), hd[k + 4], 1),
                                                     hd[k + 8], 2),
                                  hd[k + 12], 3);
    const __m512i t0 = _mm512_unpacklo_epi32(z[0], z[1]), t1 = _mm512_unpackhi_epi32(z[0], z[1]);
    const __m512i t2 = _mm512_unpacklo_epi32(z[2], z[3]), t3 = _mm512_unpackhi_epi32(z[2], z[3]);
    const __m512i V[4] = {_mm512_unpacklo_epi64(t0, t2), _mm512_unpackhi_epi64(t0, t2), _mm512_unpacklo_epi64(t1, t3),
                          _mm512_unpackhi_epi64(t1, t3)};  // scale bytes 4k .. 4k + 3 of every row
    for (int k = 0; k < 4; ++k) {
        u.sc[4 * k + 0] = _mm512_srai_epi32(_mm512_slli_epi32(V[k], 24), 24);
        u.sc[4 * k + 1] = _mm512_srai_epi32(_mm512_slli_epi32(V[k], 16), 24);
        u.sc[4 * k + 2] = _mm512_srai_epi32(_mm512_slli_epi32(V[k], 8), 24);
        u.sc[4 * k + 3] = _mm512_srai_epi32(V[k], 24);
    }
    const __m512i lo16 = _mm512_set1_epi32(0xffff);
    for (int p = 0; p < 8; ++p)
        u.scp[p] = _mm512_or_si512(_mm512_and_si512(u.sc[2 * p], lo16), _mm512_slli_epi32(u.sc[2 * p + 1], 16));
    u.d = _mm512_cvtph_ps(_mm256_load_si256((const __m256i *)dh));  // F16C: the values of _cvtsh_ss
    // codes
    __m512i ql[32], qh[16];
    transpose_rows(rows, row_bytes, n_rows, sb + offsetof(block_q6_K, ql), ql);
    transpose_rows(rows, row_bytes, n_rows, sb + offsetof(block_q6_K, ql) + 64, ql + 16);
    transpose_rows(rows, row_bytes, n_rows, sb + offsetof(block_q6_K, qh), qh);
    const __m512i m4 = _mm512_set1_epi8(15), m2 = _mm512_set1_epi8(0x30);
    for (int hh = 0; hh < 2; ++hh)
        for (int e = 0; e < 8; ++e) {
            const __m512i L0 = ql[16 * hh + e], L1 = ql[16 * hh + 8 + e], H = qh[8 * hh + e];
            const __m512i v[4] = {
                _mm512_or_si512(_mm512_and_si512(L0, m4), _mm512_and_si512(_mm512_slli_epi16(H, 4), m2)),
                _mm512_or_si512(_mm512_and_si512(L1, m4), _mm512_and_si512(_mm512_slli_epi16(H, 2), m2)),
                _mm512_or_si512(_mm512_and_si512(_mm512_srli_epi16(L0, 4), m4), _mm512_and_si512(H, m2)),
                _mm512_or_si512(_mm512_and_si512(_mm512_srli_epi16(L1, 4), m4), _mm512_and_si512(_mm512_srli_epi16(H, 2), m2))};
            for (int c = 0; c < 4; ++c) {
                const int jd = 32 * hh + e + 8 * c;  // the tile dword: values 4 * jd ..
                u.w[jd / 4][jd % 4] = v[c];
            }
        }
}

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
