// Reference (scalar, portable, ISA-independent) dequantization and quantization for every block
// type. These are the ground truth that optimized kernels are tested against; they never change
// behaviour with the build flags (the build uses -ffp-contract=off so no FMA contraction occurs).
// n is always a multiple of the type's block size.
#pragma once

#include <cstdint>

#include "ld-ggml/blocks.h"

namespace ld::ggml {

// ---- plain types ----
void dequantize_row_f16(const fp16_t * x, float * y, int64_t n);
void dequantize_row_bf16(const bf16_t * x, float * y, int64_t n);
void quantize_row_f16_ref(const float * x, fp16_t * y, int64_t n);
void quantize_row_bf16_ref(const float * x, bf16_t * y, int64_t n);

// ---- legacy 32-blocks ----
void dequantize_row_q4_0(const block_q4_0 * x, float * y, int64_t n);
void dequantize_row_q4_1(const block_q4_1 * x, float * y, int64_t n);
void dequantize_row_q5_0(const block_q5_0 * x, float * y, int64_t n);
void dequantize_row_q5_1(const block_q5_1 * x, float * y, int64_t n);
void dequantize_row_q8_0(const block_q8_0 * x, float * y, int64_t n);
void dequantize_row_q8_1(const block_q8_1 * x, float * y, int64_t n);
void quantize_row_q4_0_ref(const float * x, block_q4_0 * y, int64_t n);
void quantize_row_q4_1_ref(const float * x, block_q4_1 * y, int64_t n);
void quantize_row_q5_0_ref(const float * x, block_q5_0 * y, int64_t n);
void quantize_row_q5_1_ref(const float * x, block_q5_1 * y, int64_t n);
void quantize_row_q8_0_ref(const float * x, block_q8_0 * y, int64_t n);
void quantize_row_q8_0_x86_ref(const float * x, block_q8_0 * y, int64_t n);  // 127/amax, half-even
void quantize_row_q8_1_ref(const float * x, block_q8_1 * y, int64_t n);

// ---- K-quants (256-blocks) ----
void dequantize_row_q2_K(const block_q2_K * x, float * y, int64_t n);
void dequantize_row_q3_K(const block_q3_K * x, float * y, int64_t n);
void dequantize_row_q4_K(const block_q4_K * x, float * y, int64_t n);
void dequantize_row_q5_K(const block_q5_K * x, float * y, int64_t n);
void dequantize_row_q6_K(const block_q6_K * x, float * y, int64_t n);
void dequantize_row_q8_K(const block_q8_K * x, float * y, int64_t n);
void quantize_row_q2_K_ref(const float * x, block_q2_K * y, int64_t n);
void quantize_row_q3_K_ref(const float * x, block_q3_K * y, int64_t n);
void quantize_row_q4_K_ref(const float * x, block_q4_K * y, int64_t n);
void quantize_row_q5_K_ref(const float * x, block_q5_K * y, int64_t n);
void quantize_row_q6_K_ref(const float * x, block_q6_K * y, int64_t n);
void quantize_row_q8_K_ref(const float * x, block_q8_K * y, int64_t n);

// ---- non-linear and FP4 ----
void dequantize_row_iq4_nl(const block_iq4_nl * x, float * y, int64_t n);
void dequantize_row_iq4_xs(const block_iq4_xs * x, float * y, int64_t n);
void dequantize_row_mxfp4(const block_mxfp4 * x, float * y, int64_t n);
void quantize_row_iq4_nl_ref(const float * x, block_iq4_nl * y, int64_t n);
void quantize_row_iq4_xs_ref(const float * x, block_iq4_xs * y, int64_t n);
void quantize_row_mxfp4_ref(const float * x, block_mxfp4 * y, int64_t n);

// ---- lattice ("grid") types: every one reads; IQ3_XXS and IQ3_S also quantize (the others need an
// importance matrix, as in llama-quantize) ----
void dequantize_row_iq2_xxs(const block_iq2_xxs * x, float * y, int64_t n);
void dequantize_row_iq2_xs(const block_iq2_xs * x, float * y, int64_t n);
void dequantize_row_iq2_s(const block_iq2_s * x, float * y, int64_t n);
void dequantize_row_iq3_xxs(const block_iq3_xxs * x, float * y, int64_t n);
void dequantize_row_iq3_s(const block_iq3_s * x, float * y, int64_t n);
void dequantize_row_iq1_s(const block_iq1_s * x, float * y, int64_t n);
void dequantize_row_iq1_m(const block_iq1_m * x, float * y, int64_t n);
void quantize_row_iq3_xxs_ref(const float * x, block_iq3_xxs * y, int64_t n);
void quantize_row_iq3_s_ref(const float * x, block_iq3_s * y, int64_t n);

}  // namespace ld::ggml
