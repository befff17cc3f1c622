// Private: the self-conditioning product of the fused vocab head (vocab-head-fused.cpp) on AMX-BF16:
// out[C, H] += w[C, n] · E[rows, H], with w (the softmax weights of a vocabulary tile) and E's rows
// rounded to bf16 (8 significant bits: relative error <= 2^-8 each, as Q8_0's amax / 254 at most;
// products exact, sums in f32).
// It replaces, on CPUs with AMX-BF16, the int8 path of the other ISAs (EmbeddingTileT: E re-quantized to
// Q8_0 along the vocabulary, then the quantized matmul), whose transpose costs about as much as the
// product: tdpbf16ps pairs two consecutive contraction values (two vocabulary rows) in each dword of its
// B operand, so E's rows go into the tiles as they are stored, two rows interleaved.
// F32 embeddings keep the exact f32 product (the HF-parity files), so usable() is false for them.
// Built only with LD_HAVE_AMX (soft-product-amx.cpp, the -amx flags).
#pragma once

#include <cstdint>
#include <memory>

#include "ld-ggml/cpu-features.h"
#include "ld-ggml/thread-pool.h"
#include "ld-ggml/types.h"

namespace ld::ggml {

class SoftProductAmx {
public:
    // True when this path runs here: isa is amx, the CPU has AMX-BF16 and AVX512-BF16, and etype is a
    // readable type other than F32.
    static bool usable(Type etype, CpuIsa isa);

    // E: the embedding {H, V} (V rows of H values) of type etype; C: the positions (rows of w and out).
    SoftProductAmx(const void * E, Type etype, int64_t H, int64_t V, int64_t C);
    ~SoftProductAmx();

    // out[C, H] += w[C, n] (row stride ldw floats) · E[rows]: row j of the product is E's row idx[j]
    // (idx != nullptr: indices in [0, V)) or v0 + j. Deterministic for any thread count.
    void run(const float * w, int64_t ldw, int64_t n, int64_t v0, const int32_t * idx, float * out, ThreadPool & pool);

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

}  // namespace ld::ggml
