// Host-side launchers of the CUDA kernels (one .cu file per op family), called by the backend
// (backend-cuda.cpp) on its stream. Pointers are device memory; shapes are checked by the backend before
// the call (the launchers only check the launch). Each launcher names its op in errors.
#pragma once

#include <cuda_runtime_api.h>

#include <cstddef>
#include <cstdint>

#include "ld-ggml/backend.h"

namespace ld::ggml::cuda {

// ---- matmul (mmq.cu: int8 tensor cores; mmf.cu: f32 FMA tiles) -----------------------------------
// The column (token) side of a GEMM y = x · Wᵀ. Dense: perm == nullptr, column n reads x row n and
// writes y row n, one weight matrix. Grouped (MoE): the S = n_cols slots sorted by expert (perm), expert
// e owning perm[col_off[e] .. col_off[e+1]) and column tiles [tile_off[e], tile_off[e+1]); slot s reads
// x row (x_per_slot ? s : s / top_k) and writes y row s; expert e's matrix starts e * w_expert_bytes.
constexpr int GEMM_TILE_N = 64;  // columns per tile (the tile_off unit)
struct GemmCols {
    int64_t n_cols = 0;
    const int32_t * perm = nullptr;
    const int32_t * col_off = nullptr;   // [E + 1]
    const int32_t * tile_off = nullptr;  // [E + 1]
    int64_t E = 1;
    int64_t max_tiles = 0;               // grid bound on the column tiles (grouped)
    int64_t top_k = 1;
    bool x_per_slot = true;
    size_t w_expert_bytes = 0;
};

// Types with an int8 tensor-core kernel, and the activation group size they pair with (32; Q6_K 16).
bool mmq_supports(Type t);
int mmq_group(Type t);
// Activations [R, K] f32 -> int8 codes [R, K], per group of G: scale d = amax/127 [R, K/G] and
// s = d * Σq [R, K/G] (for the min term of Q4_K).
void quantize_act(const float * x, int64_t R, int64_t K, int G, int8_t * q, float * d, float * s, cudaStream_t st);
// row_bytes: bytes between weight rows (0: dense rows of K values).
void mmq(Type t, const int8_t * xq, const float * xd, const float * xs, int64_t K, const void * w, int64_t M,
         const GemmCols & c, float * y, cudaStream_t st, size_t row_bytes = 0);
// F32 / F16 / BF16 weights: f32 activations.
bool mmf_supports(Type t);
void mmf(Type t, const float * x, int64_t K, const void * w, int64_t M, const GemmCols & c, float * y, cudaStream_t st);

// ---- MoE (moe.cu) ----------------------------------------------------------------------------------
// Counting sort of the S = N*top_k slots by expert (ids outside [0, E) are dropped): perm [S],
// col_off [E+1], tile_off [E+1] (tiles of GEMM_TILE_N).
void moe_sort(const int32_t * ids, int64_t S, int64_t E, int32_t * perm, int32_t * col_off, int32_t * tile_off,
              cudaStream_t st);
// y[n, :] = Σ_s (in slot order) rw[n, s] * tmp[n*top_k + s, :].
void moe_reduce(const float * tmp, const float * rw, int64_t N, int64_t top_k, int64_t M, float * y, cudaStream_t st);

// ---- elementwise and row ops (norm.cu, elementwise.cu, rope.cu, router.cu) ------------------------
void rms_norm(const float * x, int64_t n_rows, int64_t n, const float * w, float eps, float * out, cudaStream_t st);
void softmax(const float * x, int64_t n_rows, int64_t n, float * out, cudaStream_t st);
void softcap(const float * x, int64_t n, float cap, float * out, cudaStream_t st);
void geglu(const float * gate, const float * up, int64_t n_rows, int64_t n, int64_t ld_in, float * out, cudaStream_t st);
void add(const float * a, const float * b, int64_t n, float * out, cudaStream_t st);
void scale(const float * x, int64_t n, float s, float * out, cudaStream_t st);
void rope_neox(float * x, int64_t n_tok, int64_t n_head, int64_t head_dim, const int32_t * pos, int64_t n_rot,
               float theta_base, const float * freq_factors, const float * inv_freq, cudaStream_t st);
void router_topk(const float * logits, int64_t n_tok, int64_t n_expert, int64_t k, const float * per_expert_scale,
                 int32_t * ids, float * w, cudaStream_t st);

// ---- rows (rows.cu) --------------------------------------------------------------------------------
// t: a natively decoded type (decode.cuh); row_bytes: bytes between rows of w.
void get_rows(const void * w, Type t, int64_t ne0, size_t row_bytes, const int32_t * ids, int64_t n, float s,
              float * out, cudaStream_t st);
void store_rows(const float * src, int64_t n, int64_t width, Type dst_type, void * dst, cudaStream_t st);

// ---- attention (attention.cu) ----------------------------------------------------------------------
void attention(const AttnArgs & a, cudaStream_t st);

// ---- fused vocab head (vocab-head.cu) --------------------------------------------------------------
// Per-position streaming state of the head (device memory, [C]).
struct HeadState {
    float m, Z, S;      // running max of r = raw/T, Σ e^(r-m), Σ e^(r-m)(r-m)
    float best;         // max r so far (argmax value)
    int32_t arg;        // first index of it
    int32_t pick;       // Gumbel-max pick
    double pick_key;    // its r + Gumbel noise
    float alpha;        // e^(m_old - m_new) of the last tile (rescales soft)
};
void head_init(HeadState * st, int64_t C, float * soft, int64_t H, cudaStream_t s);
// Folds the tile of logits [C, tv] (vocabulary v0 ..) into the state and writes the soft weights
// e^(r - m_new) to wts [C, ldw] (ldw >= tv; columns tv .. ldw-1 zero). wts may be the logits buffer when
// ldw == tv.
void head_tile_stats(float * logits, int64_t C, int64_t tv, int64_t v0, float softcap, float temperature, bool sample,
                     uint64_t seed, uint64_t canvas_key, uint64_t step_key, HeadState * st, float * wts, int64_t ldw,
                     cudaStream_t s);
// f32 path (F32 embeddings, exact like the CPU's): soft[c, :] = alpha_c soft[c, :] + Σ_{v < tv} wts[c, v] E[v0 + v, :],
// E rows of type t (native).
void head_tile_soft(const float * wts, int64_t ldw, int64_t C, int64_t tv, const void * E_tile, Type t,
                    size_t row_bytes, int64_t H, const HeadState * st, float * soft, cudaStream_t s);
// int8 path (quantized embeddings, Q8_0 like the CPU's): Eᵀ as Q8_0, H rows of Vp (V padded to 32) values,
// built once per embedding; then per tile the weights are quantized and multiplied on the tensor cores
// (mmq) into y [C, H], and soft = alpha soft + y.
void head_build_et(const void * E, Type t, int64_t H, int64_t V, int64_t Vp, void * et, cudaStream_t s);
void head_soft_axpy(const HeadState * st, const float * y, int64_t C, int64_t H, float * soft, cudaStream_t s);
void head_finish(const HeadState * st, int64_t C, bool sample, int32_t * argmax, int32_t * draw, float * entropy,
                 float * soft, int64_t H, cudaStream_t s);

}  // namespace ld::ggml::cuda
