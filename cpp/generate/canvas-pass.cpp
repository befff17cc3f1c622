// Canvas decoder pass to final hidden states with the expected-embedding self-conditioning input
// (see canvas-pass.h).
#include "generate/canvas-pass.h"

#include <cmath>
#include <cstring>

#include "common/error.h"
#include "ld-ggml/cpu-matmul.h"
#include "ld-ggml/cpu-nn.h"

namespace ld::gen {

CanvasPass::CanvasPass(Model & m, ggml::ThreadPool * pool) : m_(m), pool_(pool) {
    const HParams & hp = m.hparams();
    if (!hp.is_diffusion())
        throw Error(strfmt("%s: the %s architecture has no canvas decoder", m.file().name().c_str(), model_arch_name(hp.arch)));
    for (int il = 0; il < hp.n_layer; ++il) {
        BlockConfig c;
        c.n_head = hp.n_head;
        c.n_kv_head = hp.n_kv_head[(size_t)il];
        c.head_dim = hp.layer_head_dim(il);
        c.is_swa = hp.is_swa[(size_t)il];
        c.window = hp.sliding_window;
        c.rope.n_rot = hp.layer_n_rot(il);
        c.rope.theta_base = hp.layer_rope_base(il);
        c.rope.freq_factors = (c.is_swa || m.weights().rope_freqs.empty()) ? nullptr : m.weights().rope_freqs.data();
        c.v_norm = true;
        c.attn_scale = hp.attn_scale;
        cfg_.push_back(c);
    }
}

void CanvasPass::forward(const int32_t * canvas, int64_t C, const float * soft, float * hidden) {
    const HParams & hp = m_.hparams();
    const Weights & w = m_.weights();
    const int64_t H = hp.n_embd, F = hp.n_ff;
    if (C < 1) throw Error("canvas pass: empty canvas");
    for (int64_t i = 0; i < C; ++i)
        if (canvas[i] < 0 || canvas[i] >= hp.n_vocab)
            throw Error(strfmt("canvas pass: token id %d at index %lld is outside the vocabulary [0, %d)", canvas[i],
                               (long long)i, hp.n_vocab));
    const int32_t begin = m_.cache().next_pos();
    const float scale = (float)std::sqrt((double)H);
    x_.resize((size_t)(C * H));
    pos_.resize((size_t)C);
    for (int64_t i = 0; i < C; ++i) {
        pos_[(size_t)i] = begin + (int32_t)i;
        float * row = x_.data() + i * H;
        mat_get_row(w.tok_embd, canvas[i], row);
        for (int64_t j = 0; j < H; ++j) row[j] *= scale;
    }
    if (soft && w.has_self_cond()) {
        sc_.resize((size_t)(C * H));
        g_.resize((size_t)(C * F));
        u_.resize((size_t)(C * F));
        for (int64_t i = 0; i < C * H; ++i) sc_[(size_t)i] = soft[i] * scale;
        ggml::rms_norm(sc_.data(), C, H, w.sc_pre_norm.data(), hp.eps, sc_.data(), pool_);
        ggml::matmul(sc_.data(), C, H, w.sc_gate.data, w.sc_gate.type, F, g_.data(), pool_);
        ggml::matmul(sc_.data(), C, H, w.sc_up.data, w.sc_up.type, F, u_.data(), pool_);
        ggml::geglu(g_.data(), u_.data(), C, F, F, g_.data(), pool_);
        ggml::matmul(g_.data(), C, F, w.sc_down.data, w.sc_down.type, H, sc_.data(), pool_);
        for (int64_t i = 0; i < C * H; ++i) x_[(size_t)i] += sc_[(size_t)i];
    }
    ggml::rms_norm(x_.data(), C, H, nullptr, hp.eps, x_.data(), pool_);  // weightless post_norm
    for (int il = 0; il < hp.n_layer; ++il) {
        BlockArgs a;
        a.x = x_.data();
        a.S = C;
        a.pos = pos_.data();
        a.kv = &m_.cache().layer(il);
        a.decoder = true;
        a.canvas_begin = begin;
        a.layer_scalar = w.layers[(size_t)il].scalar_dec;
        block_forward(hp, w.layers[(size_t)il], cfg_[(size_t)il], a, scratch_, pool_);
    }
    ggml::rms_norm(x_.data(), C, H, w.output_norm.data(), hp.eps, hidden, pool_);
}

}  // namespace ld::gen
