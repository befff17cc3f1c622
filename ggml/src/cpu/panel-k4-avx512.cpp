// Q4_K / Q5_K into the AVX-512 table's 32-row panel, in two stages: compact (transposes) and expand
// (nibble split, scales to f32). Layouts in panel-k4-avx512.h; the panel is matmul-avx512.cpp's:
// codes [K/4][32 rows][4 bytes] | s1 [K/32][32] | s2 [K/32][32] (f32, each part 64-byte aligned).
#include "panel-k4-avx512.h"

#include "avx512-intrinsics.h"

#include <type_traits>

#include "ld-ggml/blocks.h"
#include "transpose-avx512.h"

namespace ld::ggml::mm {

namespace {

constexpr int R = 32;
inline size_t up64(size_t n) { return (n + 63) & ~(size_t)63; }

// One super-block of the compact form (offsets in bytes). codes: 64 zmm, zmm (half * 16 + j) * 2 + rh = dword
// j of bytes [64 half, 64 half + 64) of qs of the 16 rows 16 rh.. (low nibble: code 64c + 4i.., high: 64c +
// 32 + 4i.., c = 2 half + j / 8, i = j % 8); Q5_K qh: 16 zmm, rh * 8 + i = dword i of qh of the 16 rows;
// then d [32] and dmin [32] (fp16 as stored), scale [8][32] and min [8][32] (one byte each).
template <class Block>
struct Compact {
    static constexpr bool kQ5 = std::is_same<Block, block_q5_K>::value;
    static constexpr size_t codes = 0;
    static constexpr size_t qh = 4096;
    static constexpr size_t d = kQ5 ? 4096 + 1024 : 4096;
    static constexpr size_t dmin = d + 64;
    static constexpr size_t scale = d + 128;
    static constexpr size_t min = scale + 256;
    static constexpr size_t bytes = min + 256;
    static_assert(bytes % 64 == 0, "super-blocks stay 64-byte aligned");
};

// x shifted left by n bits (right by -n) in every dword; n in -3..4
inline __m512i shift_bits(__m512i x, int n) {
    return n >= 0 ? _mm512_sll_epi32(x, _mm_cvtsi32_si128(n)) : _mm512_srl_epi32(x, _mm_cvtsi32_si128(-n));
}

inline __mmask16 live_rows(int n_rows, int rh) {
    const int n = n_rows - 16 * rh;
    return (__mmask16)(n >= 16 ? 0xffff : n <= 0 ? 0 : (1u << n) - 1u);
}

// Where one super-block goes: the compact form (at `compact`) or straight into a panel (super-block pb of
// a panel of K values at `panel`: a whole panel, or a one-super-block chunk with pb = 0, K = 256).
struct Dest {
    uint8_t * compact = nullptr;
    uint8_t * panel = nullptr;
    int64_t pb = 0, K = 0;
};

// The panel's codes from one transposed zmm o (dword j of a 64-byte half of 16 rows' qs; Q5_K: qh = dword i of
// their qh): low / high nibbles (+ the fifth bit: bit 2c / 2c + 1 of each qh byte, moved to bit 4).
template <bool kQ5>
inline void store_codes(__m512i o, __m512i qh, int half, int j, int rh, int64_t pb, uint8_t * panel) {
    const int c = 2 * half + j / 8, i = j % 8;  // chunk, dword within the chunk's 32 bytes
    const __m512i m4 = _mm512_set1_epi8(15);
    uint8_t * base = panel + (size_t)(pb * 64 + 16 * c) * (R * 4) + 64 * rh;
    __m512i lo = _mm512_and_si512(o, m4), hi = _mm512_and_si512(_mm512_srli_epi16(o, 4), m4);
    if constexpr (kQ5) {
        const __m512i b4 = _mm512_set1_epi8(16);
        lo = _mm512_or_si512(lo, _mm512_and_si512(shift_bits(qh, 4 - 2 * c), b4));
        hi = _mm512_or_si512(hi, _mm512_and_si512(shift_bits(qh, 3 - 2 * c), b4));
    }
    _mm512_store_si512((void *)(base + i * (R * 4)), lo);
    _mm512_store_si512((void *)(base + (8 + i) * (R * 4)), hi);
}

// The panel's s1 = d * scale, s2 = -(dmin * min) of sub-block j for 16 rows (a sign flip, as the scalar rule);
// rows outside `live` +0.
inline void store_scales(__m512 d, __m512 dmin, __m512i sc, __m512i mn, __mmask16 live, int j, int rh, int64_t pb,
                         int64_t K, uint8_t * panel) {
    const int64_t nb = K / 32;
    float * s1 = reinterpret_cast<float *>(panel + up64((size_t)K * R));
    float * s2 = reinterpret_cast<float *>(panel + up64((size_t)K * R) + up64((size_t)nb * R * 4));
    const __m512 v1 = _mm512_maskz_mul_ps(live, d, _mm512_cvtepi32_ps(sc));
    const __m512 v2 = _mm512_maskz_xor_ps(live, _mm512_mul_ps(dmin, _mm512_cvtepi32_ps(mn)), _mm512_set1_ps(-0.0f));
    _mm512_store_ps(s1 + (8 * pb + j) * R + 16 * rh, v1);
    _mm512_store_ps(s2 + (8 * pb + j) * R + 16 * rh, v2);
}

// Super-block b of the rows, transposed in registers, into dst: its compact form, or the panel directly.
template <class Block>
void transpose_superblock(const uint8_t * rows, size_t row_bytes, int n_rows, int64_t b, const Dest & dst) {
    using L = Compact<Block>;
    uint8_t * const out = dst.compact;
    for (int rh = 0; rh < 2; ++rh) {  // rows 0-15, 16-31
        auto row_block = [&](int i) {
            const int row = 16 * rh + i;
            return reinterpret_cast<const Block *>(rows + row_bytes * (row < n_rows ? row : n_rows - 1)) + b;
        };
        __m512i qh[16];  // Q5_K: dword i (< 8) of the 16 rows' qh
        if constexpr (L::kQ5) {
            __m512i r[16];
            for (int i = 0; i < 16; ++i) r[i] = _mm512_zextsi256_si512(_mm256_loadu_si256((const __m256i *)row_block(i)->qh));
            transpose16x16_epi32(r, qh);
            if (out)
                for (int i = 0; i < 8; ++i) _mm512_store_si512((void *)(out + L::qh + (rh * 8 + i) * 64), qh[i]);
        }
        for (int half = 0; half < 2; ++half) {
            __m512i r[16], o[16];
            for (int i = 0; i < 16; ++i) r[i] = _mm512_loadu_si512((const void *)(row_block(i)->qs + 64 * half));
            transpose16x16_epi32(r, o);
            for (int j = 0; j < 16; ++j) {
                if (out) _mm512_store_si512((void *)(out + L::codes + ((half * 16 + j) * 2 + rh) * 64), o[j]);
                else store_codes<L::kQ5>(o[j], L::kQ5 ? qh[j % 8] : o[j], half, j, rh, dst.pb, dst.panel);
            }
        }
    }
    // the heads of 16 rows at a time: dwords gathered (d | dmin, scales 0-3, 4-7, 8-11), the 6-bit (scale,
    // min) pairs taken apart lane-wise (get_scale_min_k4); rows past n_rows get zero heads
    for (int rh = 0; rh < 2; ++rh) {
        const __mmask16 live = live_rows(n_rows, rh);
        const __m512i ridx = _mm512_mullo_epi32(_mm512_add_epi32(_mm512_set1_epi32(16 * rh),
                                                                 _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15)),
                                                _mm512_set1_epi32((int)row_bytes));
        const uint8_t * base = rows + (size_t)b * sizeof(Block);
        const __m512i z = _mm512_setzero_si512();
        const __m512i h0 = _mm512_mask_i32gather_epi32(z, live, ridx, (const void *)base, 1);
        const __m512i S0 = _mm512_mask_i32gather_epi32(z, live, ridx, (const void *)(base + 4), 1);
        const __m512i S1 = _mm512_mask_i32gather_epi32(z, live, ridx, (const void *)(base + 8), 1);
        const __m512i S2 = _mm512_mask_i32gather_epi32(z, live, ridx, (const void *)(base + 12), 1);
        const __m256i dh = _mm512_cvtepi32_epi16(_mm512_and_si512(h0, _mm512_set1_epi32(0xffff)));
        const __m256i mh = _mm512_cvtepi32_epi16(_mm512_srli_epi32(h0, 16));
        if (out) {
            _mm256_store_si256((__m256i *)(out + L::d + 32 * rh), dh);
            _mm256_store_si256((__m256i *)(out + L::dmin + 32 * rh), mh);
        }
        const __m512 d = _mm512_cvtph_ps(dh), dmin = _mm512_cvtph_ps(mh);
        const __m512i m63 = _mm512_set1_epi32(63), m15 = _mm512_set1_epi32(15), m3 = _mm512_set1_epi32(3);
        for (int j = 0; j < 8; ++j) {
            __m512i sc, mn;
            if (j < 4) {
                sc = _mm512_and_si512(_mm512_srli_epi32(S0, 8 * j), m63);
                mn = _mm512_and_si512(_mm512_srli_epi32(S1, 8 * j), m63);
            } else {
                const int sh = 8 * (j - 4);
                const __m512i c = _mm512_srli_epi32(S2, sh);
                sc = _mm512_or_si512(_mm512_and_si512(c, m15),
                                     _mm512_slli_epi32(_mm512_and_si512(_mm512_srli_epi32(S0, sh + 6), m3), 4));
                mn = _mm512_or_si512(_mm512_and_si512(_mm512_srli_epi32(c, 4), m15),
                                     _mm512_slli_epi32(_mm512_and_si512(_mm512_srli_epi32(S1, sh + 6), m3), 4));
            }
            if (out) {
                _mm_store_si128((__m128i *)(out + L::scale + 32 * j + 16 * rh), _mm512_cvtepi32_epi8(sc));
                _mm_store_si128((__m128i *)(out + L::min + 32 * j + 16 * rh), _mm512_cvtepi32_epi8(mn));
            } else {
                store_scales(d, dmin, sc, mn, live, j, rh, dst.pb, dst.K, dst.panel);
            }
        }
    }
}

// The compact super-block at in -> super-block pb of a panel of K values.
template <class Block>
void expand_superblock(const uint8_t * in, int n_rows, int64_t pb, int64_t K, uint8_t * panel) {
    using L = Compact<Block>;
    for (int half = 0; half < 2; ++half)
        for (int j = 0; j < 16; ++j)
            for (int rh = 0; rh < 2; ++rh) {
                const __m512i o = _mm512_load_si512((const void *)(in + L::codes + ((half * 16 + j) * 2 + rh) * 64));
                const __m512i qh = L::kQ5 ? _mm512_load_si512((const void *)(in + L::qh + (rh * 8 + j % 8) * 64)) : o;
                store_codes<L::kQ5>(o, qh, half, j, rh, pb, panel);
            }
    for (int rh = 0; rh < 2; ++rh) {
        const __mmask16 live = live_rows(n_rows, rh);
        const __m512 d = _mm512_cvtph_ps(_mm256_load_si256((const __m256i *)(in + L::d + 32 * rh)));
        const __m512 dmin = _mm512_cvtph_ps(_mm256_load_si256((const __m256i *)(in + L::dmin + 32 * rh)));
        for (int j = 0; j < 8; ++j) {
            const __m512i sc = _mm512_cvtepu8_epi32(_mm_load_si128((const __m128i *)(in + L::scale + 32 * j + 16 * rh)));
            const __m512i mn = _mm512_cvtepu8_epi32(_mm_load_si128((const __m128i *)(in + L::min + 32 * j + 16 * rh)));
            store_scales(d, dmin, sc, mn, live, j, rh, pb, K, panel);
        }
    }
}

template <class Block>
void pack_compact(const uint8_t * rows, size_t row_bytes, int n_rows, int64_t K, uint8_t * compact) {
    for (int64_t b = 0; b < K / 256; ++b) {
        Dest d;
        d.compact = compact + Compact<Block>::bytes * (size_t)b;
        transpose_superblock<Block>(rows, row_bytes, n_rows, b, d);
    }
}

template <class Block>
void expand(const uint8_t * compact, int n_rows, int64_t K, uint8_t * panel) {
    for (int64_t b = 0; b < K / 256; ++b) expand_superblock<Block>(compact + Compact<Block>::bytes * (size_t)b, n_rows, b, K, panel);
}

// The rows stream from memory: ask for super-block b + 2 while b is packed.
template <class Block>
inline void prefetch_ahead(const uint8_t * rows, size_t row_bytes, int n_rows, int64_t nsb, int64_t b) {
    if (b + 2 >= nsb) return;
    for (int i = 0; i < n_rows; ++i) {
        const uint8_t * p = rows + row_bytes * i + (size_t)(b + 2) * sizeof(Block);
        for (size_t o = 0; o < sizeof(Block); o += 64) _mm_prefetch((const char *)p + o, _MM_HINT_T0);
    }
}

template <class Block>
void pack_panel(const uint8_t * rows, size_t row_bytes, int n_rows, int64_t K, uint8_t * panel) {
    const int64_t nsb = K / 256;
    for (int64_t b = 0; b < nsb; ++b) {
        prefetch_ahead<Block>(rows, row_bytes, n_rows, nsb, b);
        Dest d;
        d.panel = panel;
        d.pb = b;
        d.K = K;
        transpose_superblock<Block>(rows, row_bytes, n_rows, b, d);
    }
}

template <class Block>
void rows_to_chunk(const uint8_t * rows, size_t row_bytes, int n_rows, int64_t K, int64_t b, uint8_t * chunk) {
    prefetch_ahead<Block>(rows, row_bytes, n_rows, K / 256, b);
    Dest d;
    d.panel = chunk;
    d.pb = 0;
    d.K = 256;
    transpose_superblock<Block>(rows, row_bytes, n_rows, b, d);
}

}  // namespace

size_t k4_compact_bytes(Type w, int64_t K) {
    if (w == Type::Q4_K) return Compact<block_q4_K>::bytes * (size_t)(K / 256);
    if (w == Type::Q5_K) return Compact<block_q5_K>::bytes * (size_t)(K / 256);
    return 0;
}

void k4_pack_compact(Type w, const uint8_t * rows, size_t row_bytes, int n_rows, int64_t K, uint8_t * compact) {
    if (w == Type::Q4_K) pack_compact<block_q4_K>(rows, row_bytes, n_rows, K, compact);
    else pack_compact<block_q5_K>(rows, row_bytes, n_rows, K, compact);
}

void k4_expand(Type w, const uint8_t * compact, int n_rows, int64_t K, uint8_t * panel) {
    if (w == Type::Q4_K) expand<block_q4_K>(compact, n_rows, K, panel);
    else expand<block_q5_K>(compact, n_rows, K, panel);
}

void k4_pack_panel(Type w, const uint8_t * rows, size_t row_bytes, int n_rows, int64_t K, uint8_t * panel) {
    if (w == Type::Q4_K) pack_panel<block_q4_K>(rows, row_bytes, n_rows, K, panel);
    else pack_panel<block_q5_K>(rows, row_bytes, n_rows, K, panel);
}

void k4_rows_to_chunk(Type w, const uint8_t * rows, size_t row_bytes, int n_rows, int64_t K, int64_t b, uint8_t * chunk) {
    if (w == Type::Q4_K) rows_to_chunk<block_q4_K>(rows, row_bytes, n_rows, K, b, chunk);
    else rows_to_chunk<block_q5_K>(rows, row_bytes, n_rows, K, b, chunk);
}

void k4_compact_to_chunk(Type w, const uint8_t * compact, int n_rows, int64_t b, uint8_t * chunk) {
    if (w == Type::Q4_K) expand_superblock<block_q4_K>(compact + Compact<block_q4_K>::bytes * (size_t)b, n_rows, 0, 256, chunk);
    else expand_superblock<block_q5_K>(compact + Compact<block_q5_K>::bytes * (size_t)b, n_rows, 0, 256, chunk);
}

}  // namespace ld::ggml::mm
