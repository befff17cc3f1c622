// The shared Gemma-4 / Gemma-3 transformer block (see gemma4-block.h for the maths).
#include "model/gemma4-block.h"

#include <cmath>
#include <cstring>

#include "common/error.h"
#include "ld-ggml/cpu-matmul.h"

namespace ld {

namespace {

float * grow(std::vector<float> & b, int64_t n) {
    if ((int64_t)b.size() < n) b.resize((size_t)n);
    return b.data();
}

void mm(const float * x, int64_t N, const Mat & w, float * y, ggml::ThreadPool * pool) {
    ggml::matmul(x, N, w.ne[0], w.data, w.type, w.ne[1], y, pool);
}

const float * wptr(const Vec & v) { return v.empty() ? nullptr : v.data(); }

// Attention half: x += rms(attn(x) Wo)·post_attn_norm.
void attention_part(const HParams & hp, const LayerWeights & w, const BlockConfig & c, const BlockArgs & A,
                    BlockScratch & s, ggml::ThreadPool * pool) {
    const int64_t S = A.S, H = hp.n_embd, nq = c.n_head, nkv = c.n_kv_head, d = c.head_dim;
    float * a = grow(s.a, S * H);
    float * q = grow(s.q, S * nq * d);
    float * k = grow(s.k, S * nkv * d);
    float * v = grow(s.v, S * nkv * d);
    float * att = grow(s.att, S * nq * d);
    float * o = grow(s.o, S * H);

    ggml::rms_norm(A.x, S, H, w.attn_norm.data(), hp.eps, a, pool);
    mm(a, S, w.wq, q, pool);
    mm(a, S, w.wk, k, pool);
    if (w.wv.present()) mm(a, S, w.wv, v, pool);
    else std::memcpy(v, k, sizeof(float) * (size_t)(S * nkv * d));  // full layers: V = raw k projection
    ggml::rms_norm(q, S * nq, d, w.q_norm.data(), hp.eps, q, pool);
    ggml::rms_norm(k, S * nkv, d, w.k_norm.data(), hp.eps, k, pool);
    if (c.v_norm) ggml::rms_norm(v, S * nkv, d, nullptr, hp.eps, v, pool);
    ggml::rope_neox(q, S, nq, d, A.pos, c.rope, pool);
    ggml::rope_neox(k, S, nkv, d, A.pos, c.rope, pool);

    LayerKv & kv = *A.kv;
    kv.stage(k, v, A.pos, S);
    ggml::AttnArgs at;
    at.q = q;
    at.q_pos = A.pos;
    at.n_q = S;
    at.n_head = nq;
    at.head_dim = d;
    at.k = kv.k_data();
    at.v = kv.v_data();
    at.k_pos = kv.pos_data();
    at.kv_type = kv.type();
    at.n_kv = kv.n_rows();
    at.n_kv_head = nkv;
    at.out = att;
    at.scale = c.attn_scale;
    if (A.decoder) {
        at.mask = ggml::AttnMask::canvas;
        at.canvas_begin = A.canvas_begin;
        at.window = c.is_swa ? c.window : 0;
    } else if (c.is_swa) {
        at.mask = ggml::AttnMask::sliding;
        at.window = c.window;
    } else {
        at.mask = ggml::AttnMask::causal;
    }
    ggml::attention(at, pool);
    if (A.decoder) kv.discard();
    else kv.commit();

    mm(att, S, w.wo, o, pool);
    ggml::rms_norm(o, S, H, w.post_attn_norm.data(), hp.eps, o, pool);
    for (int64_t i = 0; i < S * H; ++i) A.x[i] += o[i];
}

// Routed experts on rows r[N, H] -> h2[N, H] (before post_ffw_norm_2).
void moe_part(const HParams & hp, const LayerWeights & w, const float * r, int64_t N, float * h2, BlockScratch & s,
              ggml::ThreadPool * pool) {
    const int64_t H = hp.n_embd, X = hp.n_expert, K = hp.n_expert_used, Fe = hp.n_ff_exp;
    float * z = grow(s.z, N * H);
    float * logits = grow(s.logits, N * X);
    float * e = grow(s.e, N * H);
    float * act = grow(s.act, N * K * Fe);
    float * wts = grow(s.wts, N * K);
    if ((int64_t)s.ids.size() < N * K) s.ids.resize((size_t)(N * K));

    // router: input is the raw residual, normalised with router.scale and H^-1/2
    ggml::rms_norm(r, N, H, w.router_scale.data(), hp.eps, z, pool);
    const float root = (float)(1.0 / std::sqrt((double)H));
    for (int64_t i = 0; i < N * H; ++i) z[i] *= root;
    mm(z, N, w.router, logits, pool);
    ggml::router_topk(logits, N, X, K, wptr(w.expert_scale), s.ids.data(), wts, pool);

    ggml::rms_norm(r, N, H, w.pre_ffw_norm_2.data(), hp.eps, e, pool);
    ggml::MoeArgs ma;
    ma.x = e;
    ma.N = N;
    ma.K = H;
    ma.ids = s.ids.data();
    ma.top_k = K;
    ma.E = X;
    if (w.exp_gate_up.present()) {
        float * gu = grow(s.gu, N * K * 2 * Fe);
        ma.w = w.exp_gate_up.data;
        ma.wtype = w.exp_gate_up.type;
        ma.M = 2 * Fe;
        ma.y = gu;
        ggml::moe_matmul(ma, pool);
        ggml::geglu(gu, gu + Fe, N * K, Fe, 2 * Fe, act, pool);
    } else {
        float * g = grow(s.gu, N * K * Fe);
        ma.w = w.exp_gate.data;
        ma.wtype = w.exp_gate.type;
        ma.M = Fe;
        ma.y = g;
        ggml::moe_matmul(ma, pool);
        ma.w = w.exp_up.data;
        ma.wtype = w.exp_up.type;
        ma.y = act;
        ggml::moe_matmul(ma, pool);
        ggml::geglu(g, act, N * K, Fe, Fe, g, pool);  // out aliases the gate (allowed)
        act = g;
    }
    ggml::MoeArgs md;
    md.x = act;
    md.N = N;
    md.K = Fe;
    md.x_per_slot = true;
    md.w = w.exp_down.data;
    md.wtype = w.exp_down.type;
    md.M = H;
    md.E = X;
    md.ids = s.ids.data();
    md.rw = wts;
    md.top_k = K;
    md.y = h2;
    ggml::moe_matmul(md, pool);
}

// Feed-forward half on rows [0, N) of r (in place: r becomes the layer output before the scalar).
void ffn_part(const HParams & hp, const LayerWeights & w, float * r, int64_t N, BlockScratch & s,
              ggml::ThreadPool * pool) {
    const int64_t H = hp.n_embd, F = hp.n_ff;
    float * m = grow(s.m, N * H);
    float * g = grow(s.g, N * F);
    float * u = grow(s.u, N * F);
    float * h = grow(s.h, N * H);

    ggml::rms_norm(r, N, H, w.ffn_norm.data(), hp.eps, m, pool);
    mm(m, N, w.ffn_gate, g, pool);
    mm(m, N, w.ffn_up, u, pool);
    ggml::geglu(g, u, N, F, F, g, pool);
    mm(g, N, w.ffn_down, h, pool);
    if (!w.post_ffw_norm_1.empty()) ggml::rms_norm(h, N, H, w.post_ffw_norm_1.data(), hp.eps, h, pool);
    if (w.router.present()) {
        float * h2 = grow(s.h2, N * H);
        moe_part(hp, w, r, N, h2, s, pool);
        ggml::rms_norm(h2, N, H, w.post_ffw_norm_2.data(), hp.eps, h2, pool);
        for (int64_t i = 0; i < N * H; ++i) h[i] += h2[i];
    }
    ggml::rms_norm(h, N, H, w.post_ffw_norm.data(), hp.eps, h, pool);
    for (int64_t i = 0; i < N * H; ++i) r[i] += h[i];
}

}  // namespace

void block_forward(const HParams & hp, const LayerWeights & w, const BlockConfig & cfg, const BlockArgs & args,
                   BlockScratch & s, ggml::ThreadPool * pool) {
    LD_ASSERT(args.x && args.pos && args.kv && args.S > 0);
    LD_ASSERT(args.ffn_begin >= 0 && args.ffn_begin <= args.S);
    attention_part(hp, w, cfg, args, s, pool);
    const int64_t H = hp.n_embd;
    const int64_t n_ffn = args.S - args.ffn_begin;
    if (n_ffn == 0) return;
    float * r = args.x + args.ffn_begin * H;
    ffn_part(hp, w, r, n_ffn, s, pool);
    if (args.layer_scalar != 1.0f)
        for (int64_t i = 0; i < n_ffn * H; ++i) r[i] *= args.layer_scalar;
}

void block_ffn(const HParams & hp, const LayerWeights & w, float * r, int64_t N, float layer_scalar, BlockScratch & s,
               ggml::ThreadPool * pool) {
    LD_ASSERT(r && N > 0);
    ffn_part(hp, w, r, N, s, pool);
    if (layer_scalar != 1.0f)
        for (int64_t i = 0; i < N * hp.n_embd; ++i) r[i] *= layer_scalar;
}

}  // namespace ld
