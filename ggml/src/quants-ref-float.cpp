// Reference conversion of the plain 16-bit float types (F16, BF16) to and from f32.
// Rules: docs/format.md §2.2 (exact widening; nearest-even narrowing, NaN kept quiet).
#include "ld-ggml/quants-ref.h"

namespace ld::ggml {

void dequantize_row_f16(const fp16_t * x, float * y, int64_t n) {
    for (int64_t i = 0; i < n; ++i) y[i] = fp16_to_f32(x[i]);
}

void dequantize_row_bf16(const bf16_t * x, float * y, int64_t n) {
    for (int64_t i = 0; i < n; ++i) y[i] = bf16_to_f32(x[i]);
}

void quantize_row_f16_ref(const float * x, fp16_t * y, int64_t n) {
    for (int64_t i = 0; i < n; ++i) y[i] = f32_to_fp16(x[i]);
}

void quantize_row_bf16_ref(const float * x, bf16_t * y, int64_t n) {
    for (int64_t i = 0; i < n; ++i) y[i] = f32_to_bf16(x[i]);
}

}  // namespace ld::ggml
