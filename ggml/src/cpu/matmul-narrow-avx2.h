// Private: the avx2 table's tile width and its path for few activation columns (matmul-narrow-avx2.cpp),
// shared by that table (matmul-avx2.cpp).
#pragma once

#include <cstddef>
#include <cstdint>

#include "ld-ggml/types.h"

namespace ld::ggml::mm {

constexpr int kAvx2TileCols = 4;    // activation columns of the avx2 table's tile
constexpr int kAvx2NarrowCols = 2;  // tiles of at most this many columns take avx2_narrow

// ycol[c][r] = dot(weight row r, tile column c) for the n_rows <= 8 rows (row_bytes apart) of a panel and
// the n_cols <= kAvx2NarrowCols columns of one avx2 tile (panel-u8-avx2.h layout), straight from the rows:
// bit for bit pack_panel + compute of that table. False (nothing done) for a type or shape it does not take:
// Q4_K (its panels are packed from the raw nibbles faster than rows are unpacked, measured), and a tile of a
// type with codes up to 255 holding the activation code -128.
bool avx2_narrow(Type w, const uint8_t * rows, size_t row_bytes, int n_rows, int64_t K, const uint8_t * tile, int n_cols,
                 float * const * ycol);

}  // namespace ld::ggml::mm
