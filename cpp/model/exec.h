// Where a part of a model pass runs: one backend (ld-ggml/backend.h) with its scratch buffers and the
// device copies of the model's small f32 vectors. The model code is written once against this; the
// CPU backend's buffers are host memory, so on the CPU nothing is copied (vectors and weights are used
// in place, the mmapped GGUF is the weight memory).
//
//   DevBuf     a growable scratch allocation on one backend (contents are not kept when it grows)
//   VecTable   host f32 vector -> the backend's copy of it (uploaded once, on first use; the host
//              pointer itself for host-visible backends)
//   Exec       backend + scratch + vectors: what block_forward and the passes take
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <unordered_map>

#include "ld-ggml/backend.h"
#include "model/weights.h"

namespace ld {

class DevBuf {
public:
    DevBuf() = default;
    explicit DevBuf(ggml::Backend * be) : be_(be) {}
    ~DevBuf() { release(); }
    DevBuf(DevBuf && o) noexcept : be_(o.be_), p_(o.p_), cap_(o.cap_) { o.p_ = nullptr; o.cap_ = 0; }
    DevBuf & operator=(DevBuf && o) noexcept;
    DevBuf(const DevBuf &) = delete;
    DevBuf & operator=(const DevBuf &) = delete;

    void bind(ggml::Backend * be) { release(); be_ = be; }
    // At least `bytes` bytes (grown by reallocation; previous contents are lost when it grows).
    void * bytes(size_t n);
    float * f32(int64_t n) { return (float *)bytes((size_t)n * sizeof(float)); }
    int32_t * i32(int64_t n) { return (int32_t *)bytes((size_t)n * sizeof(int32_t)); }
    size_t capacity() const { return cap_; }
    void release();

private:
    ggml::Backend * be_ = nullptr;
    void * p_ = nullptr;
    size_t cap_ = 0;
};

class VecTable {
public:
    explicit VecTable(ggml::Backend * be) : be_(be) {}
    ~VecTable();
    VecTable(const VecTable &) = delete;
    VecTable & operator=(const VecTable &) = delete;
    // The backend's copy of host[n] (nullptr for nullptr). Uploaded on first use, kept until destruction.
    const float * get(const float * host, size_t n);
    const float * get(const Vec & v) { return v.empty() ? nullptr : get(v.data(), v.size()); }
    size_t bytes() const { return bytes_; }

private:
    ggml::Backend * be_;
    std::unordered_map<const float *, void *> copies_;
    size_t bytes_ = 0;
};

// Reusable scratch of the block and the passes on one backend.
struct BlockScratch {
    explicit BlockScratch(ggml::Backend * be)
        : a(be), q(be), k(be), v(be), att(be), o(be), m(be), g(be), u(be), h(be), h2(be), z(be), logits(be),
          e(be), gu(be), act(be), wts(be), ids(be), x(be), x2(be), pos(be), tok(be) {}
    DevBuf a, q, k, v, att, o, m, g, u, h, h2, z, logits, e, gu, act, wts, ids;
    DevBuf x, x2;     // residual stream [S, H] (x) and a hand-over buffer (x2)
    DevBuf pos, tok;  // positions [S] and token ids [S] of the current pass
};

struct Exec {
    ggml::Backend * be = nullptr;
    BlockScratch * s = nullptr;
    VecTable * vecs = nullptr;

    const float * vec(const Vec & v) const { return vecs->get(v); }
    const float * vec(const float * host, size_t n) const { return vecs->get(host, n); }
    const void * mat(const Mat & m) const {
        return m.present() ? be->weight(m.data, m.type, m.ne[0], m.ne[1] * (m.ne[2] ? m.ne[2] : 1)) : nullptr;
    }
};

// One backend as the model uses it: the backend, its scratch and its vector copies.
struct ExecSlot {
    explicit ExecSlot(std::unique_ptr<ggml::Backend> b)
        : be(std::move(b)), scratch(be.get()), vecs(be.get()) {}
    std::unique_ptr<ggml::Backend> be;
    BlockScratch scratch;
    VecTable vecs;
    Exec exec() { return Exec{be.get(), &scratch, &vecs}; }
};

// Moves n floats of src (on `from`) into dst (on `to`); the same backend copies in place.
void transfer(ggml::Backend & from, const float * src, ggml::Backend & to, float * dst, int64_t n);

}  // namespace ld
