// Private: the avx2_vnni table's tile width and its path for few activation columns
// (matmul-narrow-avxvnni.cpp), shared by that table (matmul-avxvnni.cpp).
#pragma once

#include <cstddef>
#include <cstdint>

#include "ld-ggml/types.h"

namespace ld::ggml::mm {

constexpr int kAvxVnniTileCols = 6;    // activation columns of the avx2_vnni table's tile
constexpr int kAvxVnniNarrowCols = 1;  // tiles of at most this many columns take avxvnni_narrow (measured: 2 is slower)

// ycol[c][r] = dot(weight row r, tile column c) for the n_rows <= 8 rows (row_bytes apart) of a panel and
// the n_cols <= kAvxVnniNarrowCols columns of one avx2_vnni tile (panel-u8-avx2.h layout), straight from the
// rows: bit for bit pack_panel + compute of that table. False (nothing done) for a type or shape it does
// not take: Q4_K, whose panels are packed from the raw nibbles faster than rows are unpacked (measured).
bool avxvnni_narrow(Type w, const uint8_t * rows, size_t row_bytes, int n_rows, int64_t K, const uint8_t * tile, int n_cols,
                    float * const * ycol);

}  // namespace ld::ggml::mm
