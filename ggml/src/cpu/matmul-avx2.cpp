// AVX2 + FMA matmul kernels: panels of R = 8 weight rows against tiles of C = 4 activation columns.
//
// Quantized weights (scheme in matmul-impl.h), two integer paths with the same exact int32 block sums:
// - codes below 64 (avx2_byte_panel: Q4_0, Q4_1, Q5_0, Q5_1, Q2_K..Q6_K): the byte-code panel of
//   panel-u8-avx2.h, u8 [K/4][8 rows][4] against int8 activation dwords [K/4][C]; vpmaddubsw (u8 x s8
//   pairs to s16) of two dword groups, added as s16, then vpmaddwd by ones to int32: |sum| <= 4 * 63 * 128
//   = 32256 fits s16, so nothing saturates (2.5 instructions per 32 products);
// - the rest (Q8_0, IQ4_NL / IQ4_XS, MXFP4, the lattice types: codes up to 255, which vpmaddubsw would
//   saturate): the codes as signed 16-bit values u - off, pair-interleaved [K/2][8 rows][2 x s16], against
//   s16 activation pairs [K/2][C] with vpmaddwd (4 instructions per 32 products).
// Each block ends with acc_f += cvt(acc_i) * (s1 * da) (+ s2 * A): the same f32 operations on the same
// integers in both paths (and in the avx2_vnni table: bit-identical results). F32 / F16 / BF16 weights:
// f32 panel [K][8] and FMA against broadcast activations (f16 / bf16 activations as rounded by the
// reference quantizer).
#include <immintrin.h>

#include <algorithm>
#include <cstring>
#include <vector>

#include "ld-ggml/blocks.h"
#include "ld-ggml/fp16.h"
#include "matmul-impl.h"
#include "panel-u8-avx2.h"
#include "quantize-act-avx2.h"
#include "transpose-avx2.h"
#include "unpack-row-x86.h"

namespace ld::ggml::mm {

namespace {

constexpr int R = 8;
constexpr int C = 4;

bool is_float(Type w) { return w == Type::F32 || w == Type::F16 || w == Type::BF16; }

static_assert(u8p::R == R, "the byte-code panel has the table's rows");

bool has(Type w) {
    QuantCfg c;
    return is_float(w) || quant_cfg(w, c);
}

inline size_t up64(size_t n) { return (n + 63) & ~(size_t)63; }

// quant panel: q[K/2][8] dwords | s1[nb*8] | s2[nb*8];  tile: q[K/2][C] dwords | da[nb*C] | A[nb*C]
// float panel: [K][8] f32; tile [K][C] f32
size_t panel_bytes(Type w, int64_t K) {
    if (is_float(w)) return up64((size_t)K * R * 4);
    if (avx2_byte_panel(w)) return u8p::panel_layout(K, u8p::block_len(w)).end;
    QuantCfg c;
    quant_cfg(w, c);
    return up64((size_t)K * R * 2) + 2 * up64((size_t)(K / c.bl) * R * 4);
}

size_t tile_bytes(Type w, int64_t K) {
    if (is_float(w)) return up64((size_t)K * C * 4);
    if (avx2_byte_panel(w)) return u8p::tile_layout<C>(K, u8p::block_len(w)).end;
    QuantCfg c;
    quant_cfg(w, c);
    return up64((size_t)K * C * 2) + 2 * up64((size_t)(K / c.bl) * C * 4);
}

struct Scratch {
    std::vector<uint8_t> u;
    std::vector<float> s1, s2, f;
    std::vector<int8_t> qs;
    std::vector<int32_t> asum;
};
Scratch & scratch() {
    static thread_local Scratch s;
    return s;
}

void row_to_f32(Type t, const uint8_t * row, int64_t K, float * o) {
    if (t == Type::F32) {
        std::memcpy(o, row, (size_t)K * 4);
    } else if (t == Type::F16) {
        const fp16_t * h = reinterpret_cast<const fp16_t *>(row);
        int64_t k = 0;
        for (; k + 8 <= K; k += 8) _mm256_storeu_ps(o + k, _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(h + k))));
        for (; k < K; ++k) o[k] = fp16_to_f32(h[k]);
    } else {
        const bf16_t * h = reinterpret_cast<const bf16_t *>(row);
        for (int64_t k = 0; k < K; ++k) o[k] = bf16_to_f32(h[k]);
    }
}

void pack_panel(Type w, const uint8_t * rows, size_t row_bytes, int n_rows, int64_t K, void * panel) {
    Scratch & S = scratch();
    if (is_float(w)) {
        float * p = static_cast<float *>(panel);
        S.f.resize((size_t)K);
        for (int r = 0; r < R; ++r) {
            if (r < n_rows) row_to_f32(w, rows + row_bytes * r, K, S.f.data());
            for (int64_t k = 0; k < K; ++k) p[k * R + r] = r < n_rows ? S.f[(size_t)k] : 0.0f;
        }
        return;
    }
    if (avx2_byte_panel(w)) {
        u8p::pack_panel(w, rows, row_bytes, n_rows, K, panel);
        return;
    }
    QuantCfg c;
    quant_cfg(w, c);
    const int64_t nb = K / c.bl;
    uint8_t * pb = static_cast<uint8_t *>(panel);
    float * s1 = reinterpret_cast<float *>(pb + up64((size_t)K * R * 2));
    float * s2 = reinterpret_cast<float *>(pb + up64((size_t)K * R * 2) + up64((size_t)nb * R * 4));
    // the 8 rows' codes (SIMD unpacker where it covers the type, else the scalar rule) and scales
    S.u.resize((size_t)(K * R));
    S.s1.resize((size_t)nb);
    S.s2.resize((size_t)nb);
    for (int r = 0; r < R; ++r) {
        uint8_t * u = S.u.data() + K * r;
        if (r < n_rows) {
            const uint8_t * row = rows + row_bytes * r;
            if (!unpack_row_simd(w, row, K, u, S.s1.data(), S.s2.data())) unpack_row(w, row, K, u, S.s1.data(), S.s2.data());
        } else {
            std::memset(u, c.off, (size_t)K);  // u - off = 0
            std::fill(S.s1.begin(), S.s1.end(), 0.0f);
            std::fill(S.s2.begin(), S.s2.end(), 0.0f);
        }
        for (int64_t b = 0; b < nb; ++b) {
            s1[b * R + r] = S.s1[(size_t)b];
            s2[b * R + r] = S.s2[(size_t)b];
        }
    }
    // codes as s16 pairs [K/2][8 rows][2]: 16 values of each row widened to 8 dwords (pairs), an 8x8 dword
    // transpose puts pair k2 of the 8 rows in one register (K/2 is a multiple of 8: blocks of >= 16)
    const __m256i off = _mm256_set1_epi16((short)c.off);
    __m256i v[8], o[8];
    for (int64_t k2 = 0; k2 < K / 2; k2 += 8) {
        for (int r = 0; r < R; ++r)
            v[r] = _mm256_sub_epi16(_mm256_cvtepu8_epi16(_mm_loadu_si128((const __m128i *)(S.u.data() + K * r + 2 * k2))), off);
        transpose8x8_epi32(v, o);
        for (int j = 0; j < 8; ++j) _mm256_storeu_si256((__m256i *)(pb + (size_t)(k2 + j) * R * 4), o[j]);
    }
}

void pack_tile(Type w, const ActRows & a, const int64_t * ids, int n, int64_t K, void * tile) {
    Scratch & S = scratch();
    if (is_float(w)) {
        float * t = static_cast<float *>(tile);
        std::memset(t, 0, (size_t)K * C * 4);
        S.f.resize((size_t)K);
        for (int c = 0; c < n; ++c) {
            row_to_f32(a.type, a.row(ids[c]), K, S.f.data());
            for (int64_t k = 0; k < K; ++k) t[k * C + c] = S.f[(size_t)k];
        }
        return;
    }
    if (avx2_byte_panel(w)) {
        u8p::pack_tile<C>(w, a, ids, n, K, tile);
        return;
    }
    QuantCfg cf;
    quant_cfg(w, cf);
    const int64_t nb = K / cf.bl;
    uint8_t * tb = static_cast<uint8_t *>(tile);
    int16_t * q = reinterpret_cast<int16_t *>(tb);
    float * da = reinterpret_cast<float *>(tb + up64((size_t)K * C * 2));
    float * A = reinterpret_cast<float *>(tb + up64((size_t)K * C * 2) + up64((size_t)nb * C * 4));
    std::memset(tb, 0, tile_bytes(w, K));
    S.qs.resize((size_t)K);
    S.s1.resize((size_t)nb);
    S.s2.resize((size_t)nb);
    S.asum.resize((size_t)nb);
    for (int c = 0; c < n; ++c) {
        act_blocks(a.type, cf.bl, a.row(ids[c]), K, S.qs.data(), S.s1.data(), S.asum.data(), S.s2.data());
        for (int64_t k2 = 0; k2 < K / 2; ++k2) {
            q[(k2 * C + c) * 2] = S.qs[(size_t)(2 * k2)];
            q[(k2 * C + c) * 2 + 1] = S.qs[(size_t)(2 * k2 + 1)];
        }
        for (int64_t b = 0; b < nb; ++b) {
            da[b * C + c] = S.s1[(size_t)b];
            A[b * C + c] = S.s2[(size_t)b];
        }
    }
}

inline void store_rows(float * y, __m256 v, int n_rows) {
    if (n_rows == R) {
        _mm256_storeu_ps(y, v);
    } else {
        alignas(32) float t[R];
        _mm256_store_ps(t, v);
        for (int r = 0; r < n_rows; ++r) y[r] = t[r];
    }
}

template <int BG, bool MIN>  // BG: s16 pairs per scale block (bl / 2)
void compute_quant(const uint8_t * panel, const uint8_t * tile, int64_t K, int n_rows, int n_cols, float * const * ycol) {
    const int64_t nb = K / (2 * BG);
    const int32_t * pq = reinterpret_cast<const int32_t *>(panel);
    const float * s1 = reinterpret_cast<const float *>(panel + up64((size_t)K * R * 2));
    const float * s2 = reinterpret_cast<const float *>(panel + up64((size_t)K * R * 2) + up64((size_t)nb * R * 4));
    const int32_t * tq = reinterpret_cast<const int32_t *>(tile);
    const float * da = reinterpret_cast<const float *>(tile + up64((size_t)K * C * 2));
    const float * A = reinterpret_cast<const float *>(tile + up64((size_t)K * C * 2) + up64((size_t)nb * C * 4));
    __m256 acc[C];
    for (int c = 0; c < C; ++c) acc[c] = _mm256_setzero_ps();
    for (int64_t b = 0; b < nb; ++b) {
        __m256i ai[C];
        for (int c = 0; c < C; ++c) ai[c] = _mm256_setzero_si256();
#pragma GCC unroll 16
        for (int g = 0; g < BG; ++g) {
            const __m256i wv = _mm256_load_si256((const __m256i *)(pq + (b * BG + g) * R));
            const int32_t * a = tq + (b * BG + g) * C;
#pragma GCC unroll 4
            for (int c = 0; c < C; ++c) ai[c] = _mm256_add_epi32(ai[c], _mm256_madd_epi16(wv, _mm256_set1_epi32(a[c])));
        }
        const __m256 sc = _mm256_load_ps(s1 + b * R);
#pragma GCC unroll 4
        for (int c = 0; c < C; ++c)
            acc[c] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(ai[c]), _mm256_mul_ps(sc, _mm256_set1_ps(da[b * C + c])), acc[c]);
        if (MIN) {
            const __m256 mn = _mm256_load_ps(s2 + b * R);
#pragma GCC unroll 4
            for (int c = 0; c < C; ++c) acc[c] = _mm256_fmadd_ps(mn, _mm256_set1_ps(A[b * C + c]), acc[c]);
        }
    }
    for (int c = 0; c < n_cols; ++c) store_rows(ycol[c], acc[c], n_rows);
}

// The byte-code path: BG (even) dword groups per scale block (bl / 4), two groups per vpmaddwd.
template <int BG, bool MIN>
void compute_bytes(const uint8_t * panel, const uint8_t * tile, int64_t K, int n_rows, int n_cols, float * const * ycol) {
    static_assert(BG % 2 == 0, "two dword groups per widening");
    const u8p::PanelLayout P = u8p::panel_layout(K, 4 * BG);
    const u8p::TileLayout T = u8p::tile_layout<C>(K, 4 * BG);
    const int64_t nb = P.nb;
    const float * s1 = reinterpret_cast<const float *>(panel + P.s1);
    const float * s2 = reinterpret_cast<const float *>(panel + P.s2);
    const int32_t * tq = reinterpret_cast<const int32_t *>(tile);
    const float * da = reinterpret_cast<const float *>(tile + T.da);
    const int32_t * corr = reinterpret_cast<const int32_t *>(tile + T.corr);
    const float * A = reinterpret_cast<const float *>(tile + T.A);
    const __m256i ones = _mm256_set1_epi16(1);
    __m256 acc[C];
    for (int c = 0; c < C; ++c) acc[c] = _mm256_setzero_ps();
    for (int64_t b = 0; b < nb; ++b) {
        __m256i ai[C];
        for (int c = 0; c < C; ++c) ai[c] = _mm256_set1_epi32(corr[b * C + c]);
#pragma GCC unroll 4
        for (int g = 0; g < BG; g += 2) {
            const __m256i w0 = _mm256_load_si256((const __m256i *)(panel + (b * BG + g) * (R * 4)));
            const __m256i w1 = _mm256_load_si256((const __m256i *)(panel + (b * BG + g + 1) * (R * 4)));
            const int32_t * a0 = tq + (b * BG + g) * C;
            const int32_t * a1 = a0 + C;
#pragma GCC unroll 4
            for (int c = 0; c < C; ++c) {
                const __m256i p = _mm256_add_epi16(_mm256_maddubs_epi16(w0, _mm256_set1_epi32(a0[c])),
                                                   _mm256_maddubs_epi16(w1, _mm256_set1_epi32(a1[c])));
                ai[c] = _mm256_add_epi32(ai[c], _mm256_madd_epi16(p, ones));
            }
        }
        const __m256 sc = _mm256_load_ps(s1 + b * R);
#pragma GCC unroll 4
        for (int c = 0; c < C; ++c)
            acc[c] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(ai[c]), _mm256_mul_ps(sc, _mm256_set1_ps(da[b * C + c])), acc[c]);
        if (MIN) {
            const __m256 mn = _mm256_load_ps(s2 + b * R);
#pragma GCC unroll 4
            for (int c = 0; c < C; ++c) acc[c] = _mm256_fmadd_ps(mn, _mm256_set1_ps(A[b * C + c]), acc[c]);
        }
    }
    for (int c = 0; c < n_cols; ++c) store_rows(ycol[c], acc[c], n_rows);
}

void compute_f32(const float * panel, const float * tile, int64_t K, int n_rows, int n_cols, float * const * ycol) {
    __m256 acc[C];
    for (int c = 0; c < C; ++c) acc[c] = _mm256_setzero_ps();
    for (int64_t k = 0; k < K; ++k) {
        const __m256 wv = _mm256_load_ps(panel + k * R);
#pragma GCC unroll 4
        for (int c = 0; c < C; ++c) acc[c] = _mm256_fmadd_ps(wv, _mm256_set1_ps(tile[k * C + c]), acc[c]);
    }
    for (int c = 0; c < n_cols; ++c) store_rows(ycol[c], acc[c], n_rows);
}

void compute(Type w, const void * panel, const void * tile, int64_t K, int n_rows, int n_cols, float * const * ycol) {
    if (is_float(w)) {
        compute_f32(static_cast<const float *>(panel), static_cast<const float *>(tile), K, n_rows, n_cols, ycol);
        return;
    }
    QuantCfg c;
    quant_cfg(w, c);
    const uint8_t * p = static_cast<const uint8_t *>(panel);
    const uint8_t * t = static_cast<const uint8_t *>(tile);
    if (avx2_byte_panel(w)) {
        if (c.bl == 32) {
            if (c.has_min) compute_bytes<8, true>(p, t, K, n_rows, n_cols, ycol);
            else compute_bytes<8, false>(p, t, K, n_rows, n_cols, ycol);
        } else {
            if (c.has_min) compute_bytes<4, true>(p, t, K, n_rows, n_cols, ycol);
            else compute_bytes<4, false>(p, t, K, n_rows, n_cols, ycol);
        }
        return;
    }
    if (c.bl == 32) {
        if (c.has_min) compute_quant<16, true>(p, t, K, n_rows, n_cols, ycol);
        else compute_quant<16, false>(p, t, K, n_rows, n_cols, ycol);
    } else {
        if (c.has_min) compute_quant<8, true>(p, t, K, n_rows, n_cols, ycol);
        else compute_quant<8, false>(p, t, K, n_rows, n_cols, ycol);
    }
}

const Kernels kKernels = {R, C, &has, &panel_bytes, &tile_bytes, &pack_panel, &pack_tile, &compute, &actq::quantize_row};

}  // namespace

const Kernels * kernels_avx2() { return &kKernels; }

bool avx2_byte_panel(Type w) {
    switch (w) {
        case Type::Q4_0: case Type::Q4_1: case Type::Q5_0: case Type::Q5_1:
        case Type::Q2_K: case Type::Q3_K: case Type::Q4_K: case Type::Q5_K: case Type::Q6_K: return true;
        default: return false;  // codes up to 255 (off 128): vpmaddubsw would saturate
    }
}

}  // namespace ld::ggml::mm
