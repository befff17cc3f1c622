// The pieces of the NEON matmul (matmul-neon.cpp, built for armv8.2-a + dotprod + fp16) that the i8mm
// table (matmul-neon-i8mm.cpp) reuses: defined once, in the plain NEON file, so nothing here needs i8mm.
#pragma once

#include <arm_neon.h>

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

// The activation tile of both tables for a quantized weight type w: n (<= 4) activation rows
// a.row(ids[c]) as int8 codes in groups of kg bytes, [K/kg][4 columns][kg] (kg 4: SDOT lanes, 8: SMMLA
// pairs), then da[K/bl][4] and A[K/bl][4] (f32, each part 64-byte aligned); columns past n are zero.
void pack_quant_tile_neon(Type w, const ActRows & a, const int64_t * ids, int n, int64_t K, int kg, void * tile);

namespace {

// The first n_rows of the 8 row results v0 (rows 0-3), v1 (rows 4-7) into y.
inline void store_rows8(float * y, float32x4_t v0, float32x4_t v1, int n_rows) {
    if (n_rows == 8) {
        vst1q_f32(y, v0);
        vst1q_f32(y + 4, v1);
    } else {
        float t[8];
        vst1q_f32(t, v0);
        vst1q_f32(t + 4, v1);
        for (int r = 0; r < n_rows; ++r) y[r] = t[r];
    }
}

}  // namespace

}  // namespace ld::ggml::mm
