// The avx2_vnni table's path for few activation columns (narrow-rows-avx2.h): the chunk products on
// 256-bit vpdpbusd (codes u unsigned, activations signed, with the tile's offset correction).
#include <immintrin.h>

#include "matmul-impl.h"
#include "matmul-narrow-avxvnni.h"
#include "narrow-rows-avx2.h"

namespace ld::ggml::mm {

namespace {

struct DotVnni {
    static constexpr bool kCorr = true;
    __m256i operator()(__m256i u, __m256i a) const { return _mm256_dpbusd_avx_epi32(_mm256_setzero_si256(), u, a); }
};

}  // namespace

bool avxvnni_narrow(Type w, const uint8_t * rows, size_t row_bytes, int n_rows, int64_t K, const uint8_t * tile, int n_cols,
                    float * const * ycol) {
    QuantCfg cf;
    if (w == Type::Q4_K || !quant_cfg(w, cf) || n_cols < 1 || n_cols > kAvxVnniNarrowCols || K % 32 != 0) return false;
    narrow8::run<kAvxVnniTileCols>(DotVnni{}, w, cf, rows, row_bytes, n_rows, K, tile, n_cols, ycol);
    return true;
}

}  // namespace ld::ggml::mm
