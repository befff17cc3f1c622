// Fast dequantization of whole rows to f32 for the common embedding types (F32, F16, BF16, Q8_0,
// Q4_K, Q6_K), bit for bit equal to the reference to_float of quants-ref.h, and the transposing
// Q8_0 quantizer that turns such rows into Q8_0 blocks along columns (the vocab head's Eᵀ tiles),
// with one kernel per ISA (dequant-rows-generic.cpp, -avx2.cpp, -avx512.cpp). Other readable types
// use the reference to_float.
#pragma once

#include <cstdint>

#include "ld-ggml/cpu-features.h"
#include "ld-ggml/types.h"

namespace ld::ggml {

// True when type has a kernel of its own here (else dequant_row falls back to the reference).
bool dequant_row_fast(Type type);

// The row kernel of (type, isa): y[n] from the n values at x, n a multiple of the block size (the
// reference to_float when the type has no fast kernel). Throws ld::ggml::Error when the ISA is not
// available here or the type is not readable. Pick it once, call it per row.
to_float_fn dequant_row_fn(Type type, CpuIsa isa);

// y[n] = the reference dequantization of the n values at x (n a multiple of the type's block size).
// isa: the kernel family (amx uses avx512's); throws ld::ggml::Error when the ISA is not available or the
// type is not readable. The overload without isa uses cpu_isa().
void dequant_row(Type type, const void * x, float * y, int64_t n, CpuIsa isa);
void dequant_row(Type type, const void * x, float * y, int64_t n);

// Columns [0, n) of x [32 rows, row stride ld floats] as Q8_0 blocks, the block of column k at
// dst + k * stride: for each column gathered from the 32 rows, the bytes of quantize_row_q8_0_ref
// (d = amax / 127 as fp16, q = round half away from zero of x / d, NaN -> 0, clamped to [-128, 127]).
using q8_0_columns_fn = void (*)(const float * x, int64_t ld, int64_t n, uint8_t * dst, size_t stride);
q8_0_columns_fn quantize_columns_q8_0_fn(CpuIsa isa);  // throws ld::ggml::Error when isa is not available

}  // namespace ld::ggml
