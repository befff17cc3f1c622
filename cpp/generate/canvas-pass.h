// The DiffusionGemma canvas decoder pass that the fused vocab head needs (spec §6-7), built on the
// model's public API (hparams, weights, KV cache, block_forward):
//   x0     = rms(E[canvas]·sqrt(H) + sc),  sc = MLP(rms(soft·sqrt(H))·pre_norm)   (sc = 0 without soft)
//   hidden = rms(decoder layers(x0))·output_norm                                   [C, H]
// where soft [C, H] = Σ_v p_v E_v is the previous step's expected embedding, computed by the fused
// vocab head instead of a [C, V] softmax. Model::decode_canvas is the same pass with sc_logits in
// and logits out; this variant stops before the LM head and takes the expected embedding in.
// (Interim: the model layer has no such entry point yet; see the generate issue note.)
#pragma once

#include <cstdint>
#include <vector>

#include "ld-ggml/thread-pool.h"
#include "model/gemma4-block.h"
#include "model/model.h"

namespace ld::gen {

class CanvasPass {
public:
    // m must be a diffusion-gemma model (ld::Error otherwise); pool: the pool to compute on.
    CanvasPass(Model & m, ggml::ThreadPool * pool);

    // canvas [C] at positions next_pos .. next_pos+C-1 of the model's cache (left unchanged).
    // soft [C, H] or nullptr (first step of a canvas). hidden [C, H] out.
    void forward(const int32_t * canvas, int64_t C, const float * soft, float * hidden);

private:
    Model & m_;
    ggml::ThreadPool * pool_;
    std::vector<BlockConfig> cfg_;
    BlockScratch scratch_;
    std::vector<float> x_, sc_, g_, u_;
    std::vector<int32_t> pos_;
};

}  // namespace ld::gen
