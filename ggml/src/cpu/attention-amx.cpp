// AMX-BF16 tiled attention for K/V stored as F16 or Q8_0 (attention-amx.h): taken by the amx ISA when
// LD_ATTN_BF16 is split or fast, made for long cached prompts (the canvas attends to thousands of keys).
// Not the default: in split mode a score is off by ~2^-17 of sum |q_i k_i|, which at realistic score
// magnitudes (unit-variance q and k, head dim 256: scores ~ +-16) gives ~1.6e-4 relative output errors,
// above the 1e-4 of the backend tests (bench/results/attention-long-prompt.md).
//
// Tasks as in attention.cpp: (KV head, query tile) holding every query head of the group, about 512
// rows (queries x heads, padded to a multiple of 32), walked in sub-blocks of 128 rows per key tile
// (each key tile is converted once per task). Per key tile of BK = 256 keys:
//   * K is converted to bf16 and laid out as the B operand of tdpbf16ps: per 16 keys and 32 dims one
//     16 x 64-byte tile whose row i holds dims (2i, 2i+1) of each key (a 16x16 dword transpose);
//   * V is converted to bf16 as the B operand of P.V: per 16 columns and 32 keys one tile whose row i
//     holds keys (2i, 2i+1) of each column (pairs interleaved with one vpermw);
//   * scores s [R][BK] (f32) = q . K with AMX, masked like attention.cpp;
//   * online softmax in f32 (e^x to 2^-14); o rows are scaled by alpha = e^{m_old - m_new} when the
//     maximum moves;
//   * o += p . V with AMX (the 16 x 16 f32 o tiles loaded, accumulated over the tile's keys, stored).
// Two modes (template X3):
//   * fast: q * scale, K, V and p rounded to bf16 once (8 significant bits, relative error <= 2^-8); the
//     row sum l adds the rounded p (so o / l is a weighted mean of V with exactly the weights used);
//     2x2 blocks of 16 x 16 tiles;
//   * split (X3): every operand as hi + lo bf16 parts (split_bf16: 16 bits; F16 K/V exactly), scores with
//     all four products, P.V with three; 1x2 blocks.
// Every product is exact in f32 and the sums are f32. The result of a row depends only on its own data
// and the key order, never on the task's other rows or the thread count (deterministic).
//
// GCC 12's AMX intrinsics have no memory operands: every tile load follows a compiler memory barrier
// and every tile store is followed by one, so the compiler cannot move plain loads / stores across them.
#include "avx512-intrinsics.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <memory>
#include <vector>

#include "amx-bf16-tiles.h"
#include "attention-amx.h"
#include "attention-mask.h"
#include "ld-ggml/cpu-features.h"
#include "ld-ggml/error.h"
#include "matmul-amx.h"
#include "transpose-avx512.h"

namespace ld::ggml {

namespace {

constexpr int BK = 256;   // keys per tile
constexpr int ROWS = 512; // target rows (queries x heads of the group) per task: the packing of a key tile
                          // (conversion to bf16, K transposed) costs about as much as the AMX products of
                          // ~100 rows, so a tile serves many rows (bench/results/attention-long-prompt.md)
constexpr int RB = 128;   // rows per sub-block (a multiple of 32)
constexpr float kNegInf = -std::numeric_limits<float>::infinity();

using amx_bf16::acc_2x2_load;
using amx_bf16::acc_2x2_store;
using amx_bf16::barrier;
using amx_bf16::dp_2x2;
using amx_bf16::acc_2x2_zero;
using amx_bf16::interleave_pairs;
using amx_bf16::pair_row;

// ---- conversion of 32 stored values to 32 bf16 (one zmm: value i in word i) ----

inline __m512 f16x16(const void * p) { return _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)p)); }

// Values [c, c + 32) of one head row (c a multiple of 32) as two f32 vectors.
template <Type TY>
inline void load32(const char * row, int64_t c, __m512 & lo, __m512 & hi) {
    if constexpr (TY == Type::F16) {
        lo = f16x16(row + c * 2);
        hi = f16x16(row + c * 2 + 32);
    } else {  // Q8_0: {fp16 scale, int8[32]}, 34 bytes
        const char * blk = row + (c / 32) * 34;
        uint16_t hd;
        std::memcpy(&hd, blk, sizeof(hd));
        const __m512 scale = _mm512_set1_ps(_cvtsh_ss(hd));
        const __m256i q = _mm256_loadu_si256((const __m256i *)(blk + 2));
        lo = _mm512_mul_ps(scale, _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm256_castsi256_si128(q))));
        hi = _mm512_mul_ps(scale, _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm256_extracti128_si256(q, 1))));
    }
}

template <Type TY>
inline __m512i bf16x32(const char * row, int64_t c) {
    __m512 lo, hi;
    load32<TY>(row, c, lo, hi);
    return (__m512i)_mm512_cvtne2ps_pbh(hi, lo);  // words 0-15: lo, 16-31: hi (round to nearest even)
}

// Words 0-15 / 16-31 of 32 bf16 values as f32 (exact: a 16-bit shift).
inline __m512 bf16_lo_f32(__m512i x) { return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(_mm512_castsi512_si256(x)), 16)); }
inline __m512 bf16_hi_f32(__m512i x) { return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(_mm512_extracti64x4_epi64(x, 1)), 16)); }

// 32 f32 values (lo: words 0-15, hi: words 16-31) as hi + lo bf16 parts: h = bf16(x), l = bf16(x - h) (the
// difference is exact in f32); h + l carries 16 significant bits (relative error <= 2^-17).
inline void split_bf16(__m512 lo, __m512 hi, __m512i & h, __m512i & l) {
    h = (__m512i)_mm512_cvtne2ps_pbh(hi, lo);
    l = (__m512i)_mm512_cvtne2ps_pbh(_mm512_sub_ps(hi, bf16_hi_f32(h)), _mm512_sub_ps(lo, bf16_lo_f32(h)));
}

// ---- packing of one key tile ----
// kb: per 16-key block kb16 and 32-dim chunk dc the tile at kb + ((kb16 * (d / 32) + dc) * TS) bf16 values,
//     row i = dims (2i, 2i+1) of keys 0..15 (zeros past nk);
// vb: per 16-column block cb and 32-key chunk kc the tile at vb + ((cb * (BK / 32) + kc) * TS), row i = keys
//     (2i, 2i+1) of columns 0..15 (zeros past nk, up to the next multiple of 32).
// TS = 512 (one bf16 tile) or, split (X3), 1024: the hi parts' tile followed by the lo parts' (split_bf16).
template <Type TY, bool X3>
void pack_tile(const AttnArgs & a, int64_t g, int64_t t, uint16_t * kb, uint16_t * vb) {
    constexpr int64_t TS = X3 ? 1024 : 512;
    const int64_t d = a.head_dim, ndc = d / 32;
    size_t off[BK];
    const int nk = attn_tile_row_offsets(a, g, t, BK, off);
    const int nk32 = (nk + 31) / 32 * 32;
    for (int k0 = 0; k0 < nk32; k0 += 16) {
        for (int64_t dc = 0; dc < ndc; ++dc) {
            uint16_t * dst = kb + ((int64_t)(k0 / 16) * ndc + dc) * TS;
            __m512i r[16], o[16];
            if constexpr (X3) {
                __m512i rl[16];
                for (int i = 0; i < 16; ++i) {
                    if (k0 + i < nk) {
                        __m512 lo, hi;
                        load32<TY>((const char *)a.k + off[k0 + i], dc * 32, lo, hi);
                        split_bf16(lo, hi, r[i], rl[i]);
                    } else {
                        r[i] = rl[i] = _mm512_setzero_si512();
                    }
                }
                mm::transpose16x16_epi32(rl, o);
                for (int i = 0; i < 16; ++i) _mm512_store_si512((void *)(dst + 512 + i * 32), o[i]);
            } else {
                for (int i = 0; i < 16; ++i)
                    r[i] = k0 + i < nk ? bf16x32<TY>((const char *)a.k + off[k0 + i], dc * 32) : _mm512_setzero_si512();
            }
            mm::transpose16x16_epi32(r, o);
            for (int i = 0; i < 16; ++i) _mm512_store_si512((void *)(dst + i * 32), o[i]);
        }
    }
    // pairs: word 2c of a tile row = column c of key 2i, word 2c+1 = column c of key 2i+1
    for (int j = 0; j < nk32; j += 2) {
        const char * v0 = j < nk ? (const char *)a.v + off[j] : nullptr;
        const char * v1 = j + 1 < nk ? (const char *)a.v + off[j + 1] : nullptr;
        const int64_t kc = j / 32, row = (j % 32) / 2;
        for (int64_t c = 0; c < d; c += 32) {
            __m512 a0 = _mm512_setzero_ps(), a1 = a0, b0 = a0, b1 = a0;
            if (v0) load32<TY>(v0, c, a0, a1);
            if (v1) load32<TY>(v1, c, b0, b1);
            // columns c..c+15 (x0) and c+16..c+31 (x1): key j in words 0-15, key j+1 in words 16-31 -> pairs
            const int64_t cb = c / 16;
            uint16_t * d0 = vb + ((cb * (BK / 32) + kc) * TS) + row * 32;
            uint16_t * d1 = vb + (((cb + 1) * (BK / 32) + kc) * TS) + row * 32;
            if constexpr (X3) {
                __m512i h0, l0, h1, l1;
                split_bf16(a0, b0, h0, l0);
                split_bf16(a1, b1, h1, l1);
                _mm512_store_si512((void *)d0, interleave_pairs(h0));
                _mm512_store_si512((void *)(d0 + 512), interleave_pairs(l0));
                _mm512_store_si512((void *)d1, interleave_pairs(h1));
                _mm512_store_si512((void *)(d1 + 512), interleave_pairs(l1));
            } else {
                _mm512_store_si512((void *)d0, pair_row(a0, b0));
                _mm512_store_si512((void *)d1, pair_row(a1, b1));
            }
        }
    }
}

// ---- AMX products: the 2 x 2 tile steps of amx-bf16-tiles.h ----

// s [rows][BK] (f32) = q [rows][d] (bf16) . K^T for the first nk32 keys of the tile; rows % 32 == 0.
__attribute__((noinline)) void scores_amx(const uint16_t * q, int rows, int64_t d, const uint16_t * kb, int nk32, float * s) {
    const int64_t ndc = d / 32;
    barrier();
    for (int r0 = 0; r0 < rows; r0 += 32) {
        for (int k0 = 0; k0 < nk32; k0 += 32) {
            acc_2x2_zero();
            const uint16_t * b0 = kb + (int64_t)(k0 / 16) * ndc * 512;
            const uint16_t * b1 = b0 + ndc * 512;
            for (int64_t dc = 0; dc < ndc; ++dc)
                dp_2x2(q + (int64_t)r0 * d + dc * 32, q + (int64_t)(r0 + 16) * d + dc * 32, d, b0 + dc * 512, b1 + dc * 512);
            acc_2x2_store(s + (int64_t)r0 * BK + k0, BK);
        }
    }
    barrier();
}

// o [rows][d] (f32) += p [rows][BK] (bf16) . V for the first nk32 keys of the tile.
__attribute__((noinline)) void pv_amx(const uint16_t * p, int rows, int64_t d, const uint16_t * vb, int nk32, float * o) {
    barrier();
    for (int r0 = 0; r0 < rows; r0 += 32) {
        for (int64_t c0 = 0; c0 < d; c0 += 32) {
            float * o0 = o + (int64_t)r0 * d + c0;
            acc_2x2_load(o0, d);
            const uint16_t * b0 = vb + (c0 / 16) * (BK / 32) * 512;
            const uint16_t * b1 = b0 + (BK / 32) * 512;
            for (int k0 = 0; k0 < nk32; k0 += 32)
                dp_2x2(p + (int64_t)r0 * BK + k0, p + (int64_t)(r0 + 16) * BK + k0, BK, b0 + (k0 / 32) * 512,
                       b1 + (k0 / 32) * 512);
            acc_2x2_store(o0, d);
        }
    }
    barrier();
}

// The split (X3) products: operands as hi + lo bf16 parts (split_bf16). Scores: q.k = qh.kh + qh.kl + ql.kh
// + ql.kl (score errors are amplified by the exponential: all four terms); P.V: ph.vh + ph.vl + pl.vh (pl.vl,
// ~2^-18 relative of an output, dropped). Accumulated in that order per 32-long chunk of the contraction.
// s [rows][BK] = q . K^T, rows % 16 == 0: blocks of 16 rows x 32 keys (tmm0/1 q hi / lo, tmm2-5 the hi / lo
// tiles of two 16-key blocks, tmm6/7 the scores). qh, ql: [rows][d].
__attribute__((noinline)) void scores_amx_x3(const uint16_t * qh, const uint16_t * ql, int rows, int64_t d, const uint16_t * kb,
                                             int nk32, float * s) {
    const int64_t ndc = d / 32;
    barrier();
    for (int r0 = 0; r0 < rows; r0 += 16) {
        for (int k0 = 0; k0 < nk32; k0 += 32) {
            _tile_zero(6);
            _tile_zero(7);
            const uint16_t * b0 = kb + (int64_t)(k0 / 16) * ndc * 1024;
            const uint16_t * b1 = b0 + ndc * 1024;
            for (int64_t dc = 0; dc < ndc; ++dc) {
                _tile_loadd(0, qh + (int64_t)r0 * d + dc * 32, d * 2);
                _tile_loadd(1, ql + (int64_t)r0 * d + dc * 32, d * 2);
                _tile_loadd(2, b0 + dc * 1024, 64);
                _tile_loadd(3, b0 + dc * 1024 + 512, 64);
                _tile_loadd(4, b1 + dc * 1024, 64);
                _tile_loadd(5, b1 + dc * 1024 + 512, 64);
                _tile_dpbf16ps(6, 0, 2);
                _tile_dpbf16ps(7, 0, 4);
                _tile_dpbf16ps(6, 0, 3);
                _tile_dpbf16ps(7, 0, 5);
                _tile_dpbf16ps(6, 1, 2);
                _tile_dpbf16ps(7, 1, 4);
                _tile_dpbf16ps(6, 1, 3);
                _tile_dpbf16ps(7, 1, 5);
            }
            float * s0 = s + (int64_t)r0 * BK + k0;
            _tile_stored(6, s0, BK * 4);
            _tile_stored(7, s0 + 16, BK * 4);
        }
    }
    barrier();
}

// o [rows][d] += p . V: blocks of 16 rows x 32 columns (tmm0/1 p hi / lo, tmm2-5 the hi / lo tiles of two
// 16-column blocks, tmm6/7 o). ph, pl: [rows][BK].
__attribute__((noinline)) void pv_amx_x3(const uint16_t * ph, const uint16_t * pl, int rows, int64_t d, const uint16_t * vb,
                                         int nk32, float * o) {
    barrier();
    for (int r0 = 0; r0 < rows; r0 += 16) {
        for (int64_t c0 = 0; c0 < d; c0 += 32) {
            float * o0 = o + (int64_t)r0 * d + c0;
            _tile_loadd(6, o0, d * 4);
            _tile_loadd(7, o0 + 16, d * 4);
            const uint16_t * b0 = vb + (c0 / 16) * (BK / 32) * 1024;
            const uint16_t * b1 = b0 + (BK / 32) * 1024;
            for (int k0 = 0; k0 < nk32; k0 += 32) {
                _tile_loadd(0, ph + (int64_t)r0 * BK + k0, BK * 2);
                _tile_loadd(1, pl + (int64_t)r0 * BK + k0, BK * 2);
                _tile_loadd(2, b0 + (k0 / 32) * 1024, 64);
                _tile_loadd(3, b0 + (k0 / 32) * 1024 + 512, 64);
                _tile_loadd(4, b1 + (k0 / 32) * 1024, 64);
                _tile_loadd(5, b1 + (k0 / 32) * 1024 + 512, 64);
                _tile_dpbf16ps(6, 0, 2);
                _tile_dpbf16ps(7, 0, 4);
                _tile_dpbf16ps(6, 0, 3);
                _tile_dpbf16ps(7, 0, 5);
                _tile_dpbf16ps(6, 1, 2);
                _tile_dpbf16ps(7, 1, 4);
            }
            _tile_stored(6, o0, d * 4);
            _tile_stored(7, o0 + 16, d * 4);
        }
    }
    barrier();
}

// ---- online softmax of one tile (f32), p rounded to bf16 ----

// e^x for x <= 0 to a relative error below 2^-14 (p is rounded to bf16, 2^-8, right after): x = n ln2 + r,
// |r| <= ln2/2, e^r by its degree-5 Taylor polynomial (truncation < 2^-15.6), times 2^n with vscalefps.
// x < -87.33 (masked scores: -inf) gives exactly 0.
inline __m512 vexp_bf16(__m512 x) {
    const __m512 lo = _mm512_set1_ps(-87.33654f);
    const __m512 xc = _mm512_max_ps(x, lo);
    const __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(xc, _mm512_set1_ps(1.44269504088896341f)),
                                          _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    const __m512 r = _mm512_fmadd_ps(n, _mm512_set1_ps(-0.693147180559945f), xc);
    __m512 p = _mm512_set1_ps(1.0f / 120);
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 24));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 6));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(0.5f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f));
    return _mm512_maskz_scalef_ps(_mm512_cmp_ps_mask(x, lo, _CMP_GE_OQ), p, n);
}

// Per row r < rows of s [rows][BK] (first nk32 columns; masked entries -inf): m' = max(m, max s),
// p = bf16(e^{s - m'}), l = l * alpha + sum(p), o row *= alpha (alpha = e^{m - m'}; rows with nothing
// visible yet keep m, l, o and get p = 0).
// X3: p is also split, pl [rows][BK] the lo parts, and l adds the f32 values (p hi + lo to 2^-17).
template <bool X3>
void softmax_tile(const float * s, int rows, int nk32, int64_t d, float * m, float * l, uint16_t * p, uint16_t * pl, float * o) {
    for (int r = 0; r < rows; ++r) {
        const float * sr = s + (int64_t)r * BK;
        uint16_t * pr = p + (int64_t)r * BK;
        __m512 mv = _mm512_set1_ps(m[r]);
        for (int j = 0; j < nk32; j += 16) mv = _mm512_max_ps(mv, _mm512_loadu_ps(sr + j));
        const float mx = _mm512_reduce_max_ps(mv);
        if (mx == kNegInf) {
            for (int j = 0; j < nk32; j += 32) _mm512_storeu_si512((void *)(pr + j), _mm512_setzero_si512());
            if (X3)
                for (int j = 0; j < nk32; j += 32) _mm512_storeu_si512((void *)(pl + (int64_t)r * BK + j), _mm512_setzero_si512());
            continue;
        }
        const __m512 vmx = _mm512_set1_ps(mx);
        __m512 sum = _mm512_setzero_ps();
        for (int j = 0; j < nk32; j += 32) {
            const __m512 e0 = vexp_bf16(_mm512_sub_ps(_mm512_loadu_ps(sr + j), vmx));
            const __m512 e1 = vexp_bf16(_mm512_sub_ps(_mm512_loadu_ps(sr + j + 16), vmx));
            if constexpr (X3) {
                __m512i h, lo;
                split_bf16(e0, e1, h, lo);
                _mm512_storeu_si512((void *)(pr + j), h);
                _mm512_storeu_si512((void *)(pl + (int64_t)r * BK + j), lo);
                sum = _mm512_add_ps(sum, _mm512_add_ps(e0, e1));
            } else {
                const __m512i pb = (__m512i)_mm512_cvtne2ps_pbh(e1, e0);
                _mm512_storeu_si512((void *)(pr + j), pb);
                // the rounded values back in f32
                sum = _mm512_add_ps(sum, _mm512_add_ps(bf16_lo_f32(pb), bf16_hi_f32(pb)));
            }
        }
        alignas(64) float a1[16];
        _mm512_store_ps(a1, vexp_bf16(_mm512_set1_ps(m[r] - mx)));
        const float alpha = a1[0];
        l[r] = l[r] * alpha + _mm512_reduce_add_ps(sum);
        m[r] = mx;
        if (alpha != 1.0f) {
            float * orow = o + (int64_t)r * d;
            const __m512 va = _mm512_set1_ps(alpha);
            for (int64_t c = 0; c < d; c += 16) _mm512_storeu_ps(orow + c, _mm512_mul_ps(_mm512_loadu_ps(orow + c), va));
        }
    }
}

struct Scratch {
    amx_bf16::ScratchMem mem;
    uint16_t *q, *ql, *p, *pl, *kb, *vb;  // ql, pl: the lo parts (X3)
    float *o, *s, *m, *l;
};

inline size_t up64(size_t n) { return (n + 63) & ~(size_t)63; }

template <Type TY, bool X3>
void run(const AttnArgs & a, ThreadPool & tp) {
    constexpr int PARTS = X3 ? 2 : 1;
    const int64_t d = a.head_dim, group = a.n_head / a.n_kv_head, qs = attn_q_stride(a);
    // rows per task (at least one query): each packed key tile serves them all, in sub-blocks of RB rows
    // (scores, softmax and P.V of one sub-block stay in L2 next to the tile)
    const int64_t bq = std::min(a.n_q, std::max<int64_t>(1, ROWS / group));
    const int64_t max_rows = (bq * group + 31) / 32 * 32;
    const int64_t n_qt = (a.n_q + bq - 1) / bq;
    const int64_t n_kt = (a.n_kv + BK - 1) / BK;
    const std::vector<AttnKeyTile> tiles = attn_key_tiles(a, BK);

    const size_t b_q = up64((size_t)(max_rows * d * 2)), b_p = up64((size_t)(RB * BK * 2));
    const size_t b_kv = up64((size_t)(BK * d * 2)), b_o = up64((size_t)(max_rows * d * 4));
    const size_t b_s = up64((size_t)(RB * BK * 4)), b_ml = up64((size_t)max_rows * 4);
    const size_t total = PARTS * (b_q + b_p + 2 * b_kv) + b_o + b_s + 2 * b_ml;
    std::vector<Scratch> scratch((size_t)tp.n_threads());
    for (Scratch & sc : scratch) {
        uint8_t * base = (uint8_t *)amx_bf16::alloc_scratch(sc.mem, total, "the attention's AMX scratch");
        sc.q = (uint16_t *)base;                 base += b_q;
        sc.ql = X3 ? (uint16_t *)base : nullptr; base += X3 ? b_q : 0;
        sc.p = (uint16_t *)base;                 base += b_p;
        sc.pl = X3 ? (uint16_t *)base : nullptr; base += X3 ? b_p : 0;
        sc.kb = (uint16_t *)base;                base += PARTS * b_kv;
        sc.vb = (uint16_t *)base;                base += PARTS * b_kv;
        sc.o = (float *)base;                    base += b_o;
        sc.s = (float *)base;                    base += b_s;
        sc.m = (float *)base;                    base += b_ml;
        sc.l = (float *)base;
    }

    tp.parallel_for(a.n_kv_head * n_qt, [&](int64_t task, int thread) {
        mm::amx::configure_tiles(64);  // every tile 16 x 64 bytes
        Scratch & sc = scratch[(size_t)thread];
        const int64_t g = task % a.n_kv_head, qt = task / a.n_kv_head;
        const int64_t i0 = qt * bq, nq = std::min(bq, a.n_q - i0);
        const int rows = (int)(nq * group), rows32 = (rows + 31) / 32 * 32;
        // row r = qi * group + hg: query i0 + qi, head g * group + hg; rows past `rows` are zero
        int32_t qmin = std::numeric_limits<int32_t>::max(), qmax = std::numeric_limits<int32_t>::min();
        const __m512 vscale = _mm512_set1_ps(a.scale);
        for (int r = 0; r < rows32; ++r) {
            uint16_t * dst = sc.q + (int64_t)r * d;
            uint16_t * dlo = X3 ? sc.ql + (int64_t)r * d : nullptr;
            if (r >= rows) {
                std::memset(dst, 0, (size_t)d * 2);
                if (X3) std::memset(dlo, 0, (size_t)d * 2);
                continue;
            }
            const int64_t qi = r / group, hg = r % group;
            qmin = std::min(qmin, a.q_pos[i0 + qi]);
            qmax = std::max(qmax, a.q_pos[i0 + qi]);
            const float * src = a.q + (i0 + qi) * qs + (g * group + hg) * d;
            for (int64_t c = 0; c < d; c += 32) {
                const __m512 x0 = _mm512_mul_ps(_mm512_loadu_ps(src + c), vscale);
                const __m512 x1 = _mm512_mul_ps(_mm512_loadu_ps(src + c + 16), vscale);
                if constexpr (X3) {
                    __m512i h, l;
                    split_bf16(x0, x1, h, l);
                    _mm512_storeu_si512((void *)(dst + c), h);
                    _mm512_storeu_si512((void *)(dlo + c), l);
                } else {
                    _mm512_storeu_si512((void *)(dst + c), (__m512i)_mm512_cvtne2ps_pbh(x1, x0));
                }
            }
        }
        std::fill(sc.o, sc.o + (int64_t)rows32 * d, 0.0f);
        std::fill(sc.m, sc.m + rows32, kNegInf);
        std::fill(sc.l, sc.l + rows32, 0.0f);

        for (int64_t t = 0; t < n_kt; ++t) {
            const int64_t j0 = t * BK;
            const int nk = (int)std::min<int64_t>(BK, a.n_kv - j0);
            const int nk32 = (nk + 31) / 32 * 32;
            const AttnTileVis vis = attn_classify(a, tiles[(size_t)t], nk, qmin, qmax);
            if (vis == AttnTileVis::hidden) continue;
            pack_tile<TY, X3>(a, g, t, sc.kb, sc.vb);
            for (int r0 = 0; r0 < rows32; r0 += RB) {
                const int nr = std::min(RB, rows32 - r0);
                if constexpr (X3)
                    scores_amx_x3(sc.q + (int64_t)r0 * d, sc.ql + (int64_t)r0 * d, nr, d, sc.kb, nk32, sc.s);
                else
                    scores_amx(sc.q + (int64_t)r0 * d, nr, d, sc.kb, nk32, sc.s);
                if (vis == AttnTileVis::partial || nk < nk32) {
                    for (int r = r0; r < std::min(rows, r0 + nr); ++r) {
                        const int32_t qp = a.q_pos[i0 + r / group];
                        float * sr = sc.s + (int64_t)(r - r0) * BK;
                        for (int jj = 0; jj < nk32; ++jj)
                            if (jj >= nk || !attn_visible(a, qp, a.k_pos[j0 + jj])) sr[jj] = kNegInf;
                    }
                }
                softmax_tile<X3>(sc.s, nr, nk32, d, sc.m + r0, sc.l + r0, sc.p, sc.pl, sc.o + (int64_t)r0 * d);
                if constexpr (X3)
                    pv_amx_x3(sc.p, sc.pl, nr, d, sc.vb, nk32, sc.o + (int64_t)r0 * d);
                else
                    pv_amx(sc.p, nr, d, sc.vb, nk32, sc.o + (int64_t)r0 * d);
            }
        }

        for (int r = 0; r < rows; ++r) {
            const int64_t qi = r / group, hg = r % group;
            float * dst = a.out + ((i0 + qi) * a.n_head + g * group + hg) * d;
            const float * o = sc.o + (int64_t)r * d;
            const float l = sc.l[r];
            const float inv = l > 0.0f ? 1.0f / l : 0.0f;
            for (int64_t c = 0; c < d; ++c) dst[c] = o[c] * inv;
        }
    });
}

}  // namespace

AttnBf16 attention_amx_bf16_mode(const AttnArgs & a) {
    if (a.kv_type != Type::F16 && a.kv_type != Type::Q8_0) return AttnBf16::off;
    if (a.head_dim % 32 != 0 || !cpu_features().amx_bf16 || !cpu_features().avx512bf16) return AttnBf16::off;
    static const AttnBf16 mode = [] {
        const char * e = std::getenv("LD_ATTN_BF16");
        if (e && std::strcmp(e, "split") == 0) return AttnBf16::split;
        if (e && std::strcmp(e, "fast") == 0) return AttnBf16::fast;
        return AttnBf16::off;
    }();
    return mode;
}

void attention_amx_bf16(const AttnArgs & a, ThreadPool & tp, AttnBf16 mode) {
    if (mode == AttnBf16::off) throw Error("attention_amx_bf16: mode off");
    const bool x3 = mode == AttnBf16::split;
    if (a.kv_type == Type::F16)
        x3 ? run<Type::F16, true>(a, tp) : run<Type::F16, false>(a, tp);
    else
        x3 ? run<Type::Q8_0, true>(a, tp) : run<Type::Q8_0, false>(a, tp);
}

}  // namespace ld::ggml
