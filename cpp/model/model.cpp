// Model base: loading, embeddings, the chunked causal encoder pass, the LM head (see model.h).
#include "model/model.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "common/error.h"
#include "ld-ggml/cpu-matmul.h"
#include "ld-ggml/cpu-nn.h"
#include "model/diffusion-gemma.h"
#include "model/gemma3.h"

namespace ld {

std::unique_ptr<Model> Model::open(const std::string & path, int n_threads, ggml::Type kv_type) {
    gguf::File f = gguf::File::open(path);
    const std::string arch = f.architecture();
    std::unique_ptr<Model> m;
    if (arch == "diffusion-gemma") m.reset(new DiffusionGemma(std::move(f), n_threads, kv_type));
    else if (arch == "gemma3") m.reset(new Gemma3(std::move(f), n_threads, kv_type));
    else
        throw Error(strfmt("%s: unsupported architecture '%s' (general.architecture); supported: diffusion-gemma, gemma3",
                           path.c_str(), arch.empty() ? "<missing>" : arch.c_str()));
    m->init_layers();
    return m;
}

Model::Model(gguf::File && f, int n_threads, ggml::Type kv_type)
    : file_(std::move(f)), hp_(HParams::from_gguf(file_)), w_(Weights::load(file_, hp_)), cache_(hp_, kv_type) {
    if (n_threads > 0) {
        own_pool_ = std::make_unique<ggml::ThreadPool>(n_threads);
        pool_ = own_pool_.get();
    } else {
        pool_ = &ggml::ThreadPool::global();
    }
}

void Model::init_layers() {
    cfg_.clear();
    for (int il = 0; il < hp_.n_layer; ++il) cfg_.push_back(layer_config(il));
}

void Model::set_chunk_size(int64_t n) {
    if (n < 1) throw Error(strfmt("encoder chunk size must be >= 1, got %lld", (long long)n));
    chunk_ = n;
}

void Model::check_ids(const int32_t * ids, int64_t n, const char * what) const {
    for (int64_t i = 0; i < n; ++i)
        if (ids[i] < 0 || ids[i] >= hp_.n_vocab)
            throw Error(strfmt("%s: token id %d at index %lld is outside the vocabulary [0, %d)", what, ids[i],
                               (long long)i, hp_.n_vocab));
}

void Model::embed(const int32_t * ids, int64_t n, float * out) const {
    const int64_t H = hp_.n_embd;
    const float scale = (float)std::sqrt((double)H);  // HF: a buffer sqrt(H) in the weight dtype (f32 here)
    for (int64_t i = 0; i < n; ++i) {
        float * row = out + i * H;
        mat_get_row(w_.tok_embd, ids[i], row);
        for (int64_t j = 0; j < H; ++j) row[j] *= scale;
    }
}

void Model::lm_head(const float * x, int64_t n, float * logits) {
    const int64_t H = hp_.n_embd;
    std::vector<float> xn((size_t)(n * H));
    ggml::rms_norm(x, n, H, w_.output_norm.data(), hp_.eps, xn.data(), pool_);
    lm_project(xn.data(), n, logits);
}

void Model::lm_project(const float * xn, int64_t n, float * logits) {
    const int64_t H = hp_.n_embd, V = hp_.n_vocab;
    ggml::matmul(xn, n, H, w_.output.data, w_.output.type, V, logits, pool_);
    if (hp_.final_softcap > 0.0f) ggml::softcap(logits, n * V, hp_.final_softcap, logits, pool_);
}

void Model::capture_begin() {
    captured_.clear();
    if (capture_) captured_.resize((size_t)hp_.n_layer + 1);
}

void Model::capture_rows(int slot, const float * x, int64_t n) {
    if (!capture_) return;
    auto & v = captured_[(size_t)slot];
    v.insert(v.end(), x, x + n * hp_.n_embd);
}

void Model::encode(const int32_t * ids, int64_t n, int32_t pos0, float * last_logits) {
    if (n < 1) throw Error("encode: no tokens given");
    check_ids(ids, n, "encode");
    if (pos0 < 0) pos0 = cache_.next_pos();
    if ((int64_t)pos0 + n > INT32_MAX) throw Error(strfmt("encode: positions overflow (pos0 %d + %lld tokens)", pos0, (long long)n));
    const int64_t H = hp_.n_embd;
    capture_begin();

    std::vector<float> x;
    std::vector<int32_t> pos;
    for (int64_t c0 = 0; c0 < n; c0 += chunk_) {
        const int64_t S = std::min<int64_t>(chunk_, n - c0);
        const bool last_chunk = c0 + S == n;
        x.resize((size_t)(S * H));
        pos.resize((size_t)S);
        for (int64_t i = 0; i < S; ++i) pos[(size_t)i] = pos0 + (int32_t)(c0 + i);
        embed(ids + c0, S, x.data());
        capture_rows(0, x.data(), S);
        for (int il = 0; il < hp_.n_layer; ++il) {
            BlockArgs a;
            a.x = x.data();
            a.S = S;
            a.pos = pos.data();
            a.kv = &cache_.layer(il);
            a.decoder = false;
            a.layer_scalar = w_.layers[(size_t)il].scalar_enc;
            a.ffn_begin = 0;
            if (il == hp_.n_layer - 1 && !capture_) {
                // Only K/V of the last layer matter, unless the AR head needs the last token.
                a.ffn_begin = (last_chunk && last_logits) ? S - 1 : S;
            }
            block_forward(hp_, w_.layers[(size_t)il], cfg_[(size_t)il], a, scratch_, pool_);
            capture_rows(1 + il, x.data(), S);
        }
        cache_.advance(S, pos0 + (int32_t)(c0 + S));
        if (last_chunk && last_logits) lm_head(x.data() + (S - 1) * H, 1, last_logits);
    }
}

void Model::decode_canvas(const int32_t *, int64_t, const float *, float *) {
    throw Error(strfmt("decode_canvas: the %s architecture is autoregressive and has no canvas decoder; use "
                       "encode + ar_logits", model_arch_name(hp_.arch)));
}

void Model::decode_hidden(const int32_t *, int64_t, const float *, float *) {
    throw Error(strfmt("decode_hidden: the %s architecture is autoregressive and has no canvas decoder; use "
                       "encode + ar_logits", model_arch_name(hp_.arch)));
}

}  // namespace ld
