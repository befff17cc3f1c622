// The batched DiffusionGemma decoder pass (DiffusionGemma::decode_hidden_batch, diffusion-gemma.h):
// the canvases of B sequences, R = Σ C_b rows in one residual stream x [R, H].
//   x_b = rms(E[canvas_b]·sqrt(H) + sc_b)                      per sequence (its own soft input)
//   per layer: attention half of sequence b on rows of b, its own cache, canvas mask from
//              the position after its cache (block_forward with ffn_begin = S: no FFN);
//              FFN half (dense FFN + experts, × decoder layer scalar) on all R rows (block_ffn)
//   hidden_b = rms(x_b)·output_norm
// Every operation is the one decode_hidden runs, on the same rows; only the FFN and expert matmuls
// see more rows at a time (which is where batching pays: more tokens per expert).
#include <cmath>
#include <cstdint>
#include <vector>

#include "common/error.h"
#include "ld-ggml/cpu-nn.h"
#include "model/diffusion-gemma.h"

namespace ld {

void DiffusionGemma::decode_hidden_batch(const std::vector<DecodeItem> & items) {
    if (items.empty()) throw Error("decode_hidden_batch: no sequences");
    const int64_t H = hp_.n_embd;
    int64_t R = 0;
    for (size_t b = 0; b < items.size(); ++b) {
        const DecodeItem & it = items[b];
        if (!it.canvas || !it.hidden || !it.cache || it.C < 1)
            throw Error(strfmt("decode_hidden_batch: sequence %zu has no canvas, output or cache", b));
        if (it.cache->n_layer() != hp_.n_layer)
            throw Error(strfmt("decode_hidden_batch: sequence %zu has a cache of %d layers, the model has %d", b,
                               it.cache->n_layer(), hp_.n_layer));
        check_ids(it.canvas, it.C, "decode_hidden_batch");
        if ((int64_t)it.cache->next_pos() + it.C > INT32_MAX) throw Error("decode_hidden_batch: positions overflow");
        if (it.soft && !w_.has_self_cond())
            throw Error(strfmt("%s: the decoder got a self-conditioning input but the model has no self-conditioning "
                               "tensors (self_cond_*)", file_.name().c_str()));
        R += it.C;
    }
    xb_.resize((size_t)(R * H));
    posb_.resize((size_t)R);
    std::vector<int64_t> off(items.size());
    int64_t o = 0;
    for (size_t b = 0; b < items.size(); ++b) {
        const DecodeItem & it = items[b];
        off[b] = o;
        const int32_t begin = it.cache->next_pos();
        for (int64_t i = 0; i < it.C; ++i) posb_[(size_t)(o + i)] = begin + (int32_t)i;
        float * xs = xb_.data() + o * H;
        embed(it.canvas, it.C, xs);
        if (it.soft) add_self_conditioning(it.soft, it.C, xs);
        o += it.C;
    }
    ggml::rms_norm(xb_.data(), R, H, nullptr, hp_.eps, xb_.data(), pool_);  // weightless post_norm
    for (int il = 0; il < hp_.n_layer; ++il) {
        const LayerWeights & lw = w_.layers[(size_t)il];
        for (size_t b = 0; b < items.size(); ++b) {
            const DecodeItem & it = items[b];
            BlockArgs a;
            a.x = xb_.data() + off[b] * H;
            a.S = it.C;
            a.pos = posb_.data() + off[b];
            a.kv = &it.cache->layer(il);
            a.decoder = true;
            a.canvas_begin = it.cache->next_pos();
            a.ffn_begin = it.C;  // attention half only
            a.layer_scalar = lw.scalar_dec;
            block_forward(hp_, lw, cfg_[(size_t)il], a, scratch_, pool_);
        }
        block_ffn(hp_, lw, xb_.data(), R, lw.scalar_dec, scratch_, pool_);
    }
    for (size_t b = 0; b < items.size(); ++b)
        ggml::rms_norm(xb_.data() + off[b] * H, items[b].C, H, w_.output_norm.data(), hp_.eps, items[b].hidden, pool_);
}

}  // namespace ld
