// DiffusionGemma: the shared Gemma-4 stack run in two modes (spec §4-7).
//   * encoder (Model::encode): causal prefill writing the KV cache with the encoder layer scalars;
//   * decoder (decode_canvas): a canvas of C tokens at positions Lc..Lc+C-1 (Lc = next position
//     after the cache), bidirectional within the canvas, attending to the cached prefix (all of it
//     in full layers, the last W-1 positions in sliding layers); the cache is never modified.
//     Input: x0 = rms(E[canvas]·sqrt(H) + sc) with the self-conditioning signal (§7)
//       soft = softmax(sc_logits) · E · sqrt(H);  sc = MLP(rms(soft)·pre_norm)   (sc = 0 without logits)
//     Output: logits [C, V] = softcap30(rms(x)·output_norm · Eᵀ), decoder layer scalars.
#pragma once

#include "model/embedding-t.h"
#include "model/model.h"

namespace ld {

class DiffusionGemma : public Model {
public:
    DiffusionGemma(gguf::File && f, int n_threads, ggml::Type kv_type);

    void decode_canvas(const int32_t * canvas, int64_t C, const float * sc_logits, float * logits) override;

    // Eᵀ for the self-conditioning product (built on first use; embedding-t.h).
    const TransposedEmbedding & embedding_t() {
        embd_t_.build(w_.tok_embd, pool_);
        return embd_t_;
    }

protected:
    BlockConfig layer_config(int il) const override;

private:
    // x[C, H] += MLP of the expected embedding under softmax(sc_logits).
    void add_self_conditioning(const float * sc_logits, int64_t C, float * x);

    TransposedEmbedding embd_t_;
};

// out[C, H] = P[C, V] · E[V, H] for a (possibly quantized) embedding matrix E stored as V rows of H.
// Column tiles of E are independent tasks, so the result does not depend on the thread count.
// A plain f32 loop that dequantizes E on every call (exact, but ~11x slower than TransposedEmbedding,
// which the decoder uses: 92.6 s vs 8.2 s wall on the real 262,144 x 2,816 embedding, C=256).
void probs_times_embedding(const float * P, int64_t C, const Mat & E, float * out, ggml::ThreadPool * pool);

}  // namespace ld
