// Generic (scalar, reference) dot products of one weight row against one activation row, for every
// weight type the CPU matmul supports. The activation row is already in the weight type's
// vec_dot_type (types.h): Q8_0 / Q8_1 / Q8_K blocks quantized by the reference quantizers of
// quants-ref.h, f16 / bf16 values for F16 / BF16 weights, plain f32 for F32 weights.
//
// Numerics follow spec gguf.md §2.6 exactly: per block (or per super-block for the K types) the
// integer part is an exact int32 sum, then it is scaled in f32:
//   legacy 32-blocks:  sum += (float)isum * (d_w * d_a)          (+ m_w * s_a for Q4_1 / Q5_1 x Q8_1)
//   MXFP4:             sum += (float)isum * (e8m0_half(e) * d_a)
//   K types:           sum += (d_w * d_a) * S - (dmin_w * d_a) * M  (S = sum_sub sc*dot, M = sum_g bsums*m)
//   Q6_K / Q3_K:       sum += (d_w * d_a) * sum_g sc_g * dot_g     (offset folded into the quants)
//   IQ4_XS:            sum += (d_w * d_a) * sum_b (ls_b - 32) * dot_b
//   IQ1/IQ2/IQ3 grids: sum += (s_b * d_a) * dot_b per sub-block b, s_b its decoded scale and dot_b
//                      the int32 sum of the signed grid values times the codes (IQ1: grid*8 +- 1
//                      with s_b / 8, so the delta stays an integer)
//   F32 / F16 / BF16:  sequential f32 sum of products (f16/bf16 products are exact in f32)
// These are the ground truth that every SIMD kernel is tested against.
#pragma once

#include <cstdint>

#include "ld-ggml/types.h"

namespace ld::ggml {

// Dot product of n values (a multiple of the weight's block size): w is one row of the weight type,
// a is one row of its vec_dot_type.
using vec_dot_fn = float (*)(int64_t n, const void * w, const void * a);

// The generic kernel of a weight type, or nullptr when the CPU matmul does not support it.
vec_dot_fn vec_dot_generic(Type wtype);

// Quantizes one activation row of n f32 values to the weight type's vec_dot_type with the reference
// rule (Q8_0: quantize_row_q8_0_ref, round half away from zero, the one rule every ISA uses; Q8_1 and
// Q8_K: their reference quantizers; F16 / BF16: round to nearest even; F32: copy). dst holds
// row_size(vec_dot_type, n) bytes.
void quantize_activation_row(Type wtype, const float * x, void * dst, int64_t n);

float vec_dot_f32_f32(int64_t n, const void * w, const void * a);
float vec_dot_f16_f16(int64_t n, const void * w, const void * a);
float vec_dot_bf16_bf16(int64_t n, const void * w, const void * a);
float vec_dot_q4_0_q8_0(int64_t n, const void * w, const void * a);
float vec_dot_q4_1_q8_1(int64_t n, const void * w, const void * a);
float vec_dot_q5_0_q8_0(int64_t n, const void * w, const void * a);
float vec_dot_q5_1_q8_1(int64_t n, const void * w, const void * a);
float vec_dot_q8_0_q8_0(int64_t n, const void * w, const void * a);
float vec_dot_q2_K_q8_K(int64_t n, const void * w, const void * a);
float vec_dot_q3_K_q8_K(int64_t n, const void * w, const void * a);
float vec_dot_q4_K_q8_K(int64_t n, const void * w, const void * a);
float vec_dot_q5_K_q8_K(int64_t n, const void * w, const void * a);
float vec_dot_q6_K_q8_K(int64_t n, const void * w, const void * a);
float vec_dot_iq4_nl_q8_0(int64_t n, const void * w, const void * a);
float vec_dot_iq4_xs_q8_K(int64_t n, const void * w, const void * a);
float vec_dot_mxfp4_q8_0(int64_t n, const void * w, const void * a);
float vec_dot_iq2_xxs_q8_K(int64_t n, const void * w, const void * a);
float vec_dot_iq2_xs_q8_K(int64_t n, const void * w, const void * a);
float vec_dot_iq2_s_q8_K(int64_t n, const void * w, const void * a);
float vec_dot_iq3_xxs_q8_K(int64_t n, const void * w, const void * a);
float vec_dot_iq3_s_q8_K(int64_t n, const void * w, const void * a);
float vec_dot_iq1_s_q8_K(int64_t n, const void * w, const void * a);
float vec_dot_iq1_m_q8_K(int64_t n, const void * w, const void * a);

}  // namespace ld::ggml
