// The avx2 table's path for few activation columns (narrow-rows-avx2.h): the chunk products on vpmaddubsw,
// widened by vpmaddwd with ones, as the table's packed path does: codes below 64 as unsigned bytes against
// the signed activations (with the tile's offset correction); codes up to 255 as signed values v = u - 128,
// vpmaddubsw(|v|, sign(a, v)) (exact for |a| <= 127: tiles holding -128 are declined).
#include <immintrin.h>

#include "matmul-impl.h"
#include "matmul-narrow-avx2.h"
#include "narrow-rows-avx2.h"

namespace ld::ggml::mm {

namespace {

struct DotSmall {  // codes < 64: |pair| <= 63 * 128 * 2
    static constexpr bool kCorr = true;
    __m256i operator()(__m256i u, __m256i a) const {
        return _mm256_madd_epi16(_mm256_maddubs_epi16(u, a), _mm256_set1_epi16(1));
    }
};

struct DotSigned {  // v = u - 128, |v| <= 128, |a| <= 127: |pair| <= 32512
    static constexpr bool kCorr = false;
    __m256i operator()(__m256i u, __m256i a) const {
        const __m256i v = _mm256_xor_si256(u, _mm256_set1_epi8((char)0x80));
        return _mm256_madd_epi16(_mm256_maddubs_epi16(_mm256_abs_epi8(v), _mm256_sign_epi8(a, v)), _mm256_set1_epi16(1));
    }
};

}  // namespace

bool avx2_narrow(Type w, const uint8_t * rows, size_t row_bytes, int n_rows, int64_t K, const uint8_t * tile, int n_cols,
                 float * const * ycol) {
    QuantCfg cf;
    if (w == Type::Q4_K || !quant_cfg(w, cf) || n_cols < 1 || n_cols > kAvx2NarrowCols || K % 32 != 0) return false;
    if (cf.off == 128) {
        const u8p::TileLayout T = u8p::tile_layout<kAvx2TileCols>(K, cf.bl);
        if (*reinterpret_cast<const int32_t *>(tile + T.flags) & u8p::kTileMin128) return false;
        narrow8::run<kAvx2TileCols>(DotSigned{}, w, cf, rows, row_bytes, n_rows, K, tile, n_cols, ycol);
    } else {
        narrow8::run<kAvx2TileCols>(DotSmall{}, w, cf, rows, row_bytes, n_rows, K, tile, n_cols, ycol);
    }
    return true;
}

}  // namespace ld::ggml::mm
