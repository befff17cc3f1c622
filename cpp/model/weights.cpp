// Loads and checks the tensor table of a diffusion-gemma or gemma3 GGUF (see weights.h).
#include "model/weights.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>

#include "common/error.h"
#include "gguf/gguf-reader.h"
#include "ld-ggml/cpu-matmul.h"

namespace ld {

size_t Mat::row_bytes() const { return ggml::row_size(type, ne[0]); }

void mat_get_row(const Mat & m, int64_t row, float * out) {
    LD_ASSERT(m.present() && row >= 0 && row < m.ne[1] * m.ne[2]);
    const auto * tt = ggml::type_traits(m.type);
    LD_ASSERT(tt && tt->to_float);
    tt->to_float((const uint8_t *)m.data + (size_t)row * m.row_bytes(), out, m.ne[0]);
}

namespace {

std::string shape_str(const int64_t * ne, int n) {
    std::string s = "{";
    for (int i = 0; i < n; ++i) s += (i ? ", " : "") + std::to_string(ne[i]);
    return s + "}";
}

struct Loader {
    const gguf::File & f;

    std::string where() const { return f.name(); }

    const gguf::TensorInfo * find(const std::string & name) const { return f.find_tensor(name); }

    // Checks the shape (n dims, trailing dims 1) of a present tensor.
    void check_shape(const gguf::TensorInfo & t, std::initializer_list<int64_t> want) const {
        int64_t w[4] = {1, 1, 1, 1};
        int n = 0;
        for (int64_t x : want) w[n++] = x;
        bool ok = true;
        for (int i = 0; i < 4; ++i) ok = ok && t.ne[i] == w[i];
        if (!ok) {
            const int nd = std::max<int>(n, (int)t.n_dims);
            throw Error(strfmt("%s: tensor '%s' has shape %s, expected %s", where().c_str(), t.name.c_str(),
                               shape_str(t.ne, nd).c_str(), shape_str(w, n).c_str()));
        }
    }

    const gguf::TensorInfo & require(const std::string & name) const {
        const gguf::TensorInfo * t = find(name);
        if (!t) throw Error(strfmt("%s: required tensor '%s' is missing", where().c_str(), name.c_str()));
        return *t;
    }

    Mat mat_from(const gguf::TensorInfo & t, std::initializer_list<int64_t> want) const {
        check_shape(t, want);
        gguf::File::check_type_supported(t);
        const ggml::Type type = (ggml::Type)t.type;
        if (!ggml::matmul_supports(type))
            throw Error(strfmt("%s: tensor '%s' has type %s, which the matmul kernels do not support", where().c_str(),
                               t.name.c_str(), t.type_name()));
        Mat m;
        m.data = t.data;
        m.type = type;
        for (int i = 0; i < 3; ++i) m.ne[i] = t.ne[i];
        m.name = t.name;
        return m;
    }
    Mat mat(const std::string & name, std::initializer_list<int64_t> want) const { return mat_from(require(name), want); }
    Mat opt_mat(const std::string & name, std::initializer_list<int64_t> want) const {
        const gguf::TensorInfo * t = find(name);
        return t ? mat_from(*t, want) : Mat{};
    }

    Vec vec_from(const gguf::TensorInfo & t, int64_t n) const {
        check_shape(t, {n});
        gguf::File::check_type_supported(t);
        const auto * tt = ggml::type_traits(t.type);
        if (n % tt->block_size != 0)
            throw Error(strfmt("%s: tensor '%s': %lld values are not a whole number of %s blocks", where().c_str(),
                               t.name.c_str(), (long long)n, t.type_name()));
        Vec v((size_t)n);
        tt->to_float(t.data, v.data(), n);
        for (float x : v)
            if (!std::isfinite(x))
                throw Error(strfmt("%s: tensor '%s' contains a non-finite value", where().c_str(), t.name.c_str()));
        return v;
    }
    Vec vec(const std::string & name, int64_t n) const { return vec_from(require(name), n); }
    Vec opt_vec(const std::string & name, int64_t n) const {
        const gguf::TensorInfo * t = find(name);
        return t ? vec_from(*t, n) : Vec{};
    }
};

void load_attention(const Loader & L, const HParams & hp, int il, LayerWeights & w, bool v_optional_full) {
    const std::string p = "blk." + std::to_string(il) + ".";
    const int64_t H = hp.n_embd, d = hp.layer_head_dim(il), nq = hp.n_head, nkv = hp.n_kv_head[(size_t)il];
    w.attn_norm = L.vec(p + "attn_norm.weight", H);
    w.wq = L.mat(p + "attn_q.weight", {H, nq * d});
    w.wk = L.mat(p + "attn_k.weight", {H, nkv * d});
    if (v_optional_full && !hp.is_swa[(size_t)il]) {
        // DiffusionGemma full layers: V is the raw k projection; a stray attn_v is an error.
        if (L.find(p + "attn_v.weight"))
            throw Error(strfmt("%s: tensor '%s' present in full-attention layer %d, which has no v projection "
                               "(values are the raw k projection)",
                               L.where().c_str(), (p + "attn_v.weight").c_str(), il));
    } else {
        w.wv = L.mat(p + "attn_v.weight", {H, nkv * d});
    }
    w.wo = L.mat(p + "attn_output.weight", {nq * d, H});
    w.q_norm = L.vec(p + "attn_q_norm.weight", d);
    w.k_norm = L.vec(p + "attn_k_norm.weight", d);
    w.post_attn_norm = L.vec(p + "post_attention_norm.weight", H);
    w.ffn_norm = L.vec(p + "ffn_norm.weight", H);
    w.ffn_gate = L.mat(p + "ffn_gate.weight", {H, hp.n_ff});
    w.ffn_up = L.mat(p + "ffn_up.weight", {H, hp.n_ff});
    w.ffn_down = L.mat(p + "ffn_down.weight", {hp.n_ff, H});
    w.post_ffw_norm = L.vec(p + "post_ffw_norm.weight", H);
}

float scalar(const Loader & L, const std::string & name) { return L.vec(name, 1)[0]; }

void load_dg_layer(const Loader & L, const HParams & hp, int il, LayerWeights & w) {
    const std::string p = "blk." + std::to_string(il) + ".";
    const int64_t H = hp.n_embd, X = hp.n_expert, Fe = hp.n_ff_exp;
    load_attention(L, hp, il, w, true);
    w.post_ffw_norm_1 = L.vec(p + "post_ffw_norm_1.weight", H);
    w.pre_ffw_norm_2 = L.vec(p + "pre_ffw_norm_2.weight", H);
    w.post_ffw_norm_2 = L.vec(p + "post_ffw_norm_2.weight", H);
    w.router = L.mat(p + "ffn_gate_inp.weight", {H, X});
    w.router_scale = L.vec(p + "ffn_gate_inp.scale", H);
    w.expert_scale = L.opt_vec(p + "ffn_down_exps.scale", X);
    w.exp_gate_up = L.opt_mat(p + "ffn_gate_up_exps.weight", {H, 2 * Fe, X});
    if (!w.exp_gate_up.present()) {
        const std::string g = p + "ffn_gate_exps.weight", u = p + "ffn_up_exps.weight";
        if (!L.find(g) && !L.find(u))
            throw Error(strfmt("%s: required tensor '%s' is missing (nor are the split '%s' + '%s' present)",
                               L.where().c_str(), (p + "ffn_gate_up_exps.weight").c_str(), g.c_str(), u.c_str()));
        w.exp_gate = L.mat(g, {H, Fe, X});
        w.exp_up = L.mat(u, {H, Fe, X});
        if (w.exp_gate.type != w.exp_up.type)
            throw Error(strfmt("%s: split expert tensors '%s' (%s) and '%s' (%s) must have the same type",
                               L.where().c_str(), g.c_str(), ggml::type_name((int32_t)w.exp_gate.type), u.c_str(),
                               ggml::type_name((int32_t)w.exp_up.type)));
    }
    w.exp_down = L.mat(p + "ffn_down_exps.weight", {Fe, H, X});
    w.scalar_dec = scalar(L, p + "layer_output_scale.weight");
    w.scalar_enc = scalar(L, p + "enc_layer_output_scale.weight");
}

}  // namespace

Weights Weights::load(const gguf::File & f, HParams & hp) {
    Loader L{f};
    Weights W;
    const int64_t H = hp.n_embd;
    {
        const gguf::TensorInfo & te = L.require("token_embd.weight");
        if (te.ne[0] != H || te.ne[1] < 1 || te.ne[2] != 1 || te.ne[3] != 1)
            throw Error(strfmt("%s: tensor 'token_embd.weight' has shape %s, expected {%lld, n_vocab}", f.name().c_str(),
                               shape_str(te.ne, std::max<int>(2, (int)te.n_dims)).c_str(), (long long)H));
        if (te.ne[1] > INT32_MAX) throw Error(strfmt("%s: vocabulary too large", f.name().c_str()));
        hp.n_vocab = (int32_t)te.ne[1];
        for (int32_t e : hp.eos_token_ids)
            if (e >= hp.n_vocab)
                throw Error(strfmt("%s: metadata key 'diffusion.eos_token_ids' holds token id %d, outside the vocabulary "
                                   "[0, %d) of token_embd.weight", f.name().c_str(), e, hp.n_vocab));
        W.tok_embd = L.mat_from(te, {H, te.ne[1]});
    }
    W.output = L.opt_mat("output.weight", {H, hp.n_vocab});
    if (!W.output.present()) W.output = W.tok_embd;
    W.output_norm = L.vec("output_norm.weight", H);
    W.layers.resize((size_t)hp.n_layer);

    if (hp.is_diffusion()) {
        // Full layers rotate through rope_freqs (factor 1 = rotated, 1e30 = passes through).
        W.rope_freqs = L.vec("rope_freqs.weight", hp.n_rot / 2);
        W.sc_pre_norm = L.opt_vec("self_cond_pre_norm.weight", H);
        W.sc_gate = L.opt_mat("self_cond_gate.weight", {H, hp.n_ff});
        W.sc_up = L.opt_mat("self_cond_up.weight", {H, hp.n_ff});
        W.sc_down = L.opt_mat("self_cond_down.weight", {hp.n_ff, H});
        const int n_sc = (int)!W.sc_pre_norm.empty() + (int)W.sc_gate.present() + (int)W.sc_up.present() +
                         (int)W.sc_down.present();
        if (n_sc != 0 && n_sc != 4) {
            const char * miss = W.sc_pre_norm.empty() ? "self_cond_pre_norm.weight"
                              : !W.sc_gate.present()  ? "self_cond_gate.weight"
                              : !W.sc_up.present()    ? "self_cond_up.weight"
                                                      : "self_cond_down.weight";
            throw Error(strfmt("%s: self-conditioning tensor '%s' is missing (the others are present)",
                               f.name().c_str(), miss));
        }
        for (int il = 0; il < hp.n_layer; ++il) load_dg_layer(L, hp, il, W.layers[(size_t)il]);
    } else {
        for (int il = 0; il < hp.n_layer; ++il) load_attention(L, hp, il, W.layers[(size_t)il], false);
    }
    return W;
}

}  // namespace ld
