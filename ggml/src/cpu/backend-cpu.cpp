// The CPU backend: today's kernels (cpu-matmul.h, cpu-nn.h, cpu-vocab-head.h) behind the Backend
// interface (backend.h). Its memory is host memory: alloc() is an aligned heap allocation, upload /
// download / copy are memcpy/memmove, and weight() hands back the memory-mapped GGUF bytes themselves
// (no copy). Also the simulated device "sim" (below). Every op forwards to the kernel with the backend's thread pool, so a model written against
// the interface runs exactly the code (and the bits) it ran when it called the kernels directly.
#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <memory>
#include <mutex>
#include <unordered_map>
#include <vector>

#include "cpu/backend-cpu.h"
#include "ld-ggml/backend.h"
#include "ld-ggml/cpu-features.h"
#include "ld-ggml/error.h"
#include "matmul-impl.h"

namespace ld::ggml {

namespace {

constexpr int64_t kElemChunk = 1 << 14;  // elements per task of the element-wise ops

class CpuBackend : public Backend {
public:
    explicit CpuBackend(ThreadPool * pool) : pool_(pool ? pool : &ThreadPool::global()) {}

    BackendKind kind() const override { return BackendKind::cpu; }
    std::string name() const override { return "cpu"; }
    std::string description() const override {
        return strfmt("%s kernels, %d threads", cpu_isa_name(cpu_isa()), pool_->n_threads());
    }
    bool host_visible() const override { return true; }

    void * alloc(size_t bytes) override {
        const size_t n = (bytes + 63) / 64 * 64;
        void * p = std::aligned_alloc(64, n ? n : 64);
        if (!p) throw Error(strfmt("cpu backend: cannot allocate %zu bytes", bytes));
        return p;
    }
    void free(void * p) noexcept override { std::free(p); }
    void upload(void * dst, const void * src, size_t bytes) override { if (bytes) std::memcpy(dst, src, bytes); }
    void download(void * dst, const void * src, size_t bytes) override { if (bytes) std::memcpy(dst, src, bytes); }
    void copy(void * dst, const void * src, size_t bytes) override { if (bytes && dst != src) std::memmove(dst, src, bytes); }
    void synchronize() override {}
    size_t memory_free() const override { return 0; }

    const void * weight(const void * host, Type, int64_t, int64_t) override { return host; }
    size_t weight_bytes() const override { return 0; }

    void set_weight_repack(WeightRepack r) override {
        std::lock_guard<std::mutex> lock(mu_);
        repack_ = std::move(r);
    }
    size_t repacked_bytes() const override {
        std::lock_guard<std::mutex> lock(mu_);
        size_t n = et_bytes_;  // the transposed embedding kept by vocab_head
        for (const auto & kv : repacked_) n += kv.second ? prepared_weight_bytes(*kv.second) : 0;
        return n;
    }

    bool supports_matmul(Type wtype) const override { return matmul_supports(wtype); }
    void matmul(const float * x, int64_t N, int64_t K, const void * w, Type wtype, int64_t M, float * y) override {
        if (const PreparedWeight * p = repacked(w, wtype, 1, M, K)) matmul_prepared(x, N, *p, y, pool_);
        else ggml::matmul(x, N, K, w, wtype, M, y, pool_);
    }
    void moe_matmul(const MoeArgs & a) override {
        const PreparedWeight * p = a.prepared ? nullptr : repacked(a.w, a.wtype, a.E, a.M, a.K);
        if (!p) return ggml::moe_matmul(a, pool_);
        MoeArgs b = a;
        b.prepared = p;
        ggml::moe_matmul(b, pool_);
    }
    void rms_norm(const float * x, int64_t n_rows, int64_t n, const float * weight, float eps, float * out) override {
        ggml::rms_norm(x, n_rows, n, weight, eps, out, pool_);
    }
    void rope_neox(float * x, int64_t n_tok, int64_t n_head, int64_t head_dim, const int32_t * pos,
                   const RopeParams & p) override {
        ggml::rope_neox(x, n_tok, n_head, head_dim, pos, p, pool_);
    }
    void geglu(const float * gate, const float * up, int64_t n_rows, int64_t n, int64_t ld_in, float * out) override {
        ggml::geglu(gate, up, n_rows, n, ld_in, out, pool_);
    }
    void softcap(const float * x, int64_t n, float cap, float * out) override { ggml::softcap(x, n, cap, out, pool_); }
    void softmax(const float * x, int64_t n_rows, int64_t n, float * out) override {
        ggml::softmax(x, n_rows, n, out, pool_);
    }
    void router_topk(const float * logits, int64_t n_tok, int64_t n_expert, int64_t k, const float * per_expert_scale,
                     int32_t * ids_out, float * weights_out) override {
        ggml::router_topk(logits, n_tok, n_expert, k, per_expert_scale, ids_out, weights_out, pool_);
    }
    void attention(const AttnArgs & a) override { ggml::attention(a, pool_); }

    void add(const float * a, const float * b, int64_t n, float * out) override {
        elementwise(n, [&](int64_t i0, int64_t i1) {
            for (int64_t i = i0; i < i1; ++i) out[i] = a[i] + b[i];
        });
    }
    void scale(const float * x, int64_t n, float s, float * out) override {
        elementwise(n, [&](int64_t i0, int64_t i1) {
            for (int64_t i = i0; i < i1; ++i) out[i] = x[i] * s;
        });
    }
    void get_rows(const void * w, Type wtype, int64_t ne0, int64_t n_rows, const int32_t * ids, int64_t n, float s,
                  float * out) override {
        const TypeTraits * tt = type_traits(wtype);
        if (!tt || !tt->to_float) throw Error(strfmt("get_rows: type %s cannot be read", type_name((int32_t)wtype)));
        const size_t rb = row_size(wtype, ne0);
        for (int64_t i = 0; i < n; ++i)
            if (ids[i] < 0 || ids[i] >= n_rows)
                throw Error(strfmt("get_rows: row id %d at index %lld outside [0, %lld)", ids[i], (long long)i,
                                   (long long)n_rows));
        pool_->parallel_for(n, [&](int64_t i, int) {
            float * row = out + i * ne0;
            tt->to_float((const uint8_t *)w + (size_t)ids[i] * rb, row, ne0);
            if (s != 1.0f)
                for (int64_t j = 0; j < ne0; ++j) row[j] *= s;
        });
    }
    void store_rows(const float * src, int64_t n, int64_t width, Type dst_type, void * dst) override {
        const size_t rb = row_size(dst_type, width);
        if (dst_type == Type::F32) {
            if (n) std::memcpy(dst, src, (size_t)n * rb);
            return;
        }
        const TypeTraits * tt = type_traits(dst_type);
        if (!tt || !tt->from_float_ref)
            throw Error(strfmt("store_rows: cannot store rows as %s", type_name((int32_t)dst_type)));
        for (int64_t i = 0; i < n; ++i) tt->from_float_ref(src + i * width, (uint8_t *)dst + (size_t)i * rb, width);
    }
    void vocab_head(const VocabHeadArgs & a) override {
        bool keep_et;
        {
            std::lock_guard<std::mutex> lock(mu_);
            keep_et = repack_.enabled;
        }
        if (!keep_et) return vocab_head_fused(a, pool_);
        // repacking on: the transposed embedding's panels are kept across steps too (EmbeddingTCache)
        std::lock_guard<std::mutex> lock(head_mu_);
        vocab_head_fused(a, pool_, 0, &et_cache_);
        std::lock_guard<std::mutex> lock2(mu_);
        et_bytes_ = et_cache_.bytes();
    }

private:
    template <typename F>
    void elementwise(int64_t n, F && f) {
        if (n <= kElemChunk) {
            f(0, n);
            return;
        }
        const int64_t tasks = (n + kElemChunk - 1) / kElemChunk;
        pool_->parallel_for(tasks, [&](int64_t t, int) { f(t * kElemChunk, std::min(n, (t + 1) * kElemChunk)); });
    }

    // The repacked form of weight w for the ISA in effect (made on its first use, WeightRepack), or nullptr:
    // repacking off, no prepared form within 7% of the weight's bytes for (ISA, type) (prepare_weight: the
    // panels themselves, or a compact form), or made for another ISA (w itself is then used).
    const PreparedWeight * repacked(const void * w, Type t, int64_t n_mats, int64_t M, int64_t K) {
        if (!w || n_mats <= 0 || M <= 0) return nullptr;
        std::lock_guard<std::mutex> lock(mu_);
        if (!repack_.enabled) return nullptr;
        const CpuIsa isa = cpu_isa();
        auto it = repacked_.find(w);
        if (it == repacked_.end()) {
            std::shared_ptr<const PreparedWeight> p;
            const bool kept = std::find(repack_.keep.begin(), repack_.keep.end(), w) != repack_.keep.end();
            if (!kept && prepared_weight_supported(isa, t, K)) {
                try {
                    p = prepare_weight(isa, w, t, n_mats, M, K, pool_);
                } catch (const Error &) {
                    p.reset();  // no memory for the copy: the mapped weight serves as before
                }
                if (p && repack_.release) repack_.release(w, row_size(t, K) * (size_t)(n_mats * M));
            }
            it = repacked_.emplace(w, std::move(p)).first;
        }
        const PreparedWeight * p = it->second.get();
        return p && p->isa == isa && p->wtype == t && p->K == K && p->M == M && p->n_mats == n_mats ? p : nullptr;
    }

protected:
    ThreadPool * pool_;
    mutable std::mutex mu_;
    WeightRepack repack_;
    std::unordered_map<const void *, std::shared_ptr<const PreparedWeight>> repacked_;
    std::mutex head_mu_;         // vocab_head with et_cache_
    EmbeddingTCache et_cache_;   // while repacking is on (vocab_head)
    size_t et_bytes_ = 0;        // its bytes (under mu_)
};

// The simulated device: the CPU kernels on memory the engine must treat as a discrete GPU's (nothing is
// host-visible, so every hand-over goes through upload/download, and weights are copied into the
// backend's own allocations at load time, as a GPU backend uploads them). It exists to test placement,
// hand-overs and the device-resident paths of the model on machines without a GPU; its results equal
// the CPU backend's bit for bit.
class SimBackend final : public CpuBackend {
public:
    explicit SimBackend(ThreadPool * pool) : CpuBackend(pool) {}
    ~SimBackend() override {
        for (auto & kv : weights_) std::free(kv.second);
    }
    BackendKind kind() const override { return BackendKind::sim; }
    std::string name() const override { return "sim"; }
    std::string description() const override {
        return "simulated discrete device: CPU kernels, separate memory (" + CpuBackend::description() + ")";
    }
    bool host_visible() const override { return false; }
    size_t memory_free() const override { return 0; }
    const void * weight(const void * host, Type type, int64_t ne0, int64_t n_rows) override {
        auto it = weights_.find(host);
        if (it != weights_.end()) return it->second;
        const size_t bytes = row_size(type, ne0) * (size_t)n_rows;
        void * d = alloc(bytes);
        std::memcpy(d, host, bytes);
        weights_.emplace(host, d);
        weight_bytes_ += bytes;
        return d;
    }
    size_t weight_bytes() const override { return weight_bytes_; }

    // Op capture with the semantics of a CUDA graph (backend.h), so the engine's capture path is tested
    // without a GPU: while capturing, ops are recorded as closures over their arguments, not run;
    // replay runs them in order with exactly those arguments.
    bool supports_capture() const override { return true; }
    void capture_begin() override {
        if (capturing_) throw Error("sim: capture_begin: a capture is already open");
        capturing_ = true;
        recording_.clear();
    }
    int capture_end() override {
        if (!capturing_) throw Error("sim: capture_end: no capture is open");
        capturing_ = false;
        graphs_.emplace(next_id_, std::move(recording_));
        recording_.clear();
        return next_id_++;
    }
    void replay(int id) override {
        no_capture("replay");
        auto it = graphs_.find(id);
        if (it == graphs_.end()) throw Error(strfmt("sim: replay: no captured graph %d", id));
        for (const auto & op : it->second) op();
        ++replays_;
    }
    void capture_release(int id) noexcept override { graphs_.erase(id); }

    void upload(void * dst, const void * src, size_t bytes) override { no_capture("upload"); CpuBackend::upload(dst, src, bytes); }
    void download(void * dst, const void * src, size_t bytes) override { no_capture("download"); CpuBackend::download(dst, src, bytes); }
    void synchronize() override { no_capture("synchronize"); }
    void copy(void * dst, const void * src, size_t bytes) override { rec([=] { CpuBackend::copy(dst, src, bytes); }); }
    void matmul(const float * x, int64_t N, int64_t K, const void * w, Type wtype, int64_t M, float * y) override {
        rec([=] { CpuBackend::matmul(x, N, K, w, wtype, M, y); });
    }
    void moe_matmul(const MoeArgs & a) override { rec([=] { CpuBackend::moe_matmul(a); }); }
    void rms_norm(const float * x, int64_t n_rows, int64_t n, const float * w, float eps, float * out) override {
        rec([=] { CpuBackend::rms_norm(x, n_rows, n, w, eps, out); });
    }
    void rope_neox(float * x, int64_t n_tok, int64_t n_head, int64_t head_dim, const int32_t * pos,
                   const RopeParams & p) override {
        rec([=] { CpuBackend::rope_neox(x, n_tok, n_head, head_dim, pos, p); });
    }
    void geglu(const float * gate, const float * up, int64_t n_rows, int64_t n, int64_t ld_in, float * out) override {
        rec([=] { CpuBackend::geglu(gate, up, n_rows, n, ld_in, out); });
    }
    void softcap(const float * x, int64_t n, float cap, float * out) override { rec([=] { CpuBackend::softcap(x, n, cap, out); }); }
    void softmax(const float * x, int64_t n_rows, int64_t n, float * out) override {
        rec([=] { CpuBackend::softmax(x, n_rows, n, out); });
    }
    void router_topk(const float * logits, int64_t n_tok, int64_t n_expert, int64_t k, const float * scale,
                     int32_t * ids, float * wts) override {
        rec([=] { CpuBackend::router_topk(logits, n_tok, n_expert, k, scale, ids, wts); });
    }
    void attention(const AttnArgs & a) override { rec([=] { CpuBackend::attention(a); }); }
    void add(const float * a, const float * b, int64_t n, float * out) override { rec([=] { CpuBackend::add(a, b, n, out); }); }
    void scale(const float * x, int64_t n, float s, float * out) override { rec([=] { CpuBackend::scale(x, n, s, out); }); }
    void get_rows(const void * w, Type wtype, int64_t ne0, int64_t n_rows, const int32_t * ids, int64_t n, float s,
                  float * out) override {
        rec([=] { CpuBackend::get_rows(w, wtype, ne0, n_rows, ids, n, s, out); });
    }
    void store_rows(const float * src, int64_t n, int64_t width, Type t, void * dst) override {
        rec([=] { CpuBackend::store_rows(src, n, width, t, dst); });
    }
    void vocab_head(const VocabHeadArgs & a) override { rec([=] { CpuBackend::vocab_head(a); }); }

private:
    template <typename F>
    void rec(F && f) {
        if (capturing_) recording_.emplace_back(std::forward<F>(f));
        else f();
    }
    void no_capture(const char * op) const {
        if (capturing_) throw Error(std::string("sim: ") + op + " is not allowed while ops are being captured");
    }

    std::unordered_map<const void *, void *> weights_;
    size_t weight_bytes_ = 0;
    bool capturing_ = false;
    std::vector<std::function<void()>> recording_;
    std::unordered_map<int, std::vector<std::function<void()>>> graphs_;
    int next_id_ = 1;
    int64_t replays_ = 0;
};

}  // namespace

std::unique_ptr<Backend> cpu_backend_create(ThreadPool * pool) { return std::make_unique<CpuBackend>(pool); }
std::unique_ptr<Backend> sim_backend_create(ThreadPool * pool) { return std::make_unique<SimBackend>(pool); }

}  // namespace ld::ggml
