// Internal interface between the two AMX matmul files: matmul-amx.cpp (the kernel table, the per-block
// path of every quantized type) and matmul-kquant-amx.cpp (the super-block path of Q4_K and Q6_K,
// whose integer sub-block scales go into the int8 products so that one int32 tile sums 256 values).
//
// Note on GCC 12's AMX intrinsics: the tile numbers must be literals (they are pasted into the asm),
// _tile_loadconfig tells the compiler it reads only 8 bytes (configure_tiles uses its own asm), and
// _tile_loadd has no memory operand: the panels and tiles it reads are written by other, out-of-line
// calls (pack_panel, pack_tile) before compute runs, never in the same function.
#pragma once

#include <cstddef>
#include <cstdint>

#include <immintrin.h>

#include "matmul-impl.h"

namespace ld::ggml::mm::amx {

constexpr int R = 32;  // weight rows per panel: two 16-row halves
constexpr int C = 32;  // activation columns per tile: two column groups of 16 (one int32 tile each)

inline size_t up64(size_t n) { return (n + 63) & ~(size_t)63; }

// Lines [o0, o0 + n) of the pf_bytes at pf into L2. The kernels bring the next panel's weights in while they
// compute the current one (a share per block or super-block): they read the weights in a pattern the hardware
// prefetchers do not run ahead of, so without it the packing or the tile loads wait for memory. Prefetches
// past the end of the weights are harmless (they never fault).
inline void prefetch_l2(const char * pf, int64_t pf_bytes, int64_t o0, int64_t n) {
    for (int64_t o = o0; o < pf_bytes && o < o0 + n; o += 64) _mm_prefetch(pf + o, _MM_HINT_T1);
}

// Loads this thread's tile configuration for blocks of bl int8 values (16, 32 or 64) unless it is
// already loaded: tmm0/1 weights 16 x bl bytes, tmm2/3 activations bl/4 x 64 bytes (16 columns),
// tmm4-7 int32 16 x 16.
void configure_tiles(int bl);

// 16x16 dword transpose in registers: r[i] = row i -> o[j] = column j.
void transpose16(const void * r /*16 zmm*/, void * o /*16 zmm*/);

// 64 int8 codes of each of 16 columns (src[i], nullptr: zeros) -> the VNNI layout: dst row j (at
// dst + j * stride) = dword j of every column, for j < n_out.
void codes_to_vnni16(const int8_t * const * src, int8_t * dst, int64_t stride, int n_out = 16);

// Activation tiles of at most narrow_max_cols(w) columns run on AVX512-VNNI instead of AMX tiles: Q4_K,
// Q6_K (kq_compute_narrow) and Q8_0, Q5_0, Q4_0 (block_compute_narrow), whose cost is proportional to the
// columns. The limits are the measured crossovers on the dense and expert shapes
// (bench/results/kquant-narrow.md): up to 8 columns for the super-block types; for the per-block types the
// tiles' per-block folds are cheap enough that the VNNI path wins only up to 2 (Q8_0: 1).
constexpr int kNarrowMaxCols = 8;
inline int narrow_max_cols(Type w) {
    switch (w) {
        case Type::Q4_K: case Type::Q6_K: return kNarrowMaxCols;
        case Type::Q5_0: case Type::Q4_0: return 2;
        case Type::Q8_0: return 1;
        default: return 0;
    }
}

// The byte offsets of a per-block path activation tile (blocks of bl values):
// q[K/4][C][4] (int8, VNNI layout) | da[nb][C] (f32 block scales) | A[nb][C] (f32, see matmul-impl.h) |
// asum[nb][C] (int32: the sum of the block's codes).
struct BlockTileLayout {
    int64_t nb;
    size_t q, da, A, asum, end;
};
inline BlockTileLayout block_tile_layout(int bl, int64_t K) {
    BlockTileLayout L;
    L.nb = K / bl;
    L.q = 0;
    L.da = up64((size_t)K * C);
    L.A = L.da + up64((size_t)L.nb * C * 4);
    L.asum = L.A + up64((size_t)L.nb * C * 4);
    L.end = L.asum + up64((size_t)L.nb * C * 4);
    return L;
}

// Q8_0, Q5_0, Q4_0 (block_narrow_has) against one tile of n_cols <= narrow_max_cols(w) columns on
// AVX512-VNNI, straight from the rows (matmul-block-narrow-amx.cpp): bit for bit the per-block tile path's
// result.
bool block_narrow_has(Type w);
void block_compute_narrow(Type w, const uint8_t * rows, size_t row_bytes, int n_rows, int64_t K, const uint8_t * tile,
                          int n_cols, float * const * ycol);

// The byte offsets of a super-block path activation tile (kq_pack_tile):
// q[K/4][C][4] (int8, VNNI layout) | da[nsb][C] (f32) | bs[nsb][kBsPairs][C] (uint32: int16 pairs, the sums of
// the activation codes over the weight type's sub-blocks 2p and 2p + 1: of 32 values for Q4_K, p < 4; of 16
// values for Q6_K, p < 8).
constexpr int kBsPairs = 8;
struct KqTileLayout {
    int64_t nsb;
    size_t q, da, bs, end;
};
inline KqTileLayout kq_tile_layout(int64_t K) {
    KqTileLayout L;
    L.nsb = K / 256;
    L.q = 0;
    L.da = up64((size_t)K * C);
    L.bs = L.da + up64((size_t)L.nsb * C * 4);
    L.end = L.bs + up64((size_t)L.nsb * kBsPairs * C * 4);
    return L;
}

// The super-block path (Q4_K, Q6_K): true for the types it runs.
bool kq_has(Type w);
size_t kq_panel_bytes(Type w, int64_t K);
size_t kq_tile_bytes(Type w, int64_t K);
void kq_pack_panel(Type w, const uint8_t * rows, size_t row_bytes, int n_rows, int64_t K, void * panel);
void kq_pack_tile(Type w, const ActRows & a, const int64_t * ids, int n, int64_t K, void * tile);
// kq_pack_panel + kq_compute_tiles in one pass, packing one super-block of the rows at a time into L1
// (same result); false (nothing done) when the tiles need more than one pass over the panel.
bool kq_compute_raw(Type w, const uint8_t * rows, size_t row_bytes, int n_rows, int64_t K, const uint8_t * tiles,
                    size_t tile_bytes, int n_tiles, const int * n_cols, float * const * const * ycols);
// Q4_K or Q6_K against one tile of n_cols <= C columns on AVX512-VNNI (matmul-kquant-narrow-amx.cpp): the
// same result as kq_compute_tiles over the packed panel, bit for bit, at a cost proportional to the columns.
// kq_compute_raw takes it for tiles of at most narrow_max_cols(w) columns (single-token decoding, short
// prompts' experts), where it is faster than the tiles (bench/results/kquant-narrow.md).
void kq_compute_narrow(Type w, const uint8_t * rows, size_t row_bytes, int n_rows, int64_t K, const uint8_t * tile, int n_cols,
                       float * const * ycol);
void kq_compute(Type w, const void * panel, const void * tile, int64_t K, int n_rows, int n_cols, float * const * ycol);
void kq_compute_tiles(Type w, const void * panel, const uint8_t * tiles, size_t tile_bytes, int n_tiles, int64_t K,
                      int n_rows, const int * n_cols, float * const * const * ycols);

}  // namespace ld::ggml::mm::amx
