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

void probs_times_embedding(const float * P, int64_t C, const Mat & E, float * out, ggml::ThreadPool * pool) {
    const int64_t H = E.ne[0], V = E.ne[1];
    const auto * tt = ggml::type_traits(E.type);
    const int64_t bs = tt->block_size;
    const int64_t tile = bs * std::max<int64_t>(1, 64 / bs);  // columns per task, whole blocks
    const int64_t n_tiles = (H + tile - 1) / tile;
    const size_t row_bytes = E.row_bytes();
    std::memset(out, 0, sizeof(float) * (size_t)(C * H));
    pool->parallel_for(n_tiles, [&](int64_t t, int) {
        const int64_t c0 = t * tile, nc = std::min(tile, H - c0);
        std::vector<float> row((size_t)nc);
        const size_t off = (size_t)(c0 / bs) * tt->type_size;
        for (int64_t v = 0; v < V; ++v) {
            tt->to_float((const uint8_t *)E.data + (size_t)v * row_bytes + off, row.data(), nc);
            for (int64_t c = 0; c < C; ++c) {
                const float p = P[c * V + v];
                if (p == 0.0f) continue;
                float * o = out + c * H + c0;
                for (int64_t j = 0; j < nc; ++j) o[j] += p * row[(size_t)j];
            }
        }
    });
}

void DiffusionGemma::add_self_conditioning(const float * sc_logits, int64_t C, float * x) {
    if (!w_.has_self_cond())
        throw Error(strfmt("%s: decode_canvas got self-conditioning logits but the model has no self-conditioning "
                           "tensors (self_cond_*)", file_.name().c_str()));
    const int64_t H = hp_.n_embd, V = hp_.n_vocab, F = hp_.n_ff;
    for (int64_t i = 0; i < C * V; ++i)
        if (std::isnan(sc_logits[i]))
            throw Error(strfmt("decode_canvas: self-conditioning logits contain NaN at [%lld, %lld]",
                               (long long)(i / V), (long long)(i % V)));
    std::vector<float> probs((size_t)(C * V)), soft((size_t)(C * H)), g((size_t)(C * F)), u((size_t)(C * F)),
        sc((size_t)(C * H));
    ggml::softmax(sc_logits, C, V, probs.data(), pool_);
    embedding_t().apply(probs.data(), C, soft.data(), pool_);  // soft = P · E via Eᵀ (matmul kernel)
    const float scale = (float)std::sqrt((double)H);
    for (auto & s : soft) s *= scale;
    ggml::rms_norm(soft.data(), C, H, w_.sc_pre_norm.data(), hp_.eps, soft.data(), pool_);
    ggml::matmul(soft.data(), C, H, w_.sc_gate.data, w_.sc_gate.type, F, g.data(), pool_);
    ggml::matmul(soft.data(), C, H, w_.sc_up.data, w_.sc_up.type, F, u.data(), pool_);
    ggml::geglu(g.data(), u.data(), C, F, F, g.data(), pool_);
    ggml::matmul(g.data(), C, F, w_.sc_down.data, w_.sc_down.type, H, sc.data(), pool_);
    for (int64_t i = 0; i < C * H; ++i) x[i] += sc[(size_t)i];
}

void DiffusionGemma::decode_canvas(const int32_t * canvas, int64_t C, const float * sc_logits, float * logits) {
    if (C < 1) throw Error("decode_canvas: empty canvas");
    check_ids(canvas, C, "decode_canvas");
    const int32_t begin = cache_.next_pos();
    if ((int64_t)begin + C > INT32_MAX) throw Error("decode_canvas: positions overflow");
    const int64_t H = hp_.n_embd;
    capture_begin();

    std::vector<float> x((size_t)(C * H));
    std::vector<int32_t> pos((size_t)C);
    for (int64_t i = 0; i < C; ++i) pos[(size_t)i] = begin + (int32_t)i;
    embed(canvas, C, x.data());
    if (sc_logits) add_self_conditioning(sc_logits, C, x.data());
    ggml::rms_norm(x.data(), C, H, nullptr, hp_.eps, x.data(), pool_);  // weightless post_norm
    capture_rows(0, x.data(), C);
    for (int il = 0; il < hp_.n_layer; ++il) {
        BlockArgs a;
        a.x = x.data();
        a.S = C;
        a.pos = pos.data();
        a.kv = &cache_.layer(il);
        a.decoder = true;
        a.canvas_begin = begin;
        a.layer_scalar = w_.layers[(size_t)il].scalar_dec;
        block_forward(hp_, w_.layers[(size_t)il], cfg_[(size_t)il], a, scratch_, pool_);
        capture_rows(1 + il, x.data(), C);
    }
    lm_head(x.data(), C, logits);
}

}  // namespace ld
