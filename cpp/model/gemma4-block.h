// The one transformer block shared by the DiffusionGemma encoder and decoder passes and by Gemma 3
// (spec §4). For S tokens with residual stream x [S, H]:
//
//   a = rms(x)·attn_norm;  q = rms_head(a Wq)·q_norm;  kr = a Wk;  v = Wv ? a Wv : kr
//   k = rms_head(kr)·k_norm;  v = v_norm ? rms_head(v) : v;  RoPE(q, k) (rotate-half)
//   stage (k, v) after the cached rows of this layer; o = attention(q, [cache; new]) · scale
//   x = x + rms(o Wo)·post_attn_norm
//   r = x
//   h = (gelu(m Wg) ⊙ m Wu) Wd, m = rms(r)·ffn_norm;  h = post_ffw_norm_1 ? rms(h)·post_ffw_norm_1 : h
//   MoE (when the layer has a router): p = softmax((rms(r)·router_scale·H^-1/2) Wr), top-k renormalised,
//       × per_expert_scale; e = rms(r)·pre_ffw_norm_2; h += rms(Σ w_k expert_k(e))·post_ffw_norm_2
//   x = (r + rms(h)·post_ffw_norm) · layer_scalar
//
// Gemma 3 uses the same code: no v projection fallback, no v_norm, no MoE, no norm_1, no scalar,
// query scale head_dim^-1/2 (its GGUF stores norm weights as 1+w already).
#pragma once

#include <cstdint>
#include <vector>

#include "ld-ggml/cpu-nn.h"
#include "ld-ggml/thread-pool.h"
#include "model/hparams.h"
#include "model/kv-cache.h"
#include "model/weights.h"

namespace ld {

// Static per-layer configuration (derived once from HParams/Weights).
struct BlockConfig {
    int64_t n_head = 0, n_kv_head = 0, head_dim = 0;
    ggml::RopeParams rope;          // n_rot, base, freq factors (nullptr = none)
    bool v_norm = false;            // weightless RMSNorm on V (Gemma 4)
    float attn_scale = 1.0f;
    bool is_swa = false;
    int32_t window = 0;             // sliding window W (swa layers)
};

// One call: the tokens, their positions, how they attend and what to do with the cache.
struct BlockArgs {
    float * x = nullptr;            // [S, H] residual stream, updated in place
    int64_t S = 0;
    const int32_t * pos = nullptr;  // [S] absolute positions
    LayerKv * kv = nullptr;         // this layer's cache
    bool decoder = false;           // false: causal (+ sliding) mask, K/V committed to the cache;
                                    // true: canvas mask from canvas_begin, cache left unchanged
    int32_t canvas_begin = 0;
    int64_t ffn_begin = 0;          // the FFN runs on rows [ffn_begin, S) only (S = skip it)
    float layer_scalar = 1.0f;
};

// Reusable scratch buffers (grown on demand).
struct BlockScratch {
    std::vector<float> a, q, k, v, att, o, m, g, u, h, h2, z, logits, e, gu, act, wts;
    std::vector<int32_t> ids;
};

void block_forward(const HParams & hp, const LayerWeights & w, const BlockConfig & cfg, const BlockArgs & args,
                   BlockScratch & s, ggml::ThreadPool * pool);

// The feed-forward half of block_forward alone, on rows r[N, H] in place (dense FFN, experts,
// norms, then × layer_scalar). With block_forward(ffn_begin = S) for the attention half, a caller
// can run the attention of several token sets separately (each on its own KV cache) and their
// FFN as one set of rows (model/decode-batch.cpp).
void block_ffn(const HParams & hp, const LayerWeights & w, float * r, int64_t N, float layer_scalar, BlockScratch & s,
               ggml::ThreadPool * pool);

}  // namespace ld
