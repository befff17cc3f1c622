// The fused vocab head of a denoising step on the CPU, and the pieces every implementation shares: the
// step's arguments (VocabHeadArgs, also the Backend op's), the streaming categorical draw and the checks.
// Per canvas position the head computes logits over the whole vocabulary, the temperature-scaled
// softmax's argmax, entropy and a categorical draw, and the expected embedding soft = Σ p_v E_v (the
// next step's self-conditioning input), in one pass over vocabulary tiles: nothing of size [C, V].
//
// Categorical sampling is one streaming pass in vocabulary order: weighted reservoir sampling with
// exponential jumps. With W the running weight sum, the current pick is replaced by item v when W (after
// adding w_v) exceeds the threshold W_last / r, r ~ U(0,1) drawn at the last replacement; P(final pick =
// v) = w_v / W_total exactly, and only O(log V) uniforms are drawn per position (rng.h key: seed,
// canvas, step, position * 2^20 + draw index).
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "ld-ggml/cpu-features.h"
#include "ld-ggml/dequant-rows.h"
#include "ld-ggml/thread-pool.h"
#include "ld-ggml/types.h"

namespace ld::ggml {

class PreparedWeight;  // cpu-matmul.h

// The fused vocab head of one denoising step (the CPU definition: cpp/generate/vocab-head.h and
// ggml/src/cpu/vocab-head-fused.cpp), per canvas position c < C:
//   raw     = softcap(hidden_c · Wᵀ)  [V]      (W = out_w {H, V}; softcap <= 0: none)
//   p       = softmax(raw / temperature)
//   argmax  = first index of max p;  entropy = −Σ p log p (nats)
//   draw    = a categorical sample of p keyed by (seed, canvas_key, step_key, c) (rng.h), or the argmax
//             when !sample
//   soft_c  = Σ_v p_v E_v  [H]                 (E = embd {H, V}; only when soft != nullptr)
// No [C, V] buffer may exist on any backend: the vocabulary is streamed in tiles with online statistics.
// Seeded draws are reproducible on the same backend and device; only the argmax path is required to equal
// the CPU's token for token (deterministic mode).
struct VocabHeadArgs {
    const float * hidden = nullptr;   // [C, H] final-normed decoder states
    int64_t C = 0, H = 0, V = 0;
    const void * out_w = nullptr;     // {H, V} LM head weights (the embedding when tied), from weight()
    Type out_type = Type::F32;
    const void * embd = nullptr;      // {H, V} the embedding, for soft (may equal out_w)
    Type embd_type = Type::F32;
    float softcap = 0.0f;
    float temperature = 1.0f;         // > 0
    bool sample = true;
    uint64_t seed = 0, canvas_key = 0, step_key = 0;
    int32_t * argmax = nullptr;       // [C]
    int32_t * draw = nullptr;         // [C]
    float * entropy = nullptr;        // [C]
    float * soft = nullptr;           // [C, H] or nullptr
    // Sparse self-conditioning: 0 (default) = exact, soft sums every vocabulary row. eps > 0: soft skips
    // the rows whose probability is provably negligible, with Σ over the skipped rows of p_v <= eps for
    // every position (so |soft - exact soft| <= eps * max_v |E_v| per component, plus the rounding of
    // the 8-bit Eᵀ blocks, grouped over the kept rows): in a tile, with the running maximum m and the
    // running sum S (this tile included) of position c, row v is skipped for c when
    // e^{l_v - m} <= eps * S / V; since the final sum is >= S, p_v <= eps / V, and the V rows add up to
    // at most eps. A row is skipped when every position skips it; argmax, entropy and the draw always
    // use every row. Tiles that keep every row give the exact mode's result bit for bit.
    float soft_drop_mass = 0.0f;
    int64_t * soft_rows_used = nullptr;  // out (optional): vocabulary rows the soft sum used, over all tiles
};

// The RNG key of one step's draws.
struct DrawKey {
    uint64_t seed = 0, canvas_key = 0, step_key = 0;
};

// Per-position streaming state of the categorical draw.
struct ReservoirDraw {
    double W = 0.0, threshold = 0.0;
    int32_t pick = -1;
    uint32_t n_draws = 0;
    void rescale(double f) { W *= f; threshold *= f; }
    // Adds item v of weight w (relative to the current scale); position identifies the canvas position.
    void add(int32_t v, double w, const DrawKey & key, uint64_t position);
    // add(v0 + j, w[j]) for j < n, in order (the same sums and draws; the running sum kept in a register).
    void add_run(int32_t v0, const float * w, int64_t n, const DrawKey & key, uint64_t position);
};

// Throws ggml::Error unless 0 < T < inf.
void vocab_head_check_temperature(float T);
// Throws ggml::Error when the softmax sums s = Σw, a = Σw·d of canvas position c are not finite / positive.
void vocab_head_check_finite(double s, double a, int64_t c);

class EmbeddingTCache;  // below

// The CPU fused head (pointers in host memory). tile: vocabulary rows per tile (0: 4096).
// pool: nullptr = ThreadPool::global(). Results do not depend on the thread count.
// et_cache: the transposed embedding's tiles kept across calls (EmbeddingTCache), or nullptr (each call
// builds them again); the results are the same bit for bit.
void vocab_head_fused(const VocabHeadArgs & a, ThreadPool * pool = nullptr, int64_t tile = 0,
                      EmbeddingTCache * et_cache = nullptr);

// Eᵀ of one vocabulary tile: for the rows [v0, v0 + nt) of E {H, V}, H rows of cols(nt) values
// (vocabulary order), so that soft_tile[C, H] = P[C, cols] · Eᵀ_tileᵀ is one matmul with K = cols.
// Columns [nt, cols) are zero (P is zero there too). Storage: F32 for an F32 embedding (exact), else
// Q8_0, one block holding 32 vocabulary rows of one column, quantized from the reference dequantization
// with the reference rule (so for tiles starting at a multiple of 32 the blocks are byte for byte those
// of the engine's whole transposed embedding). Where the ISA in effect is avx512, avx2 or avx2_vnni (and
// kernel_panels), the Q8_0 tile is written straight into that ISA's packed matmul panels instead
// (prepared(): the bytes pack_panel would make of the Q8_0 rows, for matmul_prepared; data() is then
// unused).
class EmbeddingTileT {
public:
    // E: the embedding {H, V} of type etype; max_nt: the largest tile; n_threads: of the pool.
    EmbeddingTileT(const void * E, Type etype, int64_t H, int64_t V, int64_t max_nt, int n_threads,
                   bool kernel_panels = true);
    int64_t cols(int64_t nt) const { return (nt + blk_ - 1) / blk_ * blk_; }
    // Fills the tile for rows [v0, v0 + nt), nt <= max_nt. Deterministic for any thread count.
    void build(int64_t v0, int64_t nt, ThreadPool * pool);
    // Fills the tile for the n <= max_nt rows rows[0..n) (vocabulary indices in [0, V), any order): column
    // i of Eᵀ is row rows[i] of E (the sparse self-conditioning's kept rows).
    void build_rows(const int32_t * rows, int64_t n, ThreadPool * pool);
    const void * data() const { return data_.data(); }   // [H rows of cols(nt)] after build
    Type type() const { return type_; }
    // The tile as packed panels (K = cols(nt), M = H) after build, or nullptr where it is stored as rows.
    const PreparedWeight * prepared() const { return pw_.get(); }
    // A copy of those panels that owns its bytes (nullptr where the tile is stored as rows).
    std::shared_ptr<const PreparedWeight> copy_prepared() const;

private:
    const void * E_ = nullptr;
    Type etype_ = Type::F32;
    size_t in_row_ = 0;                        // bytes of one row of E
    const TypeTraits * in_ = nullptr;
    to_float_fn to_float_ = nullptr;           // E's row dequantizer (dequant-rows.h)
    q8_0_columns_fn quantize_ = nullptr;       // the transposing Q8_0 quantizer (same header)
    Type type_ = Type::F32;
    int64_t H_ = 0, blk_ = 1, cols_ = 1;      // cols_: embedding columns per build task
    std::vector<uint8_t> data_;
    std::vector<std::vector<float>> scratch_;  // per thread: [32, H] dequantized rows
    int64_t V_ = 0;
    std::shared_ptr<PreparedWeight> pw_;                        // the panels (kernel_panels mode)
    void (*panel_fn_)(const float *, int64_t, uint8_t *, float *) = nullptr;  // embd-panels.h
    int64_t panel_cols_ = 0;                                    // columns per panel_fn_ call
    // column i of the tile is row (idx ? idx[i] : v0 + i) of E
    void build_impl(int64_t v0, const int32_t * idx, int64_t nt, ThreadPool * pool);
};

// The self-conditioning product's transposed embedding kept across fused-head calls, as packed panels per
// vocabulary tile (the CPU backend keeps one while weight repacking is on: memory traded for speed, as the
// repacked weights, V·H·(1 + 4/32) bytes: 830 MB for the real 262,144 x 2,816 embedding). A tile is kept
// by the first call that builds it in full (sparse tiles of kept rows are built per call, as without it)
// and reused by every later call with the same embedding (pointer: its bytes must not change), type, H,
// V, tile size and ISA; another one clears it. Only where EmbeddingTileT writes the kernels' panels
// (avx512, avx2, avx2_vnni); not for the AMX-BF16 soft product. Not thread-safe: one head at a time.
class EmbeddingTCache {
public:
    EmbeddingTCache();
    ~EmbeddingTCache();
    // The panels kept for the tile at v0 (nt rows) of the head described by a, or nullptr; clears the
    // cache when a describes another embedding.
    const PreparedWeight * find(const VocabHeadArgs & a, int64_t tile, int64_t v0, int64_t nt);
    // Keeps a copy of et's panels as the tile at v0 (after find() for the same head).
    const PreparedWeight * keep(const EmbeddingTileT & et, int64_t v0, int64_t tile);
    size_t bytes() const { return bytes_; }
    void clear();

private:
    const void * embd_ = nullptr;
    Type type_ = Type::F32;
    int64_t H_ = 0, V_ = 0, tile_ = 0;
    CpuIsa isa_ = CpuIsa::generic;
    std::vector<std::shared_ptr<const PreparedWeight>> tiles_;  // [ceil(V / tile)]
    size_t bytes_ = 0;
};

}  // namespace ld::ggml
