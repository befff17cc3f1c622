// The row dequantizers of dequant-rows.h compiled with the avx512 flags (bodies: dequant-rows-impl.h).
#include "avx512-intrinsics.h"
#include "dequant-rows-impl.h"

namespace ld::ggml {

const DequantRows & dequant_rows_avx512() {
    static const DequantRows t = LD_DEQUANT_ROWS_TABLE("avx512");
    return t;
}

}  // namespace ld::ggml
