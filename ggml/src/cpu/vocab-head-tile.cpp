// The per-tile transposed embedding of the fused vocab head (see cpu-vocab-head.h): rows of E
// dequantized and quantized along columns by the per-ISA kernels of ld-ggml/dequant-rows.h, as Q8_0 rows or
// straight into the packed Q8_0 panels of the matmul kernel table (embd-panels.h).
#include <algorithm>
#include <cstring>
#include <new>

#include "ld-ggml/blocks.h"
#include "ld-ggml/cpu-vocab-head.h"
#include "ld-ggml/dequant-rows.h"
#include "ld-ggml/error.h"
#include "embd-panels.h"
#include "matmul-impl.h"

namespace ld::ggml {

namespace {

constexpr int64_t kGroup = 32;        // vocabulary rows of one Q8_0 block of an Eᵀ row
constexpr int64_t kGroupsPerTask = 8; // 256 vocabulary rows per task
constexpr int64_t kCols = 64;         // Eᵀ rows (embedding columns) per task (at least E's block)

// Asks for the cache line of p, to be written (kWrite) or read.
template <bool kWrite>
inline void prefetch_line(const void * p) {
#if defined(__GNUC__) || defined(__clang__)
    __builtin_prefetch(p, kWrite ? 1 : 0, 3);
#else
    (void)p;
#endif
}

}  // namespace

EmbeddingTileT::EmbeddingTileT(const void * E, Type etype, int64_t H, int64_t V, int64_t max_nt, int n_threads,
                               bool kernel_panels)
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
    if (type_ != Type::F32)
        scratch_.assign((size_t)std::max(1, n_threads), std::vector<float>((size_t)(kGroup * cols_)));
    // the packed panels of the ISA's Q8_0 kernels, where a writer for them exists
    const CpuIsa isa = cpu_isa();
    const mm::Kernels * k = nullptr;
    int want_r = 0;  // the panel rows the writer is made for
    if (kernel_panels && type_ == Type::Q8_0) {
#if defined(LD_HAVE_AVX512)
        if (isa == CpuIsa::avx512) {
            k = mm::kernels_for(isa, Type::Q8_0);
            panel_fn_ = &mm::embd_q8_0_panel16_avx512;
            panel_cols_ = 16;
            want_r = 32;
        }
#endif
#if defined(LD_HAVE_AVX2)
        if (isa == CpuIsa::avx2 || isa == CpuIsa::avx2_vnni) {
            k = mm::kernels_for(isa, Type::Q8_0);
            panel_fn_ = &mm::embd_q8_0_panel8_avx2;
            panel_cols_ = 8;
            want_r = 8;
        }
#endif
    }
    if (k && k->R == want_r && cols_ % k->R == 0 && k->panel_bytes_read) {
        auto p = std::make_shared<PreparedWeight>();
        p->k = k;
        p->isa = isa;
        p->wtype = Type::Q8_0;
        p->n_mats = 1;
        p->M = H_;
        p->panels_per_mat = (H_ + k->R - 1) / k->R;
        const size_t stride = k->panel_bytes_read(Type::Q8_0, cols(max_nt));
        p->mem.assign(stride * (size_t)p->panels_per_mat + 64, 0);
        p->base = mm::aligned64(p->mem);
        pw_ = std::move(p);
    } else {
        panel_fn_ = nullptr;
        data_.assign((size_t)H_ * row_size(type_, cols(max_nt)), 0);
    }
}

void EmbeddingTileT::build(int64_t v0, int64_t nt, ThreadPool * pool) { build_impl(v0, nullptr, nt, pool); }

void EmbeddingTileT::build_rows(const int32_t * rows, int64_t n, ThreadPool * pool) {
    for (int64_t i = 0; i < n; ++i)
        if (rows[i] < 0 || rows[i] >= V_)
            throw Error(strfmt("vocab head: tile row %d is outside the vocabulary of %lld rows", (int)rows[i], (long long)V_));
    build_impl(0, rows, n, pool);
}

void EmbeddingTileT::build_impl(int64_t v0, const int32_t * idx, int64_t nt, ThreadPool * pool) {
    LD_GGML_ASSERT(nt >= 0 && (pw_ ? pw_->k->panel_bytes_read(Type::Q8_0, cols(nt)) * (size_t)pw_->panels_per_mat + 64 <=
                                         pw_->mem.size()
                                   : (size_t)H_ * row_size(type_, cols(nt)) <= data_.size()));
    auto vrow = [&](int64_t r) -> int64_t { return idx ? (int64_t)idx[r] : v0 + r; };
    const int64_t nc = cols(nt);
    const size_t out_row = row_size(type_, nc);  // bytes of one Eᵀ row (nc values)
    LD_GGML_ASSERT(pw_ || (size_t)H_ * out_row <= data_.size());
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
    // rows[32][ld]: columns [h0, h0 + hw) of the tile's vocabulary rows 32g .. 32g + 31 dequantized, zero in
    // the rows past nt and in the columns [hw, width)
    // (group g + 1's pieces of E are asked for first: 32 short runs of bytes a row apart, which no hardware
    // prefetcher follows, so that they arrive while group g is dequantized and quantized)
    auto stage = [&](float * rows, int64_t ld, int64_t h0, int64_t hw, int64_t width, int64_t g, bool next) {
        const int64_t r0 = g * kGroup, nv = std::min(kGroup, nt - r0);
        const size_t piece = (size_t)((hw + in_bs - 1) / in_bs) * in_blk;  // bytes of a row's columns [h0, h0 + hw)
        if (next)
            for (int64_t r = r0 + kGroup; r < std::min(nt, r0 + 2 * kGroup); ++r) {
                const char * p = (const char *)E_ + (size_t)vrow(r) * in_row + (size_t)(h0 / in_bs) * in_blk;
                for (size_t o = 0; o < piece; o += 64) prefetch_line<false>(p + o);
                prefetch_line<false>(p + piece - 1);
            }
        for (int64_t r = 0; r < kGroup; ++r) {
            float * o = rows + r * ld;
            if (r < nv) to_float_((const uint8_t *)E_ + (size_t)vrow(r0 + r) * in_row + (size_t)(h0 / in_bs) * in_blk, o, hw);
            std::fill(o + (r < nv ? hw : 0), o + width, 0.0f);
        }
    };
    if (pw_) {  // straight into the kernels' panels: K = nc, rows = the H embedding columns
        PreparedWeight & P = *pw_;
        const int64_t R = P.k->R;
        P.K = nc;
        P.panel_stride = P.k->panel_bytes_read(Type::Q8_0, nc);
        const size_t s1_off = (nc * R + 63) / 64 * 64;  // the panel's codes [K/4][R][4], then s1[nb][R]
        uint8_t * const base = P.mem.data() + (P.base - P.mem.data());  // P.base, writable
        pool->parallel_for(n_hc * n_gr, [&](int64_t task, int thread) {
            const int64_t h0 = (task % n_hc) * cols_, hw = std::min(cols_, H_ - h0), hp = (hw + R - 1) / R * R;
            const int64_t g0 = (task / n_hc) * kGroupsPerTask, g1 = std::min(n_groups, g0 + kGroupsPerTask);
            float * rows = scratch_[(size_t)thread].data();  // [32, cols_]; columns [hw, hp) zero
            for (int64_t g = g0; g < g1; ++g) {
                stage(rows, cols_, h0, hw, hp, g, g + 1 < g1);
                for (int64_t j = 0; j < hp; j += panel_cols_) {
                    uint8_t * panel = base + P.panel_stride * (size_t)((h0 + j) / R);
                    const int64_t hoff = (h0 + j) % R;
                    panel_fn_(rows + j, cols_, panel + (size_t)(8 * g * R + hoff) * 4,
                              reinterpret_cast<float *>(panel + s1_off) + g * R + hoff);
                }
            }
        });
        return;
    }
    pool->parallel_for(n_hc * n_gr, [&](int64_t task, int thread) {
        const int64_t h0 = (task % n_hc) * cols_, hw = std::min(cols_, H_ - h0);
        const int64_t g0 = (task / n_hc) * kGroupsPerTask, g1 = std::min(n_groups, g0 + kGroupsPerTask);
        float * rows = scratch_[(size_t)thread].data();  // [32, hw]
        uint8_t * dst0 = data_.data() + (size_t)h0 * out_row;
        for (int64_t g = g0; g < g1; ++g) {
            // The task writes one 34-byte block per Eᵀ row and group, rows out_row bytes apart (4.3 kB
            // for the default tile): no hardware prefetcher follows that, so fetch the next group's
            // lines while this one runs.
            if (g + 1 < g1)
                for (int64_t k = 0; k < hw; ++k)
                    prefetch_line<true>(dst0 + (size_t)k * out_row + (size_t)(g + 2) * sizeof(block_q8_0) - 1);
            stage(rows, hw, h0, hw, hw, g, g + 1 < g1);
            quantize_(rows, hw, hw, dst0 + (size_t)g * sizeof(block_q8_0), out_row);
        }
    });
}

std::shared_ptr<const PreparedWeight> EmbeddingTileT::copy_prepared() const {
    if (!pw_) return nullptr;
    const PreparedWeight & P = *pw_;
    auto c = std::make_shared<PreparedWeight>();
    c->k = P.k;
    c->isa = P.isa;
    c->wtype = P.wtype;
    c->n_mats = P.n_mats;
    c->M = P.M;
    c->K = P.K;
    c->panels_per_mat = P.panels_per_mat;
    c->panel_stride = P.panel_stride;
    c->compact = P.compact;
    const size_t n = P.panel_stride * (size_t)P.panels_per_mat;  // the bytes the kernels read at this K
    c->mem.resize(n + 64);
    c->base = mm::aligned64(c->mem);
    std::memcpy(const_cast<uint8_t *>(c->base), P.base, n);
    return c;
}

EmbeddingTCache::EmbeddingTCache() = default;
EmbeddingTCache::~EmbeddingTCache() = default;

void EmbeddingTCache::clear() {
    tiles_.clear();
    bytes_ = 0;
    embd_ = nullptr;
}

const PreparedWeight * EmbeddingTCache::find(const VocabHeadArgs & a, int64_t tile, int64_t v0, int64_t nt) {
    if (tile <= 0) return nullptr;
    const CpuIsa isa = cpu_isa();
    if (a.embd != embd_ || a.embd_type != type_ || a.H != H_ || a.V != V_ || tile != tile_ || isa != isa_) {
        clear();
        embd_ = a.embd;
        type_ = a.embd_type;
        H_ = a.H;
        V_ = a.V;
        tile_ = tile;
        isa_ = isa;
        tiles_.resize((size_t)((V_ + tile_ - 1) / tile_));
    }
    if (v0 % tile_ != 0 || v0 / tile_ >= (int64_t)tiles_.size()) return nullptr;
    const PreparedWeight * p = tiles_[(size_t)(v0 / tile_)].get();
    return p && p->M == H_ && p->K >= nt ? p : nullptr;
}

const PreparedWeight * EmbeddingTCache::keep(const EmbeddingTileT & et, int64_t v0, int64_t tile) {
    if (tile != tile_ || tile_ <= 0 || v0 % tile_ != 0 || v0 / tile_ >= (int64_t)tiles_.size()) return nullptr;
    std::shared_ptr<const PreparedWeight> c;
    try {
        c = et.copy_prepared();
    } catch (const std::bad_alloc &) {
        return nullptr;  // no memory for the copy: this tile is built per call, as without the cache
    }
    if (!c) return nullptr;
    std::shared_ptr<const PreparedWeight> & slot = tiles_[(size_t)(v0 / tile_)];
    if (slot) bytes_ -= slot->mem.size();
    slot = std::move(c);
    bytes_ += slot->mem.size();
    return slot.get();
}

}  // namespace ld::ggml
