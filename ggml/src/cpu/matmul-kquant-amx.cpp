// The AMX super-block path of Q4_K and Q6_K (see matmul-amx.h). Their sub-block scales are small
// integers (Q4_K: 6-bit sc, Q6_K: int8) under one f32 d per 256 values, and the Q8_K activations have
// one f32 da per 256 values, so for a weight row m and an activation column n of super-block s
//     sum_k w*x = d[m] * da[n] * sum_k v[m,k] * a[n,k]  -  dmin[m] * da[n] * sum_j mn[m,j] * bsum[n,j]
// with v = code * sc of its sub-block (Q4_K: 0..945, Q6_K: (u-32)*sc in -4064..4096; the mins term
// only for Q4_K, j over the 8 sub-blocks of 32, bsum the activation codes' sums). v does not fit
// int8, so it is split into its bytes as v = 256*hi + lo (lo = v & 255 unsigned, hi = v >> 8 signed: the
// two bytes of v as int16, taken apart by one byte permute) and the panel holds two byte matrices: one
// 16x16 int32 tile per half and per matrix sums all 256 values of the super-block exactly (4 tdpbusd of
// 64 for lo, unsigned x signed; 4 tdpbssd for hi), then is stored once and folded (accumulators in
// memory, two column groups of 16 per tile):
//     acc[r] += da * (d[r] * cvt(256*hi_sum + lo_sum)  -  dmin[r] * cvt(mins_sum))
// where mins_sum comes from 4 vpdpwssd on (mn pair, bsum pair) int16 pairs.
//
// Panel: lo[nsb][R][256] (uint8) | hi[nsb][R][256] (int8) | d[nsb][R] | ndmin[nsb][R] (f32, -dmin) |
//        mn[nsb][4][R] (uint32: two int16 mins).
// Tile:  q[K/4][C][4] (int8, VNNI layout) | da[nsb][C] (f32) | bs[nsb][4][C] (uint32: two int16 sums).
//
// When a panel's tiles fit one pass (the MoE experts), kq_compute_raw packs one super-block of the
// rows at a time into L1 (the panel layout of K = 256) right before its products, instead of the whole
// panel (K * 64 bytes) going to L2 and back; the result is the same.
#include "avx512-intrinsics.h"

#include <algorithm>
#include <cstring>
#include <vector>

#include "ld-ggml/blocks.h"
#include "ld-ggml/fp16.h"
#include "matmul-amx.h"
#include "q4k-heads-avx512.h"
#include "quant-decode.h"

namespace ld::ggml::mm::amx {

namespace {

struct PanelL {
    int64_t nsb;
    size_t lo, hi, d, nd, mn, end;
};
PanelL panel_l(int64_t K) {
    PanelL L;
    L.nsb = K / 256;
    L.lo = 0;
    L.hi = up64((size_t)K * R);
    L.d = L.hi + up64((size_t)K * R);
    L.nd = L.d + up64((size_t)L.nsb * R * 4);
    L.mn = L.nd + up64((size_t)L.nsb * R * 4);
    L.end = L.mn + up64((size_t)L.nsb * R * 16);
    return L;
}

// v (32 int16 of one row) -> lo / hi int8 at the row's slot of super-block s, values j0..j0+31.
inline void put_v(int8_t * lo, int8_t * hi, int64_t s, int r, int j0, __m512i v) {
    const size_t o = (size_t)(s * R + r) * 256 + (size_t)j0;
    _mm256_storeu_si256((__m256i *)(lo + o), _mm512_cvtepi16_epi8(v));  // the low bytes (truncation)
    _mm256_storeu_si256((__m256i *)(hi + o), _mm512_cvtepi16_epi8(_mm512_srai_epi16(v, 8)));
}

// Q4_K: super-block s of the n <= 16 rows 16h .. 16h + n - 1 of a panel (row i at rows + i * row_bytes)
// into slot t of the panel arrays. The heads of the 16 rows are decoded together (q4k-heads-avx512.h).
// 32 raw bytes hold the codes of sub-blocks 2c (low nibbles) and 2c+1 (high nibbles); each is widened to
// int16 and multiplied by its scale, and one byte permute over the two int16 vectors gathers the 64 low
// bytes (lo), one the 64 high bytes (hi), in the values' order.
void pack_half_q4_K(const uint8_t * rows, size_t row_bytes, int n, int64_t s, int h, int64_t t, bool prefetch_next,
                    int8_t * lo, int8_t * hi, float * d, float * nd, uint32_t * mn) {
    const uint8_t * base = rows + row_bytes * (size_t)(16 * h);
    Q4KHeads16 H;
    decode_q4k_heads16(base, row_bytes, n, s, prefetch_next, H);
    _mm512_storeu_ps(d + t * R + 16 * h, H.d);
    _mm512_storeu_ps(nd + t * R + 16 * h, H.nd);
    for (int p = 0; p < 4; ++p) _mm512_storeu_si512((void *)(mn + (t * 4 + p) * R + 16 * h), H.mn[p]);
    alignas(64) int32_t sc[8][16];
    for (int j = 0; j < 8; ++j) _mm512_store_si512((void *)sc[j], H.sc[j]);
    alignas(64) static constexpr uint8_t kEven[64] = {0,  2,  4,  6,  8,  10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30,
                                                      32, 34, 36, 38, 40, 42, 44, 46, 48, 50, 52, 54, 56, 58, 60, 62,
                                                      64, 66, 68, 70, 72, 74, 76, 78, 80, 82, 84, 86, 88, 90, 92, 94,
                                                      96, 98, 100, 102, 104, 106, 108, 110, 112, 114, 116, 118, 120, 122, 124, 126};
    const __m512i even = _mm512_load_si512((const void *)kEven);
    const __m512i odd = _mm512_add_epi8(even, _mm512_set1_epi8(1));
    const __m512i m4 = _mm512_set1_epi16(15);
    for (int r = 0; r < n; ++r) {
        const block_q4_K * x = reinterpret_cast<const block_q4_K *>(base + row_bytes * (size_t)r) + s;
        const size_t o = (size_t)(t * R + 16 * h + r) * 256;
        for (int q = 0; q < 4; ++q) {
            const __m512i w = _mm512_cvtepu8_epi16(_mm256_loadu_si256((const __m256i *)(x->qs + 32 * q)));
            const __m512i v0 = _mm512_mullo_epi16(_mm512_and_si512(w, m4), _mm512_set1_epi16((short)sc[2 * q][r]));
            const __m512i v1 = _mm512_mullo_epi16(_mm512_srli_epi16(w, 4), _mm512_set1_epi16((short)sc[2 * q + 1][r]));
            _mm512_storeu_si512((void *)(lo + o + 64 * q), _mm512_permutex2var_epi8(v0, even, v1));
            _mm512_storeu_si512((void *)(hi + o + 64 * q), _mm512_permutex2var_epi8(v0, odd, v1));
        }
    }
}

void pack_row_q6_K(const block_q6_K * x, int64_t s0, int64_t s1, int r, int8_t * lo, int8_t * hi, float * d, float * nd,
                   uint32_t * mn) {
    const __m256i m4 = _mm256_set1_epi8(15), m2 = _mm256_set1_epi8(0x30);
    const __m512i off = _mm512_set1_epi16(32);
    for (int64_t s = s0; s < s1; ++s) {
        for (int h = 0; h < 2; ++h) {
            const __m256i L0 = _mm256_loadu_si256((const __m256i *)(x[s].ql + 64 * h));
            const __m256i L1 = _mm256_loadu_si256((const __m256i *)(x[s].ql + 64 * h + 32));
            const __m256i H = _mm256_loadu_si256((const __m256i *)(x[s].qh + 32 * h));
            const __m256i u[4] = {
                _mm256_or_si256(_mm256_and_si256(L0, m4), _mm256_and_si256(_mm256_slli_epi16(H, 4), m2)),
                _mm256_or_si256(_mm256_and_si256(L1, m4), _mm256_and_si256(_mm256_slli_epi16(H, 2), m2)),
                _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(L0, 4), m4), _mm256_and_si256(H, m2)),
                _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(L1, 4), m4), _mm256_and_si256(_mm256_srli_epi16(H, 2), m2))};
            for (int c = 0; c < 4; ++c) {
                const int j0 = 128 * h + 32 * c, g = j0 / 16;  // two sub-blocks of 16
                const __m512i sc = _mm512_inserti64x4(_mm512_set1_epi16((short)x[s].scales[g]),
                                                      _mm256_set1_epi16((short)x[s].scales[g + 1]), 1);
                const __m512i q = _mm512_sub_epi16(_mm512_cvtepu8_epi16(u[c]), off);
                put_v(lo, hi, s, r, j0, _mm512_mullo_epi16(q, sc));
            }
        }
        d[s * R + r] = _cvtsh_ss(x[s].d);
        nd[s * R + r] = 0.0f;
        for (int p = 0; p < 4; ++p) mn[(s * 4 + p) * R + r] = 0;
    }
}

// acc[r] += da * (d[r] * cvt(256*hi + lo) + nd[r] * cvt(mins)) for the 16 rows of one column group;
// acc (16 x 16 f32) in memory.
template <bool MIN>
inline void fold(float * acc, const int32_t * plo, const int32_t * phi, const float * da, const uint32_t * bs,
                 const float * d, const float * nd, const uint32_t * mn) {
    const __m512 a = _mm512_load_ps(da);
    __m512i b[4];
    if (MIN)
        for (int p = 0; p < 4; ++p) b[p] = _mm512_load_si512((const void *)(bs + p * C));
#pragma GCC unroll 16
    for (int r = 0; r < 16; ++r) {
        const __m512i i = _mm512_add_epi32(_mm512_slli_epi32(_mm512_load_si512((const void *)(phi + 16 * r)), 8),
                                           _mm512_load_si512((const void *)(plo + 16 * r)));
        __m512 v = _mm512_mul_ps(_mm512_cvtepi32_ps(i), _mm512_set1_ps(d[r]));
        if (MIN) {
            __m512i m = _mm512_setzero_si512();
            for (int p = 0; p < 4; ++p) m = _mm512_dpwssd_epi32(m, _mm512_set1_epi32((int)mn[p * R + r]), b[p]);
            v = _mm512_fmadd_ps(_mm512_cvtepi32_ps(m), _mm512_set1_ps(nd[r]), v);
        }
        _mm512_store_ps(acc + 16 * r, _mm512_fmadd_ps(v, a, _mm512_load_ps(acc + 16 * r)));
    }
}

// Issues the products of one super-block (lo, hi: its weights at row 0 of the half, t: its activation
// codes at column group 0): column group 0 into tiles 4 (lo), 5 (hi), group 1 (when NG
// is 2) into 6, 7. Every tile has the shape 16 x 64 bytes here. NG = 2: weights in tiles 0 (lo) and
// 1 (hi), activations of group g in 2 + g; each operand tile is reloaded as soon as its last product
// of the step is issued, so the next loads overlap the remaining products. NG = 1: the operands
// alternate between tiles 0-2 and 3, 6, 7 (double-buffered).
template <int NG>
inline void products(const int8_t * lo, const int8_t * hi, const int8_t * t) {
    constexpr size_t po = 0;
    constexpr long TS = C * 4;        // tile row stride (bytes)
    constexpr long KS = 16 * C * 4;   // activation bytes per 64 values
    _tile_zero(4);
    _tile_zero(5);
    if (NG == 2) {
        _tile_zero(6);
        _tile_zero(7);
        _tile_loadd(0, lo + po, 256);
        _tile_loadd(2, t, TS);
        _tile_loadd(3, t + 64, TS);
        _tile_loadd(1, hi + po, 256);
#pragma GCC unroll 4
        for (int kk = 0; kk < 4; ++kk) {
            const bool more = kk < 3;
            _tile_dpbusd(4, 0, 2);
            _tile_dpbusd(6, 0, 3);
            if (more) _tile_loadd(0, lo + po + 64 * (kk + 1), 256);
            _tile_dpbssd(5, 1, 2);
            if (more) _tile_loadd(2, t + KS * (kk + 1), TS);
            _tile_dpbssd(7, 1, 3);
            if (more) {
                _tile_loadd(1, hi + po + 64 * (kk + 1), 256);
                _tile_loadd(3, t + KS * (kk + 1) + 64, TS);
            }
        }
    } else {
        _tile_loadd(0, lo + po, 256);
        _tile_loadd(1, hi + po, 256);
        _tile_loadd(2, t, TS);
        _tile_loadd(6, lo + po + 64, 256);
        _tile_loadd(7, hi + po + 64, 256);
        _tile_loadd(3, t + KS, TS);
        _tile_dpbusd(4, 0, 2);
        _tile_dpbssd(5, 1, 2);
        _tile_loadd(0, lo + po + 128, 256);
        _tile_loadd(1, hi + po + 128, 256);
        _tile_loadd(2, t + 2 * KS, TS);
        _tile_dpbusd(4, 6, 3);
        _tile_dpbssd(5, 7, 3);
        _tile_loadd(6, lo + po + 192, 256);
        _tile_loadd(7, hi + po + 192, 256);
        _tile_loadd(3, t + 3 * KS, TS);
        _tile_dpbusd(4, 0, 2);
        _tile_dpbssd(5, 1, 2);
        _tile_dpbusd(4, 6, 3);
        _tile_dpbssd(5, 7, 3);
    }
}

constexpr int kBatch = 8;  // tiles per pass over the panel (32 KB of accumulators; 4 and 2 measured slower)

// One super-block of all the panel's rows: lo, hi [R][256] int8, d, nd [R], mn [R][4] (row 0 of each).
struct SbView {
    const int8_t * lo, * hi;
    const float * d, * nd;
    const uint32_t * mn;
};

// The weights of compute_batch from a packed panel: super-block s is a view into it.
struct PanelSrc {
    const uint8_t * panel;
    PanelL L;
    SbView at(int64_t s) const {
        return {reinterpret_cast<const int8_t *>(panel + L.lo) + s * R * 256, reinterpret_cast<const int8_t *>(panel + L.hi) + s * R * 256,
                reinterpret_cast<const float *>(panel + L.d) + s * R, reinterpret_cast<const float *>(panel + L.nd) + s * R,
                reinterpret_cast<const uint32_t *>(panel + L.mn) + s * R * 4};
    }
};

// The weights of compute_batch straight from the rows: super-block s of every row is packed, when it is
// first needed, into one of two small buffers (the panel layout of K = 256), so the packed weights stay
// in L1 instead of a whole panel going to L2 and back. The packed bytes are those of kq_pack_panel.
struct RawSrc {
    Type w;
    const uint8_t * rows;
    size_t row_bytes;
    int n_rows;
    int64_t nsb;
    uint8_t * buf[2];  // panel_l(256).end bytes each, 64-aligned
    SbView at(int64_t s) const {
        const PanelL L = panel_l(256);
        uint8_t * p = buf[s % 2];
        int8_t * lo = reinterpret_cast<int8_t *>(p + L.lo);
        int8_t * hi = reinterpret_cast<int8_t *>(p + L.hi);
        float * d = reinterpret_cast<float *>(p + L.d);
        float * nd = reinterpret_cast<float *>(p + L.nd);
        uint32_t * mn = reinterpret_cast<uint32_t *>(p + L.mn);
        if (w == Type::Q4_K) {  // the weights stream from memory: each half asks for its next super-block
            for (int h = 0; 16 * h < n_rows; ++h)
                pack_half_q4_K(rows, row_bytes, std::min(16, n_rows - 16 * h), s, h, 0, s + 1 < nsb, lo, hi, d, nd, mn);
        } else {
            for (int r = 0; r < n_rows; ++r) {
                const uint8_t * src = rows + row_bytes * (size_t)r;
                if (s + 1 < nsb)  // the weights stream from memory: ask for the next super-block
                    for (size_t o = 0; o < sizeof(block_q6_K); o += 64)
                        _mm_prefetch((const char *)(src + sizeof(block_q6_K) * (size_t)(s + 1) + o), _MM_HINT_T0);
                pack_row_q6_K(reinterpret_cast<const block_q6_K *>(src) + s, 0, 1, r, lo, hi, d, nd, mn);
            }
        }
        // the tile loads (asm without memory operands) must not move above these stores
        __asm__ volatile("" ::: "memory");
        return {lo, hi, d, nd, mn};
    }
};

// The panel (NH halves of 16 weight rows) against NG column groups of nt <= kBatch tiles. Units
// (super-block s, half h, tile i) run in that order, so that the weights of s stay in L1 while the
// tiles pass; unit u's products run while unit u-1's sums are folded (two result buffers). Each
// tile's sums are folded in super-block order, as for a single tile (same result for any batch).
// Src: PanelSrc or RawSrc (the view of super-block s is taken once, at its first unit; RawSrc keeps the
// views of s and s - 1 valid, which is all the folds of unit u - 1 need).
template <bool MIN, int NG, class Src>
void compute_batch(const Src & src, const uint8_t * tiles, size_t tile_bytes, int nt, int64_t K, int NH,
                   int n_rows, const int * n_cols, float * const * const * ycols) {
    const KqTileLayout T = kq_tile_layout(K);
    const int64_t nsb = T.nsb;
    alignas(64) int32_t buf[2][NG][2][256];          // [u % 2][group][lo, hi]
    alignas(64) float acc[kBatch][2][NG][256];       // [tile][half][group]: 16 rows x 16 columns
    std::memset(acc, 0, sizeof acc[0] * (size_t)nt);
    const int per_s = NH * nt;
    SbView view[2];  // of super-blocks s (index s % 2) and s - 1
    auto fold_u = [&](int64_t u) {
        const int64_t s = u / per_s;
        const int h = (int)(u % per_s) / nt, i = (int)(u % nt);
        const uint8_t * tile = tiles + tile_bytes * (size_t)i;
        const float * da = reinterpret_cast<const float *>(tile + T.da);
        const uint32_t * bs = reinterpret_cast<const uint32_t *>(tile + T.bs);
        const SbView & V = view[s % 2];
        for (int g = 0; g < NG; ++g)
            fold<MIN>(acc[i][h][g], buf[u % 2][g][0], buf[u % 2][g][1], da + s * C + 16 * g, bs + s * kBsPairs * C + 16 * g,
                      V.d + 16 * h, V.nd + 16 * h, V.mn + 16 * h);
    };
    const int64_t n_units = nsb * per_s;
    for (int64_t u = 0; u < n_units; ++u) {
        const int64_t s = u / per_s;
        const int h = (int)(u % per_s) / nt, i = (int)(u % nt);
        if (u % per_s == 0) view[s % 2] = src.at(s);
        const SbView & V = view[s % 2];
        const int8_t * tq = reinterpret_cast<const int8_t *>(tiles + tile_bytes * (size_t)i + T.q) + s * 64 * (C * 4);
        products<NG>(V.lo + 16 * 256 * h, V.hi + 16 * 256 * h, tq);
        if (u > 0) fold_u(u - 1);
        int32_t (*o)[2][256] = buf[u % 2];
        _tile_stored(4, o[0][0], 64);
        _tile_stored(5, o[0][1], 64);
        if (NG == 2) {
            _tile_stored(6, o[NG - 1][0], 64);
            _tile_stored(7, o[NG - 1][1], 64);
        }
    }
    fold_u(n_units - 1);
    for (int i = 0; i < nt; ++i)
        for (int h = 0; h < NH; ++h) {
            const int rows = n_rows - 16 * h;
            const __mmask16 mask = rows >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << rows) - 1u);
            for (int g = 0; g < NG; ++g) {
                __m512i in[16], out[16];
                for (int r = 0; r < 16; ++r) in[r] = _mm512_castps_si512(_mm512_load_ps(acc[i][h][g] + 16 * r));
                transpose16(in, out);  // acc[i][h][g][r][c] = y[16g + c][16h + r] of tile i
                for (int c = 16 * g; c < std::min(n_cols[i], 16 * g + 16); ++c)
                    _mm512_mask_storeu_ps(ycols[i][c] + 16 * h, mask, _mm512_castsi512_ps(out[c - 16 * g]));
            }
        }
}

// All tiles, in passes of kBatch, with the weights of src.
template <class Src>
void compute_all(Type w, const Src & src, const uint8_t * tiles, size_t tile_bytes, int n_tiles, int64_t K, int n_rows,
                 const int * n_cols, float * const * const * ycols) {
    configure_tiles(64);
    const int nh = n_rows > 16 ? 2 : 1;
    for (int t0 = 0; t0 < n_tiles; t0 += kBatch) {
        const int nt = std::min(kBatch, n_tiles - t0);
        int max_cols = 0;
        for (int i = 0; i < nt; ++i) max_cols = std::max(max_cols, n_cols[t0 + i]);
        const uint8_t * t = tiles + tile_bytes * (size_t)t0;
        if (w == Type::Q4_K) {
            if (max_cols > 16) compute_batch<true, 2>(src, t, tile_bytes, nt, K, nh, n_rows, n_cols + t0, ycols + t0);
            else compute_batch<true, 1>(src, t, tile_bytes, nt, K, nh, n_rows, n_cols + t0, ycols + t0);
        } else {
            if (max_cols > 16) compute_batch<false, 2>(src, t, tile_bytes, nt, K, nh, n_rows, n_cols + t0, ycols + t0);
            else compute_batch<false, 1>(src, t, tile_bytes, nt, K, nh, n_rows, n_cols + t0, ycols + t0);
        }
    }
}

}  // namespace

bool kq_has(Type w) { return w == Type::Q4_K || w == Type::Q6_K; }
size_t kq_panel_bytes(Type, int64_t K) { return panel_l(K).end; }
size_t kq_tile_bytes(Type, int64_t K) { return kq_tile_layout(K).end; }

void kq_pack_panel(Type w, const uint8_t * rows, size_t row_bytes, int n_rows, int64_t K, void * panel) {
    const PanelL L = panel_l(K);
    uint8_t * p = static_cast<uint8_t *>(panel);
    int8_t * lo = reinterpret_cast<int8_t *>(p + L.lo);
    int8_t * hi = reinterpret_cast<int8_t *>(p + L.hi);
    float * d = reinterpret_cast<float *>(p + L.d);
    float * nd = reinterpret_cast<float *>(p + L.nd);
    uint32_t * mn = reinterpret_cast<uint32_t *>(p + L.mn);
    // super-block by super-block across the rows, so that the panel is written in order
    const size_t sb_bytes = w == Type::Q4_K ? sizeof(block_q4_K) : sizeof(block_q6_K);
    for (int r = 0; r < n_rows; ++r)  // the first two super-blocks of every row, all misses at once
        for (size_t o = 0; o < sb_bytes * (size_t)std::min<int64_t>(2, L.nsb); o += 64)
            _mm_prefetch((const char *)(rows + row_bytes * (size_t)r + o), _MM_HINT_T0);
    for (int64_t s = 0; s < L.nsb; ++s) {
        for (int r = 0; r < n_rows; ++r)  // the weights stream from memory: ask for the super-block after next
            if (s + 2 < L.nsb)
                for (size_t o = 0; o < sb_bytes; o += 64)
                    _mm_prefetch((const char *)(rows + row_bytes * (size_t)r + sb_bytes * (size_t)(s + 2) + o), _MM_HINT_T0);
        if (w == Type::Q4_K) {
            for (int h = 0; 16 * h < n_rows; ++h)
                pack_half_q4_K(rows, row_bytes, std::min(16, n_rows - 16 * h), s, h, s, false, lo, hi, d, nd, mn);
        } else {
            for (int r = 0; r < n_rows; ++r)
                pack_row_q6_K(reinterpret_cast<const block_q6_K *>(rows + row_bytes * (size_t)r), s, s + 1, r, lo, hi, d, nd, mn);
        }
    }
    for (int r = n_rows; r < R; ++r)  // missing rows: zero codes and scales
        for (int64_t s = 0; s < L.nsb; ++s) {
            std::memset(lo + (size_t)(s * R + r) * 256, 0, 256);
            std::memset(hi + (size_t)(s * R + r) * 256, 0, 256);
            d[s * R + r] = nd[s * R + r] = 0.0f;
            for (int q = 0; q < 4; ++q) mn[(s * 4 + q) * R + r] = 0;
        }
}

void kq_pack_tile(Type w, const ActRows & a, const int64_t * ids, int n, int64_t K, void * tile) {
    const KqTileLayout L = kq_tile_layout(K);
    uint8_t * t = static_cast<uint8_t *>(tile);
    int8_t * q = reinterpret_cast<int8_t *>(t + L.q);
    float * da = reinterpret_cast<float *>(t + L.da);
    uint32_t * bs = reinterpret_cast<uint32_t *>(t + L.bs);
    if (n < C) std::memset(t + L.da, 0, L.end - L.da);
    for (int c = 0; c < n; ++c) {
        const block_q8_K * y = reinterpret_cast<const block_q8_K *>(a.row(ids[c]));
        for (int64_t s = 0; s < L.nsb; ++s) {
            da[s * C + c] = y[s].d;
            // the sums of the sub-blocks (Q4_K: 8 of 32, Q6_K: 16 of 16), from the quantizer's sums per 16
            // (both quantizers of quantize_acts write them, zero for an all-zero block)
            for (int p = 0; p < kBsPairs; ++p) {
                int32_t s0, s1;
                if (w == Type::Q4_K) {
                    if (p >= 4) break;
                    s0 = y[s].bsums[4 * p] + y[s].bsums[4 * p + 1];
                    s1 = y[s].bsums[4 * p + 2] + y[s].bsums[4 * p + 3];
                } else {
                    s0 = y[s].bsums[2 * p];
                    s1 = y[s].bsums[2 * p + 1];
                }
                bs[(s * kBsPairs + p) * C + c] = (uint32_t)(uint16_t)(int16_t)s0 | ((uint32_t)(uint16_t)(int16_t)s1 << 16);
            }
        }
    }
    // codes: 16 columns x 64 values at a time, transposed in registers
    for (int g = 0; g < C / 16; ++g)
        for (int64_t s = 0; s < L.nsb; ++s)
            for (int ch = 0; ch < 4; ++ch) {
                const int8_t * src[16];
                for (int i = 0; i < 16; ++i)
                    src[i] = 16 * g + i < n
                                 ? reinterpret_cast<const block_q8_K *>(a.row(ids[16 * g + i]))[s].qs + 64 * ch
                                 : nullptr;
                codes_to_vnni16(src, q + (s * 64 + 16 * ch) * (C * 4) + 64 * g, C * 4);
            }
}

void kq_compute_tiles(Type w, const void * panel, const uint8_t * tiles, size_t tile_bytes, int n_tiles, int64_t K,
                      int n_rows, const int * n_cols, float * const * const * ycols) {
    const PanelSrc src{static_cast<const uint8_t *>(panel), panel_l(K)};
    compute_all(w, src, tiles, tile_bytes, n_tiles, K, n_rows, n_cols, ycols);
}

bool kq_compute_raw(Type w, const uint8_t * rows, size_t row_bytes, int n_rows, int64_t K, const uint8_t * tiles,
                    size_t tile_bytes, int n_tiles, const int * n_cols, float * const * const * ycols) {
    if (n_tiles > kBatch) return false;  // more than one pass: the whole panel, packed once, is cheaper
    if (n_tiles == 1 && n_cols[0] <= narrow_max_cols(w)) {  // few columns: AVX512-VNNI, same result
        kq_compute_narrow(w, rows, row_bytes, n_rows, K, tiles, n_cols[0], ycols[0]);
        return true;
    }
    const size_t sb = panel_l(256).end;  // a multiple of 64
    static thread_local std::vector<uint8_t> mem;
    if (mem.size() < 2 * sb + 64) mem.assign(2 * sb + 64, 0);  // zeroed once: the rows past n_rows stay zero
    uint8_t * base = mem.data() + ((64 - ((uintptr_t)mem.data() & 63)) & 63);
    const PanelL L = panel_l(256);
    for (int i = 0; i < 2; ++i)  // rows past n_rows: zero codes and scales (left by an earlier, fuller panel)
        for (int r = n_rows; r < R; ++r) {
            uint8_t * p = base + sb * (size_t)i;
            std::memset(p + L.lo + (size_t)r * 256, 0, 256);
            std::memset(p + L.hi + (size_t)r * 256, 0, 256);
            reinterpret_cast<float *>(p + L.d)[r] = reinterpret_cast<float *>(p + L.nd)[r] = 0.0f;
            for (int q = 0; q < 4; ++q) reinterpret_cast<uint32_t *>(p + L.mn)[q * R + r] = 0;
        }
    const size_t sb_bytes = w == Type::Q4_K ? sizeof(block_q4_K) : sizeof(block_q6_K);
    for (int r = 0; r < n_rows; ++r)  // the first super-block of every row, all misses at once
        for (size_t o = 0; o < sb_bytes; o += 64)
            _mm_prefetch((const char *)(rows + row_bytes * (size_t)r + o), _MM_HINT_T0);
    const RawSrc src{w, rows, row_bytes, n_rows, K / 256, {base, base + sb}};
    compute_all(w, src, tiles, tile_bytes, n_tiles, K, n_rows, n_cols, ycols);
    return true;
}

void kq_compute(Type w, const void * panel, const void * tile, int64_t K, int n_rows, int n_cols, float * const * ycol) {
    kq_compute_tiles(w, panel, static_cast<const uint8_t *>(tile), 0, 1, K, n_rows, &n_cols, &ycol);
}

}  // namespace ld::ggml::mm::amx
