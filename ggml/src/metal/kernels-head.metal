// The fused vocab head on Metal (semantics: cpu-vocab-head.h VocabHeadArgs). The host streams the
// vocabulary in tiles of nt rows: ld_mul_mm writes the tile's logits lg[C, nt] (and ld_softcap caps
// them), then
//   ld_head_stats (one simdgroup per position c): l = lg / T; running max m, Σw and Σw·d (w = e^(l - m),
//     d = l - m) rescaled when m grows; the first argmax; the draw as the Gumbel-max of l + G_v with
//     G_v = -log(-log u_v), u_v keyed (seed, Sample, canvas_key, step_key, c * 2^20 + v) (an exact
//     categorical sample of the softmax, parallel over the vocabulary; seeded draws are reproducible on
//     this backend, the argmax equals the CPU's); lg becomes w; fac[c] = the rescale of this tile;
//   ld_head_soft (thread per (c, h)): soft[c, h] = soft[c, h] · fac[c] + Σ_j w[c, j] E[v0 + j, h];
// and at the end ld_head_final: argmax, draw, entropy = log Σw − Σw·d / Σw, soft /= Σw.
// Nothing of size [C, V] exists: lg is [C, nt].
#include "ld-metal.h"

// (lg [C, nt], state [C], fac [C]); grid (C), 32 threads
kernel void ld_head_stats(constant LdHeadArgs & p [[buffer(0)]], device float * lg [[buffer(1)]],
                          device LdHeadState * state [[buffer(2)]], device float * fac [[buffer(3)]], LD_TIDS) {
    const int c = (int)tgpig.x, lane = (int)tiisg;
    device float * row = lg + (long)c * p.nt;
    float lmax = -INFINITY, gmax = -INFINITY;
    int lid = 0x7fffffff, gid = 0x7fffffff;
    for (int j = lane; j < p.nt; j += 32) {
        const float l = row[j] / p.temperature;
        row[j] = l;
        if (l > lmax) { lmax = l; lid = j; }
        if (p.sample) {
            const float u = ld_rng_uniformf(p.seed, 2ul, p.canvas_key, p.step_key, ((ulong)c << 20) | (ulong)(p.v0 + j));
            const float key = l - precise::log(-precise::log(u));
            if (key > gmax) { gmax = key; gid = j; }
        }
    }
    const float tmax = simd_max(lmax);
    const int tid = simd_min(lmax == tmax ? lid : 0x7fffffff);
    const float tg = simd_max(gmax);
    const int tgid = simd_min(gmax == tg ? gid : 0x7fffffff);
    LdHeadState st;
    if (p.first) {
        st.m = -INFINITY; st.s = 0.0f; st.a = 0.0f; st.best = -INFINITY; st.best_id = -1;
        st.gbest = -INFINITY; st.gid = -1; st.pad = 0;
    } else {
        st = state[c];
    }
    float f = 1.0f;
    const float m_new = max(st.m, tmax);
    if (st.s > 0.0f && m_new > st.m) {
        f = precise::exp(st.m - m_new);
        st.a = f * (st.a + (st.m - m_new) * st.s);
        st.s *= f;
    }
    st.m = m_new;
    float ls = 0.0f, la = 0.0f;
    for (int j = lane; j < p.nt; j += 32) {
        const float d = row[j] - m_new;
        const float w = precise::exp(d);
        ls += w;
        la += w * d;
        row[j] = w;
    }
    ls = simd_sum(ls);
    la = simd_sum(la);
    if (lane == 0) {
        st.s += ls;
        st.a += la;
        if (tmax > st.best) { st.best = tmax; st.best_id = p.v0 + tid; }
        if (p.sample && tg > st.gbest) { st.gbest = tg; st.gid = p.v0 + tgid; }
        state[c] = st;
        fac[c] = f;
    }
}

// (lg = w [C, nt], fac [C], embd {H, V}, soft [C, H]); grid (ceil(H / 32), C), 32 threads
kernel void ld_head_soft(constant LdHeadArgs & p [[buffer(0)]], device const float * w [[buffer(1)]],
                         device const float * fac [[buffer(2)]], device const uchar * embd [[buffer(3)]],
                         device float * soft [[buffer(4)]], LD_TIDS) {
    const int h = (int)(tgpig.x * 32 + tiisg), c = (int)tgpig.y;
    if (h >= p.H) return;
    device const float * wr = w + (long)c * p.nt;
    float s = soft[(long)c * p.H + h] * fac[c];
    for (int j = 0; j < p.nt; ++j) {
        const float wj = wr[j];
        if (wj != 0.0f) s += wj * ld_dequant1(p.etype, embd + (ulong)(p.v0 + j) * p.erow_bytes, h);
    }
    soft[(long)c * p.H + h] = s;
}

// (state, argmax [C], draw [C], entropy [C], soft [C, H]); grid (C), 32 threads
kernel void ld_head_final(constant LdHeadArgs & p [[buffer(0)]], device const LdHeadState * state [[buffer(1)]],
                          device int * argmax [[buffer(2)]], device int * draw [[buffer(3)]],
                          device float * entropy [[buffer(4)]], device float * soft [[buffer(5)]], LD_TIDS) {
    const int c = (int)tgpig.x;
    const LdHeadState st = state[c];
    if (tiisg == 0) {
        argmax[c] = st.best_id;
        draw[c] = p.sample ? st.gid : st.best_id;
        entropy[c] = precise::log(st.s) - st.a / st.s;
    }
    if (p.has_soft) {
        const float inv = 1.0f / st.s;
        for (int h = (int)tiisg; h < p.H; h += 32) soft[(long)c * p.H + h] *= inv;
    }
}
