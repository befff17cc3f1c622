// Metal kernels of the small ops (semantics: ld-ggml/cpu-nn.h and backend.h): add, scale, softcap,
// fill, geglu, rms_norm, softmax, rope_neox, router_topk, get_rows, store_rows. Elementwise kernels run
// 256 threads per threadgroup over a 1-D grid; row ops one simdgroup (32 threads) per row.
#include "ld-metal.h"

// out[i] = a[i] + b[i]   (buffers: a, b, out)
kernel void ld_add(constant LdEltArgs & p [[buffer(0)]], device const float * a [[buffer(1)]],
                   device const float * b [[buffer(2)]], device float * out [[buffer(3)]], LD_TIDS) {
    const int i = (int)(tgpig.x * ntg.x + tiitg);
    if (i < p.n) out[i] = a[i] + b[i];
}

// out[i] = x[i] * s   (x, out)
kernel void ld_scale(constant LdEltArgs & p [[buffer(0)]], device const float * x [[buffer(1)]],
                     device float * out [[buffer(2)]], LD_TIDS) {
    const int i = (int)(tgpig.x * ntg.x + tiitg);
    if (i < p.n) out[i] = x[i] * p.s;
}

// out[i] = cap * tanh(x[i] / cap)   (x, out)
kernel void ld_softcap(constant LdEltArgs & p [[buffer(0)]], device const float * x [[buffer(1)]],
                       device float * out [[buffer(2)]], LD_TIDS) {
    const int i = (int)(tgpig.x * ntg.x + tiitg);
    if (i < p.n) out[i] = p.s * precise::tanh(x[i] / p.s);
}

// out[i] = s   (out)
kernel void ld_fill(constant LdEltArgs & p [[buffer(0)]], device float * out [[buffer(1)]], LD_TIDS) {
    const int i = (int)(tgpig.x * ntg.x + tiitg);
    if (i < p.n) out[i] = p.s;
}

// out[r, c] = gelu_tanh(gate[r*ld_in + c]) * up[r*ld_in + c], with gelu(x) = x / (1 + e^(-2u)),
// u = sqrt(2/pi) (x + 0.044715 x^3)   (gate, up, out [n_rows, n])
kernel void ld_geglu(constant LdGegluArgs & p [[buffer(0)]], device const float * gate [[buffer(1)]],
                     device const float * up [[buffer(2)]], device float * out [[buffer(3)]], LD_TIDS) {
    const int i = (int)(tgpig.x * ntg.x + tiitg);
    if (i >= p.n_rows * p.n) return;
    const int r = i / p.n, c = i % p.n;
    const float g = gate[r * p.ld_in + c];
    const float u = 0.7978845608028654f * (g + 0.044715f * g * g * g);
    out[i] = g / (1.0f + precise::exp(-2.0f * u)) * up[r * p.ld_in + c];
}

// One simdgroup per row: out = x / sqrt(mean(x^2) + eps) * weight   (x, weight, out)
kernel void ld_rms_norm(constant LdRowArgs & p [[buffer(0)]], device const float * x [[buffer(1)]],
                        device const float * w [[buffer(2)]], device float * out [[buffer(3)]], LD_TIDS) {
    const int r = (int)tgpig.x;
    device const float * xr = x + (long)r * p.n;
    float ss = 0.0f;
    for (int i = (int)tiisg; i < p.n; i += 32) ss += xr[i] * xr[i];
    ss = simd_sum(ss);
    const float inv = 1.0f / precise::sqrt(ss / (float)p.n + p.eps);
    device float * yr = out + (long)r * p.n;
    for (int i = (int)tiisg; i < p.n; i += 32) yr[i] = p.has_weight ? xr[i] * inv * w[i] : xr[i] * inv;
}

// One simdgroup per row: max-subtracted softmax; a row of all -inf gives zeros   (x, out)
kernel void ld_softmax(constant LdRowArgs & p [[buffer(0)]], device const float * x [[buffer(1)]],
                       device float * out [[buffer(2)]], LD_TIDS) {
    const int r = (int)tgpig.x;
    device const float * xr = x + (long)r * p.n;
    device float * yr = out + (long)r * p.n;
    float m = -INFINITY;
    for (int i = (int)tiisg; i < p.n; i += 32) m = max(m, xr[i]);
    m = simd_max(m);
    if (m == -INFINITY) {
        for (int i = (int)tiisg; i < p.n; i += 32) yr[i] = 0.0f;
        return;
    }
    float s = 0.0f;
    for (int i = (int)tiisg; i < p.n; i += 32) s += precise::exp(xr[i] - m);
    s = simd_sum(s);
    const float inv = 1.0f / s;
    for (int i = (int)tiisg; i < p.n; i += 32) yr[i] = precise::exp(xr[i] - m) * inv;
}

// One thread per (token, head, pair i < n_rot/2): rotate-half RoPE in place; angle = pos * inv_freq[i]
// / freq_factors[i]   (x, pos, inv_freq, freq_factors)
kernel void ld_rope_neox(constant LdRopeArgs & p [[buffer(0)]], device float * x [[buffer(1)]],
                         device const int * pos [[buffer(2)]], device const float * inv_freq [[buffer(3)]],
                         device const float * ff [[buffer(4)]], LD_TIDS) {
    const int half_rot = p.n_rot / 2;
    const int g = (int)(tgpig.x * ntg.x + tiitg);
    if (g >= p.n_tok * p.n_head * half_rot) return;
    const int i = g % half_rot, th = g / half_rot, t = th / p.n_head;
    float inv = inv_freq[i];
    if (p.has_ff) inv = inv / ff[i];
    const float angle = (float)pos[t] * inv;
    const float c = precise::cos(angle), s = precise::sin(angle);
    device float * xh = x + (long)th * p.head_dim;
    const float a = xh[i], b = xh[i + half_rot];
    xh[i] = a * c - b * s;
    xh[i + half_rot] = b * c + a * s;
}

// One thread per token: softmax over experts, the k largest (ties: lower id), renormalised, then times
// per_expert_scale   (logits, scale, ids_out, weights_out); n_expert <= 1024
kernel void ld_router_topk(constant LdRouterArgs & p [[buffer(0)]], device const float * logits [[buffer(1)]],
                           device const float * scale [[buffer(2)]], device int * ids [[buffer(3)]],
                           device float * wout [[buffer(4)]], LD_TIDS) {
    const int t = (int)(tgpig.x * ntg.x + tiitg);
    if (t >= p.n_tok) return;
    device const float * l = logits + (long)t * p.n_expert;
    float m = -INFINITY;
    for (int e = 0; e < p.n_expert; ++e) m = max(m, l[e]);
    float s = 0.0f;
    for (int e = 0; e < p.n_expert; ++e) s += precise::exp(l[e] - m);
    const float inv = 1.0f / s;
    uint taken[32];
    for (int i = 0; i < 32; ++i) taken[i] = 0u;
    float sum = 0.0f;
    for (int j = 0; j < p.k; ++j) {
        int best = -1;
        float bp = 0.0f;
        for (int e = 0; e < p.n_expert; ++e) {
            if ((taken[e / 32] >> (e % 32)) & 1u) continue;
            const float pe = precise::exp(l[e] - m) * inv;
            if (best < 0 || pe > bp) { best = e; bp = pe; }
        }
        taken[best / 32] |= 1u << (best % 32);
        ids[t * p.k + j] = best;
        wout[t * p.k + j] = bp;
        sum += bp;
    }
    for (int j = 0; j < p.k; ++j) {
        float w = wout[t * p.k + j] / sum;
        if (p.has_scale) w *= scale[ids[t * p.k + j]];
        wout[t * p.k + j] = w;
    }
}

// out[i, k] = dequantized row ids[i] of w, value k, times s; an id outside [0, n_rows) gives zeros
// (w, ids, out [n, ne0]); grid (ceil(ne0 / 256), n)
kernel void ld_get_rows(constant LdGetRowsArgs & p [[buffer(0)]], device const uchar * w [[buffer(1)]],
                        device const int * ids [[buffer(2)]], device float * out [[buffer(3)]], LD_TIDS) {
    const int k = (int)(tgpig.x * ntg.x + tiitg), i = (int)tgpig.y;
    if (k >= p.ne0) return;
    const int id = ids[i];
    const bool ok = id >= 0 && id < p.n_rows;
    out[(long)i * p.ne0 + k] = ok ? ld_dequant1(p.wtype, w + (ulong)id * p.row_bytes, k) * p.s : 0.0f;
}

// Rows of f32 stored as F32 / F16 / Q8_0 (reference rounding: d = amax/127 stored as f16, q = round(x/d)
// half away from zero with the unrounded d)   (src [n, width], dst rows row_bytes apart)
// F32/F16: grid (ceil(width / 256), n), 256 threads. Q8_0: grid (width / 32, n), 32 threads (one block).
kernel void ld_store_rows(constant LdStoreRowsArgs & p [[buffer(0)]], device const float * src [[buffer(1)]],
                          device uchar * dst [[buffer(2)]], LD_TIDS) {
    const int r = (int)tgpig.y;
    device const float * xr = src + (long)r * p.width;
    device uchar * row = dst + (ulong)r * p.row_bytes;
    if (p.dst_type == LD_MT_Q8_0) {
        const int blk = (int)tgpig.x, j = (int)tiisg;
        const float v = xr[blk * 32 + j];
        const float amax = simd_max(fabs(v));
        const float d = amax / 127.0f;
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        device mblock_q8_0 * b = (device mblock_q8_0 *)row + blk;
        const float q = round(v * id);
        b->qs[j] = (ld_i8)(int)max(-128.0f, min(127.0f, q));
        if (j == 0) b->d = (half)d;
        return;
    }
    const int k = (int)(tgpig.x * ntg.x + tiitg);
    if (k >= p.width) return;
    if (p.dst_type == LD_MT_F16) ((device half *)row)[k] = (half)xr[k];
    else ((device float *)row)[k] = xr[k];
}
