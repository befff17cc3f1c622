// The pieces of the NEON matmul (matmul-neon.cpp, built for armv8.2-a + dotprod + fp16) that the i8mm
// table (matmul-neon-i8mm.cpp) reuses: defined once, in the plain NEON file, so nothing here needs i8mm.
#pragma once

#include <cstdint>

#include "matmul-impl.h"

namespace ld::ggml::mm {

// One weight row of type w (config c) as the int8 values u - off the integer kernels multiply: q[K],
// with its block scales s1[K/bl], s2[K/bl] (see matmul-impl.h). row == nullptr gives a missing row
// (zero values, zero scales). Vector unpackers for the hot types, the scalar unpack_row otherwise.
void unpack_row_s8_neon(Type w, const QuantCfg & c, const uint8_t * row, int64_t K, int8_t * q, float * s1, float * s2);

// The vector activation quantizer of the NEON table (Kernels::quantize_row): the reference bytes of the
// Q8_0 / Q8_K activation row of x[K] for weight type w, or false to leave the row to the reference code.
bool quantize_row_neon(Type w, const float * x, void * dst, int64_t K);

}  // namespace ld::ggml::mm
