// DiffusionGemma: the shared Gemma-4 stack run in two modes (spec §4-7).
//   * encoder (Model::encode): causal prefill writing the KV cache with the encoder layer scalars;
//   * decoder: a canvas of C tokens at positions Lc..Lc+C-1 (Lc = next position after the cache),
//     bidirectional within the canvas, attending to the cached prefix (all of it in full layers,
//     the last W-1 positions in sliding layers), decoder layer scalars; the cache is never modified.
//     Input: x0 = rms(E[canvas]·sqrt(H) + sc) with the self-conditioning signal (§7)
//       sc = MLP(rms(soft·sqrt(H))·pre_norm),  soft [C, H] = Σ_v p_v E_v   (sc = 0 without soft)
//     Two entry points share one pass:
//       decode_hidden(canvas, soft)     -> hidden [C, H] = rms(x)·output_norm (before the vocab head;
//                                          the fused vocab head computes the next soft itself);
//       decode_canvas(canvas, sc_logits) -> logits [C, V] = softcap30(hidden · Eᵀ), with
//                                          soft = softmax(sc_logits) · E through embedding_t().
#pragma once

#include "model/embedding-t.h"
#include "model/model.h"

namespace ld {

// One sequence of a batched decoder pass (decode_hidden_batch): its canvas, self-conditioning input
// (or nullptr), output, and its own KV cache (the prefix this canvas attends to; left unchanged).
struct DecodeItem {
    const int32_t * canvas = nullptr;  // [C]
    int64_t C = 0;
    const float * soft = nullptr;      // [C, H] or nullptr
    float * hidden = nullptr;          // [C, H] out
    KvCache * cache = nullptr;
};

class DiffusionGemma : public Model {
public:
    DiffusionGemma(gguf::File && f, int n_threads, ggml::Type kv_type);

    void decode_canvas(const int32_t * canvas, int64_t C, const float * sc_logits, float * logits) override;
    void decode_hidden(const int32_t * canvas, int64_t C, const float * soft, float * hidden) override;
    // decode_hidden for several sequences in one pass (model/decode-batch.cpp): the canvases' rows
    // go through the per-token work (norms, projections, dense FFN, experts) together, while each
    // sequence's rows attend to its own cache. The model's own cache is not used.
    void decode_hidden_batch(const std::vector<DecodeItem> & items);

    // Eᵀ for the self-conditioning product (built on first use; embedding-t.h).
    const TransposedEmbedding & embedding_t() {
        embd_t_.build(w_.tok_embd, pool_);
        return embd_t_;
    }

protected:
    BlockConfig layer_config(int il) const override;

private:
    // x[C, H] += MLP(rms(soft·sqrt(H))·pre_norm) for the expected embedding soft [C, H].
    void add_self_conditioning(const float * soft, int64_t C, float * x);

    TransposedEmbedding embd_t_;
    std::vector<float> x_, sc_, g_, u_;  // decoder scratch: [C, H], [C, H], [C, F], [C, F]
    std::vector<int32_t> pos_;           // [C]
    std::vector<float> xb_;              // batched decoder residual stream [Σ C, H]
    std::vector<int32_t> posb_;          // [Σ C]
};

}  // namespace ld
