// KV cache storage (see kv-cache.h): one growable row buffer per layer for K, V and positions.
#include "model/kv-cache.h"

#include <algorithm>
#include <cstring>
#include <string>
#include <vector>

#include "common/error.h"

namespace ld {

ggml::Type kv_type_from_name(const char * name) {
    const std::string s = name ? name : "";
    if (s == "f32" || s == "F32") return ggml::Type::F32;
    if (s == "f16" || s == "F16") return ggml::Type::F16;
    if (s == "q8_0" || s == "Q8_0") return ggml::Type::Q8_0;
    throw Error(strfmt("unknown KV cache type '%s' (supported: f32, f16, q8_0)", s.c_str()));
}

LayerKv::LayerKv(int64_t n_kv_head, int64_t head_dim, int64_t keep, ggml::Type type)
    : n_kv_head_(n_kv_head), head_dim_(head_dim), keep_(keep), type_(type) {
    if (type != ggml::Type::F32 && type != ggml::Type::F16 && type != ggml::Type::Q8_0)
        throw Error(strfmt("KV cache type %s is not supported (f32, f16, q8_0)", ggml::type_name((int32_t)type)));
    const int64_t bs = ggml::type_traits(type)->block_size;
    if (head_dim % bs != 0)
        throw Error(strfmt("KV cache type %s needs a head dim that is a multiple of %lld, the model has %lld",
                           ggml::type_name((int32_t)type), (long long)bs, (long long)head_dim));
    row_bytes_ = ggml::row_size(type, n_kv_head * head_dim);
}

LayerKv::~LayerKv() { release(); }

LayerKv::LayerKv(LayerKv && o) noexcept
    : n_kv_head_(o.n_kv_head_), head_dim_(o.head_dim_), keep_(o.keep_), type_(o.type_), row_bytes_(o.row_bytes_),
      cap_(o.cap_), n_cached_(o.n_cached_), n_staged_(o.n_staged_), be_(o.be_), k_(o.k_), v_(o.v_), pos_(o.pos_) {
    o.k_ = o.v_ = nullptr;
    o.pos_ = nullptr;
    o.cap_ = o.n_cached_ = o.n_staged_ = 0;
}

void LayerKv::release() {
    if (be_) {
        be_->free(k_);
        be_->free(v_);
        be_->free(pos_);
    }
    k_ = v_ = nullptr;
    pos_ = nullptr;
    cap_ = 0;
}

void LayerKv::place(ggml::Backend * be) {
    if (be == be_) return;
    if (n_cached_ + n_staged_ > 0) throw Error("KV cache: cannot move a layer's cache that holds rows to another backend");
    release();
    be_ = be;
}

void LayerKv::reserve_rows(int64_t rows) {
    if (rows <= cap_) return;
    if (!be_) throw Error("KV cache: the layer has no backend (internal: place() was not called)");
    int64_t cap = cap_ ? cap_ : 16;
    while (cap < rows) cap *= 2;
    auto * k = (uint8_t *)be_->alloc((size_t)cap * row_bytes_);
    auto * v = (uint8_t *)be_->alloc((size_t)cap * row_bytes_);
    auto * pos = (int32_t *)be_->alloc((size_t)cap * sizeof(int32_t));
    const int64_t keep = n_cached_ + n_staged_;
    if (keep > 0) {
        be_->copy(k, k_, (size_t)keep * row_bytes_);
        be_->copy(v, v_, (size_t)keep * row_bytes_);
        be_->copy(pos, pos_, (size_t)keep * sizeof(int32_t));
    }
    be_->free(k_);
    be_->free(v_);
    be_->free(pos_);
    k_ = k;
    v_ = v;
    pos_ = pos;
    cap_ = cap;
}

void LayerKv::stage(const float * k, const float * v, const int32_t * pos, int64_t n) {
    n_staged_ = 0;
    reserve_rows(n_cached_ + n);
    const int64_t w = n_kv_head_ * head_dim_;
    be_->store_rows(k, n, w, type_, k_ + (size_t)n_cached_ * row_bytes_);
    be_->store_rows(v, n, w, type_, v_ + (size_t)n_cached_ * row_bytes_);
    be_->copy(pos_ + n_cached_, pos, (size_t)n * sizeof(int32_t));
    n_staged_ = n;
}

void LayerKv::commit() {
    int64_t total = n_cached_ + n_staged_;
    n_staged_ = 0;
    if (keep_ > 0 && total > keep_) {
        const int64_t drop = total - keep_;
        be_->copy(k_, k_ + (size_t)drop * row_bytes_, (size_t)keep_ * row_bytes_);
        be_->copy(v_, v_ + (size_t)drop * row_bytes_, (size_t)keep_ * row_bytes_);
        be_->copy(pos_, pos_ + drop, (size_t)keep_ * sizeof(int32_t));
        total = keep_;
    }
    n_cached_ = total;
}

void LayerKv::get_row(const void * base, int64_t r, float * out) const {
    LD_ASSERT(r >= 0 && r < n_rows());
    const int64_t n = n_kv_head_ * head_dim_;
    std::vector<uint8_t> row(row_bytes_);
    be_->download(row.data(), (const uint8_t *)base + (size_t)r * row_bytes_, row_bytes_);
    ggml::type_traits(type_)->to_float(row.data(), out, n);
}

void LayerKv::get_k(int64_t r, float * out) const { get_row(k_, r, out); }
void LayerKv::get_v(int64_t r, float * out) const { get_row(v_, r, out); }

int32_t LayerKv::get_pos(int64_t r) const {
    LD_ASSERT(r >= 0 && r < n_rows());
    int32_t p = 0;
    be_->download(&p, pos_ + r, sizeof(int32_t));
    return p;
}

KvCache::KvCache(const HParams & hp, ggml::Type type) : type_(type) {
    layers_.reserve((size_t)hp.n_layer);
    for (int il = 0; il < hp.n_layer; ++il) {
        const int64_t keep = hp.is_swa[(size_t)il] ? std::max<int64_t>(hp.sliding_window - 1, 1) : 0;
        layers_.emplace_back(hp.n_kv_head[(size_t)il], hp.layer_head_dim(il), keep, type);
    }
}

void KvCache::clear() {
    for (auto & l : layers_) l.clear();
    n_tokens_ = 0;
    next_pos_ = 0;
}

size_t KvCache::bytes_allocated() const {
    size_t b = 0;
    for (const auto & l : layers_) b += l.bytes_allocated();
    return b;
}

}  // namespace ld
