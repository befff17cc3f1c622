// The vocab head of one denoising step: from the decoder's output to everything the sampler needs,
// per canvas position c (docs/algorithm.md §6-§8, docs/architecture.md: the vocabulary is streamed):
//   raw_c   = softcap(h_c · Eᵀ)            [V] canvas logits (h = final-normed hidden state)
//   pl_c    = raw_c / T                    processed logits (T = the step's temperature)
//   argmax  = first index of max pl_c
//   entropy = −Σ p log p, p = softmax(pl_c) (nats)
//   sample  = a categorical draw from p (counter RNG), or the argmax in deterministic mode
//   soft_c  = Σ_v p_v E_v                  [H] expected embedding, the next step's self-conditioning
//             input (before the sqrt(H) scale)
//
// Two implementations with the same results (up to float rounding):
//   * vocab_head_plain: from materialised logits [C, V] (the reference, and the path that feeds
//     Model::decode_canvas its sc_logits); soft = softmax · E as one matmul with the model's
//     transposed embedding (model/embedding-t.h; exact for F32 embeddings, E rounded to Q8_0
//     otherwise, as in decode_canvas);
//   * vocab_head_fused (the CPU backend's op, ggml/src/cpu/vocab-head-fused.cpp): from hidden states [C, H], one pass over tiles of
//     the vocabulary: the tile's logits [C, tile] by the matmul kernel on the tile's rows of the
//     output matrix, then per position an online max / sum / entropy / sample, then the tile's
//     part of soft as a second matmul, weights [C, tile] times the tile's transposed embedding
//     (built per tile: F32 for F32 embeddings, else Q8_0 with the same bytes as the plain head's
//     E); the largest buffers are [C, tile] and [H, tile], never [C, V].
//
// Categorical sampling (both paths) is one streaming pass in vocabulary order: weighted reservoir
// sampling with exponential jumps. With W the running weight sum, the current pick is replaced by
// item v when W (after adding w_v) exceeds the threshold W_last / r, r ~ U(0,1) drawn at the last
// replacement; P(final pick = v) = w_v / W_total exactly, and only O(log V) uniforms are drawn
// per position (key: seed, canvas, step, position, draw index). Work is split by position (and by
// fixed tiles for the matmul), so results do not depend on the thread count.
#pragma once

#include <cstdint>
#include <vector>

#include "ld-ggml/cpu-vocab-head.h"
#include "ld-ggml/thread-pool.h"
#include "model/embedding-t.h"
#include "model/weights.h"

namespace ld::gen {

struct HeadStep {
    float temperature = 1.0f;   // T > 0
    bool sample = true;         // false: the draw is the argmax (reference-deterministic mode)
    bool want_soft = true;      // compute soft [C, H]
    uint64_t seed = 0;          // RNG key of the draws
    uint64_t canvas_key = 0;    // canvas start position
    uint64_t step_key = 0;      // step index within the canvas
};

struct HeadOut {
    std::vector<int32_t> argmax;   // [C]
    std::vector<int32_t> draw;     // [C] sample (or argmax when !sample)
    std::vector<float> entropy;    // [C] nats, of the temperature-scaled distribution
    std::vector<float> soft;       // [C, H] Σ p_v E_v (empty when !want_soft)
    void resize(int64_t C, int64_t H, bool soft_too);
};

// The streaming categorical draw shared by every head (ld-ggml/cpu-vocab-head.h).
using ggml::DrawKey;
using ggml::ReservoirDraw;
inline DrawKey draw_key(const HeadStep & st) { return DrawKey{st.seed, st.canvas_key, st.step_key}; }

// logits [C, V]: raw softcapped canvas logits. processed [C, V] (optional out): logits / T.
// Et: the built transposed embedding (H x V; DiffusionGemma::embedding_t()), required when
// want_soft, else may be null.
void vocab_head_plain(const float * logits, int64_t C, int64_t V, const TransposedEmbedding * Et, const HeadStep & st,
                      HeadOut & out, float * processed, ggml::ThreadPool * pool);

// hidden [C, H]: final-normed decoder states. out_w: LM head weights {H, V} (the embedding when
// tied); E: embedding {H, V} for soft. softcap <= 0: none. tile: vocabulary rows per tile (0: the
// default, 4096).
void vocab_head_fused(const float * hidden, int64_t C, const Mat & out_w, const Mat & E, float softcap,
                      const HeadStep & st, HeadOut & out, ggml::ThreadPool * pool, int64_t tile = 0);

}  // namespace ld::gen
