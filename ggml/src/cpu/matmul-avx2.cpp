// AVX2 + FMA matmul kernels: panels of R = 8 weight rows against tiles of C = 4 activation columns.
//
// Quantized weights (scheme in matmul-impl.h): every type in the byte-code panel of panel-u8-avx2.h, u8
// codes [K/4][8 rows][4] against int8 activation dwords [K/4][C], multiplied with vpmaddubsw (u8 x s8 pairs
// to s16) and widened with vpmaddwd by ones; the bounds below keep every s16 exact (no saturation):
// - codes below 64 (Q4_0, Q4_1, Q5_0, Q5_1, Q2_K..Q6_K): vpmaddubsw(codes, activations) of two dword groups
//   added as s16: |sum| <= 4 * 63 * 128 = 32256; the block starts at corr = -off * asum
//   (2.5 instructions per 32 products);
// - the types with codes up to 255 (off = 128: Q8_0, IQ4_NL, IQ4_XS, MXFP4, the lattice types) as signed
//   values v = u - 128: vpmaddubsw(|v|, sign(a, v)) (|v| <= 128, |a| <= 127: |pair| <= 32512), one group per
//   widening (4.25 instructions per 32 products); a tile whose activation codes are all >= 0 (the
//   self-conditioning product's softmax weights) takes vpmaddubsw(a, v) (3 instructions). A tile holding
//   the code -128 (sign(a, v) cannot negate it; the quantizers give it only in blocks of scale 0) takes
//   u = 128 * (u >> 7) + (u & 127) with two vpmaddubsw against a and the offset correction (exact for any
//   code).
// Each block ends with acc_f += cvt(acc_i) * (s1 * da) (+ s2 * A): the same f32 operations on the same exact
// integers as the avx2_vnni table (bit-identical results). F32 / F16 / BF16 weights: f32 panel [K][8] and
// FMA against broadcast activations (f16 / bf16 activations as rounded by the reference quantizer).
#include <immintrin.h>

#include <algorithm>
#include <cstring>
#include <vector>

#include "ld-ggml/blocks.h"
#include "ld-ggml/fp16.h"
#include "matmul-impl.h"
#include "matmul-narrow-avx2.h"
#include "panel-u8-avx2.h"
#include "prefetch-stream.h"
#include "quantize-act-avx2.h"

namespace ld::ggml::mm {

namespace {

constexpr int R = 8;
constexpr int C = kAvx2TileCols;

static_assert(u8p::R == R, "the byte-code panel has the table's rows");

bool is_float(Type w) { return w == Type::F32 || w == Type::F16 || w == Type::BF16; }

bool has(Type w) {
    QuantCfg c;
    return is_float(w) || quant_cfg(w, c);
}

inline size_t up64(size_t n) { return (n + 63) & ~(size_t)63; }

// float panel: [K][8] f32; tile [K][C] f32; quantized: panel-u8-avx2.h
size_t panel_bytes(Type w, int64_t K) {
    if (is_float(w)) return up64((size_t)K * R * 4);
    return u8p::panel_layout(K, u8p::block_len(w)).end;
}

size_t tile_bytes(Type w, int64_t K) {
    if (is_float(w)) return up64((size_t)K * C * 4);
    return u8p::tile_layout<C>(K, u8p::block_len(w)).end;
}

size_t panel_bytes_read(Type w, int64_t K) {
    if (is_float(w)) return panel_bytes(w, K);
    return u8p::panel_bytes_read(w, K);
}

std::vector<float> & scratch_f32() {
    static thread_local std::vector<float> f;
    return f;
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
    if (!is_float(w)) {
        u8p::pack_panel(w, rows, row_bytes, n_rows, K, panel);
        return;
    }
    std::vector<float> & f = scratch_f32();
    float * p = static_cast<float *>(panel);
    f.resize((size_t)K);
    for (int r = 0; r < R; ++r) {
        if (r < n_rows) row_to_f32(w, rows + row_bytes * r, K, f.data());
        for (int64_t k = 0; k < K; ++k) p[k * R + r] = r < n_rows ? f[(size_t)k] : 0.0f;
    }
}

void pack_tile(Type w, const ActRows & a, const int64_t * ids, int n, int64_t K, void * tile) {
    if (!is_float(w)) {
        u8p::pack_tile<C>(w, a, ids, n, K, tile);
        return;
    }
    std::vector<float> & f = scratch_f32();
    float * t = static_cast<float *>(tile);
    std::memset(t, 0, (size_t)K * C * 4);
    f.resize((size_t)K);
    for (int c = 0; c < n; ++c) {
        row_to_f32(a.type, a.row(ids[c]), K, f.data());
        for (int64_t k = 0; k < K; ++k) t[k * C + c] = f[(size_t)k];
    }
}

// The products of one block of dword groups [g0, g0 + BG) into the int32 sums ai[c]; KIND: the integer path.
enum class Kind { small, signed_any, signed_nonneg, split };

template <Kind KIND, int BG>
inline void block_sums(const uint8_t * panel, const int32_t * tq, int64_t g0, __m256i * ai) {
    const __m256i ones = _mm256_set1_epi16(1);
    if (KIND == Kind::small) {  // codes < 64: two groups per widening
#pragma GCC unroll 4
        for (int g = 0; g < BG; g += 2) {
            const __m256i w0 = _mm256_load_si256((const __m256i *)(panel + (g0 + g) * (R * 4)));
            const __m256i w1 = _mm256_load_si256((const __m256i *)(panel + (g0 + g + 1) * (R * 4)));
            const int32_t * a0 = tq + (g0 + g) * C;
            const int32_t * a1 = a0 + C;
#pragma GCC unroll 4
            for (int c = 0; c < C; ++c) {
                const __m256i p = _mm256_add_epi16(_mm256_maddubs_epi16(w0, _mm256_set1_epi32(a0[c])),
                                                   _mm256_maddubs_epi16(w1, _mm256_set1_epi32(a1[c])));
                ai[c] = _mm256_add_epi32(ai[c], _mm256_madd_epi16(p, ones));
            }
        }
    } else if (KIND == Kind::split) {  // u = 128 * hi + lo against any a: |pairs| <= 127 * 128 * 2
        const __m256i m7 = _mm256_set1_epi8(0x7F), m1 = _mm256_set1_epi8(1);
#pragma GCC unroll 8
        for (int g = 0; g < BG; ++g) {
            const __m256i u = _mm256_load_si256((const __m256i *)(panel + (g0 + g) * (R * 4)));
            const __m256i lo = _mm256_and_si256(u, m7), hi = _mm256_and_si256(_mm256_srli_epi16(u, 7), m1);
            const int32_t * a = tq + (g0 + g) * C;
#pragma GCC unroll 4
            for (int c = 0; c < C; ++c) {
                const __m256i av = _mm256_set1_epi32(a[c]);
                const __m256i sl = _mm256_madd_epi16(_mm256_maddubs_epi16(lo, av), ones);
                const __m256i sh = _mm256_madd_epi16(_mm256_maddubs_epi16(hi, av), ones);
                ai[c] = _mm256_add_epi32(ai[c], _mm256_add_epi32(sl, _mm256_slli_epi32(sh, 7)));
            }
        }
    } else {  // signed values v = u - 128: one group per widening
        const __m256i flip = _mm256_set1_epi8((char)0x80);
#pragma GCC unroll 8
        for (int g = 0; g < BG; ++g) {
            const __m256i v = _mm256_xor_si256(_mm256_load_si256((const __m256i *)(panel + (g0 + g) * (R * 4))), flip);
            const int32_t * a = tq + (g0 + g) * C;
            if (KIND == Kind::signed_nonneg) {
#pragma GCC unroll 4
                for (int c = 0; c < C; ++c)
                    ai[c] = _mm256_add_epi32(ai[c], _mm256_madd_epi16(_mm256_maddubs_epi16(_mm256_set1_epi32(a[c]), v), ones));
            } else {
                const __m256i av = _mm256_abs_epi8(v);
#pragma GCC unroll 4
                for (int c = 0; c < C; ++c)
                    ai[c] = _mm256_add_epi32(
                        ai[c], _mm256_madd_epi16(_mm256_maddubs_epi16(av, _mm256_sign_epi8(_mm256_set1_epi32(a[c]), v)), ones));
            }
        }
    }
}

// BG dword groups per scale block (bl / 4), MIN: types with s2.
template <Kind KIND, int BG, bool MIN>
void compute_quant(const uint8_t * panel, const uint8_t * tile, int64_t K, int n_rows, int n_cols, float * const * ycol) {
    const u8p::PanelLayout P = u8p::panel_layout(K, 4 * BG);
    const u8p::TileLayout T = u8p::tile_layout<C>(K, 4 * BG);
    const int64_t nb = P.nb;
    const float * s1 = reinterpret_cast<const float *>(panel + P.s1);
    const float * s2 = reinterpret_cast<const float *>(panel + P.s2);
    const int32_t * tq = reinterpret_cast<const int32_t *>(tile);
    const float * da = reinterpret_cast<const float *>(tile + T.da);
    const int32_t * corr = reinterpret_cast<const int32_t *>(tile + T.corr);
    const float * A = reinterpret_cast<const float *>(tile + T.A);
    PrefetchStream & ps = prefetch_stream();  // the next panel's rows, a few lines per block
    const char * pf = ps.p;
    const char * const pf_end = ps.end;
    const int pf_step = ps.per_step;
    __m256 acc[C];
    for (int c = 0; c < C; ++c) acc[c] = _mm256_setzero_ps();
    for (int64_t b = 0; b < nb; ++b) {
        pf = prefetch_step(pf, pf_end, pf_step);
        __m256i ai[C];
        for (int c = 0; c < C; ++c)  // the signed paths multiply u - 128 itself: no offset correction
            ai[c] = KIND == Kind::small || KIND == Kind::split ? _mm256_set1_epi32(corr[b * C + c]) : _mm256_setzero_si256();
        block_sums<KIND, BG>(panel, tq, b * BG, ai);
        const __m256 sc = _mm256_load_ps(s1 + b * R), mn = MIN ? _mm256_load_ps(s2 + b * R) : _mm256_setzero_ps();
#pragma GCC unroll 4
        for (int c = 0; c < C; ++c) acc[c] = u8p::fold_block<MIN>(acc[c], ai[c], sc, da[b * C + c], mn, A[b * C + c]);
    }
    ps.p = pf;
    for (int c = 0; c < n_cols; ++c) u8p::store_rows(ycol[c], acc[c], n_rows);
}

template <Kind KIND, bool MIN>
void compute_bl(int bl, const uint8_t * p, const uint8_t * t, int64_t K, int n_rows, int n_cols, float * const * ycol) {
    if (bl == 32) compute_quant<KIND, 8, MIN>(p, t, K, n_rows, n_cols, ycol);
    else compute_quant<KIND, 4, MIN>(p, t, K, n_rows, n_cols, ycol);
}

void compute_f32(const float * panel, const float * tile, int64_t K, int n_rows, int n_cols, float * const * ycol) {
    __m256 acc[C];
    for (int c = 0; c < C; ++c) acc[c] = _mm256_setzero_ps();
    for (int64_t k = 0; k < K; ++k) {
        const __m256 wv = _mm256_load_ps(panel + k * R);
#pragma GCC unroll 4
        for (int c = 0; c < C; ++c) acc[c] = _mm256_fmadd_ps(wv, _mm256_set1_ps(tile[k * C + c]), acc[c]);
    }
    for (int c = 0; c < n_cols; ++c) u8p::store_rows(ycol[c], acc[c], n_rows);
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
    if (c.off == 128) {  // codes up to 255, no mins (every such type)
        const u8p::TileLayout T = u8p::tile_layout<C>(K, c.bl);
        const int32_t flags = *reinterpret_cast<const int32_t *>(t + T.flags);
        if (flags & u8p::kTileNonneg) compute_bl<Kind::signed_nonneg, false>(c.bl, p, t, K, n_rows, n_cols, ycol);
        else if (flags & u8p::kTileMin128) compute_bl<Kind::split, false>(c.bl, p, t, K, n_rows, n_cols, ycol);
        else compute_bl<Kind::signed_any, false>(c.bl, p, t, K, n_rows, n_cols, ycol);
    } else {  // codes below 64 (off <= 32)
        if (c.has_min) compute_bl<Kind::small, true>(c.bl, p, t, K, n_rows, n_cols, ycol);
        else compute_bl<Kind::small, false>(c.bl, p, t, K, n_rows, n_cols, ycol);
    }
}

// A panel of a quantized type against one tile of at most kAvx2NarrowCols columns (single-token decoding):
// straight from the rows (matmul-narrow-avx2.cpp), the same result.
bool compute_raw(Type w, const uint8_t * rows, size_t row_bytes, int n_rows, int64_t K, const uint8_t * tiles, size_t,
                 int n_tiles, const int * n_cols, float * const * const * ycols) {
    if (is_float(w) || n_tiles != 1 || n_cols[0] > kAvx2NarrowCols) return false;
    return avx2_narrow(w, rows, row_bytes, n_rows, K, tiles, n_cols[0], ycols[0]);
}

Kernels make_kernels() {
    Kernels k;
    k.R = R;
    k.C = C;
    k.has = &has;
    k.panel_bytes = &panel_bytes;
    k.tile_bytes = &tile_bytes;
    k.pack_panel = &pack_panel;
    k.pack_tile = &pack_tile;
    k.compute = &compute;
    k.quantize_row = &actq::quantize_row;
    k.panel_bytes_read = &panel_bytes_read;
    k.compute_raw = &compute_raw;
    k.raw_max_tiles = [](Type) { return 1; };
    return k;
}

const Kernels kKernels = make_kernels();

}  // namespace

const Kernels * kernels_avx2() { return &kKernels; }

}  // namespace ld::ggml::mm
