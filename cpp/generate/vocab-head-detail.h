// Internals shared by the vocab-head files (vocab-head.cpp, vocab-head-fused.cpp,
// vocab-head-tile.cpp): argument checks and the per-tile transposed embedding of the fused head.
#pragma once

#include <cstdint>
#include <vector>

#include "generate/vocab-head.h"
#include "ld-ggml/dequant-rows.h"
#include "ld-ggml/thread-pool.h"
#include "ld-ggml/types.h"
#include "model/weights.h"

namespace ld::gen::detail {

// Throws ld::Error unless 0 < T < inf.
void check_step(const HeadStep & st);
// Throws ld::Error when the softmax sums of canvas position c are not finite / positive.
void check_finite(double s, double a, int64_t c);

// Eᵀ of one vocabulary tile: for the rows [v0, v0 + nt) of E {H, V}, H rows of cols(nt) values
// (vocabulary order), so that soft_tile[C, H] = P[C, cols] · Eᵀ_tileᵀ is one ggml::matmul with
// K = cols. Columns [nt, cols) are zero (P is zero there too).
// Storage type, as the model's TransposedEmbedding (model/embedding-t.h):
//   * F32 for an F32 embedding (exact);
//   * Q8_0 otherwise: one block holds 32 vocabulary rows of one column, quantized from the
//     reference dequantization with the reference rule, so for tiles starting at a multiple of 32
//     the blocks are byte for byte those of TransposedEmbedding (the plain head's E).
class EmbeddingTileT {
public:
    // E: the embedding {H, V} (readable type); max_nt: the largest tile; n_threads: of the pool.
    EmbeddingTileT(const Mat & E, int64_t max_nt, int n_threads);
    int64_t cols(int64_t nt) const { return (nt + blk_ - 1) / blk_ * blk_; }
    // Fills the tile for rows [v0, v0 + nt), nt <= max_nt. Deterministic for any thread count.
    void build(int64_t v0, int64_t nt, ggml::ThreadPool * pool);
    const void * data() const { return data_.data(); }   // [H rows of cols(nt)] after build
    ggml::Type type() const { return type_; }

private:
    const Mat & E_;
    const ggml::TypeTraits * in_ = nullptr;
    ggml::to_float_fn to_float_ = nullptr;       // E's row dequantizer (ld-ggml/dequant-rows.h)
    ggml::q8_0_columns_fn quantize_ = nullptr;   // the transposing Q8_0 quantizer (same header)
    ggml::Type type_ = ggml::Type::F32;
    int64_t H_ = 0, blk_ = 1, cols_ = 1;  // cols_: embedding columns per build task
    std::vector<uint8_t> data_;
    std::vector<std::vector<float>> scratch_;   // per thread: [32, H] dequantized rows
};

}  // namespace ld::gen::detail
