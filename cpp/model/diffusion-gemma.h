// DiffusionGemma: the shared Gemma-4 stack run in two modes (docs/algorithm.md §4-§7).
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

class DiffusionGemma : public Model {
public:
    DiffusionGemma(gguf::File && f, int n_threads, ggml::Type kv_type);

    void decode_canvas(const int32_t * canvas, int64_t C, const float * sc_logits, float * logits) override;
    void decode_hidden(const int32_t * canvas, int64_t C, const float * soft, float * hidden) override;
    void decode_steps(const std::vector<StepJob> & jobs) override;

    // Eᵀ for the self-conditioning product (built on first use; embedding-t.h).
    const TransposedEmbedding & embedding_t() {
        embd_t_.build(w_.tok_embd, pool_);
        return embd_t_;
    }

protected:
    BlockConfig layer_config(int il) const override;

private:
    // x[C, H] += MLP(rms(soft·sqrt(H))·pre_norm) for the expected embedding soft [C, H]; on the head backend.
    void add_self_conditioning(const float * soft, int64_t C, float * x);
    // One canvas of a decoder pass: the sequence, its canvas ids (host) and its soft input (head backend or
    // nullptr).
    struct PassIn {
        Sequence * seq = nullptr;
        const int32_t * canvas = nullptr;
        int64_t C = 0;
        const float * soft = nullptr;
    };
    // The decoder pass over the canvases of `in` (rows concatenated in order); returns hidden [ΣC, H] on the
    // head backend (hidden_ below).
    const float * decode_pass(const std::vector<PassIn> & in);
    // The host soft embedding [C, H] copied to the head backend (soft_in_), or nullptr for nullptr.
    const float * upload_soft(const float * soft, int64_t C);
    // The decoder's layers. With the whole model on one backend that can record ops (CUDA graphs; the
    // sim device), the layers of a denoising step are recorded once and replayed on the following steps
    // of the canvas: the recorded ops bake in every pointer, shape and KV length, so the recording is
    // keyed by them (a new key runs eagerly once, then records on its second use).
    float * run_decoder_layers(float * x, int64_t S, const std::vector<PassSegment> & segs);

    TransposedEmbedding embd_t_;
    // On the head backend: self-conditioning scratch [C, H], [C, F], [C, F]; hidden states [C, H]; the
    // step results [C] x 3; uploads; logits.
    DevBuf sc_, g_, u_, hidden_, soft_in_, step_out_, logits_;
    ggml::Backend * bufs_on_ = nullptr;  // the backend the buffers above belong to
    void bind_buffers();
    std::string graph_key_;              // what the recorded layers bake in
    int graph_id_ = -1;                  // the recording of graph_key_ (-1: none yet)

public:
    // Decoder steps whose layers ran as a replayed recording (0 where the backend cannot record).
    int64_t graph_replays() const { return graph_replays_; }

private:
    int64_t graph_replays_ = 0;
};

}  // namespace ld
