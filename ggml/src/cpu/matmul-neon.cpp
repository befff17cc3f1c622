// NEON matmul kernels (AArch64, armv8.2-a + dotprod + fp16): panels of R = 8 weight rows against tiles
// of C = 4 activation columns, register-tiled (8 int32 + 8 f32 accumulators of 4 lanes).
//
// Quantized weights (scheme in matmul-impl.h): every type's codes minus its offset, u - off, fit in a
// signed byte (Q8_0 / IQ4_NL / MXFP4 / IQ4_XS: -128..127, the others far less), so the panel holds
// them as int8, dword-interleaved [K/4][8 rows][4 bytes] (one 16-byte load = 4 consecutive codes of 4
// rows), and the tile holds the int8 activation codes [K/4][4 columns][4 bytes]. SDOT by lane,
//     acc(rows 4i..4i+3, column c) += w(4 rows x 4 codes) . a(column c, 4 codes),
// gives the exact int32 sum_k (u - off) * a of each block (|sum| <= 32 * 128 * 128, no overflow), the
// same integers as the generic dot products; each block then ends with
//     acc_f += cvt(acc_i) * (s1 * da)   (+ s2 * A for types with mins).
// F32 / F16 / BF16 weights: f32 panel [K][8] and FMA by lane against f32 tiles [K][4] (f16 / bf16
// values widened exactly to f32; the products of two f16 or two bf16 values are exact in f32, only the
// summation order differs from the generic kernel).
// Also here: vector unpackers of the hot weight types (Q4_0, IQ4_NL, Q5_0, Q8_0, Q4_K, Q6_K; the others
// use the scalar unpack_row), a 2-column kernel for tiles of <= 2 tokens (small expert groups), and the
// Q8_0 / Q8_K activation quantizers, vectorized to give exactly the reference bytes. The unpacker and
// the quantizers are shared with the i8mm table (matmul-neon.h, matmul-neon-i8mm.cpp).
#include <arm_neon.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include "ld-ggml/blocks.h"
#include "ld-ggml/fp16.h"
#include "matmul-impl.h"
#include "matmul-neon.h"
#include "quant-decode.h"

namespace ld::ggml::mm {


namespace {

constexpr int R = 8;  // weight rows per panel (two q registers of 4)
constexpr int C = 4;  // activation columns per tile (the 4 lanes of one q register)

bool is_float(Type w) { return w == Type::F32 || w == Type::F16 || w == Type::BF16; }

bool has(Type w) {
    QuantCfg c;
    return is_float(w) || quant_cfg(w, c);
}

inline size_t up64(size_t n) { return (n + 63) & ~(size_t)63; }

// ---- layouts ----
// quant panel: q[K/4][R][4] int8 | s1[nb][R] | s2[nb][R];  tile: q[K/4][C][4] int8 | da[nb][C] | A[nb][C]
// float panel: [K][R] f32;  tile: [K][C] f32
size_t panel_bytes(Type w, int64_t K) {
    if (is_float(w)) return up64((size_t)K * R * 4);
    QuantCfg c;
    quant_cfg(w, c);
    return up64((size_t)K * R) + 2 * up64((size_t)(K / c.bl) * R * 4);
}

size_t tile_bytes(Type w, int64_t K) {
    if (is_float(w)) return up64((size_t)K * C * 4);
    QuantCfg c;
    quant_cfg(w, c);
    return up64((size_t)K * C) + 2 * up64((size_t)(K / c.bl) * C * 4);
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

// One row of F32 / F16 / BF16 values to f32 (exact widening).
void row_to_f32(Type t, const uint8_t * row, int64_t K, float * o) {
    if (t == Type::F32) {
        std::memcpy(o, row, (size_t)K * 4);
    } else if (t == Type::F16) {
        const fp16_t * h = reinterpret_cast<const fp16_t *>(row);
        int64_t k = 0;
        for (; k + 4 <= K; k += 4) {
            uint16_t b[4];
            std::memcpy(b, h + k, sizeof b);
            vst1q_f32(o + k, vcvt_f32_f16(vreinterpret_f16_u16(vld1_u16(b))));
        }
        for (; k < K; ++k) o[k] = fp16_to_f32(h[k]);
    } else {
        const bf16_t * h = reinterpret_cast<const bf16_t *>(row);
        int64_t k = 0;
        for (; k + 4 <= K; k += 4) {
            uint16_t b[4];
            std::memcpy(b, h + k, sizeof b);
            vst1q_f32(o + k, vreinterpretq_f32_u32(vshll_n_u16(vld1_u16(b), 16)));
        }
        for (; k < K; ++k) o[k] = bf16_to_f32(h[k]);
    }
}

// ---- vector unpackers of the hot types (the same codes u and scales as unpack_row in matmul-unpack.cpp) ----
inline void nibbles32(const uint8_t * qs, uint8_t * u) {  // 16 bytes -> 32 codes: low nibbles, then high
    const uint8x16_t v = vld1q_u8(qs);
    vst1q_u8(u, vandq_u8(v, vdupq_n_u8(15)));
    vst1q_u8(u + 16, vshrq_n_u8(v, 4));
}

bool unpack_row_simd(Type w, const uint8_t * row, int64_t K, uint8_t * u, float * s1, float * s2) {
    switch (w) {
        case Type::Q4_0: {
            const block_q4_0 * x = reinterpret_cast<const block_q4_0 *>(row);
            for (int64_t b = 0; b < K / 32; ++b) {
                nibbles32(x[b].qs, u + 32 * b);
                s1[b] = fp16_to_f32(x[b].d);
                s2[b] = 0.0f;
            }
            return true;
        }
        case Type::IQ4_NL: {
            const block_iq4_nl * x = reinterpret_cast<const block_iq4_nl *>(row);
            uint8_t tab[16];
            for (int i = 0; i < 16; ++i) tab[i] = (uint8_t)(kvalues_iq4nl[i] + 128);
            const uint8x16_t t = vld1q_u8(tab);
            for (int64_t b = 0; b < K / 32; ++b) {
                const uint8x16_t v = vld1q_u8(x[b].qs);
                vst1q_u8(u + 32 * b, vqtbl1q_u8(t, vandq_u8(v, vdupq_n_u8(15))));
                vst1q_u8(u + 32 * b + 16, vqtbl1q_u8(t, vshrq_n_u8(v, 4)));
                s1[b] = fp16_to_f32(x[b].d);
                s2[b] = 0.0f;
            }
            return true;
        }
        case Type::Q5_0: {
            const block_q5_0 * x = reinterpret_cast<const block_q5_0 *>(row);
            static const uint8_t kBit[16] = {1, 2, 4, 8, 16, 32, 64, 128, 1, 2, 4, 8, 16, 32, 64, 128};
            static const uint8_t kLo[16] = {0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1};
            const uint8x16_t bit = vld1q_u8(kBit), lo = vld1q_u8(kLo), hi = vaddq_u8(lo, vdupq_n_u8(2));
            const uint8x16_t h16 = vdupq_n_u8(16);
            for (int64_t b = 0; b < K / 32; ++b) {
                uint8_t qh[16] = {0};
                std::memcpy(qh, x[b].qh, 4);
                const uint8x16_t q = vld1q_u8(qh);
                // bit j of qh (byte j / 8) -> 16 where set, for codes 0..15 and 16..31
                const uint8x16_t b0 = vandq_u8(vtstq_u8(vqtbl1q_u8(q, lo), bit), h16);
                const uint8x16_t b1 = vandq_u8(vtstq_u8(vqtbl1q_u8(q, hi), bit), h16);
                const uint8x16_t v = vld1q_u8(x[b].qs);
                vst1q_u8(u + 32 * b, vorrq_u8(vandq_u8(v, vdupq_n_u8(15)), b0));
                vst1q_u8(u + 32 * b + 16, vorrq_u8(vshrq_n_u8(v, 4), b1));
                s1[b] = fp16_to_f32(x[b].d);
                s2[b] = 0.0f;
            }
            return true;
        }
        case Type::Q8_0: {
            const block_q8_0 * x = reinterpret_cast<const block_q8_0 *>(row);
            const uint8x16_t f = vdupq_n_u8(0x80);
            for (int64_t b = 0; b < K / 32; ++b) {
                const uint8_t * q = reinterpret_cast<const uint8_t *>(x[b].qs);
                vst1q_u8(u + 32 * b, veorq_u8(vld1q_u8(q), f));
                vst1q_u8(u + 32 * b + 16, veorq_u8(vld1q_u8(q + 16), f));
                s1[b] = fp16_to_f32(x[b].d);
                s2[b] = 0.0f;
            }
            return true;
        }
        case Type::Q4_K: {
            const block_q4_K * x = reinterpret_cast<const block_q4_K *>(row);
            const uint8x16_t m = vdupq_n_u8(15);
            for (int64_t b = 0; b < K / 256; ++b) {
                for (int c = 0; c < 4; ++c)
                    for (int h = 0; h < 2; ++h) {
                        const uint8x16_t v = vld1q_u8(x[b].qs + 32 * c + 16 * h);
                        vst1q_u8(u + 256 * b + 64 * c + 16 * h, vandq_u8(v, m));
                        vst1q_u8(u + 256 * b + 64 * c + 32 + 16 * h, vshrq_n_u8(v, 4));
                    }
                const float d = fp16_to_f32(x[b].d), dmin = fp16_to_f32(x[b].dmin);
                for (int j = 0; j < 8; ++j) {
                    int sc, mn;
                    dec::scale_min_k4(j, x[b].scales, sc, mn);
                    s1[8 * b + j] = d * (float)sc;
                    s2[8 * b + j] = -(dmin * (float)mn);
                }
            }
            return true;
        }
        case Type::Q6_K: {
            const block_q6_K * x = reinterpret_cast<const block_q6_K *>(row);
            const uint8x16_t m4 = vdupq_n_u8(15), m2 = vdupq_n_u8(0x30);
            for (int64_t b = 0; b < K / 256; ++b) {
                for (int h = 0; h < 2; ++h)
                    for (int l = 0; l < 32; l += 16) {  // codes 128h + {0, 32, 64, 96} + l .. + 16
                        const uint8x16_t L0 = vld1q_u8(x[b].ql + 64 * h + l);
                        const uint8x16_t L1 = vld1q_u8(x[b].ql + 64 * h + 32 + l);
                        const uint8x16_t H = vld1q_u8(x[b].qh + 32 * h + l);
                        uint8_t * o = u + 256 * b + 128 * h + l;
                        vst1q_u8(o, vorrq_u8(vandq_u8(L0, m4), vandq_u8(vshlq_n_u8(H, 4), m2)));
                        vst1q_u8(o + 32, vorrq_u8(vandq_u8(L1, m4), vandq_u8(vshlq_n_u8(H, 2), m2)));
                        vst1q_u8(o + 64, vorrq_u8(vshrq_n_u8(L0, 4), vandq_u8(H, m2)));
                        vst1q_u8(o + 96, vorrq_u8(vshrq_n_u8(L1, 4), vandq_u8(vshrq_n_u8(H, 2), m2)));
                    }
                const float d = fp16_to_f32(x[b].d);
                for (int g = 0; g < 16; ++g) {
                    s1[16 * b + g] = d * (float)x[b].scales[g];
                    s2[16 * b + g] = 0.0f;
                }
            }
            return true;
        }
        default: return false;
    }
}

}  // namespace

void unpack_row_s8_neon(Type w, const QuantCfg & c, const uint8_t * row, int64_t K, int8_t * q, float * s1, float * s2) {
    uint8_t * u = reinterpret_cast<uint8_t *>(q);
    if (row) {
        if (!unpack_row_simd(w, row, K, u, s1, s2)) unpack_row(w, row, K, u, s1, s2);
    } else {  // a missing row: codes equal to the offset (int8 0) and zero scales
        std::memset(u, c.off, (size_t)K);
        std::fill(s1, s1 + K / c.bl, 0.0f);
        std::fill(s2, s2 + K / c.bl, 0.0f);
    }
    // u - off wraps to the exact int8 value (it lies in [-128, 127] for every type)
    const uint8x16_t voff = vdupq_n_u8((uint8_t)c.off);
    int64_t k = 0;
    for (; k + 16 <= K; k += 16) vst1q_u8(u + k, vsubq_u8(vld1q_u8(u + k), voff));
    for (; k < K; ++k) u[k] = (uint8_t)(u[k] - (uint8_t)c.off);
}

namespace {

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
    QuantCfg c;
    quant_cfg(w, c);
    const int64_t nb = K / c.bl, G = K / 4;
    uint8_t * pb = static_cast<uint8_t *>(panel);
    float * s1 = reinterpret_cast<float *>(pb + up64((size_t)K * R));
    float * s2 = reinterpret_cast<float *>(pb + up64((size_t)K * R) + up64((size_t)nb * R * 4));
    S.u.resize((size_t)K);
    S.s1.resize((size_t)nb);
    S.s2.resize((size_t)nb);
    for (int r = 0; r < R; ++r) {
        unpack_row_s8_neon(w, c, r < n_rows ? rows + row_bytes * r : nullptr, K, reinterpret_cast<int8_t *>(S.u.data()),
                           S.s1.data(), S.s2.data());
        for (int64_t g = 0; g < G; ++g) std::memcpy(pb + (g * R + r) * 4, S.u.data() + 4 * g, 4);
        for (int64_t b = 0; b < nb; ++b) {
            s1[b * R + r] = S.s1[(size_t)b];
            s2[b * R + r] = S.s2[(size_t)b];
        }
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
    pack_quant_tile_neon(w, a, ids, n, K, 4, tile);
}

// SDOT / FMA by lane need the lane as a constant: the four columns are spelled out.
#define LD_NEON_FOR_COLS(X) X(0) X(1) X(2) X(3)

// The integer micro-kernel. BG: dword groups per scale block (bl / 4); MIN: types with s2; CC: columns
// computed (2 or C; small expert groups skip the empty ones).
template <int BG, bool MIN, int CC>
void compute_quant_cc(const uint8_t * panel, const uint8_t * tile, int64_t K, int n_rows, int n_cols, float * const * ycol) {
    const int64_t nb = K / (4 * BG);
    const int8_t * pq = reinterpret_cast<const int8_t *>(panel);
    const float * s1 = reinterpret_cast<const float *>(panel + up64((size_t)K * R));
    const float * s2 = reinterpret_cast<const float *>(panel + up64((size_t)K * R) + up64((size_t)nb * R * 4));
    const int8_t * tq = reinterpret_cast<const int8_t *>(tile);
    const float * da = reinterpret_cast<const float *>(tile + up64((size_t)K * C));
    const float * A = reinterpret_cast<const float *>(tile + up64((size_t)K * C) + up64((size_t)nb * C * 4));
    float32x4_t acc0[CC], acc1[CC];
    for (int c = 0; c < CC; ++c) acc0[c] = acc1[c] = vdupq_n_f32(0.0f);
    for (int64_t b = 0; b < nb; ++b) {
        int32x4_t ai0[CC], ai1[CC];
        for (int c = 0; c < CC; ++c) ai0[c] = ai1[c] = vdupq_n_s32(0);
        const int8_t * wp = pq + b * BG * (R * 4);
        const int8_t * ap = tq + b * BG * (C * 4);
#pragma GCC unroll 8
        for (int g = 0; g < BG; ++g) {
            const int8x16_t w0 = vld1q_s8(wp + g * (R * 4)), w1 = vld1q_s8(wp + g * (R * 4) + 16);
            const int8x16_t av = vld1q_s8(ap + g * (C * 4));
#define LD_SDOT(c)                                                \
    if constexpr ((c) < CC) {                                     \
        ai0[c] = vdotq_laneq_s32(ai0[c], w0, av, c);              \
        ai1[c] = vdotq_laneq_s32(ai1[c], w1, av, c);              \
    }
            LD_NEON_FOR_COLS(LD_SDOT)
#undef LD_SDOT
        }
        const float32x4_t sc0 = vld1q_f32(s1 + b * R), sc1 = vld1q_f32(s1 + b * R + 4);
        const float32x4_t dv = vld1q_f32(da + b * C);
#define LD_SCALE(c)                                                                            \
    if constexpr ((c) < CC) {                                                                  \
        acc0[c] = vfmaq_f32(acc0[c], vcvtq_f32_s32(ai0[c]), vmulq_laneq_f32(sc0, dv, c));      \
        acc1[c] = vfmaq_f32(acc1[c], vcvtq_f32_s32(ai1[c]), vmulq_laneq_f32(sc1, dv, c));      \
    }
        LD_NEON_FOR_COLS(LD_SCALE)
#undef LD_SCALE
        if (MIN) {
            const float32x4_t mn0 = vld1q_f32(s2 + b * R), mn1 = vld1q_f32(s2 + b * R + 4);
            const float32x4_t Av = vld1q_f32(A + b * C);
#define LD_MIN(c)                                                 \
    if constexpr ((c) < CC) {                                     \
        acc0[c] = vfmaq_laneq_f32(acc0[c], mn0, Av, c);           \
        acc1[c] = vfmaq_laneq_f32(acc1[c], mn1, Av, c);           \
    }
            LD_NEON_FOR_COLS(LD_MIN)
#undef LD_MIN
        }
    }
    for (int c = 0; c < n_cols && c < CC; ++c) store_rows8(ycol[c], acc0[c], acc1[c], n_rows);
}

template <int BG, bool MIN>
void compute_quant(const uint8_t * panel, const uint8_t * tile, int64_t K, int n_rows, int n_cols, float * const * ycol) {
    if (n_cols <= 2) compute_quant_cc<BG, MIN, 2>(panel, tile, K, n_rows, n_cols, ycol);
    else compute_quant_cc<BG, MIN, C>(panel, tile, K, n_rows, n_cols, ycol);
}

void compute_f32(const float * panel, const float * tile, int64_t K, int n_rows, int n_cols, float * const * ycol) {
    float32x4_t acc0[C], acc1[C];
    for (int c = 0; c < C; ++c) acc0[c] = acc1[c] = vdupq_n_f32(0.0f);
    for (int64_t k = 0; k < K; ++k) {
        const float32x4_t w0 = vld1q_f32(panel + k * R), w1 = vld1q_f32(panel + k * R + 4);
        const float32x4_t av = vld1q_f32(tile + k * C);
#define LD_FMA(c)                                       \
    acc0[c] = vfmaq_laneq_f32(acc0[c], w0, av, c);      \
    acc1[c] = vfmaq_laneq_f32(acc1[c], w1, av, c);
        LD_NEON_FOR_COLS(LD_FMA)
#undef LD_FMA
    }
    for (int c = 0; c < n_cols; ++c) store_rows8(ycol[c], acc0[c], acc1[c], n_rows);
}

#undef LD_NEON_FOR_COLS

void compute(Type w, const void * panel, const void * tile, int64_t K, int n_rows, int n_cols, float * const * ycol) {
    if (is_float(w)) {
        compute_f32(static_cast<const float *>(panel), static_cast<const float *>(tile), K, n_rows, n_cols, ycol);
        return;
    }
    QuantCfg c;
    quant_cfg(w, c);
    const uint8_t * p = static_cast<const uint8_t *>(panel);
    const uint8_t * t = static_cast<const uint8_t *>(tile);
    if (c.bl == 32) {
        if (c.has_min) compute_quant<8, true>(p, t, K, n_rows, n_cols, ycol);
        else compute_quant<8, false>(p, t, K, n_rows, n_cols, ycol);
    } else {
        if (c.has_min) compute_quant<4, true>(p, t, K, n_rows, n_cols, ycol);
        else compute_quant<4, false>(p, t, K, n_rows, n_cols, ycol);
    }
}

// ---- activation quantizers: the reference rules (quants-ref), vectorized with the same f32 operations ----
// A block holding a NaN or an infinity leaves the whole row to the reference code (returns false).

// Q8_0 reference: d = amax / 127, id = 1 / d, q = round half away from zero of x * id, clamped.
bool quantize_row_q8_0(const float * x, block_q8_0 * y, int64_t n) {
    for (int64_t b = 0; b < n / 32; ++b, x += 32) {
        float32x4_t v[8];
        float32x4_t m = vdupq_n_f32(0.0f);
        for (int i = 0; i < 8; ++i) {
            v[i] = vld1q_f32(x + 4 * i);
            m = vmaxq_f32(m, vabsq_f32(v[i]));  // NaN propagates into m
        }
        const float amax = vmaxvq_f32(m);
        if (!(amax <= 3.4028235e38f)) return false;  // NaN or inf
        const float d = amax / 127.0f;
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        y[b].d = f32_to_fp16(d);
        const float32x4_t vid = vdupq_n_f32(id);
        const float32x4_t lo = vdupq_n_f32(-128.0f), hi = vdupq_n_f32(127.0f);
        for (int i = 0; i < 8; i += 2) {
            const float32x4_t r0 = vminq_f32(vmaxq_f32(vrndaq_f32(vmulq_f32(v[i], vid)), lo), hi);
            const float32x4_t r1 = vminq_f32(vmaxq_f32(vrndaq_f32(vmulq_f32(v[i + 1], vid)), lo), hi);
            const int16x8_t q16 = vcombine_s16(vmovn_s32(vcvtq_s32_f32(r0)), vmovn_s32(vcvtq_s32_f32(r1)));
            vst1_s8(y[b].qs + 4 * i, vmovn_s16(q16));
        }
    }
    return true;
}

// Q8_K reference: max = the signed value of largest magnitude (the first on ties), iscale = -127 / max,
// q = round half to even of iscale * x clamped to [-128, 127], d = 1 / iscale, bsums per 16.
bool quantize_row_q8_K(const float * x, block_q8_K * y, int64_t n) {
    for (int64_t b = 0; b < n / 256; ++b, x += 256) {
        float32x4_t m = vdupq_n_f32(0.0f);
        for (int i = 0; i < 64; ++i) m = vmaxq_f32(m, vabsq_f32(vld1q_f32(x + 4 * i)));
        const float amax = vmaxvq_f32(m);
        if (!(amax <= 3.4028235e38f)) return false;
        if (amax == 0.0f) {
            std::memset(&y[b], 0, sizeof(block_q8_K));
            continue;
        }
        float mx = 0.0f;
        for (int i = 0; i < 256; ++i)
            if (std::fabs(x[i]) == amax) { mx = x[i]; break; }
        const float iscale = -127.0f / mx;
        const float32x4_t vs = vdupq_n_f32(iscale);
        const float32x4_t lo = vdupq_n_f32(-128.0f), hi = vdupq_n_f32(127.0f);
        for (int g = 0; g < 16; ++g) {
            int32x4_t q[4];
            for (int i = 0; i < 4; ++i) {
                const float32x4_t v = vrndnq_f32(vmulq_f32(vs, vld1q_f32(x + 16 * g + 4 * i)));
                q[i] = vcvtq_s32_f32(vminq_f32(vmaxq_f32(v, lo), hi));
            }
            const int16x8_t a = vcombine_s16(vmovn_s32(q[0]), vmovn_s32(q[1]));
            const int16x8_t c = vcombine_s16(vmovn_s32(q[2]), vmovn_s32(q[3]));
            vst1q_s8(y[b].qs + 16 * g, vcombine_s8(vmovn_s16(a), vmovn_s16(c)));
            y[b].bsums[g] = (int16_t)vaddvq_s32(vaddq_s32(vaddq_s32(q[0], q[1]), vaddq_s32(q[2], q[3])));
        }
        const float d = 1.0f / iscale;
        std::memcpy(&y[b].d, &d, sizeof d);
    }
    return true;
}

}  // namespace

void pack_quant_tile_neon(Type w, const ActRows & a, const int64_t * ids, int n, int64_t K, int kg, void * tile) {
    QuantCfg cf;
    quant_cfg(w, cf);
    Scratch & S = scratch();
    const int64_t nb = K / cf.bl, G = K / kg;
    uint8_t * tb = static_cast<uint8_t *>(tile);
    float * da = reinterpret_cast<float *>(tb + up64((size_t)K * C));
    float * A = reinterpret_cast<float *>(tb + up64((size_t)K * C) + up64((size_t)nb * C * 4));
    std::memset(tb, 0, tile_bytes(w, K));  // columns past n: zero codes and scales
    S.qs.resize((size_t)K);
    S.s1.resize((size_t)nb);
    S.s2.resize((size_t)nb);
    S.asum.resize((size_t)nb);
    for (int c = 0; c < n; ++c) {
        act_blocks(a.type, cf.bl, a.row(ids[c]), K, S.qs.data(), S.s1.data(), S.asum.data(), S.s2.data());
        for (int64_t g = 0; g < G; ++g) std::memcpy(tb + (g * C + c) * kg, S.qs.data() + kg * g, (size_t)kg);
        for (int64_t b = 0; b < nb; ++b) {
            da[b * C + c] = S.s1[(size_t)b];
            A[b * C + c] = S.s2[(size_t)b];
        }
    }
}

bool quantize_row_neon(Type w, const float * x, void * dst, int64_t K) {
    QuantCfg c;
    if (!quant_cfg(w, c)) return false;
    if (c.act == Type::Q8_0) return quantize_row_q8_0(x, static_cast<block_q8_0 *>(dst), K);
    if (c.act == Type::Q8_K) return quantize_row_q8_K(x, static_cast<block_q8_K *>(dst), K);
    return false;
}

namespace {

const Kernels kKernels = {R, C, &has, &panel_bytes, &tile_bytes, &pack_panel, &pack_tile, &compute, &quantize_row_neon};

}  // namespace

const Kernels * kernels_neon() { return &kKernels; }

}  // namespace ld::ggml::mm
