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
#include "model/exec.h"
#include "model/hparams.h"
#include "model/kv-cache.h"
#include "model/weights.h"

namespace ld {

// Static per-layer configuration (derived once from HParams/Weights).
struct BlockConfig {
    int64_t n_head = 0, n_kv_head = 0, head_dim = 0;
    ggml::RopeParams rope;          // n_rot, base, freq factors [n_rot/2] in host memory (nullptr = none)
    bool v_norm = false;            // weightless RMSNorm on V (Gemma 4)
    float attn_scale = 1.0f;
    bool is_swa = false;
    int32_t window = 0;             // sliding window W (swa layers)
};

// A run of rows that shares one KV cache: the rows [row0, row0 + n) of the call attend to this cache
// (and to each other) only. One call may carry the canvases of several sequences (the batched decoder
// pass): every matmul and the experts see all rows at once, attention runs per segment.
struct BlockSegment {
    int64_t row0 = 0, n = 0;
    LayerKv * kv = nullptr;         // this layer's cache of the segment's sequence
    int32_t canvas_begin = 0;       // decoder: the segment's first canvas position
};

// One call: the tokens, their positions, how they attend and what to do with the cache. x and pos are
// in the memory of the layer's backend (Exec::be).
struct BlockArgs {
    float * x = nullptr;            // [S, H] residual stream, updated in place
    int64_t S = 0;
    const int32_t * pos = nullptr;  // [S] absolute positions
    const BlockSegment * segs = nullptr;  // [n_segs] covering [0, S) in order (n_segs >= 1)
    int n_segs = 0;
    bool decoder = false;           // false: causal (+ sliding) mask, K/V committed to the cache;
                                    // true: canvas mask from each segment's canvas_begin, caches unchanged
    int64_t ffn_begin = 0;          // the FFN runs on rows [ffn_begin, S) only (S = skip it)
    float layer_scalar = 1.0f;
};

// ex: the layer's backend (attention, dense FFN, the layer's KV cache); moe: where the routed experts
// run (the same Exec, or the CPU's with --cpu-moe: the rows are handed over and back around the experts).
void block_forward(const HParams & hp, const LayerWeights & w, const BlockConfig & cfg, const BlockArgs & args,
                   const Exec & ex, const Exec & moe);

}  // namespace ld
