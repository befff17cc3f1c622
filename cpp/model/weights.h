// The tensor table of a model: views of the weight matrices in the GGUF mapping (any type the
// matmul kernels take) and f32 copies of the small vectors (norm weights, router scales, layer
// scalars). Every tensor's shape and type is checked against the HParams on load; a missing or
// misshapen tensor throws ld::Error naming it and the expected shape (GGUF order, ne0 first).
//
// Names follow docs/format.md §B (diffusion-gemma) and llama.cpp's gemma3 layout. Expert
// tensors may be fused (ffn_gate_up_exps {E, 2*Fe, X}, gate half first) or split
// (ffn_gate_exps + ffn_up_exps {E, Fe, X}); self-conditioning tensors are optional.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "ld-ggml/types.h"
#include "model/hparams.h"

namespace ld::gguf { class File; }

namespace ld {

// A weight matrix (or expert stack) in the mapping: ne[0] is the row length.
struct Mat {
    const void * data = nullptr;
    ggml::Type type = ggml::Type::F32;
    int64_t ne[3] = {0, 0, 0};
    std::string name;
    bool present() const { return data != nullptr; }
    size_t row_bytes() const;  // bytes of one row of ne[0] values
};

using Vec = std::vector<float>;  // an f32 copy of a 1-D tensor; empty = absent

struct LayerWeights {
    // attention; shapes for q heads nq, kv heads nkv, head dim d (per layer)
    Vec attn_norm;        // [H]
    Mat wq;               // {H, nq*d}
    Mat wk;               // {H, nkv*d}
    Mat wv;               // {H, nkv*d}; absent in DiffusionGemma full layers (V = raw K)
    Mat wo;               // {nq*d, H}
    Vec q_norm, k_norm;   // [d]
    Vec post_attn_norm;   // [H]
    // dense MLP
    Vec ffn_norm;         // [H] (pre_feedforward_layernorm)
    Mat ffn_gate, ffn_up; // {H, F}
    Mat ffn_down;         // {F, H}
    Vec post_ffw_norm_1;  // [H] DG only: after the dense MLP
    Vec post_ffw_norm;    // [H] on (dense + MoE) (DG) / on the MLP (Gemma 3)
    // MoE (DiffusionGemma)
    Vec pre_ffw_norm_2;   // [H] experts' input norm
    Vec post_ffw_norm_2;  // [H] after the experts
    Mat router;           // {H, X} ffn_gate_inp
    Vec router_scale;     // [H]
    Vec expert_scale;     // [X] per_expert_scale; empty = all 1
    Mat exp_gate_up;      // {H, 2*Fe, X} fused, or absent
    Mat exp_gate, exp_up; // {H, Fe, X} split, or absent
    Mat exp_down;         // {Fe, H, X}
    float scalar_dec = 1.0f;  // decoder layer_scalar (layer_output_scale)
    float scalar_enc = 1.0f;  // encoder layer_scalar (enc_layer_output_scale)
};

struct Weights {
    Mat tok_embd;         // {H, V}
    Mat output;           // {H, V}; = tok_embd when tied
    Vec output_norm;      // [H]
    Vec rope_freqs;       // [head_dim/2] DG full-layer frequency factors; empty = none
    // self-conditioning (DiffusionGemma, optional)
    Vec sc_pre_norm;      // [H]
    Mat sc_gate, sc_up;   // {H, F}
    Mat sc_down;          // {F, H}
    std::vector<LayerWeights> layers;

    bool has_self_cond() const { return sc_gate.present(); }

    // Fills hp.n_vocab from token_embd and checks every tensor. Throws ld::Error.
    static Weights load(const gguf::File & f, HParams & hp);
};

// Dequantizes row `row` of a 2-D matrix into out[ne0] (any supported type).
void mat_get_row(const Mat & m, int64_t row, float * out);

}  // namespace ld
