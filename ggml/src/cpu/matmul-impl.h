// Internal interface of the CPU matmul: how a weight type is fed to the integer micro-kernels, the
// scalar unpackers shared by every ISA, and the table of per-ISA kernels (matmul-avx2.cpp,
// matmul-avx512.cpp, matmul-amx.cpp, matmul-neon.cpp, matmul-neon-i8mm.cpp) that the driver
// (matmul.cpp, moe.cpp) runs over fixed output tiles.
//
// The integer scheme, common to every quantized type: a weight row of K values is split in blocks
// of bl (16 or 32) values and each value is written as an unsigned code u (0..255) with
//     w = s1[b] * (u - off) + s2[b]          (s1, s2 f32 per block, off an integer per type)
// and an activation row (Q8_0 / Q8_1 / Q8_K blocks) as int8 codes a with scale da[b] per block. Then
//     sum_k w*x = sum_b s1[b]*da[b] * (sum u*a - off*sum a)  +  s2[b] * A[b]
// with A[b] = da[b]*sum a (Q8_0, Q8_K) or the stored s of Q8_1. The bracket is an exact int32 (the
// same integers as the generic dot products); u*a products fit u8 x s8 (vpdpbusd) or s16 pairs.
#pragma once

#include <cstddef>
#include <cstdint>

#include "ld-ggml/types.h"

namespace ld::ggml::mm {

struct QuantCfg {
    int bl = 32;            // values per scale block (16 or 32)
    int off = 0;            // integer offset subtracted from the codes
    bool has_min = false;   // s2 != 0 somewhere (Q4_1, Q5_1, Q2_K, Q4_K, Q5_K)
    Type act = Type::Q8_0;  // activation block type
};

// The config of a quantized weight type; false for plain types and unsupported ones.
bool quant_cfg(Type w, QuantCfg & cfg);

// Unpacks one weight row of K values: u[K] codes, s1[K/bl], s2[K/bl] (scalar reference code).
void unpack_row(Type w, const void * row, int64_t K, uint8_t * u, float * s1, float * s2);

// Per-block facts of one activation row for blocks of bl values: qs[K] int8 codes, da[K/bl],
// asum[K/bl] (sum of the codes), A[K/bl] (see above).
void act_blocks(Type act, int bl, const void * row, int64_t K, int8_t * qs, float * da, int32_t * asum, float * A);

// Activation rows already converted to the weight's vec_dot_type (one row per token or slot).
struct ActRows {
    Type type = Type::F32;  // the vec_dot_type
    const uint8_t * data = nullptr;
    size_t row_bytes = 0;
    const uint8_t * row(int64_t i) const { return data + (size_t)i * row_bytes; }
};

// One ISA's kernels. A panel is R weight rows packed for the micro-kernel, a tile C activation rows.
struct Kernels {
    int R = 0, C = 0;
    bool (*has)(Type w) = nullptr;
    size_t (*panel_bytes)(Type w, int64_t K) = nullptr;
    size_t (*tile_bytes)(Type w, int64_t K) = nullptr;
    // rows: n_rows (<= R) consecutive weight rows of row_bytes each; rows past n_rows are zero.
    void (*pack_panel)(Type w, const uint8_t * rows, size_t row_bytes, int n_rows, int64_t K, void * panel) = nullptr;
    // n (<= C) activation rows a.row(ids[i]); columns past n are zero.
    void (*pack_tile)(Type w, const ActRows & a, const int64_t * ids, int n, int64_t K, void * tile) = nullptr;
    // ycol[c][r] = dot(panel row r, tile column c) for r < n_rows, c < n_cols.
    void (*compute)(Type w, const void * panel, const void * tile, int64_t K, int n_rows, int n_cols,
                    float * const * ycol) = nullptr;
    // Optional vector version of quantize_activation_row (vec-dot.h) giving the same bytes; returns
    // false to leave the row to the reference code.
    bool (*quantize_row)(Type w, const float * x, void * dst, int64_t K) = nullptr;
    // Optional: compute() for n_tiles consecutive tiles (tile i at tiles + i * tile_bytes, n_cols[i]
    // columns written to ycols[i][c]) with the same result per tile, in an order that keeps the panel
    // in cache; nullptr: the driver calls compute() per tile.
    void (*compute_tiles)(Type w, const void * panel, const uint8_t * tiles, size_t tile_bytes, int n_tiles, int64_t K,
                          int n_rows, const int * n_cols, float * const * const * ycols) = nullptr;
    // Optional: pack_panel + compute_tiles in one call, from the weight rows (n_rows of row_bytes), with
    // the same result; returns false (nothing done) where the kernel prefers a packed panel.
    bool (*compute_raw)(Type w, const uint8_t * rows, size_t row_bytes, int n_rows, int64_t K, const uint8_t * tiles,
                        size_t tile_bytes, int n_tiles, const int * n_cols, float * const * const * ycols) = nullptr;
    // Optional: how many leading bytes of a panel compute reads (the scales of mins are not read for
    // types without them); nullptr: panel_bytes. The stride of prepared weights (PreparedWeight).
    size_t (*panel_bytes_read)(Type w, int64_t K) = nullptr;
    // The most tiles a compute_raw / compute_compact call takes for weight type w: the driver does not
    // offer it more. nullptr: no limit.
    int (*raw_max_tiles)(Type w) = nullptr;
    // Optional: a compact prepared form of a panel, for types whose panel is much larger than their rows
    // (4-bit codes held as bytes): the costly part of pack_panel done once (prepare_weight), the rest per call.
    // compact_bytes(w, K): its size per panel (0: none for w); pack_compact takes the rows as pack_panel
    // does; expand_compact writes the panel pack_panel would write for the same rows.
    size_t (*compact_bytes)(Type w, int64_t K) = nullptr;
    void (*pack_compact)(Type w, const uint8_t * rows, size_t row_bytes, int n_rows, int64_t K, void * compact) = nullptr;
    void (*expand_compact)(Type w, const void * compact, int n_rows, int64_t K, void * panel) = nullptr;
    // Optional: expand_compact + compute_tiles in one call (like compute_raw, at most raw_max_tiles(w) tiles);
    // returns false (nothing done) where the kernel prefers the expanded panel.
    bool (*compute_compact)(Type w, const void * compact, int n_rows, int64_t K, const uint8_t * tiles, size_t tile_bytes,
                            int n_tiles, const int * n_cols, float * const * const * ycols) = nullptr;
};

const Kernels * kernels_avx2();    // nullptr when not built
const Kernels * kernels_avx2_vnni();  // quantized types only (matmul-avxvnni.cpp, AVX-VNNI); nullptr when not built
const Kernels * kernels_avx512();  // nullptr when not built
const Kernels * kernels_neon();    // nullptr when not built
const Kernels * kernels_amx();     // quantized types only (matmul-amx.cpp); nullptr when not built
const Kernels * kernels_neon_i8mm();  // quantized types only (matmul-neon-i8mm.cpp, SMMLA); nullptr when not built

}  // namespace ld::ggml::mm

// ---- the driver shared by the dense and the expert matmul (matmul.cpp) ----
#include <cstdlib>
#include <memory>
#include <vector>

#include "ld-ggml/cpu-features.h"
#include "ld-ggml/thread-pool.h"

namespace ld::ggml::mm {

// The first 64-byte aligned byte of buf (a buffer sized 64 bytes over what it must hold).
inline uint8_t * aligned64(std::vector<uint8_t> & buf) {
    return buf.data() + ((64 - ((uintptr_t)buf.data() & 63)) & 63);
}

// One weight matrix (M rows of K) applied to a list of activation rows: out[i][0..M) = W . act.row(ids[i]).
struct Group {
    const uint8_t * w = nullptr;
    const int64_t * ids = nullptr;
    float * const * out = nullptr;
    int64_t n = 0;
    const uint8_t * panels = nullptr;  // prepared: panel p at panels + p * panel_stride (w is not read)
    size_t panel_stride = 0;
    bool compact = false;              // prepared panels in the compact form (expand_compact before use)
};

// Throws ld::ggml::Error for a type the matmul cannot run or a K that is not a block multiple.
void check_weight(const char * op, Type w, int64_t K);

// The kernels of isa for weight type w, or nullptr when the generic path must be used.
const Kernels * kernels_for(CpuIsa isa, Type w);

// Activation rows x[rows, K] converted to w's vec_dot_type (the reference rule, in parallel; with k's
// vector quantizer when it has one), into a grow-only buffer of the calling thread (no zero fill and no
// page faults per call): `out` stays valid until that thread's next quantize_acts.
// With `into`, that buffer is used instead (and out stays valid while it does).
void quantize_acts(const Kernels * k, Type w, const float * x, int64_t rows, int64_t K, ThreadPool & pool, ActRows & out,
                   std::vector<uint8_t> * into = nullptr);

// Runs every group with kernels k (or the generic dot products when k is nullptr), in fixed tiles:
// pack_tiles, then run_tiles.
void run_groups(const Kernels * k, Type w, int64_t K, int64_t M, const ActRows & act, const std::vector<Group> & groups,
                ThreadPool & pool);
// The first activation tile of each group (tile0[g]; tile0.back() = the tiles in all) for kernels k.
std::vector<int64_t> group_tiles(const Kernels * k, const std::vector<Group> & groups);
// Every activation tile of the groups packed for k into buf (64-byte aligned start returned).
const uint8_t * pack_tiles(const Kernels * k, Type w, int64_t K, const ActRows & act, const std::vector<Group> & groups,
                           const std::vector<int64_t> & tile0, ThreadPool & pool, std::vector<uint8_t> & buf);
// The tasks of run_groups over tiles packed by pack_tiles for the same groups' ids.
void run_tiles(const Kernels * k, Type w, int64_t K, int64_t M, const std::vector<Group> & groups,
               const std::vector<int64_t> & tile0, const uint8_t * tiles_base, ThreadPool & pool);

// Activation rows x[N, K] quantized and packed once for several dense matmuls with weights of one type and K
// (the vocab head's LM head over its vocabulary tiles): matmul(w, M, y) = the matmul of x with w on the ISA
// given to pack, bit for bit, without quantizing and packing x again. Owns its buffers.
class PackedActs {
public:
    void pack(CpuIsa isa, Type w, const float * x, int64_t N, int64_t K, ThreadPool & pool);
    // y[N, M] = x . W^T for W of M rows of the packed type and K.
    void matmul(const void * w, int64_t M, float * y, ThreadPool & pool);

private:
    const Kernels * k_ = nullptr;
    Type w_ = Type::F32;
    int64_t N_ = 0, K_ = 0;
    ActRows act_;
    std::vector<uint8_t> q_, tiles_;
    std::vector<int64_t> ids_, tile0_;
    std::vector<float *> out_;
    const uint8_t * tiles_base_ = nullptr;
};

}  // namespace ld::ggml::mm

namespace ld::ggml {

// Weights packed once for one kernel table (matmul-prepared.cpp): n_mats x panels_per_mat panels of
// panel_stride bytes (the bytes of pack_panel that compute reads, or with `compact` those of pack_compact).
class PreparedWeight {
public:
    const mm::Kernels * k = nullptr;
    CpuIsa isa = CpuIsa::generic;
    Type wtype = Type::F32;
    int64_t n_mats = 0, M = 0, K = 0, panels_per_mat = 0;
    size_t panel_stride = 0;
    bool compact = false;
    struct FreeBytes { void operator()(uint8_t * q) const { std::free(q); } };
    std::unique_ptr<uint8_t, FreeBytes> owned;  // prepare_weight's panels (huge-page aligned, not zero-filled)
    std::vector<uint8_t> mem;                   // or these (vocab-head-tile.cpp)
    const uint8_t * base = nullptr;
    const uint8_t * panels(int64_t mat) const { return base + panel_stride * (size_t)(panels_per_mat * mat); }
};

}  // namespace ld::ggml
