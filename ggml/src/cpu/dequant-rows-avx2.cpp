// The row dequantizers of dequant-rows.h compiled with the avx2 flags (bodies: dequant-rows-impl.h).
#include "dequant-rows-impl.h"

namespace ld::ggml {

const DequantRows & dequant_rows_avx2() {
    static const DequantRows t = LD_DEQUANT_ROWS_TABLE("avx2");
    return t;
}

}  // namespace ld::ggml
