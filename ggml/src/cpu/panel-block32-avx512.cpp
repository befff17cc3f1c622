// The 32-value block types into the AVX-512 quant panel, from the rows or from the compact form
// (panel-block32-avx512.h).
//
// Per block and half of 16 rows, a source gives the rows' fp16 d (IQ4_XS: d * (ls - 32)), Q5_0's qh dword
// and the code dwords i; the panel takes: Q8_0 dword i holds codes 4i..4i+3 (+128 by an xor); Q5_0 / Q4_0 /
// IQ4_NL dword i of qs holds the low nibbles of codes 4i..4i+3 and the high nibbles of codes 16+4i.., Q5_0's
// fifth bits (qh bit k of code k) are spread to the bytes by a byte shuffle of each row's qh and a bit test,
// IQ4_NL's nibbles index its 16 values (+128) with a byte shuffle. s1 = d (f32 of the fp16), s2 = 0.
#include "avx512-intrinsics.h"

#include <algorithm>
#include <cstddef>
#include <cstdint>

#include "ld-ggml/blocks.h"
#include "panel-block32-avx512.h"

namespace ld::ggml::mm {

namespace {

constexpr int R = 32;  // rows of a panel (two zmm of 16)

inline size_t up64(size_t n) { return (n + 63) & ~(size_t)63; }

template <Type W>
struct B32 {
    static_assert(W == Type::Q8_0 || W == Type::Q5_0 || W == Type::Q4_0 || W == Type::IQ4_NL || W == Type::IQ4_XS,
                  "fp16 d, 32 codes");
    static constexpr bool kXS = W == Type::IQ4_XS;
    static constexpr int kQ = W == Type::Q8_0 ? 8 : 4;  // code dwords per row and block
    static constexpr bool kQh = W == Type::Q5_0;
    // the compact form of one block of 32 rows: codes | qh | d
    static constexpr size_t kQhAt = (size_t)kQ * 128, kDAt = kQhAt + (kQh ? 128 : 0), kBlock = kDAt + 64;
};

// The rows themselves: 16 rows per gather (int32 offsets), rows past n_rows read the last one.
template <Type W>
struct RowsSource {
    using T = B32<W>;
    const uint8_t * rows;
    size_t row_bytes;
    int n_rows;
    int64_t nb;
    size_t bs, qs_at;
    __m512i ridx[2];

    RowsSource(const uint8_t * r, size_t rb, int n, int64_t K) : rows(r), row_bytes(rb), n_rows(n), nb(K / 32) {
        bs = W == Type::Q8_0 ? sizeof(block_q8_0) : W == Type::Q5_0 ? sizeof(block_q5_0) : sizeof(block_q4_0);
        qs_at = W == Type::Q5_0 ? offsetof(block_q5_0, qs) : 2;  // the nibbles / codes after d (and qh)
        for (int rh = 0; rh < 2; ++rh) {
            alignas(64) int32_t off[16];
            for (int i = 0; i < 16; ++i) off[i] = (int32_t)(row_bytes * (size_t)std::min(16 * rh + i, n_rows - 1));
            ridx[rh] = _mm512_load_si512((const void *)off);
        }
    }
    // block b's head (d; IQ4_XS: its super-block's d | scales_h, then scales_l) and its codes
    const uint8_t * head(int64_t b) const {
        return rows + (T::kXS ? (size_t)(b / 8) * sizeof(block_iq4_xs) : (size_t)b * bs);
    }
    const uint8_t * codes(int64_t b) const {
        return T::kXS ? head(b) + offsetof(block_iq4_xs, qs) + 16 * (size_t)(b % 8) : head(b) + qs_at;
    }
    // the rows stream from memory: a line of each, a few blocks ahead
    void prefetch(int64_t b) const {
        if ((b & 1) == 0 && b + 6 < nb)
            for (int r = 0; r < n_rows; ++r) _mm_prefetch((const char *)(codes(b + 6) + row_bytes * (size_t)r), _MM_HINT_T0);
    }
    // the low 16 bits of each dword: the rows' fp16 d
    __m512i d16(int64_t b, int rh) const { return _mm512_i32gather_epi32(ridx[rh], (const void *)head(b), 1); }
    __m512 scale(int64_t b, int rh) const {
        const __m512i h0 = d16(b, rh);
        __m512 d = _mm512_cvtph_ps(_mm512_cvtepi32_epi16(h0));
        if (T::kXS) {  // d * (ls - 32), ls = 4 bits of scales_l | 2 bits of scales_h << 4 (the scalar rule's f32 product)
            const int j = (int)(b % 8);
            const __m512i sl =
                _mm512_i32gather_epi32(ridx[rh], (const void *)(head(b) + offsetof(block_iq4_xs, scales_l)), 1);
            const __m512i lo4 = _mm512_and_si512(_mm512_srl_epi32(sl, _mm_cvtsi32_si128(8 * (j / 2) + 4 * (j % 2))),
                                                 _mm512_set1_epi32(15));
            const __m512i hi2 = _mm512_and_si512(_mm512_srl_epi32(h0, _mm_cvtsi32_si128(16 + 2 * j)), _mm512_set1_epi32(3));
            const __m512i ls = _mm512_or_si512(lo4, _mm512_slli_epi32(hi2, 4));
            d = _mm512_mul_ps(d, _mm512_cvtepi32_ps(_mm512_sub_epi32(ls, _mm512_set1_epi32(32))));
        }
        return d;
    }
    __m512i qh(int64_t b, int rh) const { return _mm512_i32gather_epi32(ridx[rh], (const void *)(head(b) + 2), 1); }
    __m512i qs(int64_t b, int rh, int i) const {
        return _mm512_i32gather_epi32(ridx[rh], (const void *)(codes(b) + 4 * i), 1);
    }
};

// The compact form: the same dwords, plain aligned loads.
template <Type W>
struct CompactSource {
    using T = B32<W>;
    const uint8_t * c;
    void prefetch(int64_t) const {}  // contiguous: the driver streams the next panel's bytes during the compute
    __m512 scale(int64_t b, int rh) const {
        return _mm512_cvtph_ps(_mm256_load_si256((const __m256i *)(c + (size_t)b * T::kBlock + T::kDAt + 32 * rh)));
    }
    __m512i qh(int64_t b, int rh) const {
        return _mm512_load_si512((const void *)(c + (size_t)b * T::kBlock + T::kQhAt + 64 * rh));
    }
    __m512i qs(int64_t b, int rh, int i) const {
        return _mm512_load_si512((const void *)(c + (size_t)b * T::kBlock + 128 * (size_t)i + 64 * rh));
    }
};

template <Type W, class Source>
void panel_from(const Source & src, int n_rows, int64_t K, uint8_t * panel) {
    const int64_t nb = K / 32;
    float * s1 = reinterpret_cast<float *>(panel + up64((size_t)K * R));
    float * s2 = reinterpret_cast<float *>(panel + up64((size_t)K * R) + up64((size_t)nb * R * 4));
    const __m512i m4 = _mm512_set1_epi8(15), bit4 = _mm512_set1_epi8(16), flip = _mm512_set1_epi8((char)0x80);
    // Q5_0 fifth bits of group g (codes 4g+j, j < 4): byte j of a row's dword takes qh byte g/2 and tests
    // bit 4*(g%2)+j. Row r sits at bytes 4r..4r+3 of the zmm, i.e. 4*(r%4) within its 128-bit lane.
    // IQ4_NL: its 16 values + 128 in every 128-bit lane.
    __m512i qh_pick, qh_bit[2], nl_tab;
    {
        alignas(64) uint8_t pick[64], bit[2][64], tab[64];
        for (int i = 0; i < 64; ++i) {
            pick[i] = (uint8_t)(4 * ((i / 4) % 4));  // + g/2, added per group below
            for (int h = 0; h < 2; ++h) bit[h][i] = (uint8_t)(1u << (4 * h + i % 4));
            tab[i] = (uint8_t)(kvalues_iq4nl[i % 16] + 128);
        }
        qh_pick = _mm512_load_si512((const void *)pick);
        for (int h = 0; h < 2; ++h) qh_bit[h] = _mm512_load_si512((const void *)bit[h]);
        nl_tab = _mm512_load_si512((const void *)tab);
    }
    __mmask16 live[2];
    for (int rh = 0; rh < 2; ++rh) {
        const int n = std::clamp(n_rows - 16 * rh, 0, 16);
        live[rh] = (__mmask16)(n == 16 ? 0xffff : (1u << n) - 1u);
    }
    for (int64_t b = 0; b < nb; ++b) {
        src.prefetch(b);
        for (int rh = 0; rh < 2; ++rh) {
            _mm512_store_ps(s1 + b * R + 16 * rh, _mm512_maskz_mov_ps(live[rh], src.scale(b, rh)));
            _mm512_store_ps(s2 + b * R + 16 * rh, _mm512_setzero_ps());
            uint8_t * dst = panel + (size_t)(b * 8) * (R * 4) + 64 * rh;
            if (W == Type::Q8_0) {
                for (int i = 0; i < 8; ++i) _mm512_store_si512((void *)(dst + i * (R * 4)), _mm512_xor_si512(src.qs(b, rh, i), flip));
                continue;
            }
            const __m512i qh = W == Type::Q5_0 ? src.qh(b, rh) : _mm512_setzero_si512();
            for (int i = 0; i < 4; ++i) {
                const __m512i q = src.qs(b, rh, i);
                for (int half = 0; half < 2; ++half) {  // group i (low nibbles), group 4 + i (high)
                    const int g = i + 4 * half;
                    __m512i u = half ? _mm512_and_si512(_mm512_srli_epi16(q, 4), m4) : _mm512_and_si512(q, m4);
                    if (W == Type::Q5_0) {
                        const __m512i hb = _mm512_shuffle_epi8(qh, _mm512_add_epi8(qh_pick, _mm512_set1_epi8((char)(g / 2))));
                        u = _mm512_mask_add_epi8(u, _mm512_test_epi8_mask(hb, qh_bit[g % 2]), u, bit4);
                    } else if (W == Type::IQ4_NL || W == Type::IQ4_XS) {
                        u = _mm512_shuffle_epi8(nl_tab, u);
                    }
                    _mm512_store_si512((void *)(dst + g * (R * 4)), u);
                }
            }
        }
    }
}

template <Type W>
void compact_from_rows(const uint8_t * rows, size_t row_bytes, int n_rows, int64_t K, uint8_t * out) {
    using T = B32<W>;
    const RowsSource<W> src(rows, row_bytes, n_rows, K);
    for (int64_t b = 0; b < K / 32; ++b) {
        src.prefetch(b);
        uint8_t * o = out + (size_t)b * T::kBlock;
        for (int rh = 0; rh < 2; ++rh) {
            _mm256_store_si256((__m256i *)(o + T::kDAt + 32 * rh), _mm512_cvtepi32_epi16(src.d16(b, rh)));
            if (T::kQh) _mm512_store_si512((void *)(o + T::kQhAt + 64 * rh), src.qh(b, rh));
            for (int i = 0; i < T::kQ; ++i) _mm512_store_si512((void *)(o + 128 * (size_t)i + 64 * rh), src.qs(b, rh, i));
        }
    }
}

// f(std::integral_constant<Type, W>) for the type w (one of the five).
template <class F>
void with_type(Type w, F f) {
    switch (w) {
        case Type::Q8_0: f(std::integral_constant<Type, Type::Q8_0>()); return;
        case Type::Q5_0: f(std::integral_constant<Type, Type::Q5_0>()); return;
        case Type::Q4_0: f(std::integral_constant<Type, Type::Q4_0>()); return;
        case Type::IQ4_NL: f(std::integral_constant<Type, Type::IQ4_NL>()); return;
        case Type::IQ4_XS: f(std::integral_constant<Type, Type::IQ4_XS>()); return;
        default: return;
    }
}

}  // namespace

bool b32_has_panel(Type w) {
    return w == Type::Q8_0 || w == Type::Q5_0 || w == Type::Q4_0 || w == Type::IQ4_NL || w == Type::IQ4_XS;
}

void b32_pack_panel(Type w, const uint8_t * rows, size_t row_bytes, int n_rows, int64_t K, uint8_t * panel) {
    with_type(w, [&](auto t) {
        constexpr Type W = decltype(t)::value;
        panel_from<W>(RowsSource<W>(rows, row_bytes, n_rows, K), n_rows, K, panel);
    });
}

size_t b32_compact_bytes(Type w, int64_t K) {
    size_t n = 0;
    if (w == Type::IQ4_XS) return 0;  // (its super-block heads would need a layout of their own)
    with_type(w, [&](auto t) { n = B32<decltype(t)::value>::kBlock * (size_t)(K / 32); });
    return n;
}

void b32_pack_compact(Type w, const uint8_t * rows, size_t row_bytes, int n_rows, int64_t K, uint8_t * compact) {
    with_type(w, [&](auto t) {
        constexpr Type W = decltype(t)::value;
        if constexpr (W != Type::IQ4_XS) compact_from_rows<W>(rows, row_bytes, n_rows, K, compact);
    });
}

void b32_expand(Type w, const uint8_t * compact, int n_rows, int64_t K, uint8_t * panel) {
    with_type(w, [&](auto t) {
        constexpr Type W = decltype(t)::value;
        if constexpr (W != Type::IQ4_XS) panel_from<W>(CompactSource<W>{compact}, n_rows, K, panel);
    });
}

}  // namespace ld::ggml::mm
