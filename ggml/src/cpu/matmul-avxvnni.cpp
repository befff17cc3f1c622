// AVX2 + AVX-VNNI matmul kernels (the avx2_vnni ISA: Intel Alder Lake and later cores without AVX-512):
// panels of R = 8 weight rows against tiles of C = 6 activation columns, register-tiled (6 int32 + 6 f32
// ymm accumulators; one weight load feeds six 256-bit vpdpbusd).
//
// Quantized types only (scheme in matmul-impl.h); F32 / F16 / BF16 weights run the avx2 table. The panel
// holds the unsigned codes dword-interleaved, [K/4][8 rows][4 bytes], so one ymm load gives 4 consecutive
// codes of 8 rows; the tile holds the int8 activation codes [K/4][C][4]. vpdpbusd(acc_c, codes,
// broadcast(4 activation codes of c)) accumulates the exact int32 sum of u*a for 8 rows x 1 column; an
// accumulator starts each block at -off*asum (the offset correction), so it ends the block holding the
// exact integer sum of (u - off)*a that the avx2 table's vpmaddubsw paths compute, and the block is folded
// as there (u8p::fold_block: acc_f += cvt(acc_i) * (s1 * da) (+ s2 * A for types with mins)). The result is
// therefore the avx2 table's, bit for bit (test-kernels-isa checks it), with one vpdpbusd per 32 products
// against the avx2 table's 2.5 to 4.25 instructions.
//
// Panel and tile layouts, and their packers: panel-u8-avx2.h (shared with the avx2 table).
#include <immintrin.h>

#include "matmul-impl.h"
#include "matmul-narrow-avxvnni.h"
#include "panel-u8-avx2.h"
#include "prefetch-stream.h"
#include "quantize-act-avx2.h"

namespace ld::ggml::mm {

namespace {

constexpr int C = kAvxVnniTileCols;

using u8p::R;

bool has(Type w) {
    QuantCfg c;
    return quant_cfg(w, c);
}

size_t panel_bytes(Type w, int64_t K) { return u8p::panel_layout(K, u8p::block_len(w)).end; }
size_t tile_bytes(Type w, int64_t K) { return u8p::tile_layout<C>(K, u8p::block_len(w)).end; }

// The integer micro-kernel: BG dword groups per scale block (bl / 4), MIN: types with s2, CC columns.
template <int BG, bool MIN, int CC>
void compute_quant_cc(const uint8_t * panel, const uint8_t * tile, int64_t K, int n_rows, int n_cols, float * const * ycol) {
    const u8p::PanelLayout P = u8p::panel_layout(K, 4 * BG);
    const u8p::TileLayout T = u8p::tile_layout<C>(K, 4 * BG);
    const int64_t nb = P.nb;
    const uint8_t * pq = panel;
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
    __m256 acc[CC];
    for (int c = 0; c < CC; ++c) acc[c] = _mm256_setzero_ps();
    for (int64_t b = 0; b < nb; ++b) {
        pf = prefetch_step(pf, pf_end, pf_step);
        __m256i ai[CC];
#pragma GCC unroll 6
        for (int c = 0; c < CC; ++c) ai[c] = _mm256_set1_epi32(corr[b * C + c]);
#pragma GCC unroll 8
        for (int g = 0; g < BG; ++g) {
            const __m256i wv = _mm256_load_si256((const __m256i *)(pq + (b * BG + g) * (R * 4)));
            const int32_t * a = tq + (b * BG + g) * C;
#pragma GCC unroll 6
            for (int c = 0; c < CC; ++c) ai[c] = _mm256_dpbusd_avx_epi32(ai[c], wv, _mm256_set1_epi32(a[c]));
        }
        // the avx2 table's fold (bit-identical results)
        const __m256 sc = _mm256_load_ps(s1 + b * R), mn = MIN ? _mm256_load_ps(s2 + b * R) : _mm256_setzero_ps();
#pragma GCC unroll 6
        for (int c = 0; c < CC; ++c) acc[c] = u8p::fold_block<MIN>(acc[c], ai[c], sc, da[b * C + c], mn, A[b * C + c]);
    }
    ps.p = pf;
    for (int c = 0; c < n_cols; ++c) u8p::store_rows(ycol[c], acc[c], n_rows);
}

// Runs only as many columns as the tile holds: small expert groups waste less.
template <int BG, bool MIN>
void compute_quant(const uint8_t * panel, const uint8_t * tile, int64_t K, int n_rows, int n_cols, float * const * ycol) {
    if (n_cols <= 2) compute_quant_cc<BG, MIN, 2>(panel, tile, K, n_rows, n_cols, ycol);
    else if (n_cols <= 4) compute_quant_cc<BG, MIN, 4>(panel, tile, K, n_rows, n_cols, ycol);
    else compute_quant_cc<BG, MIN, C>(panel, tile, K, n_rows, n_cols, ycol);
}

void compute(Type w, const void * panel, const void * tile, int64_t K, int n_rows, int n_cols, float * const * ycol) {
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

// A panel against one tile of at most kAvxVnniNarrowCols columns (single-token decoding): straight from the
// rows (matmul-narrow-avxvnni.cpp), the same result.
bool compute_raw(Type w, const uint8_t * rows, size_t row_bytes, int n_rows, int64_t K, const uint8_t * tiles, size_t,
                 int n_tiles, const int * n_cols, float * const * const * ycols) {
    if (n_tiles != 1 || n_cols[0] > kAvxVnniNarrowCols) return false;
    return avxvnni_narrow(w, rows, row_bytes, n_rows, K, tiles, n_cols[0], ycols[0]);
}

Kernels make_kernels() {
    Kernels k;
    k.R = R;
    k.C = C;
    k.has = &has;
    k.panel_bytes = &panel_bytes;
    k.tile_bytes = &tile_bytes;
    k.pack_panel = &u8p::pack_panel;
    k.pack_tile = &u8p::pack_tile<C>;
    k.compute = &compute;
    k.quantize_row = &actq::quantize_row;
    k.panel_bytes_read = &u8p::panel_bytes_read;
    k.compute_raw = &compute_raw;
    k.raw_max_tiles = [](Type) { return 1; };
    return k;
}

const Kernels kKernels = make_kernels();

}  // namespace

const Kernels * kernels_avx2_vnni() { return &kKernels; }

}  // namespace ld::ggml::mm
