// Device buffers, vector tables and cross-backend transfers (see exec.h).
#include "model/exec.h"

#include <vector>

#include "common/error.h"

namespace ld {

DevBuf & DevBuf::operator=(DevBuf && o) noexcept {
    if (this != &o) {
        release();
        be_ = o.be_;
        p_ = o.p_;
        cap_ = o.cap_;
        o.p_ = nullptr;
        o.cap_ = 0;
    }
    return *this;
}

void * DevBuf::bytes(size_t n) {
    LD_ASSERT(be_);
    if (n <= cap_ && p_) return p_;
    size_t cap = cap_ ? cap_ : 256;
    while (cap < n) cap *= 2;
    release();
    p_ = be_->alloc(cap);
    cap_ = cap;
    return p_;
}

void DevBuf::release() {
    if (p_ && be_) be_->free(p_);
    p_ = nullptr;
    cap_ = 0;
}

VecTable::~VecTable() {
    for (auto & kv : copies_) be_->free(kv.second);
}

const float * VecTable::get(const float * host, size_t n) {
    if (!host) return nullptr;
    if (be_->host_visible()) return host;
    auto it = copies_.find(host);
    if (it != copies_.end()) return (const float *)it->second;
    void * d = be_->alloc(n * sizeof(float));
    be_->upload(d, host, n * sizeof(float));
    copies_.emplace(host, d);
    bytes_ += n * sizeof(float);
    return (const float *)d;
}

void transfer(ggml::Backend & from, const float * src, ggml::Backend & to, float * dst, int64_t n) {
    const size_t bytes = (size_t)n * sizeof(float);
    if (&from == &to) {
        from.copy(dst, src, bytes);
        return;
    }
    if (from.host_visible()) {
        from.synchronize();
        to.upload(dst, src, bytes);
    } else if (to.host_visible()) {
        to.synchronize();
        from.download(dst, src, bytes);
    } else {
        std::vector<float> host((size_t)n);
        from.download(host.data(), src, bytes);
        to.upload(dst, host.data(), bytes);
    }
}

}  // namespace ld
