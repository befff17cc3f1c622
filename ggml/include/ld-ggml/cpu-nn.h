// CPU neural-network ops of the Gemma-4 block: RMSNorm, rotate-half RoPE with per-frequency factors,
// exact GELU-tanh / GEGLU, softcap, row softmax, MoE router top-k, and tiled attention with the
// causal / sliding-window / canvas masks over f32, f16 or q8_0 K/V.
//
// Every op has two implementations:
//   * `*_ref`: plain scalar code written straight from the maths (attention materialises the score
//     matrix); the ground truth for tests, never ISA-specific.
//   * the optimized op: vectorized kernels (generic / AVX2 / AVX-512, chosen by cpu_isa() unless an
//     ISA is passed explicitly) run on a ThreadPool. Work is split into fixed pieces that do not depend
//     on the thread count, so the result is bit-identical for any number of threads.
//
// All tensors are dense row-major f32 unless stated otherwise. Bad arguments throw ld::ggml::Error naming the
// op and the offending values. Outputs may alias inputs where noted.
#pragma once

#include <cstddef>
#include <cstdint>

#include "ld-ggml/cpu-features.h"
#include "ld-ggml/thread-pool.h"
#include "ld-ggml/types.h"

namespace ld::ggml {

// ---- RMSNorm ----------------------------------------------------------------------------------
// out[r, :] = x[r, :] * (mean(x[r, :]^2) + eps)^(-1/2) * weight    (Gemma 4: weight, not 1 + weight)
// x, out: [n_rows, n]; weight: [n] or nullptr (weightless norm). Per-head norms use rows of head_dim:
// n_rows = n_tok * n_head, n = head_dim. out may alias x.
void rms_norm_ref(const float * x, int64_t n_rows, int64_t n, const float * weight, float eps, float * out);
void rms_norm(const float * x, int64_t n_rows, int64_t n, const float * weight, float eps, float * out,
              ThreadPool * pool = nullptr);
void rms_norm(const float * x, int64_t n_rows, int64_t n, const float * weight, float eps, float * out,
              ThreadPool * pool, CpuIsa isa);

// ---- RoPE (NeoX / rotate-half) ----------------------------------------------------------------
// x: [n_tok, n_head, head_dim], rotated in place. The first n_rot dims of each head are rotated in
// pairs (i, i + n_rot/2), i < n_rot/2; dims >= n_rot pass through. Angle of pair i for a token at
// position p: p * theta_base^(-2i/n_rot) / freq_factors[i] (all in f32, as HF computes inv_freq and
// the angle); freq_factors: [n_rot/2] or nullptr (all 1). A factor of 1e30 leaves the pair unrotated,
// which is how `rope_freqs` expresses Gemma 4's proportional partial rotary (n_rot = head_dim = 512,
// factor 1 for i < 64, 1e30 for the rest). pos: [n_tok] int32.
//   out[i]         = x[i] cos a - x[i + n_rot/2] sin a
//   out[i+n_rot/2] = x[i + n_rot/2] cos a + x[i] sin a
struct RopeParams {
    int64_t n_rot = 0;               // rotated dims (even, <= head_dim); 0 = head_dim
    float theta_base = 10000.0f;
    const float * freq_factors = nullptr;
    // Optional explicit inverse frequencies [n_rot/2] replacing theta_base^(-2i/n_rot) (e.g. the exact
    // f32 table of the reference implementation, whose pow may differ from ours by an ulp); the
    // freq_factors still divide them.
    const float * inv_freq = nullptr;
};
void rope_neox_ref(float * x, int64_t n_tok, int64_t n_head, int64_t head_dim, const int32_t * pos,
                   const RopeParams & p);
void rope_neox(float * x, int64_t n_tok, int64_t n_head, int64_t head_dim, const int32_t * pos,
               const RopeParams & p, ThreadPool * pool = nullptr);

// ---- activations ------------------------------------------------------------------------------
// gelu_tanh(x) = 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))), computed exactly (no tables).
// Both versions use the identical x * sigmoid(2 sqrt(2/pi)(x + 0.044715 x^3)), free of the cancellation
// of 1 + tanh for negative x: the reference in double, the kernels in f32 with a vector exp (a few ulp).
// out may alias x.
void gelu_tanh_ref(const float * x, int64_t n, float * out);
void gelu_tanh(const float * x, int64_t n, float * out, ThreadPool * pool = nullptr);
void gelu_tanh(const float * x, int64_t n, float * out, ThreadPool * pool, CpuIsa isa);

// GEGLU: out[r, i] = gelu_tanh(gate[r * ld_in + i]) * up[r * ld_in + i], i < n, r < n_rows;
// out: [n_rows, n] dense. ld_in = n for separate gate/up tensors; for the fused MoE gate_up layout
// ([n_rows, 2n], gate first) pass gate = gu, up = gu + n, ld_in = 2n. out may alias gate when ld_in == n.
void geglu_ref(const float * gate, const float * up, int64_t n_rows, int64_t n, int64_t ld_in, float * out);
void geglu(const float * gate, const float * up, int64_t n_rows, int64_t n, int64_t ld_in, float * out,
           ThreadPool * pool = nullptr);
void geglu(const float * gate, const float * up, int64_t n_rows, int64_t n, int64_t ld_in, float * out,
           ThreadPool * pool, CpuIsa isa);

// softcap(x) = cap * tanh(x / cap), cap > 0. out may alias x.
void softcap_ref(const float * x, int64_t n, float cap, float * out);
void softcap(const float * x, int64_t n, float cap, float * out, ThreadPool * pool = nullptr);

// Row softmax: x, out [n_rows, n], out may alias x. The maximum is subtracted first; a row of all
// -inf gives all zeros.
void softmax_ref(const float * x, int64_t n_rows, int64_t n, float * out);
void softmax(const float * x, int64_t n_rows, int64_t n, float * out, ThreadPool * pool = nullptr);
void softmax(const float * x, int64_t n_rows, int64_t n, float * out, ThreadPool * pool, CpuIsa isa);

// ---- MoE router -------------------------------------------------------------------------------
// Per token (spec 4.5): p = softmax_f32(logits[t, :]); the k largest p in descending order (ties: lower
// expert id first); w = p_topk / sum(p_topk); then w *= per_expert_scale[id] (AFTER renormalising).
// logits: [n_tok, n_expert]; per_expert_scale: [n_expert] or nullptr; ids_out: [n_tok, k] int32;
// weights_out: [n_tok, k]. The optimized version equals the reference bit for bit (same scalar code,
// threaded over tokens).
void router_topk_ref(const float * logits, int64_t n_tok, int64_t n_expert, int64_t k,
                     const float * per_expert_scale, int32_t * ids_out, float * weights_out);
void router_topk(const float * logits, int64_t n_tok, int64_t n_expert, int64_t k,
                 const float * per_expert_scale, int32_t * ids_out, float * weights_out,
                 ThreadPool * pool = nullptr);

// ---- attention --------------------------------------------------------------------------------
// out[i, h, :] = sum_j softmax_j(scale * q[i, h, :] . k[j, g, :] over visible j) * v[j, g, :]
// with g = h / (n_head / n_kv_head) (grouped-query broadcast: consecutive query heads share a KV head).
// Visibility of key j for query i is decided from absolute positions qp = q_pos[i], kp = k_pos[j]:
//   causal:  0 <= kp <= qp
//   sliding: qp - window < kp <= qp, kp >= 0       (the query and the window-1 previous tokens)
//   canvas:  kp >= canvas_begin (every canvas key), or 0 <= kp < canvas_begin and
//            (window == 0 || kp > canvas_begin - window)   (the prefix: all of it in full layers
//            (window 0), its last window-1 positions in sliding layers); independent of qp.
// A negative key position marks an empty slot (never visible). A query that sees no key gets zeros.
// Keys may be in any order (a KV cache followed by fresh keys, a ring buffer, ...).
enum class AttnMask { causal = 0, sliding = 1, canvas = 2 };

struct AttnArgs {
    const float * q = nullptr;        // [n_q, n_head, head_dim], rows q_stride floats apart (per token)
    const int32_t * q_pos = nullptr;  // [n_q]
    int64_t n_q = 0, n_head = 0, head_dim = 0;
    int64_t q_stride = 0;             // floats between tokens; 0 = n_head * head_dim

    const void * k = nullptr;         // [n_kv, n_kv_head, head_dim] of kv_type
    const void * v = nullptr;         // [n_kv, n_kv_head, head_dim] of kv_type
    const int32_t * k_pos = nullptr;  // [n_kv]
    Type kv_type = Type::F32;         // F32, F16 or Q8_0 (head_dim a multiple of 32 for Q8_0)
    int64_t n_kv = 0, n_kv_head = 0;
    size_t kv_stride = 0;             // bytes between tokens (same for k and v); 0 = dense

    float * out = nullptr;            // [n_q, n_head, head_dim], dense
    AttnMask mask = AttnMask::causal;
    int32_t window = 0;               // sliding: W >= 1; canvas: 0 (full) or W >= 1
    int32_t canvas_begin = 0;         // canvas: first canvas position
    float scale = 1.0f;               // Gemma 4: 1.0
};

// Throws ld::ggml::Error on inconsistent arguments (head_dim not a multiple of 16, n_head not a multiple of
// n_kv_head, unsupported kv_type, window < 1 for sliding, null pointers, ...).
void attention_validate(const AttnArgs & a);

// Naive reference: per (query, head) all scores in f32 (dot products accumulated in f32 in index
// order), max-subtracted softmax, weighted sum of V.
void attention_ref(const AttnArgs & a);

// Tiled flash-style attention: tasks of (KV head, query tile) with all query heads of the group, key
// tiles of 64 dequantized on the fly, online softmax with f32 accumulation; tiles that the mask hides
// entirely are skipped.
void attention(const AttnArgs & a, ThreadPool * pool = nullptr);
void attention(const AttnArgs & a, ThreadPool * pool, CpuIsa isa);

}  // namespace ld::ggml
