// The KV cache of the encoder (prefix) tokens: per layer the K (after k_norm and RoPE) and V (after
// v_norm) rows of every cached token with its absolute position.
//   * full layers keep every token;
//   * sliding layers keep the last W-1 tokens (HF DynamicCache semantics, docs/algorithm.md §5).
// Rows are stored as f32 (default), f16 or q8_0 (head_dim a multiple of 32), in the memory of the
// backend that runs the layer (place(); the CPU backend's memory is host memory).
//
// A pass first *stages* the K/V of its new tokens after the cached rows (so the attention kernel
// sees [cached ; new] as one key set), then the encoder *commits* them (sliding layers drop the
// oldest rows beyond W-1) while the decoder simply discards them: the decoder never changes the cache.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "ld-ggml/backend.h"
#include "ld-ggml/types.h"
#include "model/hparams.h"

namespace ld {

// Parses "f32" / "f16" / "q8_0"; throws ld::Error otherwise.
ggml::Type kv_type_from_name(const char * name);

class LayerKv {
public:
    LayerKv(int64_t n_kv_head, int64_t head_dim, int64_t keep /*0 = all*/, ggml::Type type);
    ~LayerKv();
    LayerKv(LayerKv && o) noexcept;
    LayerKv(const LayerKv &) = delete;
    LayerKv & operator=(const LayerKv &) = delete;
    LayerKv & operator=(LayerKv &&) = delete;

    // The backend whose memory holds the rows (required before the first stage(); moving an empty
    // cache only). The backend must outlive the cache.
    void place(ggml::Backend * be);
    ggml::Backend * backend() const { return be_; }

    int64_t n_kv_head() const { return n_kv_head_; }
    int64_t head_dim() const { return head_dim_; }
    ggml::Type type() const { return type_; }
    size_t row_bytes() const { return row_bytes_; }      // bytes of one token's K (or V) row
    int64_t n_cached() const { return n_cached_; }        // committed rows
    int64_t n_staged() const { return n_staged_; }

    // Appends n rows of K and V (f32 [n, n_kv_head*head_dim]) with positions pos[n] after the
    // committed rows (replacing any previous staging). All three in the backend's memory.
    void stage(const float * k, const float * v, const int32_t * pos, int64_t n);
    // The staged rows become cached; sliding layers keep the newest `keep` rows in total.
    void commit();
    void discard() { n_staged_ = 0; }
    void clear() { n_cached_ = n_staged_ = 0; }

    // Cached + staged rows as one key set for the attention kernel.
    const void * k_data() const { return k_; }          // backend memory
    const void * v_data() const { return v_; }
    const int32_t * pos_data() const { return pos_; }
    int64_t n_rows() const { return n_cached_ + n_staged_; }

    // Row r (< n_rows) dequantized to f32 [n_kv_head*head_dim] in host memory; its position.
    void get_k(int64_t r, float * out) const;
    void get_v(int64_t r, float * out) const;
    int32_t get_pos(int64_t r) const;

    size_t bytes_allocated() const { return (size_t)cap_ * (2 * row_bytes_ + sizeof(int32_t)); }

private:
    void reserve_rows(int64_t rows);
    void get_row(const void * base, int64_t r, float * out) const;
    void release();

    int64_t n_kv_head_, head_dim_, keep_;
    ggml::Type type_;
    size_t row_bytes_;
    int64_t cap_ = 0, n_cached_ = 0, n_staged_ = 0;
    ggml::Backend * be_ = nullptr;
    uint8_t * k_ = nullptr;     // [cap_ rows of row_bytes_] backend memory
    uint8_t * v_ = nullptr;
    int32_t * pos_ = nullptr;   // [cap_]
};

class KvCache {
public:
    KvCache(const HParams & hp, ggml::Type type);

    LayerKv & layer(int il) { return layers_[(size_t)il]; }
    const LayerKv & layer(int il) const { return layers_[(size_t)il]; }
    int n_layer() const { return (int)layers_.size(); }
    void place(int il, ggml::Backend * be) { layers_[(size_t)il].place(be); }
    ggml::Type type() const { return type_; }

    int64_t n_tokens() const { return n_tokens_; }    // tokens encoded so far (Lc)
    int32_t next_pos() const { return next_pos_; }     // position after the last encoded token
    void advance(int64_t n, int32_t next_pos) { n_tokens_ += n; next_pos_ = next_pos; }

    void clear();
    size_t bytes_allocated() const;

private:
    ggml::Type type_;
    std::vector<LayerKv> layers_;
    int64_t n_tokens_ = 0;
    int32_t next_pos_ = 0;
};

}  // namespace ld
