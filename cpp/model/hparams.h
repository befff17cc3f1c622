// Model hyper-parameters read from GGUF metadata, for the two architectures the engine runs:
//   * `diffusion-gemma` (DiffusionGemma, docs/format.md §B): per-layer KV head counts, the
//     sliding-window pattern, dual head dims (sliding / full), both RoPE bases, softcap, MoE sizes,
//     canvas length and the `diffusion.*` sampler defaults;
//   * `gemma3` (Gemma 3, autoregressive, llama.cpp-style GGUF): no MoE, every 6th layer global,
//     query scale head_dim^-1/2, local RoPE base 10000 unless the file says otherwise.
// A missing required key, a wrong architecture, inconsistent values, a float that is not finite or
// out of range, or a size above the bounds in hparams.cpp throw ld::Error naming the key.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace ld::gguf { class File; }

namespace ld {

enum class ModelArch { diffusion_gemma, gemma3 };

const char * model_arch_name(ModelArch a);  // "diffusion-gemma", "gemma3"

// Entropy-bound sampler defaults of a DiffusionGemma file (docs/algorithm.md §8.1); optional keys.
struct SamplerDefaults {
    int32_t max_steps = 48;
    float t_min = 0.4f, t_max = 0.8f;
    float entropy_bound = 0.1f;
    int32_t stability_threshold = 1;
    float confidence_threshold = 0.005f;
};

struct HParams {
    ModelArch arch = ModelArch::diffusion_gemma;
    int32_t n_layer = 0;
    int32_t n_embd = 0;        // H
    int32_t n_ff = 0;          // dense MLP width (DG: also the self-conditioning MLP width)
    int32_t n_head = 0;        // query heads (all layers)
    int32_t n_vocab = 0;       // rows of token_embd (filled from the tensor table)
    int64_t n_ctx_train = 0;   // context_length (informational)
    float eps = 1e-6f;

    // Per layer.
    std::vector<int32_t> n_kv_head;  // [n_layer]
    std::vector<bool> is_swa;        // [n_layer] true = sliding-window layer
    int32_t head_dim = 0;            // full (global) layers
    int32_t head_dim_swa = 0;        // sliding layers
    int32_t n_rot = 0;               // rotated dims of full layers (DG: head_dim; rope_freqs does the partial)
    int32_t n_rot_swa = 0;           // rotated dims of sliding layers
    float rope_base = 1e6f;          // full layers
    float rope_base_swa = 1e4f;      // sliding layers
    float rope_scale_linear = 1.0f;  // full layers, Gemma 3 linear RoPE scaling (1 = none)
    int32_t sliding_window = 0;      // W

    float attn_scale = 1.0f;         // DG 1.0; Gemma 3 query_pre_attn_scalar^-1/2
    float final_softcap = 0.0f;      // 0 = none (Gemma 3)

    // MoE (DiffusionGemma).
    int32_t n_expert = 0;
    int32_t n_expert_used = 0;
    int32_t n_ff_exp = 0;

    // DiffusionGemma.
    int32_t canvas_length = 0;
    SamplerDefaults sampler;
    // diffusion.eos_token_ids (optional INT array): the generation stop set; empty when absent.
    // Checked against n_vocab once the tensor table is read (Weights::load).
    std::vector<int32_t> eos_token_ids;

    int32_t layer_head_dim(int il) const { return is_swa[il] ? head_dim_swa : head_dim; }
    int32_t layer_n_rot(int il) const { return is_swa[il] ? n_rot_swa : n_rot; }
    float layer_rope_base(int il) const { return is_swa[il] ? rope_base_swa : rope_base; }
    bool is_diffusion() const { return arch == ModelArch::diffusion_gemma; }
    bool has_moe() const { return n_expert > 0; }

    // Reads and validates every key. Throws ld::Error for a wrong architecture, a missing required
    // key or inconsistent values. n_vocab is left 0 (the tensor table knows it).
    static HParams from_gguf(const gguf::File & f);
};

}  // namespace ld
