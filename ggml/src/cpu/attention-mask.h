// Private: the visibility rule of the attention masks (cpu-nn.h, AttnMask) from absolute positions,
// shared by the reference and the tiled attention so both apply exactly the same rule.
#pragma once

#include <cstdint>

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

}  // namespace ld::ggml
