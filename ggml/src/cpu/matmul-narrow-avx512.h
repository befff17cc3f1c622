// Private: the avx512 kernel table's activation tile layout, and its path for tiles of very few activation
// columns (matmul-narrow-avx512.cpp), used by its compute_raw (matmul-avx512.cpp).
#pragma once

#include <cstddef>
#include <cstdint>

#include "ld-ggml/types.h"

namespace ld::ggml::mm {

// The avx512 table's activation tile of a quantized type (blocks of bl values), byte offsets:
// codes [K/4][kAvx512TileCols] dwords | da [nb][C] (f32) | corr [nb][C] (int32, -off * asum) | A [nb][C] (f32).
constexpr int kAvx512TileCols = 6;
struct Avx512QuantTile {
    int64_t nb;
    size_t da, corr, A, end;
};
inline Avx512QuantTile avx512_quant_tile(int64_t K, int bl) {
    constexpr size_t C = kAvx512TileCols;
    auto up64 = [](size_t n) { return (n + 63) & ~(size_t)63; };
    Avx512QuantTile L;
    L.nb = K / bl;
    L.da = up64((size_t)K * C);
    L.corr = L.da + up64((size_t)L.nb * C * 4);
    L.A = L.corr + up64((size_t)L.nb * C * 4);
    L.end = L.A + up64((size_t)L.nb * C * 4);
    return L;
}

// The most columns of one tile that avx512_compute_narrow takes for weight type w (0: none).
int avx512_narrow_max_cols(Type w);

// ycol[c][r] = dot(row r, tile column c) for r < n_rows (<= 32), c < n_cols, from the weight rows (row_bytes
// apart) and one avx512 activation tile: bit for bit the packed panel's result.
void avx512_compute_narrow(Type w, const uint8_t * rows, size_t row_bytes, int n_rows, int64_t K, const uint8_t * tile,
                           int n_cols, float * const * ycol);

}  // namespace ld::ggml::mm
