// Gemma 3 (autoregressive, `gemma3` GGUF as written by llama.cpp's converter) on the shared block:
//   * norm weights are stored as (1 + w) in the file, so the block's plain `rms(x)·w` applies;
//   * q/k norms with weights, no v norm, every layer has its own v projection, no MoE, no layer scalar;
//   * query scale query_pre_attn_scalar^-1/2 (= head_dim^-1/2), no attention or final softcap;
//   * sliding window from metadata (512 for 270M), every 6th layer global; local RoPE base 10000,
//     global base rope.freq_base (1e6) with optional linear scaling on the global layers only;
//   * embeddings scaled by sqrt(H), tied LM head.
// Only the encoder pass (encode + AR logits) exists; decode_canvas throws.
#pragma once

#include "model/model.h"

namespace ld {

class Gemma3 : public Model {
public:
    Gemma3(gguf::File && f, int n_threads, ggml::Type kv_type);

protected:
    BlockConfig layer_config(int il) const override;

private:
    std::vector<float> rope_ff_global_;  // [n_rot/2] linear scaling factors, empty when unscaled
};

}  // namespace ld
