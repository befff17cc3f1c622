// The per-tile transposed embedding of the fused vocab head (see vocab-head-detail.h).
#include <algorithm>
#include <cmath>
#include <cstring>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "common/error.h"
#include "generate/vocab-head-detail.h"
#include "ld-ggml/blocks.h"
#include "ld-ggml/fp16.h"

namespace ld::gen::detail {

namespace {

constexpr int64_t kGroup = 32;        // vocabulary rows of one Q8_0 block of an Eᵀ row
constexpr int64_t kGroupsPerTask = 8; // 256 vocabulary rows per task
constexpr int64_t kCols = 64;         // Eᵀ rows (embedding columns) per task (at least E's block)
constexpr int64_t kLanes = 16;        // columns quantized together

// Round half away from zero of y, clamped to [-128, 127], NaN -> 0: the reference Q8_0 rule
// (quantize_row_q8_0_ref). y - trunc(y) is exact for |y| < 2^23, so comparing it with 0.5 decides
// exactly as roundf does.
inline int8_t round_away_i8(float y) {
    y = y == y ? y : 0.0f;
    y = y < -128.0f ? -128.0f : y;
    y = y > 127.0f ? 127.0f : y;
    const int32_t t = (int32_t)y;
    const float fr = y - (float)t;
    return (int8_t)(t + (fr >= 0.5f ? 1 : 0) - (fr <= -0.5f ? 1 : 0));
}

// Scalar: columns [0, n) (n <= 16) of x[32, ld] as Q8_0 blocks at dst + k * stride.
void quantize_columns_scalar(const float * x, int64_t ld, int64_t n, uint8_t * dst, size_t stride) {
    for (int64_t k = 0; k < n; ++k) {
        float amax = 0.0f;
        for (int64_t r = 0; r < kGroup; ++r) {
            const float a = std::fabs(x[r * ld + k]);
            amax = a > amax ? a : amax;  // a NaN never wins (as fmax in the reference)
        }
        const float d = amax / 127.0f;
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        auto * blk = (ggml::block_q8_0 *)(dst + (size_t)k * stride);
        blk->d = ggml::f32_to_fp16(d);
        for (int64_t r = 0; r < kGroup; ++r) blk->qs[r] = round_away_i8(x[r * ld + k] * id);
    }
}

#if defined(__SSE2__)
// In-register transpose of a 16 x 16 byte matrix: four rounds of interleaving rows i and i + 8;
// each round rotates the 8 index bits (row, column) left by one, four rounds swap row and column.
inline void transpose16x16(__m128i * x) {
    __m128i y[16];
    for (int round = 0; round < 4; ++round) {
        for (int i = 0; i < 8; ++i) {
            y[2 * i] = _mm_unpacklo_epi8(x[i], x[i + 8]);
            y[2 * i + 1] = _mm_unpackhi_epi8(x[i], x[i + 8]);
        }
        for (int i = 0; i < 16; ++i) x[i] = y[i];
    }
}

// 16 columns of x[32, ld] as Q8_0 blocks at dst + k * stride (same bytes as the scalar version).
void quantize_columns16(const float * x, int64_t ld, uint8_t * dst, size_t stride) {
    const __m128 absmask = _mm_castsi128_ps(_mm_set1_epi32(0x7FFFFFFF));
    __m128 am[4] = {_mm_setzero_ps(), _mm_setzero_ps(), _mm_setzero_ps(), _mm_setzero_ps()};
    for (int64_t r = 0; r < kGroup; ++r)
        for (int i = 0; i < 4; ++i)  // maxps returns its second operand when one is NaN: a NaN never wins
            am[i] = _mm_max_ps(_mm_and_ps(_mm_loadu_ps(x + r * ld + 4 * i), absmask), am[i]);
    alignas(16) float amax[kLanes], id[kLanes];
    for (int i = 0; i < 4; ++i) _mm_store_ps(amax + 4 * i, am[i]);
    for (int64_t k = 0; k < kLanes; ++k) {
        const float d = amax[k] / 127.0f;
        id[k] = d != 0.0f ? 1.0f / d : 0.0f;
        ((ggml::block_q8_0 *)(dst + (size_t)k * stride))->d = ggml::f32_to_fp16(d);
    }
    const __m128 lo = _mm_set1_ps(-128.0f), hi = _mm_set1_ps(127.0f), half = _mm_set1_ps(0.5f),
                 mhalf = _mm_set1_ps(-0.5f);
    __m128 s[4];
    for (int i = 0; i < 4; ++i) s[i] = _mm_load_ps(id + 4 * i);
    __m128i q[kGroup];  // q[r]: the 16 columns of row r
    for (int64_t r = 0; r < kGroup; ++r) {
        __m128i t[4];
        for (int i = 0; i < 4; ++i) {
            __m128 y = _mm_mul_ps(_mm_loadu_ps(x + r * ld + 4 * i), s[i]);
            y = _mm_and_ps(y, _mm_cmpord_ps(y, y));  // NaN -> 0
            y = _mm_min_ps(_mm_max_ps(y, lo), hi);
            __m128i ti = _mm_cvttps_epi32(y);
            const __m128 fr = _mm_sub_ps(y, _mm_cvtepi32_ps(ti));  // exact
            ti = _mm_sub_epi32(ti, _mm_castps_si128(_mm_cmpge_ps(fr, half)));   // all ones = -1: +1
            ti = _mm_add_epi32(ti, _mm_castps_si128(_mm_cmple_ps(fr, mhalf)));  // -1
            t[i] = ti;
        }
        q[r] = _mm_packs_epi16(_mm_packs_epi32(t[0], t[1]), _mm_packs_epi32(t[2], t[3]));
    }
    transpose16x16(q);
    transpose16x16(q + 16);
    for (int64_t k = 0; k < kLanes; ++k) {
        int8_t * qs = ((ggml::block_q8_0 *)(dst + (size_t)k * stride))->qs;
        _mm_storeu_si128((__m128i *)qs, q[k]);
        _mm_storeu_si128((__m128i *)(qs + 16), q[16 + k]);
    }
}
#endif

// Columns [0, n) of rows [32, ld] as Q8_0 blocks, the block of column k at dst + k * stride: the
// bytes of quantize_row_q8_0_ref on each gathered column.
void quantize_columns(const float * rows, int64_t ld, int64_t n, uint8_t * dst, size_t stride) {
    int64_t k0 = 0;
#if defined(__SSE2__)
    for (; k0 + kLanes <= n; k0 += kLanes) quantize_columns16(rows + k0, ld, dst + (size_t)k0 * stride, stride);
#endif
    for (; k0 < n; k0 += kLanes)
        quantize_columns_scalar(rows + k0, ld, std::min(kLanes, n - k0), dst + (size_t)k0 * stride, stride);
}

inline void prefetch_for_write(const void * p) {
#if defined(__GNUC__) || defined(__clang__)
    __builtin_prefetch(p, 1, 3);
#else
    (void)p;
#endif
}

}  // namespace

EmbeddingTileT::EmbeddingTileT(const Mat & E, int64_t max_nt, int n_threads) : E_(E) {
    H_ = E.ne[0];
    in_ = ggml::type_traits(E.type);
    if (!in_ || !in_->to_float)
        throw Error(strfmt("vocab head: cannot read the embedding %s of type %d", E.name.c_str(), (int)E.type));
    type_ = E.type == ggml::Type::F32 ? ggml::Type::F32 : ggml::Type::Q8_0;
    blk_ = ggml::type_traits(type_)->block_size;
    cols_ = (kCols + in_->block_size - 1) / in_->block_size * in_->block_size;
    data_.assign((size_t)H_ * ggml::row_size(type_, cols(max_nt)), 0);
    if (type_ != ggml::Type::F32)
        scratch_.assign((size_t)std::max(1, n_threads), std::vector<float>((size_t)(kGroup * cols_)));
}

void EmbeddingTileT::build(int64_t v0, int64_t nt, ggml::ThreadPool * pool) {
    const int64_t nc = cols(nt);
    const size_t out_row = ggml::row_size(type_, nc);  // bytes of one Eᵀ row (nc values)
    LD_ASSERT((size_t)H_ * out_row <= data_.size());
    // Tasks: (embedding columns [h0, h0 + cols_)) x (vocabulary rows [r0, r0 + 256)), so that a task
    // writes a compact patch of Eᵀ (few rows, consecutive blocks) rather than one block per row.
    const int64_t n_groups = (nt + kGroup - 1) / kGroup;
    const int64_t n_hc = (H_ + cols_ - 1) / cols_, n_gr = (n_groups + kGroupsPerTask - 1) / kGroupsPerTask;
    if (type_ == ggml::Type::F32) {
        // Exact transpose, straight from the rows of E (no padding: block 1).
        const float * src = (const float *)E_.data + v0 * H_;
        float * dst = (float *)data_.data();
        pool->parallel_for(n_hc * n_gr, [&](int64_t task, int) {
            const int64_t h0 = (task % n_hc) * cols_, h1 = std::min(H_, h0 + cols_);
            const int64_t r0 = (task / n_hc) * kGroupsPerTask * kGroup, r1 = std::min(nt, r0 + kGroupsPerTask * kGroup);
            for (int64_t h = h0; h < h1; ++h)
                for (int64_t r = r0; r < r1; ++r) dst[h * nc + r] = src[r * H_ + h];
        });
        return;
    }
    const size_t in_row = E_.row_bytes(), in_blk = in_->type_size;
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
                    prefetch_for_write(dst0 + (size_t)k * out_row + (size_t)(g + 2) * sizeof(ggml::block_q8_0) - 1);
            for (int64_t r = 0; r < nv; ++r)
                in_->to_float((const uint8_t *)E_.data + (size_t)(v0 + r0 + r) * in_row + (size_t)(h0 / in_bs) * in_blk,
                              rows + r * hw, hw);
            if (nv < kGroup) std::fill(rows + nv * hw, rows + kGroup * hw, 0.0f);  // padding columns
            quantize_columns(rows, hw, hw, data_.data() + (size_t)h0 * out_row + (size_t)g * sizeof(ggml::block_q8_0),
                             out_row);
        }
    });
}

}  // namespace ld::gen::detail
