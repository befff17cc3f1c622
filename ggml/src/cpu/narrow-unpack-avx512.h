// Private: 16 weight rows of the quantized types unpacked into zmm with one row per lane (the codes of 4
// consecutive values per lane, in value order), straight from the rows, for the AVX512-VNNI paths of few
// activation columns (matmul-kquant-narrow-amx.cpp, matmul-block-narrow-amx.cpp, matmul-narrow-avx512.cpp);
// only for files compiled with the AVX-512 flags. Static, so no copy is merged across files built with
// different flags.
//
// Q4_K: raw dword e of 32-byte chunk q holds values 4e.. of sub-block 2q (low nibbles) and of 2q + 1 (high
//       nibbles). Q6_K: for half hh of the super-block and dword e, ql dwords 16hh + e, 16hh + 8 + e and qh
//       dword 8hh + e give values 128hh + 4e + {0, 32, 64, 96} (low nibbles of the first ql, of the second,
//       high nibbles of the first, of the second; qh bits 0-1, 2-3, 4-5, 6-7 on top). Q8_0: two blocks
//       per zmm row, one 16x16 dword transpose. Q5_0 / Q4_0: the block's dwords gathered across the rows;
//       dword e < 4 holds values 4e.. (low nibbles of qs dword e), e >= 4 values 16 + 4(e - 4).. (high
//       nibbles of qs dword e - 4); Q5_0's fifth bits (qh bits 4e .. 4e + 3) spread to the bytes by a multiply.
#pragma once

#include <immintrin.h>

#include <cstddef>
#include <cstdint>
#include <cstring>

#include "ld-ggml/blocks.h"
#include "ld-ggml/types.h"
#include "q4k-heads-avx512.h"
#include "transpose-avx512.h"

namespace ld::ggml::mm::narrow {

constexpr size_t kAhead = 256;  // prefetch distance along a row of the per-block types, bytes (never faults)

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

static inline void transpose_rows(const uint8_t * rows, size_t row_bytes, int n_rows, size_t offset, __m512i * out) {
    __m512i in[16];
    for (int r = 0; r < 16; ++r)
        in[r] = r < n_rows ? _mm512_loadu_si512((const void *)(rows + row_bytes * (size_t)r + offset)) : _mm512_setzero_si512();
    transpose16x16_epi32(in, out);  // out[i] = dword i of every row
}

// Super-block s of the rows (row r at rows + r * row_bytes; rows past n_rows zero).
static inline void unpack(const uint8_t * rows, size_t row_bytes, int n_rows, int64_t s, bool prefetch_next, SbQ4K & u) {
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

static inline void unpack(const uint8_t * rows, size_t row_bytes, int n_rows, int64_t s, bool prefetch_next, SbQ6K & u) {
    const size_t sb = sizeof(block_q6_K) * (size_t)s;
    // heads: the 16 scale bytes of each row, d per row
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
    __m512i V[4];  // scale bytes 4k .. 4k + 3 of every row
    transpose16x4_epi32(hd, V);
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
static inline void unpack_q8_0(const uint8_t * rows, size_t row_bytes, int n_rows, int64_t b, int nb2, Blocks2 & u) {
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
static inline void unpack_nibbles(const uint8_t * rows, size_t row_bytes, int n_rows, int64_t b, int nb2, Blocks2 & u) {
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
static inline void unpack(const uint8_t * rows, size_t row_bytes, int n_rows, int64_t b, int nb2, Blocks2 & u) {
    if constexpr (T == Type::Q8_0) unpack_q8_0(rows, row_bytes, n_rows, b, nb2, u);
    else unpack_nibbles<T>(rows, row_bytes, n_rows, b, nb2, u);
}

}  // namespace ld::ggml::mm::narrow
