// KV cache storage (see kv-cache.h): one growable row buffer per layer for K, V and positions.
#include "model/kv-cache.h"

#include <algorithm>
#include <cstring>
#include <string>

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

void LayerKv::reserve_rows(int64_t rows) {
    if (rows <= cap_) return;
    int64_t cap = cap_ ? cap_ : 16;
    while (cap < rows) cap *= 2;
    k_.resize((size_t)cap * row_bytes_);
    v_.resize((size_t)cap * row_bytes_);
    pos_.resize((size_t)cap);
    cap_ = cap;
}

void LayerKv::store(const float * src, uint8_t * dst) const {
    const int64_t n = n_kv_head_ * head_dim_;
    if (type_ == ggml::Type::F32) std::memcpy(dst, src, (size_t)n * sizeof(float));
    else ggml::type_traits(type_)->from_float_ref(src, dst, n);
}

void LayerKv::stage(const float * k, const float * v, const int32_t * pos, int64_t n) {
    reserve_rows(n_cached_ + n);
    const int64_t w = n_kv_head_ * head_dim_;
    for (int64_t i = 0; i < n; ++i) {
        const size_t r = (size_t)(n_cached_ + i);
        store(k + i * w, k_.data() + r * row_bytes_);
        store(v + i * w, v_.data() + r * row_bytes_);
        pos_[r] = pos[i];
    }
    n_staged_ = n;
}

void LayerKv::commit() {
    int64_t total = n_cached_ + n_staged_;
    n_staged_ = 0;
    if (keep_ > 0 && total > keep_) {
        const int64_t drop = total - keep_;
        std::memmove(k_.data(), k_.data() + (size_t)drop * row_bytes_, (size_t)keep_ * row_bytes_);
        std::memmove(v_.data(), v_.data() + (size_t)drop * row_bytes_, (size_t)keep_ * row_bytes_);
        std::memmove(pos_.data(), pos_.data() + drop, (size_t)keep_ * sizeof(int32_t));
        total = keep_;
    }
    n_cached_ = total;
}

void LayerKv::get_k(int64_t r, float * out) const {
    LD_ASSERT(r >= 0 && r < n_rows());
    const int64_t n = n_kv_head_ * head_dim_;
    ggml::type_traits(type_)->to_float(k_.data() + (size_t)r * row_bytes_, out, n);
}

void LayerKv::get_v(int64_t r, float * out) const {
    LD_ASSERT(r >= 0 && r < n_rows());
    const int64_t n = n_kv_head_ * head_dim_;
    ggml::type_traits(type_)->to_float(v_.data() + (size_t)r * row_bytes_, out, n);
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
