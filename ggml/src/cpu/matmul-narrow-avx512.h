// Private: the avx512 kernel table's path for tiles of very few activation columns
// (matmul-narrow-avx512.cpp), used by its compute_raw (matmul-avx512.cpp).
#pragma once

#include <cstddef>
#include <cstdint>

#include "ld-ggml/types.h"

namespace ld::ggml::mm {

// The most columns of one tile that avx512_compute_narrow takes for weight type w (0: none).
int avx512_narrow_max_cols(Type w);

// ycol[c][r] = dot(row r, tile column c) for r < n_rows (<= 32), c < n_cols, from the weight rows (row_bytes
// apart) and one avx512 activation tile: bit for bit the packed panel's result.
void avx512_compute_narrow(Type w, const uint8_t * rows, size_t row_bytes, int n_rows, int64_t K, const uint8_t * tile,
                           int n_cols, float * const * ycol);

}  // namespace ld::ggml::mm
