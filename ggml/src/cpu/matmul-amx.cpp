// Intel AMX-INT8 matmul kernels for the quantized weight types (scheme in matmul-impl.h): panels of
// R = 32 weight rows against tiles of C = 32 activation columns (two groups of 16). F32 / F16 / BF16
// weights are not here (kernels_for gives them the avx512 table); the activation quantizer is the
// avx512 one. This file: the tile configuration, the kernel table and the per-block path of every
// quantized type; Q4_K and Q6_K take the super-block path of matmul-kquant-amx.cpp instead.
//
// Per-block path. Panel: signed weight codes u - off (every type's codes fit int8 after the offset),
// block-major [nb][R][bl], so the 16 rows x bl bytes of one block and one half of the panel are one
// contiguous tile load (the A operand of tdpbssd); then s1[nb][R], s2[nb][R] (f32).
// Tile: the int8 activation codes in the VNNI layout [K/4][C][4] (block b of column group g is bl/4
// rows of 64 bytes at stride 128, the B operand), then da[nb][C] and A[nb][C] (f32), asum[nb][C] (int32, for the
// VNNI path of few columns: matmul-block-narrow-amx.cpp); block_tile_layout in matmul-amx.h.
// Per block, half of the panel and column group: one tdpbssd into a zeroed 16x16 int32 tile (row =
// weight row, column = activation column; exact, the same integers as the generic dot products),
// stored to a buffer and folded into 16 f32 zmm accumulators: acc[r] += cvt(int[r]) * da[b] * s1[b, r]
// (+ A[b] * s2[b, r] for types with mins). Four product tiles rotate so that the products run ahead
// of the folds. The accumulators are transposed once at the end.
#include "avx512-intrinsics.h"

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <vector>

#include "ld-ggml/blocks.h"
#include "ld-ggml/fp16.h"
#include "matmul-amx.h"
#include "prefetch-stream.h"
#include "transpose-avx512.h"
#include "quant-decode.h"

namespace ld::ggml::mm {

namespace amx {

// ---- tile configuration (per thread; Linux keeps it across context switches) ----

struct alignas(64) TileCfg {
    uint8_t palette = 1, start_row = 0;
    uint8_t reserved[14] = {};
    uint16_t colsb[16] = {};
    uint8_t rows[16] = {};
};

void configure_tiles(int bl) {
    static thread_local int configured_bl = 0;
    if (configured_bl == bl) return;
    TileCfg cfg;
    for (int t = 0; t < 2; ++t) {
        cfg.rows[t] = 16; cfg.colsb[t] = (uint16_t)bl;
        cfg.rows[2 + t] = (uint8_t)(bl / 4); cfg.colsb[2 + t] = 64;
    }
    for (int t = 4; t < 8; ++t) { cfg.rows[t] = 16; cfg.colsb[t] = 64; }
    // (not _tile_loadconfig: GCC 12's version tells the compiler that only 8 bytes are read, and the
    // stores of the rest of the configuration are dropped)
    __asm__ volatile("ldtilecfg %0" ::"m"(cfg));
    configured_bl = bl;
}

void transpose16(const void * rin, void * oout) {
    transpose16x16_epi32(static_cast<const __m512i *>(rin), static_cast<__m512i *>(oout));
}

void codes_to_vnni16(const int8_t * const * src, int8_t * dst, int64_t stride, int n_out) {
    __m512i r[16], o[16];
    for (int i = 0; i < 16; ++i) r[i] = src[i] ? _mm512_loadu_si512((const void *)src[i]) : _mm512_setzero_si512();
    transpose16(r, o);
    for (int j = 0; j < n_out; ++j) _mm512_storeu_si512((void *)(dst + j * stride), o[j]);
}

namespace {

bool has(Type w) {
    QuantCfg c;
    return quant_cfg(w, c);
}

struct Layout {  // byte offsets inside a panel or a tile
    int64_t nb;
    size_t q, s1, s2, end;
};

Layout panel_layout(int bl, int64_t K) {
    Layout L;
    L.nb = K / bl;
    L.q = 0;
    L.s1 = up64((size_t)K * R);
    L.s2 = L.s1 + up64((size_t)L.nb * R * 4);
    L.end = L.s2 + up64((size_t)L.nb * R * 4);
    return L;
}


QuantCfg cfg_of(Type w) {
    QuantCfg c;
    quant_cfg(w, c);
    return c;
}

size_t panel_bytes(Type w, int64_t K) { return kq_has(w) ? kq_panel_bytes(w, K) : panel_layout(cfg_of(w).bl, K).end; }
size_t tile_bytes(Type w, int64_t K) { return kq_has(w) ? kq_tile_bytes(w, K) : block_tile_layout(cfg_of(w).bl, K).end; }

struct Scratch {
    std::vector<uint8_t> u;
    std::vector<float> s1, s2;
    std::vector<int8_t> qs;
    std::vector<int32_t> asum;
};
Scratch & scratch() {
    static thread_local Scratch s;
    return s;
}

// ---- panel packing ----

// 32 unsigned codes of values k0..k0+31 of row r -> signed codes (u - off) at their block slots.
struct PanelWriter {
    int8_t * q;
    int bl;
    __m256i off;
    inline void put32(int r, int64_t k0, __m256i u) const {
        const __m256i s = _mm256_sub_epi8(u, off);
        if (bl == 32) {
            _mm256_storeu_si256((__m256i *)(q + ((k0 / 32) * R + r) * 32), s);
        } else {  // two 16-blocks
            const int64_t b = k0 / 16;
            _mm_storeu_si128((__m128i *)(q + (b * R + r) * 16), _mm256_castsi256_si128(s));
            _mm_storeu_si128((__m128i *)(q + ((b + 1) * R + r) * 16), _mm256_extracti128_si256(s, 1));
        }
    }
};

inline __m256i nibbles16(const uint8_t * qs) {  // 16 bytes -> 32 codes: low nibbles then high nibbles
    const __m128i v = _mm_loadu_si128((const __m128i *)qs);
    const __m128i m = _mm_set1_epi8(15);
    return _mm256_set_m128i(_mm_and_si128(_mm_srli_epi16(v, 4), m), _mm_and_si128(v, m));
}

// Vector unpackers of the hot legacy types, straight into the panel (the codes of unpack_row; the
// F16C conversion gives fp16_to_f32's value for every finite scale).
template <Type W>
inline void decode_block(const uint8_t * row, int64_t b, __m256i & u, float & d) {
    if (W == Type::Q4_0) {
        const block_q4_0 & x = reinterpret_cast<const block_q4_0 *>(row)[b];
        u = nibbles16(x.qs);
        d = _cvtsh_ss(x.d);
    } else if (W == Type::Q5_0) {
        const block_q5_0 & x = reinterpret_cast<const block_q5_0 *>(row)[b];
        uint32_t qh;
        std::memcpy(&qh, x.qh, 4);
        u = _mm256_or_si256(nibbles16(x.qs), _mm256_and_si256(_mm256_movm_epi8((__mmask32)qh), _mm256_set1_epi8(16)));
        d = _cvtsh_ss(x.d);
    } else {
        const block_q8_0 & x = reinterpret_cast<const block_q8_0 *>(row)[b];
        u = _mm256_xor_si256(_mm256_loadu_si256((const __m256i *)x.qs), _mm256_set1_epi8((char)0x80));
        d = _cvtsh_ss(x.d);
    }
}

// The hot legacy types, block by block across the rows so that the panel is written in order.
template <Type W>
void pack_legacy(const uint8_t * rows, size_t row_bytes, int n_rows, int64_t nb, const PanelWriter & P, float * s1,
                 float * s2) {
    constexpr size_t BB = W == Type::Q4_0 ? sizeof(block_q4_0) : W == Type::Q5_0 ? sizeof(block_q5_0) : sizeof(block_q8_0);
    for (int r = 0; r < n_rows; ++r)  // the first 8 blocks of every row, all misses at once
        for (size_t o = 0; o < BB * (size_t)std::min<int64_t>(8, nb); o += 64)
            _mm_prefetch((const char *)(rows + row_bytes * (size_t)r + o), _MM_HINT_T0);
    for (int64_t b = 0; b < nb; ++b) {
        for (int r = 0; r < n_rows; ++r) {
            const uint8_t * row = rows + row_bytes * (size_t)r;
            if (b % 2 == 0 && b + 8 < nb) _mm_prefetch((const char *)(row + BB * (size_t)(b + 8)), _MM_HINT_T0);
            __m256i u;
            float d;
            decode_block<W>(row, b, u, d);
            P.put32(r, 32 * b, u);
            s1[b * R + r] = d;
            s2[b * R + r] = 0.0f;
        }
    }
}

bool unpack_panel_fast(Type w, const uint8_t * rows, size_t row_bytes, int n_rows, int64_t K, const PanelWriter & P,
                       float * s1, float * s2) {
    switch (w) {
        case Type::Q4_0: pack_legacy<Type::Q4_0>(rows, row_bytes, n_rows, K / 32, P, s1, s2); return true;
        case Type::Q5_0: pack_legacy<Type::Q5_0>(rows, row_bytes, n_rows, K / 32, P, s1, s2); return true;
        case Type::Q8_0: pack_legacy<Type::Q8_0>(rows, row_bytes, n_rows, K / 32, P, s1, s2); return true;
        default: return false;
    }
}

void pack_panel(Type w, const uint8_t * rows, size_t row_bytes, int n_rows, int64_t K, void * panel) {
    if (kq_has(w)) {
        kq_pack_panel(w, rows, row_bytes, n_rows, K, panel);
        return;
    }
    const QuantCfg cf = cfg_of(w);
    const Layout L = panel_layout(cf.bl, K);
    uint8_t * p = static_cast<uint8_t *>(panel);
    const PanelWriter P{reinterpret_cast<int8_t *>(p + L.q), cf.bl, _mm256_set1_epi8((char)cf.off)};
    float * s1 = reinterpret_cast<float *>(p + L.s1);
    float * s2 = reinterpret_cast<float *>(p + L.s2);
    Scratch & S = scratch();
    const bool fast = unpack_panel_fast(w, rows, row_bytes, n_rows, K, P, s1, s2);
    for (int r = 0; r < n_rows && !fast; ++r) {
        if (r + 2 < n_rows) {  // the weights stream from memory: ask for the row after next
            const uint8_t * nx = rows + row_bytes * (size_t)(r + 2);
            for (size_t o = 0; o < row_bytes; o += 64) _mm_prefetch((const char *)nx + o, _MM_HINT_T0);
        }
        const uint8_t * src = rows + row_bytes * (size_t)r;
        S.u.resize((size_t)K);
        S.s1.resize((size_t)L.nb);
        S.s2.resize((size_t)L.nb);
        unpack_row(w, src, K, S.u.data(), S.s1.data(), S.s2.data());
        for (int64_t k0 = 0; k0 < K; k0 += 32) P.put32(r, k0, _mm256_loadu_si256((const __m256i *)(S.u.data() + k0)));
        for (int64_t b = 0; b < L.nb; ++b) {
            s1[b * R + r] = S.s1[(size_t)b];
            s2[b * R + r] = S.s2[(size_t)b];
        }
    }
    // missing rows: zero codes and scales (their sums never reach the output)
    for (int r = n_rows; r < R; ++r) {
        for (int64_t b = 0; b < L.nb; ++b) {
            std::memset(p + L.q + (size_t)(b * R + r) * cf.bl, 0, (size_t)cf.bl);
            s1[b * R + r] = 0.0f;
            s2[b * R + r] = 0.0f;
        }
    }
}

// ---- activation tiles ----

void pack_tile(Type w, const ActRows & a, const int64_t * ids, int n, int64_t K, void * tile) {
    if (kq_has(w)) {
        kq_pack_tile(w, a, ids, n, K, tile);
        return;
    }
    const QuantCfg cf = cfg_of(w);
    const BlockTileLayout L = block_tile_layout(cf.bl, K);
    uint8_t * t = static_cast<uint8_t *>(tile);
    uint32_t * q = reinterpret_cast<uint32_t *>(t + L.q);
    float * da = reinterpret_cast<float *>(t + L.da);
    float * A = reinterpret_cast<float *>(t + L.A);
    int32_t * asum = reinterpret_cast<int32_t *>(t + L.asum);
    if (n < C) std::memset(t + L.da, 0, L.end - L.da);
    Scratch & S = scratch();
    const int64_t K64 = (K + 63) / 64 * 64;  // columns' codes padded with zeros to whole chunks
    S.qs.resize((size_t)(K64 * n));
    S.s1.resize((size_t)L.nb);
    S.s2.resize((size_t)L.nb);
    S.asum.resize((size_t)L.nb);
    for (int c = 0; c < n; ++c) {
        int8_t * qc = S.qs.data() + K64 * c;
        act_blocks(a.type, cf.bl, a.row(ids[c]), K, qc, S.s1.data(), S.asum.data(), S.s2.data());
        std::memset(qc + K, 0, (size_t)(K64 - K));
        for (int64_t b = 0; b < L.nb; ++b) {
            da[b * C + c] = S.s1[(size_t)b];
            A[b * C + c] = S.s2[(size_t)b];
            asum[b * C + c] = S.asum[(size_t)b];
        }
    }
    // codes: 16 columns x 64 values at a time, transposed in registers
    int8_t * tq = reinterpret_cast<int8_t *>(q);
    for (int g = 0; g < C / 16; ++g)
        for (int64_t k0 = 0; k0 < K; k0 += 64) {
            const int8_t * src[16];
            for (int i = 0; i < 16; ++i) src[i] = 16 * g + i < n ? S.qs.data() + K64 * (16 * g + i) + k0 : nullptr;
            codes_to_vnni16(src, tq + (k0 / 4) * (C * 4) + 64 * g, C * 4, (int)std::min<int64_t>(16, (K - k0) / 4));
        }
}

// acc[r] += cvt(prod[r]) * da * s1[r] (+ A * s2[r])
template <bool MIN>
inline void fold(__m512 * acc, const int32_t * prod, const float * da, const float * A, const float * s1, const float * s2) {
    const __m512 d = _mm512_load_ps(da);
    const __m512 a = MIN ? _mm512_load_ps(A) : _mm512_setzero_ps();
#pragma GCC unroll 16
    for (int r = 0; r < 16; ++r) {
        const __m512 v = _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_load_si512((const void *)(prod + 16 * r))), d);
        acc[r] = _mm512_fmadd_ps(v, _mm512_set1_ps(s1[r]), acc[r]);
        if (MIN) acc[r] = _mm512_fmadd_ps(a, _mm512_set1_ps(s2[r]), acc[r]);
    }
}

// One block's product into tile TC (weights in tile TA, activations in tile TB); the tile numbers
// must be literals (they are pasted into the instructions).
#define LD_AMX_PRODUCT(TA, TB, TC, b)                          \
    do {                                                       \
        _tile_loadd(TA, pq + (b) * pq_block, pq_stride);       \
        _tile_loadd(TB, tq + (b) * (C * BL), C * 4);           \
        _tile_zero(TC);                                        \
        _tile_dpbssd(TC, TA, TB);                              \
    } while (0)

// One half (16 weight rows) of the weights against column group g of the tile, all blocks; BL: block length. The
// codes of block b of the 16 rows: 16 x BL bytes at pq + b * pq_block, pq_stride bytes per row (a packed panel, or
// the rows of Q8_0 weights themselves); their scales s1 (and s2) [b * R + r]. Block b's product goes to tile
// 4 + b%4 and buffer b%4 and is folded three blocks later, so the products and the stores run ahead of the folds.
// pf: pf_bytes of memory to bring into L2 meanwhile (the weights of the next panel), spread over the blocks.
template <int BL, bool MIN>
void compute_half_codes(const int8_t * pq, int64_t pq_block, int64_t pq_stride, const float * s1, const float * s2,
                        const uint8_t * tile, int64_t K, int half, int g, int n_rows, int n_cols, float * const * ycol,
                        const char * pf = nullptr, int64_t pf_bytes = 0) {
    const BlockTileLayout T = block_tile_layout(BL, K);
    const int64_t nb = T.nb;
    const int64_t pf_step = pf ? (pf_bytes / 64 + nb) / nb * 64 : 0;  // bytes to prefetch per block
    const int8_t * tq = reinterpret_cast<const int8_t *>(tile + T.q) + 64 * g;
    const float * da = reinterpret_cast<const float *>(tile + T.da) + 16 * g;
    const float * A = reinterpret_cast<const float *>(tile + T.A) + 16 * g;
    alignas(64) int32_t prod[4][256];
    __m512 acc[16];
    for (int r = 0; r < 16; ++r) acc[r] = _mm512_setzero_ps();
    auto fold_b = [&](int64_t b) { fold<MIN>(acc, prod[b % 4], da + b * C, A + b * C, s1 + b * R, s2 + b * R); };
#define LD_AMX_STEP(J, TA, TB, TC)                       \
    do {                                                \
        LD_AMX_PRODUCT(TA, TB, TC, b + J);              \
        if (pf) prefetch_l2(pf, pf_bytes, (b + J) * pf_step, pf_step); \
        if (b + J >= 3) fold_b(b + J - 3);              \
        _tile_stored(TC, prod[J], 64);                  \
    } while (0)
    int64_t b = 0;
    for (; b + 4 <= nb; b += 4) {
        LD_AMX_STEP(0, 0, 2, 4);
        LD_AMX_STEP(1, 1, 3, 5);
        LD_AMX_STEP(2, 0, 2, 6);
        LD_AMX_STEP(3, 1, 3, 7);
    }
    if (b < nb) LD_AMX_STEP(0, 0, 2, 4);
    if (b + 1 < nb) LD_AMX_STEP(1, 1, 3, 5);
    if (b + 2 < nb) LD_AMX_STEP(2, 0, 2, 6);
#undef LD_AMX_STEP
    for (int64_t f = nb >= 3 ? nb - 3 : 0; f < nb; ++f) fold_b(f);
    // acc[r][c] = y[c][16*half + r] -> one row of 16 outputs per column
    __m512i o[16];
    transpose16(acc, o);
    const int rows = n_rows - 16 * half;
    const __mmask16 mask = rows >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << rows) - 1u);
    for (int c = 16 * g; c < std::min(n_cols, 16 * g + 16); ++c)
        _mm512_mask_storeu_ps(ycol[c] + 16 * half, mask, _mm512_castsi512_ps(o[c - 16 * g]));
}

// compute_half_codes on a packed panel, prefetching pf_bytes at pf meanwhile
template <int BL, bool MIN>
void compute_half(const uint8_t * panel, const uint8_t * tile, int64_t K, int half, int g, int n_rows, int n_cols,
                  float * const * ycol, const char * pf, int64_t pf_bytes) {
    const Layout P = panel_layout(BL, K);
    compute_half_codes<BL, MIN>(reinterpret_cast<const int8_t *>(panel + P.q) + 16 * BL * half, R * BL, BL,
                                reinterpret_cast<const float *>(panel + P.s1) + 16 * half,
                                reinterpret_cast<const float *>(panel + P.s2) + 16 * half, tile, K, half, g, n_rows, n_cols,
                                ycol, pf, pf_bytes);
}

template <int BL, bool MIN>
void compute_quant(const uint8_t * panel, const uint8_t * tile, int64_t K, int n_rows, int n_cols, float * const * ycol) {
    configure_tiles(BL);
    // the rows after the panel (the driver's prefetch stream, prefetch-stream.h: usually the next panel) come
    // into L2 meanwhile, each half of the first column group bringing half of them; moe down Q5_0 at 256
    // tokens: 54.5 -> 46.5 ms per core (bench/results/step-amx-bf16-soft.md)
    PrefetchStream & ps = prefetch_stream();
    const char * const nx = ps.p;
    const int64_t nx_bytes = nx && ps.end > nx ? (int64_t)(ps.end - nx) : 0;
    ps = PrefetchStream{};
    for (int half = 0; half < 2 && 16 * half < n_rows; ++half)
        for (int g = 0; g < 2 && 16 * g < n_cols; ++g)
            compute_half<BL, MIN>(panel, tile, K, half, g, n_rows, n_cols, ycol,
                                  g == 0 && nx_bytes ? nx + half * (nx_bytes / 2) : nullptr, nx_bytes / 2);
}

void compute(Type w, const void * panel, const void * tile, int64_t K, int n_rows, int n_cols, float * const * ycol) {
    if (kq_has(w)) {
        kq_compute(w, panel, tile, K, n_rows, n_cols, ycol);
        return;
    }
    const QuantCfg c = cfg_of(w);
    const uint8_t * p = static_cast<const uint8_t *>(panel);
    const uint8_t * t = static_cast<const uint8_t *>(tile);
    if (c.bl == 32) {
        if (c.has_min) compute_quant<32, true>(p, t, K, n_rows, n_cols, ycol);
        else compute_quant<32, false>(p, t, K, n_rows, n_cols, ycol);
    } else {
        if (c.has_min) compute_quant<16, true>(p, t, K, n_rows, n_cols, ycol);
        else compute_quant<16, false>(p, t, K, n_rows, n_cols, ycol);
    }
}

bool quantize_row(Type w, const float * x, void * dst, int64_t K) {
    const Kernels * k = kernels_avx512();
    return k && k->quantize_row && k->quantize_row(w, x, dst, K);
}

// Q4_K / Q6_K: several tiles per pass over the panel; the per-block path: one tile at a time.
void compute_tiles(Type w, const void * panel, const uint8_t * tiles, size_t tile_bytes, int n_tiles, int64_t K,
                   int n_rows, const int * n_cols, float * const * const * ycols) {
    if (kq_has(w)) {
        kq_compute_tiles(w, panel, tiles, tile_bytes, n_tiles, K, n_rows, n_cols, ycols);
        return;
    }
    for (int i = 0; i < n_tiles; ++i) compute(w, panel, tiles + tile_bytes * (size_t)i, K, n_rows, n_cols[i], ycols[i]);
}

// Q8_0, one tile, a whole panel of rows: the weight tiles are loaded from the rows themselves (a Q8_0 block is
// its fp16 scale then 32 int8 codes, the panel's codes exactly), so nothing is packed; only the scales are
// gathered, [b * R + r] for the 32 rows. The same products and folds as compute_quant on the packed panel.
// Meanwhile the rows after the panel (the next panel, usually this task's next) are brought into L2: moe down
// Q8_0 at 256 tokens 58 -> 45 ms per core (bench/results/step-amx-bf16-soft.md). Prefetches past the end of the
// weights are harmless (they never fault).
bool compute_raw_q8_0(const uint8_t * rows, size_t row_bytes, int n_rows, int64_t K, const uint8_t * tile, int n_cols,
                      float * const * ycol) {
    if (n_rows != R) return false;  // a partial panel: the tile loads would read past the last row
    const int64_t nb = K / 32;
    static thread_local std::vector<float> s1;
    if (s1.size() < (size_t)(nb * R)) s1.resize((size_t)(nb * R));
    for (int r = 0; r < R; ++r) {
        const block_q8_0 * x = reinterpret_cast<const block_q8_0 *>(rows + row_bytes * (size_t)r);
        for (int64_t b = 0; b < nb; ++b) s1[(size_t)(b * R + r)] = _cvtsh_ss(x[b].d);
    }
    configure_tiles(32);
    const int8_t * q0 = reinterpret_cast<const int8_t *>(rows) + offsetof(block_q8_0, qs);
    for (int half = 0; half < 2; ++half)
        for (int g = 0; g < 2 && 16 * g < n_cols; ++g)
            compute_half_codes<32, false>(q0 + 16 * row_bytes * (size_t)half, (int64_t)sizeof(block_q8_0), (int64_t)row_bytes,
                                          s1.data() + 16 * half, s1.data() + 16 * half /* not read: no mins */, tile, K, half,
                                          g, n_rows, n_cols, ycol,
                                          g == 0 ? (const char *)rows + row_bytes * (size_t)(R + 16 * half) : nullptr,
                                          16 * (int64_t)row_bytes);
    return true;
}

// Q4_K / Q6_K with tiles for one pass: packed one super-block at a time into L1 (kq_compute_raw); Q8_0 with one
// tile: straight from the rows (compute_raw_q8_0). Q8_0, Q5_0, Q4_0 with one tile of at most
// narrow_max_cols(w) columns: block_compute_narrow.
bool compute_raw(Type w, const uint8_t * rows, size_t row_bytes, int n_rows, int64_t K, const uint8_t * tiles,
                 size_t tile_bytes, int n_tiles, const int * n_cols, float * const * const * ycols) {
    // few columns: AVX512-VNNI, same result (its row unpackers gather with int32 row offsets: rows of over
    // 128 MB take the tiles)
    if (block_narrow_has(w) && n_tiles == 1 && n_cols[0] <= narrow_max_cols(w) && row_bytes <= (size_t)INT32_MAX / 16) {
        block_compute_narrow(w, rows, row_bytes, n_rows, K, tiles, n_cols[0], ycols[0]);
        return true;
    }
    if (w == Type::Q8_0) return n_tiles == 1 && compute_raw_q8_0(rows, row_bytes, n_rows, K, tiles, n_cols[0], ycols[0]);
    return kq_has(w) && kq_compute_raw(w, rows, row_bytes, n_rows, K, tiles, tile_bytes, n_tiles, n_cols, ycols);
}

// The per-block path reads s2 only for types with mins (compute_half<BL, MIN>): the rest stops at s1.
size_t panel_bytes_read(Type w, int64_t K) {
    if (kq_has(w)) return kq_panel_bytes(w, K);
    const QuantCfg c = cfg_of(w);
    const Layout L = panel_layout(c.bl, K);
    return c.has_min ? L.end : L.s2;
}

const Kernels kKernels = {R, C, &has, &panel_bytes, &tile_bytes, &pack_panel, &pack_tile, &compute, &quantize_row,
                          &compute_tiles, &compute_raw, &panel_bytes_read};

}  // namespace

}  // namespace amx

const Kernels * kernels_amx() { return &amx::kKernels; }

}  // namespace ld::ggml::mm
