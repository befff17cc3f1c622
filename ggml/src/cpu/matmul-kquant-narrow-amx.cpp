// The AMX table's Q4_K path for a panel that meets few activation columns (an MoE expert's ~16 tokens,
// single-token decoding): AVX512-VNNI instead of tiles. The AMX super-block path (matmul-kquant-amx.cpp)
// pays for splitting every weight value v = code * sc into two int8 halves whatever the number of
// columns, which dominates when a panel meets one tile of a few columns. Here the 4-bit codes go into
// vpdpbusd as they are (the unsigned operand: 16 weight rows in the lanes, 4 values per lane), the
// activation codes are broadcast from the AMX tile (the signed operand, one dword per column), and the
// sub-block scales are applied to the int32 sums of each sub-block of 32:
//     I[r, n] = sum_j sc[r, j] * sum_{k in j} code[r, k] * a[n, k]   (exact int32; = sum_k v * a)
// so the work is proportional to the columns, and the integers are those of the tiles. The fold per
// super-block is the AMX one, operation for operation (same f32 rounding, same order):
//     acc[n][r] += da[n] * (d[r] * cvt(I) + (-dmin[r]) * cvt(sum_j mn[r, j] * bsum[n, j]))
// so the result is bit-identical to the tile path (tested: test-kernels-isa, narrow vs tiles).
//
// Per super-block and half of the panel (16 rows), the rows' 128 code bytes are transposed in registers
// (two 16x16 dword transposes: lane = row) and split into nibbles: raw dword e of chunk q (its bytes
// 4e .. 4e + 3) holds values 4e.. of sub-block 2q in its low nibbles and of sub-block 2q + 1 in its
// high nibbles, the values of tile dwords 8 * (2q) + e and 8 * (2q + 1) + e (the tile is in value order).
#include <immintrin.h>

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
#endif

#include <algorithm>
#include <cstring>

#include "ld-ggml/blocks.h"
#include "matmul-amx.h"
#include "q4k-heads-avx512.h"
#include "transpose-avx512.h"

namespace ld::ggml::mm::amx {

namespace {

constexpr int kGroup = 8;  // activation columns per pass over an unpacked super-block (int32 sums in zmm)

// One super-block of 16 rows, unpacked (rows past the panel: zero).
struct alignas(64) SbRows {
    __m512i w[8][8];  // [sub-block][entry]: the codes of 4 values of each row (u8), entry e <-> tile dword
    Q4KHeads16 heads;
};

// The tile dword (within a super-block's 64) that entry e of sub-block j multiplies.
constexpr int tile_dword(int j, int e) { return 8 * j + e; }

void unpack(const uint8_t * rows, size_t row_bytes, int n_rows, int64_t s, bool prefetch_next, SbRows & u) {
    decode_q4k_heads16(rows, row_bytes, n_rows, s, prefetch_next, u.heads);
    __m512i in[16], out[16];
    const __m512i m4 = _mm512_set1_epi8(15);
    for (int h = 0; h < 2; ++h) {  // bytes 64h .. 64h + 63 of the codes: chunks 2h, 2h + 1
        for (int r = 0; r < 16; ++r)
            in[r] = r < n_rows ? _mm512_loadu_si512((const void *)(reinterpret_cast<const block_q4_K *>(rows + row_bytes * (size_t)r)[s].qs + 64 * h))
                               : _mm512_setzero_si512();
        transpose16x16_epi32(in, out);  // out[i] = dword i of every row
        for (int i = 0; i < 16; ++i) {
            const int q = 2 * h + i / 8, e = i % 8;  // chunk, raw dword within its 32 bytes
            u.w[2 * q][e] = _mm512_and_si512(out[i], m4);
            u.w[2 * q + 1][e] = _mm512_and_si512(_mm512_srli_epi16(out[i], 4), m4);
        }
    }
}

// acc[n][16 rows] += the fold of super-block s for columns c0 .. c0 + N - 1 (N <= kGroup). P sub-blocks run
// side by side (P * N independent sum chains: vpdpbusd's latency is hidden even for one column).
template <int N>
void group_sb(const SbRows & u, const int8_t * tq, const float * da, const uint32_t * bs, int c0, float * acc) {
    constexpr int P = N <= 4 ? 4 : 2;
    __m512i I[N];
    for (int n = 0; n < N; ++n) I[n] = _mm512_setzero_si512();
    for (int j0 = 0; j0 < 8; j0 += P) {
        __m512i S[P][N];
        for (int p = 0; p < P; ++p)
            for (int n = 0; n < N; ++n) S[p][n] = _mm512_setzero_si512();
#pragma GCC unroll 8
        for (int e = 0; e < 8; ++e)
            for (int p = 0; p < P; ++p) {
                const __m512i w = u.w[j0 + p][e];
                const int32_t * a = reinterpret_cast<const int32_t *>(tq + (size_t)tile_dword(j0 + p, e) * (C * 4)) + c0;
                for (int n = 0; n < N; ++n) S[p][n] = _mm512_dpbusd_epi32(S[p][n], w, _mm512_set1_epi32(a[n]));
            }
        for (int p = 0; p < P; ++p)
            for (int n = 0; n < N; ++n) I[n] = _mm512_add_epi32(I[n], _mm512_mullo_epi32(S[p][n], u.heads.sc[j0 + p]));
    }
    for (int n = 0; n < N; ++n) {
        const int c = c0 + n;
        __m512i m = _mm512_setzero_si512();
        for (int p = 0; p < 4; ++p) m = _mm512_dpwssd_epi32(m, u.heads.mn[p], _mm512_set1_epi32((int)bs[p * C + c]));
        __m512 v = _mm512_mul_ps(_mm512_cvtepi32_ps(I[n]), u.heads.d);
        v = _mm512_fmadd_ps(_mm512_cvtepi32_ps(m), u.heads.nd, v);
        _mm512_store_ps(acc + 16 * n, _mm512_fmadd_ps(v, _mm512_set1_ps(da[c]), _mm512_load_ps(acc + 16 * n)));
    }
}

using GroupFn = void (*)(const SbRows &, const int8_t *, const float *, const uint32_t *, int, float *);
constexpr GroupFn kGroupFns[kGroup + 1] = {nullptr,      &group_sb<1>, &group_sb<2>, &group_sb<3>, &group_sb<4>,
                                           &group_sb<5>, &group_sb<6>, &group_sb<7>, &group_sb<8>};

}  // namespace

void kq_compute_narrow(const uint8_t * rows, size_t row_bytes, int n_rows, int64_t K, const uint8_t * tile, int n_cols,
                       float * const * ycol) {
    const KqTileLayout T = kq_tile_layout(K);
    const int64_t nsb = T.nsb;
    const int8_t * tq = reinterpret_cast<const int8_t *>(tile + T.q);
    const float * da = reinterpret_cast<const float *>(tile + T.da);
    const uint32_t * bs = reinterpret_cast<const uint32_t *>(tile + T.bs);
    alignas(64) float acc[C][16];
    SbRows u;
    for (int h = 0; h * 16 < n_rows; ++h) {
        const int nr = std::min(16, n_rows - 16 * h);
        std::memset(acc, 0, sizeof(float) * 16 * (size_t)n_cols);
        for (int64_t s = 0; s < nsb; ++s) {
            unpack(rows + row_bytes * (size_t)(16 * h), row_bytes, nr, s, s + 1 < nsb, u);
            for (int c0 = 0; c0 < n_cols; c0 += kGroup) {
                const int n = std::min(kGroup, n_cols - c0);
                kGroupFns[n](u, tq + (size_t)s * 64 * (C * 4), da + s * C, bs + s * 4 * C, c0, acc[c0]);
            }
        }
        const __mmask16 mask = nr >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << nr) - 1u);
        for (int c = 0; c < n_cols; ++c) _mm512_mask_storeu_ps(ycol[c] + 16 * h, mask, _mm512_load_ps(acc[c]));
    }
}

}  // namespace ld::ggml::mm::amx
