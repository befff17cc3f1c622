// Flash-style attention on Metal (semantics: cpu-nn.h AttnArgs, masks causal / sliding / canvas, keys
// in any order, negative key positions empty, a query that sees no key gets zeros).
//
// One simdgroup per (query head h, query i): grid (n_head, n_q), 32 threads. The query row is staged in
// threadgroup memory; keys are visited in tiles of 32, one key per lane: the lane computes its key's
// score (f32 dot in index order, times scale) and visibility; the tile's max and sum update the online
// softmax (running max m, sum l, the accumulator rescaled by e^(m_old - m_new)); the lanes' weights go
// through threadgroup memory and every lane adds Σ_t p_t v_t for its dims (d = lane + 32 j). Tiles the
// mask hides entirely cost one simd_max. K/V: F32, F16 or Q8_0 rows kv_stride bytes apart per token.
#include "ld-metal.h"

inline float ld_kv_value(int type, device const uchar * row, int d) {
    if (type == LD_MT_F32) return ((device const float *)row)[d];
    if (type == LD_MT_F16) return (float)((device const half *)row)[d];
    device const mblock_q8_0 * b = (device const mblock_q8_0 *)row + d / 32;
    return (float)b->d * (float)b->qs[d % 32];
}

// (q, q_pos, k, v, k_pos, out); head_dim <= 512
kernel void ld_attention(constant LdAttnArgs & p [[buffer(0)]], device const float * q [[buffer(1)]],
                         device const int * q_pos [[buffer(2)]], device const uchar * k [[buffer(3)]],
                         device const uchar * v [[buffer(4)]], device const int * k_pos [[buffer(5)]],
                         device float * out [[buffer(6)]], LD_TIDS) {
    LD_TG(float, qs, 512);
    LD_TG(float, ps, 32);
    const int h = (int)tgpig.x, i = (int)tgpig.y, lane = (int)tiisg;
    const int D = p.head_dim, g = h / (p.n_head / p.n_kv_head);
    const int nj = (D + 31) / 32;
    device const float * qr = q + (long)i * p.q_stride + (long)h * D;
    for (int d = lane; d < D; d += 32) qs[d] = qr[d];
    threadgroup_barrier(mem_flags::mem_threadgroup);
    const int qp = q_pos[i];
    float acc[16];
    for (int j = 0; j < 16; ++j) acc[j] = 0.0f;
    float m = -INFINITY, l = 0.0f;
    const ulong head_off = (ulong)g * p.kv_row_bytes;
    for (int t0 = 0; t0 < p.n_kv; t0 += 32) {
        const int kj = t0 + lane;
        float s = -INFINITY;
        if (kj < p.n_kv && ld_attn_visible(p.mask, p.window, p.canvas_begin, qp, k_pos[kj])) {
            device const uchar * kr = k + (ulong)kj * p.kv_stride + head_off;
            float dot = 0.0f;
            for (int d = 0; d < D; ++d) dot += qs[d] * ld_kv_value(p.kv_type, kr, d);
            s = dot * p.scale;
        }
        const float tmax = simd_max(s);
        if (tmax == -INFINITY) continue;  // uniform: the whole tile is hidden
        const float m_new = max(m, tmax);
        const float alpha = precise::exp(m - m_new);  // 0 on the first visible tile (m = -inf)
        const float pv = s == -INFINITY ? 0.0f : precise::exp(s - m_new);
        l = l * alpha + simd_sum(pv);
        for (int j = 0; j < nj; ++j) acc[j] *= alpha;
        m = m_new;
        ps[lane] = pv;
        threadgroup_barrier(mem_flags::mem_threadgroup);
        const int nt = min(32, p.n_kv - t0);
        for (int t = 0; t < nt; ++t) {
            const float pt = ps[t];
            if (pt == 0.0f) continue;
            device const uchar * vr = v + (ulong)(t0 + t) * p.kv_stride + head_off;
            for (int j = 0; j < nj; ++j) {
                const int d = lane + 32 * j;
                if (d < D) acc[j] += pt * ld_kv_value(p.kv_type, vr, d);
            }
        }
        threadgroup_barrier(mem_flags::mem_threadgroup);
    }
    device float * orow = out + ((long)i * p.n_head + h) * D;
    const float inv = l > 0.0f ? 1.0f / l : 0.0f;
    for (int j = 0; j < nj; ++j) {
        const int d = lane + 32 * j;
        if (d < D) orow[d] = acc[j] * inv;
    }
}
