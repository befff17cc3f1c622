// DiffusionGemma canvas decoder pass and self-conditioning (see diffusion-gemma.h).
#include "model/diffusion-gemma.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "common/error.h"
#include "ld-ggml/cpu-matmul.h"
#include "ld-ggml/cpu-nn.h"

namespace ld {

DiffusionGemma::DiffusionGemma(gguf::File && f, int n_threads, ggml::Type kv_type)
    : Model(std::move(f), n_threads, kv_type) {
    if (hp_.arch != ModelArch::diffusion_gemma) throw Error("DiffusionGemma: the file is not a diffusion-gemma model");
}

BlockConfig DiffusionGemma::layer_config(int il) const {
    BlockConfig c;
    c.n_head = hp_.n_head;
    c.n_kv_head = hp_.n_kv_head[(size_t)il];
    c.head_dim = hp_.layer_head_dim(il);
    c.is_swa = hp_.is_swa[(size_t)il];
    c.window = hp_.sliding_window;
    c.rope.n_rot = hp_.layer_n_rot(il);
    c.rope.theta_base = hp_.layer_rope_base(il);
    // Full layers: proportional partial rotary through rope_freqs (1 = rotated, 1e30 = unrotated).
    c.rope.freq_factors = c.is_swa ? nullptr : w_.rope_freqs.data();
    c.v_norm = true;
    c.attn_scale = hp_.attn_scale;  // 1.0
    return c;
}

void DiffusionGemma::add_self_conditioning(const float * soft, int64_t C, float * x) {
    if (!w_.has_self_cond())
        throw Error(strfmt("%s: the decoder got a self-conditioning input but the model has no self-conditioning "
                           "tensors (self_cond_*)", file_.name().c_str()));
    const int64_t H = hp_.n_embd, F = hp_.n_ff;
    const float scale = (float)std::sqrt((double)H);
    sc_.resize((size_t)(C * H));
    g_.resize((size_t)(C * F));
    u_.resize((size_t)(C * F));
    for (int64_t i = 0; i < C * H; ++i) sc_[(size_t)i] = soft[i] * scale;
    ggml::rms_norm(sc_.data(), C, H, w_.sc_pre_norm.data(), hp_.eps, sc_.data(), pool_);
    ggml::matmul(sc_.data(), C, H, w_.sc_gate.data, w_.sc_gate.type, F, g_.data(), pool_);
    ggml::matmul(sc_.data(), C, H, w_.sc_up.data, w_.sc_up.type, F, u_.data(), pool_);
    ggml::geglu(g_.data(), u_.data(), C, F, F, g_.data(), pool_);
    ggml::matmul(g_.data(), C, F, w_.sc_down.data, w_.sc_down.type, H, sc_.data(), pool_);
    for (int64_t i = 0; i < C * H; ++i) x[i] += sc_[(size_t)i];
}

void DiffusionGemma::decode_hidden(const int32_t * canvas, int64_t C, const float * soft, float * hidden) {
    if (C < 1) throw Error("decode_canvas: empty canvas");
    check_ids(canvas, C, "decode_canvas");
    const int32_t begin = cache_.next_pos();
    if ((int64_t)begin + C > INT32_MAX) throw Error("decode_canvas: positions overflow");
    const int64_t H = hp_.n_embd;
    capture_begin();

    x_.resize((size_t)(C * H));
    pos_.resize((size_t)C);
    for (int64_t i = 0; i < C; ++i) pos_[(size_t)i] = begin + (int32_t)i;
    embed(canvas, C, x_.data());
    if (soft) add_self_conditioning(soft, C, x_.data());
    ggml::rms_norm(x_.data(), C, H, nullptr, hp_.eps, x_.data(), pool_);  // weightless post_norm
    capture_rows(0, x_.data(), C);
    for (int il = 0; il < hp_.n_layer; ++il) {
        BlockArgs a;
        a.x = x_.data();
        a.S = C;
        a.pos = pos_.data();
        a.kv = &cache_.layer(il);
        a.decoder = true;
        a.canvas_begin = begin;
        a.layer_scalar = w_.layers[(size_t)il].scalar_dec;
        block_forward(hp_, w_.layers[(size_t)il], cfg_[(size_t)il], a, scratch_, pool_);
        capture_rows(1 + il, x_.data(), C);
    }
    ggml::rms_norm(x_.data(), C, H, w_.output_norm.data(), hp_.eps, hidden, pool_);
}

void DiffusionGemma::decode_canvas(const int32_t * canvas, int64_t C, const float * sc_logits, float * logits) {
    if (C < 1) throw Error("decode_canvas: empty canvas");
    const int64_t H = hp_.n_embd, V = hp_.n_vocab;
    std::vector<float> soft;
    if (sc_logits) {
        if (!w_.has_self_cond())
            throw Error(strfmt("%s: decode_canvas got self-conditioning logits but the model has no self-conditioning "
                               "tensors (self_cond_*)", file_.name().c_str()));
        for (int64_t i = 0; i < C * V; ++i)
            if (std::isnan(sc_logits[i]))
                throw Error(strfmt("decode_canvas: self-conditioning logits contain NaN at [%lld, %lld]",
                                   (long long)(i / V), (long long)(i % V)));
        // soft [C, H] = softmax(sc_logits) [C, V] · E via Eᵀ (one matmul; embedding-t.h).
        std::vector<float> probs((size_t)(C * V));
        ggml::softmax(sc_logits, C, V, probs.data(), pool_);
        soft.resize((size_t)(C * H));
        embedding_t().apply(probs.data(), C, soft.data(), pool_);
    }
    std::vector<float> hidden((size_t)(C * H));
    decode_hidden(canvas, C, sc_logits ? soft.data() : nullptr, hidden.data());
    lm_project(hidden.data(), C, logits);
}

}  // namespace ld
