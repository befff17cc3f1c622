// The shared Gemma-4 / Gemma-3 transformer block (see gemma4-block.h for the maths), written once
// against the backend interface: every op is a call on the layer's Exec.
#include "model/gemma4-block.h"

#include <cmath>

#include "common/error.h"

namespace ld {

namespace {

void mm(const Exec & ex, const float * x, int64_t N, const Mat & w, float * y) {
    ex.be->matmul(x, N, w.ne[0], ex.mat(w), w.type, w.ne[1], y);
}

// Attention half: x += rms(attn(x) Wo)·post_attn_norm.
void attention_part(const HParams & hp, const LayerWeights & w, const BlockConfig & c, const BlockArgs & A,
                    const Exec & ex) {
    ggml::Backend & be = *ex.be;
    BlockScratch & s = *ex.s;
    const int64_t S = A.S, H = hp.n_embd, nq = c.n_head, nkv = c.n_kv_head, d = c.head_dim;
    float * a = s.a.f32(S * H);            // [S, H]
    float * q = s.q.f32(S * nq * d);       // [S, nq, d]
    float * k = s.k.f32(S * nkv * d);      // [S, nkv, d]
    float * v = s.v.f32(S * nkv * d);      // [S, nkv, d]
    float * att = s.att.f32(S * nq * d);   // [S, nq, d]
    float * o = s.o.f32(S * H);            // [S, H]

    be.rms_norm(A.x, S, H, ex.vec(w.attn_norm), hp.eps, a);
    mm(ex, a, S, w.wq, q);
    mm(ex, a, S, w.wk, k);
    if (w.wv.present()) mm(ex, a, S, w.wv, v);
    else be.copy(v, k, sizeof(float) * (size_t)(S * nkv * d));  // full layers: V = raw k projection
    be.rms_norm(q, S * nq, d, ex.vec(w.q_norm), hp.eps, q);
    be.rms_norm(k, S * nkv, d, ex.vec(w.k_norm), hp.eps, k);
    if (c.v_norm) be.rms_norm(v, S * nkv, d, nullptr, hp.eps, v);
    ggml::RopeParams rope = c.rope;
    const int64_t n_rot = rope.n_rot > 0 ? rope.n_rot : d;
    rope.freq_factors = ex.vec(c.rope.freq_factors, (size_t)(n_rot / 2));
    rope.inv_freq = ex.vec(c.rope.inv_freq, (size_t)(n_rot / 2));
    be.rope_neox(q, S, nq, d, A.pos, rope);
    be.rope_neox(k, S, nkv, d, A.pos, rope);

    for (int si = 0; si < A.n_segs; ++si) {
        const BlockSegment & sg = A.segs[si];
        LayerKv & kv = *sg.kv;
        kv.stage(k + sg.row0 * nkv * d, v + sg.row0 * nkv * d, A.pos + sg.row0, sg.n);
        ggml::AttnArgs at;
        at.q = q + sg.row0 * nq * d;
        at.q_pos = A.pos + sg.row0;
        at.n_q = sg.n;
        at.n_head = nq;
        at.head_dim = d;
        at.k = kv.k_data();
        at.v = kv.v_data();
        at.k_pos = kv.pos_data();
        at.kv_type = kv.type();
        at.n_kv = kv.n_rows();
        at.n_kv_head = nkv;
        at.out = att + sg.row0 * nq * d;
        at.scale = c.attn_scale;
        if (A.decoder) {
            at.mask = ggml::AttnMask::canvas;
            at.canvas_begin = sg.canvas_begin;
            at.window = c.is_swa ? c.window : 0;
        } else if (c.is_swa) {
            at.mask = ggml::AttnMask::sliding;
            at.window = c.window;
        } else {
            at.mask = ggml::AttnMask::causal;
        }
        be.attention(at);
        if (A.decoder) kv.discard();
        else kv.commit();
    }

    mm(ex, att, S, w.wo, o);
    be.rms_norm(o, S, H, ex.vec(w.post_attn_norm), hp.eps, o);
    be.add(A.x, o, S * H, A.x);
}

// Routed experts on rows r[N, H] -> h2[N, H] (before post_ffw_norm_2), all on ex.
void moe_part(const HParams & hp, const LayerWeights & w, const float * r, int64_t N, float * h2, const Exec & ex) {
    ggml::Backend & be = *ex.be;
    BlockScratch & s = *ex.s;
    const int64_t H = hp.n_embd, X = hp.n_expert, K = hp.n_expert_used, Fe = hp.n_ff_exp;
    float * z = s.z.f32(N * H);            // [N, H]
    float * logits = s.logits.f32(N * X);  // [N, X]
    float * e = s.e.f32(N * H);            // [N, H]
    float * act = s.act.f32(N * K * Fe);   // [N, K, Fe]
    float * wts = s.wts.f32(N * K);        // [N, K]
    int32_t * ids = s.ids.i32(N * K);      // [N, K]

    // router: input is the raw residual, normalised with router.scale and H^-1/2
    be.rms_norm(r, N, H, ex.vec(w.router_scale), hp.eps, z);
    be.scale(z, N * H, (float)(1.0 / std::sqrt((double)H)), z);
    mm(ex, z, N, w.router, logits);
    be.router_topk(logits, N, X, K, ex.vec(w.expert_scale), ids, wts);

    be.rms_norm(r, N, H, ex.vec(w.pre_ffw_norm_2), hp.eps, e);
    ggml::MoeArgs ma;
    ma.x = e;
    ma.N = N;
    ma.K = H;
    ma.ids = ids;
    ma.top_k = K;
    ma.E = X;
    if (w.exp_gate_up.present()) {
        float * gu = s.gu.f32(N * K * 2 * Fe);  // [N, K, 2 Fe]
        ma.w = ex.mat(w.exp_gate_up);
        ma.wtype = w.exp_gate_up.type;
        ma.M = 2 * Fe;
        ma.y = gu;
        be.moe_matmul(ma);
        be.geglu(gu, gu + Fe, N * K, Fe, 2 * Fe, act);
    } else {
        float * g = s.gu.f32(N * K * Fe);       // [N, K, Fe]
        ma.w = ex.mat(w.exp_gate);
        ma.wtype = w.exp_gate.type;
        ma.M = Fe;
        ma.y = g;
        be.moe_matmul(ma);
        ma.w = ex.mat(w.exp_up);
        ma.wtype = w.exp_up.type;
        ma.y = act;
        be.moe_matmul(ma);
        be.geglu(g, act, N * K, Fe, Fe, g);  // out aliases the gate (allowed)
        act = g;
    }
    ggml::MoeArgs md;
    md.x = act;
    md.N = N;
    md.K = Fe;
    md.x_per_slot = true;
    md.w = ex.mat(w.exp_down);
    md.wtype = w.exp_down.type;
    md.M = H;
    md.E = X;
    md.ids = ids;
    md.rw = wts;
    md.top_k = K;
    md.y = h2;
    be.moe_matmul(md);
}

// Feed-forward half on rows [0, N) of r (in place: r becomes the layer output before the scalar).
void ffn_part(const HParams & hp, const LayerWeights & w, float * r, int64_t N, const Exec & ex, const Exec & moe) {
    ggml::Backend & be = *ex.be;
    BlockScratch & s = *ex.s;
    const int64_t H = hp.n_embd, F = hp.n_ff;
    float * m = s.m.f32(N * H);  // [N, H]
    float * g = s.g.f32(N * F);  // [N, F]
    float * u = s.u.f32(N * F);  // [N, F]
    float * h = s.h.f32(N * H);  // [N, H]

    be.rms_norm(r, N, H, ex.vec(w.ffn_norm), hp.eps, m);
    mm(ex, m, N, w.ffn_gate, g);
    mm(ex, m, N, w.ffn_up, u);
    be.geglu(g, u, N, F, F, g);
    mm(ex, g, N, w.ffn_down, h);
    if (!w.post_ffw_norm_1.empty()) be.rms_norm(h, N, H, ex.vec(w.post_ffw_norm_1), hp.eps, h);
    if (w.router.present()) {
        float * h2 = s.h2.f32(N * H);  // [N, H]
        if (moe.be == ex.be) {
            moe_part(hp, w, r, N, h2, ex);
        } else {
            // --cpu-moe: the rows go to the experts' backend and the result comes back.
            float * r_moe = moe.s->x2.f32(N * H);
            float * h2_moe = moe.s->h2.f32(N * H);
            transfer(be, r, *moe.be, r_moe, N * H);
            moe_part(hp, w, r_moe, N, h2_moe, moe);
            transfer(*moe.be, h2_moe, be, h2, N * H);
        }
        be.rms_norm(h2, N, H, ex.vec(w.post_ffw_norm_2), hp.eps, h2);
        be.add(h, h2, N * H, h);
    }
    be.rms_norm(h, N, H, ex.vec(w.post_ffw_norm), hp.eps, h);
    be.add(r, h, N * H, r);
}

}  // namespace

void block_forward(const HParams & hp, const LayerWeights & w, const BlockConfig & cfg, const BlockArgs & args,
                   const Exec & ex, const Exec & moe) {
    LD_ASSERT(args.x && args.pos && args.segs && args.n_segs >= 1 && args.S > 0 && ex.be && moe.be);
    LD_ASSERT(args.ffn_begin >= 0 && args.ffn_begin <= args.S);
    int64_t row = 0;
    for (int i = 0; i < args.n_segs; ++i) {
        LD_ASSERT(args.segs[i].row0 == row && args.segs[i].n > 0 && args.segs[i].kv);
        LD_ASSERT(args.segs[i].kv->backend() == ex.be);
        row += args.segs[i].n;
    }
    LD_ASSERT(row == args.S);
    attention_part(hp, w, cfg, args, ex);
    const int64_t H = hp.n_embd;
    const int64_t n_ffn = args.S - args.ffn_begin;
    if (n_ffn == 0) return;
    float * r = args.x + args.ffn_begin * H;
    ffn_part(hp, w, r, n_ffn, ex, moe);
    if (args.layer_scalar != 1.0f) ex.be->scale(r, n_ffn * H, args.layer_scalar, r);
}

}  // namespace ld
