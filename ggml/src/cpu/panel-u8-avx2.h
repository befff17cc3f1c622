// Private: the panel and tile layouts of the AVX2 integer tables that hold weight codes as bytes (the
// avx2_vnni table, matmul-avxvnni.cpp, and the avx2 table's types with codes below 64, matmul-avx2.cpp) and
// their packers; only for files compiled with at least the AVX2 flags. Static, so no copy is merged across
// files built with different flags.
//
// Panel (R = 8 weight rows): q[K/4][8][4] (uint8 codes u, 4 consecutive values of a row per dword) |
//                            s1[nb][8] | s2[nb][8] (f32).
// Tile (C activation columns): q[K/4][C][4] (int8 codes) | da[nb][C] (f32) | corr[nb][C] (int32, -off * asum)
//                              | A[nb][C] (f32) | flags (int32: kTileNonneg when no activation code is
//                              negative, e.g. the softmax weights of the self-conditioning product;
//                              kTileMin128 when some code is -128, which the quantizers give only in
//                              blocks whose scale is 0: rows of subnormal size).
// (scheme in matmul-impl.h: a block's sum of u*a plus corr is the exact integer sum of (u - off)*a.)
#pragma once

#include <immintrin.h>

#include <algorithm>
#include <climits>
#include <cstddef>
#include <cstring>
#include <type_traits>
#include <vector>

#include "ld-ggml/blocks.h"
#include "matmul-impl.h"
#include "quant-decode.h"
#include "transpose-avx2.h"
#include "unpack-row-x86.h"

namespace ld::ggml::mm::u8p {

constexpr int R = 8;

static inline size_t up64(size_t n) { return (n + 63) & ~(size_t)63; }

struct PanelLayout {
    int64_t nb;
    size_t s1, s2, end;
};
static inline PanelLayout panel_layout(int64_t K, int bl) {
    PanelLayout L;
    L.nb = K / bl;
    L.s1 = up64((size_t)K * R);
    L.s2 = L.s1 + up64((size_t)L.nb * R * 4);
    L.end = L.s2 + up64((size_t)L.nb * R * 4);
    return L;
}

constexpr int32_t kTileNonneg = 1, kTileMin128 = 2;

struct TileLayout {
    int64_t nb;
    size_t da, corr, A, flags, end;
};
template <int C>
static inline TileLayout tile_layout(int64_t K, int bl) {
    TileLayout L;
    L.nb = K / bl;
    L.da = up64((size_t)K * C);
    L.corr = L.da + up64((size_t)L.nb * C * 4);
    L.A = L.corr + up64((size_t)L.nb * C * 4);
    L.flags = L.A + up64((size_t)L.nb * C * 4);
    L.end = L.flags + 64;
    return L;
}

static inline int block_len(Type w) {
    QuantCfg c;
    quant_cfg(w, c);
    return c.bl;
}

// The fold of one block's exact int32 sums ai (8 rows) into acc for one column: acc += cvt(ai) * (s1 * da),
// then + s2 * A for types with mins (s1, s2: the block's row scales). Every path of the byte-code tables
// (avx2, avx2_vnni, their few-column path) folds with this, so their results are the same bit for bit.
template <bool MIN>
static inline __m256 fold_block(__m256 acc, __m256i ai, __m256 s1, float da, __m256 s2, float A) {
    acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(ai), _mm256_mul_ps(s1, _mm256_set1_ps(da)), acc);
    if (MIN) acc = _mm256_fmadd_ps(s2, _mm256_set1_ps(A), acc);
    return acc;
}

// y[0 .. n_rows) = the first n_rows lanes of v.
static inline void store_rows(float * y, __m256 v, int n_rows) {
    if (n_rows == R) {
        _mm256_storeu_ps(y, v);
    } else {
        alignas(32) float t[R];
        _mm256_store_ps(t, v);
        for (int r = 0; r < n_rows; ++r) y[r] = t[r];
    }
}

// The bytes compute reads: the s2 array only for types with mins.
static inline size_t panel_bytes_read(Type w, int64_t K) {
    QuantCfg c;
    quant_cfg(w, c);
    const PanelLayout L = panel_layout(K, c.bl);
    return c.has_min ? L.end : L.s2;
}

struct Scratch {
    std::vector<uint8_t> u;
    std::vector<float> s1, s2;
    std::vector<int8_t> qs;
    std::vector<int32_t> asum;
};
static inline Scratch & scratch() {
    static thread_local Scratch s;
    return s;
}

// Q4_K and Q5_K straight into the panel: the raw nibble bytes of the 8 rows (half the bytes of the codes) are
// transposed in registers and split into low / high nibbles there (Q5_K: its qh transposed the same way gives
// the fifth bits); the scales of the 8 rows come from their
// header dwords gathered into lanes (d | dmin, scales 0-3, 4-7, 8-11), the 6-bit (scale, min) pairs taken
// apart lane-wise: the same f32 products as the scalar rule (unpack_row). Rows past n_rows repeat the last
// row's codes with zero scales.
template <class Block>
static inline void pack_panel_k4(const uint8_t * rows, size_t row_bytes, int n_rows, int64_t K, uint8_t * panel) {
    constexpr bool kQ5 = std::is_same<Block, block_q5_K>::value;
    const PanelLayout L = panel_layout(K, 32);
    const int64_t nsb = K / 256;
    float * s1 = reinterpret_cast<float *>(panel + L.s1);
    float * s2 = reinterpret_cast<float *>(panel + L.s2);
    const __m256i m4 = _mm256_set1_epi8(15);
    const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    const __m256i live = _mm256_cmpgt_epi32(_mm256_set1_epi32(n_rows), lane);  // all-ones for the rows there
    const __m256i ridx = _mm256_mullo_epi32(_mm256_min_epi32(lane, _mm256_set1_epi32(n_rows - 1)), _mm256_set1_epi32((int)row_bytes));
    const uint8_t * src[R];
    for (int r = 0; r < R; ++r) src[r] = rows + row_bytes * (size_t)std::min(r, n_rows - 1);
    for (int64_t b = 0; b < nsb; ++b) {
        if (b + 2 < nsb)  // the rows stream from memory: ask for two super-blocks ahead
            for (int r = 0; r < n_rows; ++r) {
                const uint8_t * p = src[r] + (size_t)(b + 2) * sizeof(Block);
                for (size_t o = 0; o < sizeof(Block); o += 64) _mm_prefetch((const char *)p + o, _MM_HINT_T0);
            }
        // Q5_K: dword e of the 8 rows' qh (bit 2q of byte l: value 64q + l's fifth bit, bit 2q + 1: 64q + 32 + l)
        __m256i qh[8];
        if constexpr (kQ5) {
            __m256i v[8];
            for (int r = 0; r < R; ++r) v[r] = _mm256_loadu_si256((const __m256i *)reinterpret_cast<const Block *>(src[r])[b].qh);
            transpose8x8_epi32(v, qh);
        }
        // codes: raw dword e of chunk q holds values 4e.. of sub-block 2q (low nibbles) and 2q + 1 (high)
        for (int q = 0; q < 4; ++q) {
            __m256i v[8], o[8];
            for (int r = 0; r < R; ++r)
                v[r] = _mm256_loadu_si256((const __m256i *)(reinterpret_cast<const Block *>(src[r])[b].qs + 32 * q));
            transpose8x8_epi32(v, o);
            uint8_t * base = panel + (size_t)(b * 64 + 16 * q) * (R * 4);
            for (int e = 0; e < 8; ++e) {
                __m256i lo = _mm256_and_si256(o[e], m4), hi = _mm256_and_si256(_mm256_srli_epi16(o[e], 4), m4);
                if constexpr (kQ5) {  // the fifth bits moved to bit 4 of each byte
                    const __m256i b4 = _mm256_set1_epi8(16);
                    auto shift = [](__m256i x, int n) {  // left by n bits, right by -n (n in -3..4)
                        return n >= 0 ? _mm256_sll_epi32(x, _mm_cvtsi32_si128(n)) : _mm256_srl_epi32(x, _mm_cvtsi32_si128(-n));
                    };
                    lo = _mm256_or_si256(lo, _mm256_and_si256(shift(qh[e], 4 - 2 * q), b4));
                    hi = _mm256_or_si256(hi, _mm256_and_si256(shift(qh[e], 3 - 2 * q), b4));
                }
                _mm256_store_si256((__m256i *)(base + e * (R * 4)), lo);
                _mm256_store_si256((__m256i *)(base + (8 + e) * (R * 4)), hi);
            }
        }
        const int * hb = reinterpret_cast<const int *>(rows + (size_t)b * sizeof(Block));
        const __m256i h0 = _mm256_i32gather_epi32(hb, ridx, 1);
        const __m256i S0 = _mm256_i32gather_epi32(hb + 1, ridx, 1);
        const __m256i S1 = _mm256_i32gather_epi32(hb + 2, ridx, 1);
        const __m256i S2 = _mm256_i32gather_epi32(hb + 3, ridx, 1);
        auto halves = [](__m256i x) {  // 8 dwords <= 0xffff -> 8 uint16 in order (packus is exact there)
            return _mm_packus_epi32(_mm256_castsi256_si128(x), _mm256_extracti128_si256(x, 1));
        };
        const __m256 d = _mm256_cvtph_ps(halves(_mm256_and_si256(h0, _mm256_set1_epi32(0xffff))));
        const __m256 dmin = _mm256_cvtph_ps(halves(_mm256_srli_epi32(h0, 16)));
        const __m256 keep = _mm256_castsi256_ps(live);
        const __m256i m63 = _mm256_set1_epi32(63), m15 = _mm256_set1_epi32(15), m3 = _mm256_set1_epi32(3);
        for (int j = 0; j < 8; ++j) {
            __m256i sc, mn;
            if (j < 4) {
                const __m128i sh = _mm_cvtsi32_si128(8 * j);
                sc = _mm256_and_si256(_mm256_srl_epi32(S0, sh), m63);
                mn = _mm256_and_si256(_mm256_srl_epi32(S1, sh), m63);
            } else {
                const __m128i sh = _mm_cvtsi32_si128(8 * (j - 4)), sh4 = _mm_cvtsi32_si128(8 * (j - 4) + 4),
                              sh6 = _mm_cvtsi32_si128(8 * (j - 4) + 6);
                sc = _mm256_or_si256(_mm256_and_si256(_mm256_srl_epi32(S2, sh), m15),
                                     _mm256_slli_epi32(_mm256_and_si256(_mm256_srl_epi32(S0, sh6), m3), 4));
                mn = _mm256_or_si256(_mm256_and_si256(_mm256_srl_epi32(S2, sh4), m15),
                                     _mm256_slli_epi32(_mm256_and_si256(_mm256_srl_epi32(S1, sh6), m3), 4));
            }
            // s1 = d * sc, s2 = -(dmin * mn) (a sign flip, as the scalar rule); rows past n_rows +0
            const __m256 v1 = _mm256_and_ps(keep, _mm256_mul_ps(d, _mm256_cvtepi32_ps(sc)));
            const __m256 v2 = _mm256_and_ps(keep, _mm256_xor_ps(_mm256_mul_ps(dmin, _mm256_cvtepi32_ps(mn)), _mm256_set1_ps(-0.0f)));
            _mm256_store_ps(s1 + (8 * b + j) * R, v1);
            _mm256_store_ps(s2 + (8 * b + j) * R, v2);
        }
    }
}

// The 32-value block types with an fp16 scale first (Q8_0, Q5_0, Q4_0, IQ4_NL; and IQ4_XS, whose 8 sub-blocks
// of IQ4_NL nibbles share a super-block head, s1 = d * (ls - 32)) straight into the panel, block by block: the
// code bytes of the 8 rows' block are transposed in registers, which gives the panel's [group][row][4] order (Q8_0: dword i holds codes 4i..4i+3, +128 by an xor; Q5_0 / Q4_0 / IQ4_NL: dword i of
// qs holds the low nibbles of codes 4i.. and the high nibbles of codes 16+4i..; Q5_0's fifth bits, qh bit k
// of code k, are spread to the bytes by a byte shuffle of each row's qh and a bit test; IQ4_NL's nibbles
// index its 16 values + 128 with a byte shuffle). s1 = d, s2 = 0; rows past n_rows repeat the last row with
// zero scales. The same bytes as unpack_row.
template <Type W>
static inline void pack_panel_block32(const uint8_t * rows, size_t row_bytes, int n_rows, int64_t K, uint8_t * panel) {
    static_assert(W == Type::Q8_0 || W == Type::Q5_0 || W == Type::Q4_0 || W == Type::IQ4_NL || W == Type::IQ4_XS,
                  "fp16 d, 32 codes");
    constexpr bool kXS = W == Type::IQ4_XS;  // 8 sub-blocks of IQ4_NL nibbles under one super-block head
    const PanelLayout L = panel_layout(K, 32);
    const size_t bs = W == Type::Q8_0 ? sizeof(block_q8_0) : W == Type::Q5_0 ? sizeof(block_q5_0) : sizeof(block_q4_0);
    const size_t qs_at = W == Type::Q5_0 ? 6 : 2;  // the nibbles / codes after d (and Q5_0's qh)
    // block b's head offset in a row (d; IQ4_XS: its super-block's) and its codes' offset
    auto head = [&](int64_t b) { return kXS ? (size_t)(b / 8) * sizeof(block_iq4_xs) : (size_t)b * bs; };
    auto codes = [&](int64_t b) { return kXS ? head(b) + offsetof(block_iq4_xs, qs) + 16 * (size_t)(b % 8) : head(b) + qs_at; };
    float * s1 = reinterpret_cast<float *>(panel + L.s1);
    float * s2 = reinterpret_cast<float *>(panel + L.s2);
    const __m256i m4 = _mm256_set1_epi8(15), bit4 = _mm256_set1_epi8(16), flip = _mm256_set1_epi8((char)0x80);
    const __m256 keep = _mm256_castsi256_ps(_mm256_cmpgt_epi32(_mm256_set1_epi32(n_rows), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7)));
    // Q5_0 fifth bits of group g (codes 4g+j, j < 4): byte j of a row's dword takes qh byte g/2 and tests
    // bit 4*(g%2)+j; row r sits at bytes 4*(r%4) of its 128-bit lane. IQ4_NL: its values + 128 per lane.
    alignas(32) uint8_t pick[32], bits[2][32], tab[32];
    for (int i = 0; i < 32; ++i) {
        pick[i] = (uint8_t)(4 * ((i / 4) % 4));
        for (int h = 0; h < 2; ++h) bits[h][i] = (uint8_t)(1u << (4 * h + i % 4));
        tab[i] = (uint8_t)(kvalues_iq4nl[i % 16] + 128);
    }
    const __m256i qh_pick = _mm256_load_si256((const __m256i *)pick), nl_tab = _mm256_load_si256((const __m256i *)tab);
    const __m256i qh_bit[2] = {_mm256_load_si256((const __m256i *)bits[0]), _mm256_load_si256((const __m256i *)bits[1])};
    const uint8_t * src[R];
    for (int r = 0; r < R; ++r) src[r] = rows + row_bytes * (size_t)std::min(r, n_rows - 1);
    for (int64_t b = 0; b < L.nb; ++b) {
        const size_t o = head(b), oq = codes(b);
        if ((b & 1) == 0 && b + 6 < L.nb)  // the rows stream from memory: a line of each, a few blocks ahead
            for (int r = 0; r < n_rows; ++r) _mm_prefetch((const char *)(src[r] + codes(b + 6)), _MM_HINT_T0);
        uint8_t * dst = panel + (size_t)(b * 8) * (R * 4);
        if (W == Type::Q8_0) {
            __m256i v[8], t[8];
            for (int r = 0; r < R; ++r) v[r] = _mm256_loadu_si256((const __m256i *)(src[r] + oq));
            transpose8x8_epi32(v, t);
            for (int i = 0; i < 8; ++i) _mm256_store_si256((__m256i *)(dst + i * (R * 4)), _mm256_xor_si256(t[i], flip));
        } else {
            __m256i v[4];
            for (int r = 0; r < 4; ++r)  // rows r and r + 4 in the two 128-bit lanes
                v[r] = _mm256_set_m128i(_mm_loadu_si128((const __m128i *)(src[r + 4] + oq)),
                                        _mm_loadu_si128((const __m128i *)(src[r] + oq)));
            const __m256i a0 = _mm256_unpacklo_epi32(v[0], v[1]), a1 = _mm256_unpackhi_epi32(v[0], v[1]);
            const __m256i a2 = _mm256_unpacklo_epi32(v[2], v[3]), a3 = _mm256_unpackhi_epi32(v[2], v[3]);
            const __m256i q[4] = {_mm256_unpacklo_epi64(a0, a2), _mm256_unpackhi_epi64(a0, a2),
                                  _mm256_unpacklo_epi64(a1, a3), _mm256_unpackhi_epi64(a1, a3)};  // dword i of rows 0-7
            __m256i qh = _mm256_setzero_si256();
            if (W == Type::Q5_0) {
                uint32_t qh8[R];
                for (int r = 0; r < R; ++r) std::memcpy(&qh8[r], src[r] + o + 2, 4);
                qh = _mm256_loadu_si256((const __m256i *)qh8);
            }
            for (int i = 0; i < 4; ++i)
                for (int half = 0; half < 2; ++half) {  // group i (low nibbles), group 4 + i (high)
                    const int g = i + 4 * half;
                    __m256i u = half ? _mm256_and_si256(_mm256_srli_epi16(q[i], 4), m4) : _mm256_and_si256(q[i], m4);
                    if (W == Type::Q5_0) {
                        const __m256i hb = _mm256_and_si256(
                            _mm256_shuffle_epi8(qh, _mm256_add_epi8(qh_pick, _mm256_set1_epi8((char)(g / 2)))), qh_bit[g % 2]);
                        u = _mm256_or_si256(u, _mm256_and_si256(_mm256_cmpeq_epi8(hb, qh_bit[g % 2]), bit4));
                    } else if (W == Type::IQ4_NL || kXS) {
                        u = _mm256_shuffle_epi8(nl_tab, u);
                    }
                    _mm256_store_si256((__m256i *)(dst + g * (R * 4)), u);
                }
        }
        float d8[R];
        for (int r = 0; r < R; ++r) {
            uint16_t h;
            std::memcpy(&h, src[r] + o, 2);
            d8[r] = _cvtsh_ss(h);
            if (kXS)  // d * (ls - 32): the scalar rule (dec::scale_iq4_xs) and its f32 product
                d8[r] = d8[r] * (float)(dec::scale_iq4_xs(*reinterpret_cast<const block_iq4_xs *>(src[r] + o), (int)(b % 8)) - 32);
        }
        _mm256_store_ps(s1 + b * R, _mm256_and_ps(keep, _mm256_loadu_ps(d8)));
        _mm256_store_ps(s2 + b * R, _mm256_setzero_ps());
    }
}

// The 8 rows' codes (SIMD unpacker where it covers the type, else the scalar rule) and block scales;
// rows past n_rows get zero codes and zero scales (their outputs are never stored).
static inline void pack_panel(Type w, const uint8_t * rows, size_t row_bytes, int n_rows, int64_t K, void * panel) {
    if ((w == Type::Q4_K || w == Type::Q5_K) && row_bytes <= (size_t)INT32_MAX / R) {  // (int32 gather offsets)
        if (w == Type::Q4_K) pack_panel_k4<block_q4_K>(rows, row_bytes, n_rows, K, static_cast<uint8_t *>(panel));
        else pack_panel_k4<block_q5_K>(rows, row_bytes, n_rows, K, static_cast<uint8_t *>(panel));
        return;
    }
    switch (w) {
        case Type::Q8_0: pack_panel_block32<Type::Q8_0>(rows, row_bytes, n_rows, K, static_cast<uint8_t *>(panel)); return;
        case Type::Q5_0: pack_panel_block32<Type::Q5_0>(rows, row_bytes, n_rows, K, static_cast<uint8_t *>(panel)); return;
        case Type::Q4_0: pack_panel_block32<Type::Q4_0>(rows, row_bytes, n_rows, K, static_cast<uint8_t *>(panel)); return;
        case Type::IQ4_NL: pack_panel_block32<Type::IQ4_NL>(rows, row_bytes, n_rows, K, static_cast<uint8_t *>(panel)); return;
        case Type::IQ4_XS: pack_panel_block32<Type::IQ4_XS>(rows, row_bytes, n_rows, K, static_cast<uint8_t *>(panel)); return;
        default: break;
    }
    QuantCfg c;
    quant_cfg(w, c);
    const PanelLayout L = panel_layout(K, c.bl);
    const int64_t nb = L.nb;
    Scratch & S = scratch();
    uint8_t * pb = static_cast<uint8_t *>(panel);
    float * s1 = reinterpret_cast<float *>(pb + L.s1);
    float * s2 = reinterpret_cast<float *>(pb + L.s2);
    S.u.resize((size_t)(K * R));
    S.s1.resize((size_t)(nb * R));
    S.s2.resize((size_t)(nb * R));
    for (int r = 0; r < R; ++r) {
        uint8_t * u = S.u.data() + K * r;
        float * a = S.s1.data() + nb * r;
        float * m = S.s2.data() + nb * r;
        if (r < n_rows) {
            const uint8_t * row = rows + row_bytes * r;
            if (r + 2 < n_rows) {  // the weights stream from memory: ask for the row after next
                const uint8_t * nx = rows + row_bytes * (size_t)(r + 2);
                for (size_t o = 0; o < row_bytes; o += 64) _mm_prefetch((const char *)nx + o, _MM_HINT_T0);
            }
            if (!unpack_row_simd(w, row, K, u, a, m)) unpack_row(w, row, K, u, a, m);
        } else {
            std::memset(u, 0, (size_t)K);
            std::fill(a, a + nb, 0.0f);
            std::fill(m, m + nb, 0.0f);
        }
    }
    // the scales [8 rows][nb] -> [nb][8]: 8x8 dword transposes, the tail (nb % 8 blocks) one by one
    for (int v = 0; v < 2; ++v) {
        const float * src = v ? S.s2.data() : S.s1.data();
        float * dst = v ? s2 : s1;
        int64_t b0 = 0;
        for (; b0 + 8 <= nb; b0 += 8) {
            __m256i in[8], out[8];
            for (int r = 0; r < R; ++r) in[r] = _mm256_loadu_si256((const __m256i *)(src + nb * r + b0));
            transpose8x8_epi32(in, out);
            for (int j = 0; j < 8; ++j) _mm256_store_si256((__m256i *)(dst + (b0 + j) * R), out[j]);
        }
        for (; b0 < nb; ++b0)
            for (int r = 0; r < R; ++r) dst[b0 * R + r] = src[nb * r + b0];
    }
    // codes [K/4][8 rows][4]: 8 dwords of each row, an 8x8 dword transpose puts dword G of the 8 rows in one
    // register (K is a multiple of 32: every quantized type's blocks are 32 or 256 values)
    for (int64_t G = 0; G < K / 4; G += 8) {
        __m256i v[8], o[8];
        for (int r = 0; r < R; ++r) v[r] = _mm256_loadu_si256((const __m256i *)(S.u.data() + K * r + 4 * G));
        transpose8x8_epi32(v, o);
        for (int j = 0; j < 8; ++j) _mm256_store_si256((__m256i *)(pb + (size_t)(G + j) * R * 4), o[j]);
    }
}

template <int C>
static inline void pack_tile(Type w, const ActRows & a, const int64_t * ids, int n, int64_t K, void * tile) {
    QuantCfg cf;
    quant_cfg(w, cf);
    const TileLayout L = tile_layout<C>(K, cf.bl);
    const int64_t nb = L.nb;
    Scratch & S = scratch();
    uint8_t * t = static_cast<uint8_t *>(tile);
    uint32_t * q = reinterpret_cast<uint32_t *>(t);
    float * da = reinterpret_cast<float *>(t + L.da);
    int32_t * corr = reinterpret_cast<int32_t *>(t + L.corr);
    float * A = reinterpret_cast<float *>(t + L.A);
    std::memset(t, 0, L.end);
    S.qs.resize((size_t)K);
    S.s1.resize((size_t)nb);
    S.s2.resize((size_t)nb);
    S.asum.resize((size_t)nb);
    __m256i neg = _mm256_setzero_si256(), m128 = _mm256_setzero_si256();  // any code < 0, any code == -128
    const __m256i c128 = _mm256_set1_epi8((char)-128);
    for (int c = 0; c < n; ++c) {
        act_blocks(a.type, cf.bl, a.row(ids[c]), K, S.qs.data(), S.s1.data(), S.asum.data(), S.s2.data());
        const uint8_t * src = reinterpret_cast<const uint8_t *>(S.qs.data());
        for (int64_t G = 0; G < K / 4; ++G) std::memcpy(q + G * C + c, src + 4 * G, 4);
        for (int64_t k = 0; k < K; k += 32) {
            const __m256i v = _mm256_loadu_si256((const __m256i *)(src + k));
            neg = _mm256_or_si256(neg, v);
            m128 = _mm256_or_si256(m128, _mm256_cmpeq_epi8(v, c128));
        }
        for (int64_t b = 0; b < nb; ++b) {
            da[b * C + c] = S.s1[(size_t)b];
            corr[b * C + c] = -cf.off * S.asum[(size_t)b];
            A[b * C + c] = S.s2[(size_t)b];
        }
    }
    *reinterpret_cast<int32_t *>(t + L.flags) =
        (_mm256_movemask_epi8(neg) == 0 ? kTileNonneg : 0) | (_mm256_movemask_epi8(m128) != 0 ? kTileMin128 : 0);
}

}  // namespace ld::ggml::mm::u8p
