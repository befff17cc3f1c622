// The common part of the models: the GGUF file, hparams, weights, KV cache and thread pool, and
// the causal encoder pass (prefill) with its autoregressive head. DiffusionGemma adds the canvas
// decoder pass (diffusion-gemma.h); Gemma 3 only configures its blocks (gemma3.h).
//
// Encoder pass (spec §5): tokens at positions pos0.. (default: after the cached tokens), causal
// (sliding layers: the query and the W-1 previous tokens), processed in chunks of chunk_size()
// tokens so memory stays bounded; every layer's K/V is appended to the cache. Without an AR head
// request it skips the last layer's FFN and the final norm / LM head (only K/V matter).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "gguf/gguf-reader.h"
#include "ld-ggml/thread-pool.h"
#include "model/gemma4-block.h"
#include "model/hparams.h"
#include "model/kv-cache.h"
#include "model/weights.h"

namespace ld {

class Model {
public:
    // Opens a diffusion-gemma or gemma3 GGUF. n_threads <= 0: the process-wide pool.
    static std::unique_ptr<Model> open(const std::string & path, int n_threads = 0,
                                       ggml::Type kv_type = ggml::Type::F32);
    virtual ~Model() = default;
    Model(const Model &) = delete;
    Model & operator=(const Model &) = delete;

    const HParams & hparams() const { return hp_; }
    const Weights & weights() const { return w_; }
    const gguf::File & file() const { return file_; }
    KvCache & cache() { return cache_; }
    const KvCache & cache() const { return cache_; }
    int n_threads() const { return pool_->n_threads(); }

    int64_t chunk_size() const { return chunk_; }
    void set_chunk_size(int64_t n);

    // Encodes ids[n] at positions pos0.. (pos0 < 0: continue after the cache) and appends their
    // K/V to the cache. last_logits [n_vocab]: when non-null, receives the AR logits of the last token.
    void encode(const int32_t * ids, int64_t n, int32_t pos0, float * last_logits);

    // Canvas decoder pass: logits [C, n_vocab]. sc_logits [C, n_vocab] or nullptr. Only DiffusionGemma.
    virtual void decode_canvas(const int32_t * canvas, int64_t C, const float * sc_logits, float * logits);
    // The same pass up to the final norm: hidden [C, n_embd] (the vocab head's input), with the
    // self-conditioning input given as the expected embedding soft [C, n_embd] = Σ_v p_v E_v (or
    // nullptr). Only DiffusionGemma.
    virtual void decode_hidden(const int32_t * canvas, int64_t C, const float * soft, float * hidden);

    void reset() { cache_.clear(); }

    // Debugging: when enabled, every pass records its input stream and each layer's output
    // (rows appended over the encoder's chunks): captured()[0] = input [S, H], [1 + l] = layer l.
    void set_capture(bool on) { capture_ = on; }
    bool capture() const { return capture_; }
    const std::vector<std::vector<float>> & captured() const { return captured_; }

protected:
    Model(gguf::File && f, int n_threads, ggml::Type kv_type);
    void init_layers();                       // fills cfg_ from layer_config()
    virtual BlockConfig layer_config(int il) const = 0;

    void check_ids(const int32_t * ids, int64_t n, const char * what) const;
    void embed(const int32_t * ids, int64_t n, float * out) const;  // [n, H] = E[id]·sqrt(H)
    // logits[n, V] = softcap(rms(x)·output_norm · Eᵀ) for rows x[n, H].
    void lm_head(const float * x, int64_t n, float * logits);
    // logits[n, V] = softcap(xn · Eᵀ) for rows xn[n, H] that are already final-normed.
    void lm_project(const float * xn, int64_t n, float * logits);
    void capture_begin();
    void capture_rows(int slot, const float * x, int64_t n);

    gguf::File file_;
    HParams hp_;
    Weights w_;
    std::unique_ptr<ggml::ThreadPool> own_pool_;
    ggml::ThreadPool * pool_ = nullptr;
    KvCache cache_;
    std::vector<BlockConfig> cfg_;
    BlockScratch scratch_;
    int64_t chunk_ = 512;
    bool capture_ = false;
    std::vector<std::vector<float>> captured_;
};

}  // namespace ld
