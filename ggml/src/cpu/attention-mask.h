// Private: the visibility rule of the attention masks (cpu-nn.h, AttnMask) from absolute positions,
// shared by the reference and the tiled attention so both apply exactly the same rule.
#pragma once

#include <cstdint>
#include <limits>
#include <vector>

#include "ld-ggml/cpu-nn.h"

namespace ld::ggml {

inline bool attn_visible(const AttnArgs & a, int32_t qp, int32_t kp) {
    if (kp < 0) return false;  // empty slot
    switch (a.mask) {
        case AttnMask::causal: return kp <= qp;
        case AttnMask::sliding: return kp <= qp && (int64_t)kp > (int64_t)qp - a.window;
        case AttnMask::canvas:
            return kp >= a.canvas_begin || a.window == 0 || (int64_t)kp > (int64_t)a.canvas_begin - a.window;
    }
    return false;
}

// Bytes of one head row of K or V (head_dim values of kv_type).
inline size_t attn_kv_row_bytes(const AttnArgs & a) {
    return a.kv_type == Type::Q8_0 ? (size_t)(a.head_dim / 32) * 34 : (size_t)a.head_dim * (a.kv_type == Type::F16 ? 2 : 4);
}
inline size_t attn_kv_stride(const AttnArgs & a) {
    return a.kv_stride ? a.kv_stride : attn_kv_row_bytes(a) * (size_t)a.n_kv_head;
}
inline int64_t attn_q_stride(const AttnArgs & a) { return a.q_stride ? a.q_stride : a.n_head * a.head_dim; }

// Byte offsets into a.k / a.v of the rows of KV head g for the keys of key tile t (keys t * tile ...):
// off[jj] for the tile's valid keys; returns their number. Static: it is also compiled into the
// per-ISA packers, whose copies must not be merged with this file's.
static inline int attn_tile_row_offsets(const AttnArgs & a, int64_t g, int64_t t, int64_t tile, size_t * off) {
    const int64_t j0 = t * tile;
    const int nk = (int)(a.n_kv - j0 < tile ? a.n_kv - j0 : tile);
    const size_t row_bytes = attn_kv_row_bytes(a), stride = attn_kv_stride(a);
    for (int jj = 0; jj < nk; ++jj) off[jj] = (size_t)(j0 + jj) * stride + (size_t)g * row_bytes;
    return nk;
}

// Position summary of one key tile (the tiled attention paths skip hidden tiles and drop the
// per-element mask on fully visible ones).
struct AttnKeyTile {
    int32_t kmin, kmax;  // over non-empty keys
    int n_valid;         // non-empty keys
    int n_canvas_vis;    // canvas mask: keys visible to every query
};

enum class AttnTileVis { hidden, full, partial };

// Summaries of the key tiles [t * tile, (t + 1) * tile) of a.
static inline std::vector<AttnKeyTile> attn_key_tiles(const AttnArgs & a, int64_t tile) {
    const int64_t n_kt = (a.n_kv + tile - 1) / tile;
    std::vector<AttnKeyTile> tiles((size_t)n_kt);
    for (int64_t t = 0; t < n_kt; ++t) {
        AttnKeyTile kt{std::numeric_limits<int32_t>::max(), std::numeric_limits<int32_t>::min(), 0, 0};
        for (int64_t j = t * tile; j < (a.n_kv < (t + 1) * tile ? a.n_kv : (t + 1) * tile); ++j) {
            const int32_t kp = a.k_pos[j];
            if (kp < 0) continue;
            kt.kmin = kt.kmin < kp ? kt.kmin : kp;
            kt.kmax = kt.kmax > kp ? kt.kmax : kp;
            kt.n_valid++;
            if (a.mask == AttnMask::canvas && attn_visible(a, 0, kp)) kt.n_canvas_vis++;
        }
        tiles[(size_t)t] = kt;
    }
    return tiles;
}

// Visibility of a key tile of nk keys to queries with positions in [qmin, qmax].
static inline AttnTileVis attn_classify(const AttnArgs & a, const AttnKeyTile & t, int nk, int32_t qmin, int32_t qmax) {
    if (t.n_valid == 0) return AttnTileVis::hidden;
    const bool dense = t.n_valid == nk;
    switch (a.mask) {
        case AttnMask::causal:
            if (t.kmin > qmax) return AttnTileVis::hidden;
            return dense && t.kmax <= qmin ? AttnTileVis::full : AttnTileVis::partial;
        case AttnMask::sliding:
            if (t.kmin > qmax || (int64_t)t.kmax <= (int64_t)qmin - a.window) return AttnTileVis::hidden;
            return dense && t.kmax <= qmin && (int64_t)t.kmin > (int64_t)qmax - a.window ? AttnTileVis::full
                                                                                         : AttnTileVis::partial;
        case AttnMask::canvas:
            if (t.n_canvas_vis == 0) return AttnTileVis::hidden;
            return t.n_canvas_vis == nk ? AttnTileVis::full : AttnTileVis::partial;
    }
    return AttnTileVis::partial;
}

}  // namespace ld::ggml
