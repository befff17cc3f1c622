// The transposed embedding used by self-conditioning (docs/algorithm.md §7): soft[C, H] = P[C, V] · E[V, H] with
// P = softmax(sc_logits). E is stored as V rows of H values, but the contraction runs over V, so
// the dense matmul kernel (y = x · Wᵀ, W rows of length K) needs Eᵀ: H rows of V values. This
// builds Eᵀ once (lazily, on the first self-conditioned pass) and runs the product as one matmul.
//
// Storage type of Eᵀ:
//   * F32 when E is F32 (exact: the parity tests' files), or when V is not a multiple of 32;
//   * Q8_0 otherwise (F16, BF16 and quantized embeddings): the int8 matmul path, the fastest kernel
//     here (int8 peak 724 GOP/s per core vs f32 FMA 177, bench/results/ops-matmul.md). Eᵀ then
//     holds E rounded to 8 bits per 32 vocabulary entries of one column (relative error ~0.3%,
//     below Q6_K's own), and P is quantized per 32 entries by the kernel.
//     Memory: V·H·34/32 bytes (784 MB for the real 262,144 x 2,816 embedding).
#pragma once

#include <cstdint>
#include <vector>

#include "ld-ggml/thread-pool.h"
#include "ld-ggml/types.h"
#include "model/weights.h"

namespace ld {

class TransposedEmbedding {
public:
    bool built() const { return H_ > 0; }
    // Builds Eᵀ from E {H, V} (any readable type); idempotent for the same E.
    void build(const Mat & E, ggml::ThreadPool * pool);
    // out[C, H] = P[C, V] · E. Requires build().
    void apply(const float * P, int64_t C, float * out, ggml::ThreadPool * pool) const;

    ggml::Type type() const { return type_; }
    int64_t n_embd() const { return H_; }   // H (rows of Eᵀ)
    int64_t n_vocab() const { return V_; }  // V (values per row)
    size_t bytes() const { return data_.size(); }

private:
    const void * src_ = nullptr;  // E's data (to detect a rebuild for another matrix)
    int64_t H_ = 0, V_ = 0;
    ggml::Type type_ = ggml::Type::F32;
    std::vector<uint8_t> data_;   // H rows of V values of type_
};

}  // namespace ld
