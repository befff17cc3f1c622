// The per-tile transposed embedding of the fused vocab head (see cpu-vocab-head.h): rows of E
// dequantized and quantized along columns by the per-ISA kernels of ld-ggml/dequant-rows.h.
#include <algorithm>
#include <cstring>

#include "ld-ggml/blocks.h"
#include "ld-ggml/cpu-vocab-head.h"
#include "ld-ggml/dequant-rows.h"
#include "ld-ggml/error.h"

namespace ld::ggml {

namespace {

constexpr int64_t kGroup = 32;        // vocabulary rows of one Q8_0 block of an Eᵀ row
constexpr int64_t kGroupsPerTask = 8; // 256 vocabulary rows per task
constexpr int64_t kCols = 64;         // Eᵀ rows (embedding columns) per task (at least E's block)

inline void prefetch_for_write(const void * p) {
#if defined(__GNUC__) || defined(__clang__)
    __builtin_prefetch(p, 1, 3);
#else
    (void)p;
#endif
}

}  // namespace

EmbeddingTileT::EmbeddingTileT(const void * E, Type etype, int64_t H, int64_t V, int64_t max_nt, int n_threads)
    : E_(E), etype_(etype) {
    V_ = V;
    H_ = H;
    in_ = type_traits(etype);
    if (!in_ || !in_->to_float)
        throw Error(strfmt("vocab head: cannot read an embedding of type %d", (int)etype));
    in_row_ = row_size(etype, H);
    to_float_ = dequant_row_fn(etype, cpu_isa());  // the reference's values, vectorised
    quantize_ = quantize_columns_q8_0_fn(cpu_isa());
    type_ = etype == Type::F32 ? Type::F32 : Type::Q8_0;
    blk_ = type_traits(type_)->block_size;
    cols_ = (kCols + in_->block_size - 1) / in_->block_size * in_->block_size;
    data_.assign((size_t)H_ * row_size(type_, cols(max_nt)), 0);
    if (type_ != Type::F32)
        scratch_.assign((size_t)std::max(1, n_threads), std::vector<float>((size_t)(kGroup * cols_)));
}

void EmbeddingTileT::build(int64_t v0, int64_t nt, ThreadPool * pool) { build_impl(v0, nullptr, nt, pool); }

void EmbeddingTileT::build_rows(const int32_t * rows, int64_t n, ThreadPool * pool) {
    for (int64_t i = 0; i < n; ++i)
        if (rows[i] < 0 || rows[i] >= V_)
            throw Error(strfmt("vocab head: tile row %d is outside the vocabulary of %lld rows", (int)rows[i], (long long)V_));
    build_impl(0, rows, n, pool);
}

void EmbeddingTileT::build_impl(int64_t v0, const int32_t * idx, int64_t nt, ThreadPool * pool) {
    LD_GGML_ASSERT(nt >= 0 && (size_t)H_ * row_size(type_, cols(nt)) <= data_.size());
    auto vrow = [&](int64_t r) -> int64_t { return idx ? (int64_t)idx[r] : v0 + r; };
    const int64_t nc = cols(nt);
    const size_t out_row = row_size(type_, nc);  // bytes of one Eᵀ row (nc values)
    LD_GGML_ASSERT((size_t)H_ * out_row <= data_.size());
    // Tasks: (embedding columns [h0, h0 + cols_)) x (vocabulary rows [r0, r0 + 256)), so that a task
    // writes a compact patch of Eᵀ (few rows, consecutive blocks) rather than one block per row.
    const int64_t n_groups = (nt + kGroup - 1) / kGroup;
    const int64_t n_hc = (H_ + cols_ - 1) / cols_, n_gr = (n_groups + kGroupsPerTask - 1) / kGroupsPerTask;
    if (type_ == Type::F32) {
        // Exact transpose, straight from the rows of E (no padding: block 1).
        const float * src = (const float *)E_;
        float * dst = (float *)data_.data();
        pool->parallel_for(n_hc * n_gr, [&](int64_t task, int) {
            const int64_t h0 = (task % n_hc) * cols_, h1 = std::min(H_, h0 + cols_);
            const int64_t r0 = (task / n_hc) * kGroupsPerTask * kGroup, r1 = std::min(nt, r0 + kGroupsPerTask * kGroup);
            for (int64_t h = h0; h < h1; ++h)
                for (int64_t r = r0; r < r1; ++r) dst[h * nc + r] = src[vrow(r) * H_ + h];
        });
        return;
    }
    const size_t in_row = in_row_, in_blk = in_->type_size;
    const int64_t in_bs = in_->block_size;
    pool->parallel_for(n_hc * n_gr, [&](int64_t task, int thread) {
        const int64_t h0 = (task % n_hc) * cols_, hw = std::min(cols_, H_ - h0);
        const int64_t g0 = (task / n_hc) * kGroupsPerTask, g1 = std::min(n_groups, g0 + kGroupsPerTask);
        float * rows = scratch_[(size_t)thread].data();  // [32, hw]
        uint8_t * dst0 = data_.data() + (size_t)h0 * out_row;
        for (int64_t g = g0; g < g1; ++g) {
            const int64_t r0 = g * kGroup, nv = std::min(kGroup, nt - r0);
            // The task writes one 34-byte block per Eᵀ row and group, rows out_row bytes apart (4.3 kB
            // for the default tile): no hardware prefetcher follows that, so fetch the next group's
            // lines while this one runs.
            if (g + 1 < g1)
                for (int64_t k = 0; k < hw; ++k)
                    prefetch_for_write(dst0 + (size_t)k * out_row + (size_t)(g + 2) * sizeof(block_q8_0) - 1);
            for (int64_t r = 0; r < nv; ++r)
                to_float_((const uint8_t *)E_ + (size_t)vrow(r0 + r) * in_row + (size_t)(h0 / in_bs) * in_blk,
                          rows + r * hw, hw);
            if (nv < kGroup) std::fill(rows + nv * hw, rows + kGroup * hw, 0.0f);  // padding columns
            quantize_(rows, hw, hw, dst0 + (size_t)g * sizeof(block_q8_0), out_row);
        }
    });
}

}  // namespace ld::ggml
