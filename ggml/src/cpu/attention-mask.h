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

}  // namespace ld::ggml
