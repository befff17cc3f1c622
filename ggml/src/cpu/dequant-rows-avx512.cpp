// The row dequantizers of dequant-rows.h compiled with the avx512 flags (bodies: dequant-rows-impl.h).
// GCC 12 reports its own _mm512_undefined_* placeholders inside the intrinsics as uninitialized.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
#include "dequant-rows-impl.h"

namespace ld::ggml {

const DequantRows & dequant_rows_avx512() {
    static const DequantRows t = LD_DEQUANT_ROWS_TABLE("avx512");
    return t;
}

}  // namespace ld::ggml
