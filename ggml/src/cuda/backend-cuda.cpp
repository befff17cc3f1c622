// The CUDA backend (ld-ggml/backend.h) on one device: device memory from the stream-ordered allocator
// (a pool that keeps its memory: scratch of an op costs no cudaMalloc after the first step), one
// non-blocking stream on which every op is enqueued in call order, weights uploaded once per host
// pointer, and the ops as launches of the kernels in this folder (ops.h). Every CUDA error becomes a
// ggml::Error naming the call and the op.
//
// Weights: stored on the device in their GGUF form. The types with native kernels (F32, F16, BF16, Q8_0,
// Q5_0, Q4_K, Q6_K) are used as they are; every other type also gets an F16 copy ("shadow", dequantized
// on the host with the reference decoder at upload), which its matmul / get_rows / vocab head read
// through the float kernels: the dequantize-then-GEMM fallback (F16 rounding of the values: relative
// error <= 2^-11 per weight).
#include <cuda_runtime_api.h>

#include <algorithm>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>
#include <vector>

#include "../backend-cuda.h"
#include "ld-ggml/error.h"
#include "ld-ggml/fp16.h"
#include "ops.h"
#include "probe.h"

namespace ld::ggml::detail {

namespace {

namespace cu = ld::ggml::cuda;

void ck(cudaError_t err, const char * call, const char * op) {
    if (err == cudaSuccess) return;
    (void)cudaGetLastError();
    throw Error(std::string("cuda: ") + op + ": " + call + " failed: " + cudaGetErrorName(err) + " (" +
                cudaGetErrorString(err) + ")");
}
#define CK(call, op) ck((call), #call, (op))

std::string gib(size_t bytes) { return strfmt("%.1f GiB", (double)bytes / (1024.0 * 1024.0 * 1024.0)); }

bool decodes_natively(Type t) {
    return t == Type::F32 || t == Type::F16 || t == Type::BF16 || cu::mmq_supports(t);
}

class CudaBackend final : public Backend {
public:
    explicit CudaBackend(int device) : dev_(device) {
        CK(cudaSetDevice(dev_), "create");
        cudaDeviceProp prop;
        CK(cudaGetDeviceProperties(&prop, dev_), "create");
        name_ = strfmt("cuda:%d", dev_);
        desc_ = strfmt("%s (sm_%d%d, %s)", prop.name, prop.major, prop.minor, gib(prop.totalGlobalMem).c_str());
        CK(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking), "create");
        cudaMemPool_t pool;
        CK(cudaDeviceGetDefaultMemPool(&pool, dev_), "create");
        uint64_t keep = UINT64_MAX;
        CK(cudaMemPoolSetAttribute(pool, cudaMemPoolAttrReleaseThreshold, &keep), "create");
    }

    ~CudaBackend() override {
        cudaSetDevice(dev_);
        if (capturing_) {
            cudaGraph_t g = nullptr;
            cudaStreamEndCapture(stream_, &g);
            if (g) cudaGraphDestroy(g);
        }
        cudaStreamSynchronize(stream_);
        for (auto & kv : graphs_) cudaGraphExecDestroy(kv.second);
        for (auto & kv : et_) cudaFree(kv.second);
        for (auto & kv : weights_) {
            cudaFree(kv.second.dev);
            if (kv.second.shadow) cudaFree(kv.second.shadow);
        }
        cudaStreamDestroy(stream_);
    }

    BackendKind kind() const override { return BackendKind::cuda; }
    std::string name() const override { return name_; }
    std::string description() const override { return desc_; }
    bool host_visible() const override { return false; }

    // ---- buffers ----------------------------------------------------------------------------------
    void * alloc(size_t bytes) override {
        if (bytes == 0) throw Error("cuda: alloc: size 0");
        dev();
        void * p = nullptr;
        const cudaError_t err = cudaMallocAsync(&p, bytes, stream_);
        if (err != cudaSuccess) {
            (void)cudaGetLastError();
            throw Error(strfmt("cuda: alloc: %zu bytes failed (%s; %s free on %s)", bytes, cudaGetErrorString(err),
                               gib(memory_free()).c_str(), name_.c_str()));
        }
        return p;
    }
    void free(void * p) noexcept override {
        if (!p) return;
        cudaSetDevice(dev_);
        cudaFreeAsync(p, stream_);
    }
    void upload(void * dst, const void * src, size_t bytes) override {
        not_capturing("upload");
        if (!bytes) return;
        dev();
        CK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyHostToDevice, stream_), "upload");
        CK(cudaStreamSynchronize(stream_), "upload");
    }
    void download(void * dst, const void * src, size_t bytes) override {
        not_capturing("download");
        if (!bytes) return;
        dev();
        CK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToHost, stream_), "download");
        CK(cudaStreamSynchronize(stream_), "download");
    }
    void copy(void * dst, const void * src, size_t bytes) override {
        if (!bytes || dst == src) return;
        dev();
        const char * d = (const char *)dst, * s = (const char *)src;
        if (d + bytes <= s || s + bytes <= d) {
            CK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToDevice, stream_), "copy");
            return;
        }
        // overlapping ranges (memmove): through a temporary
        void * tmp = alloc(bytes);
        CK(cudaMemcpyAsync(tmp, src, bytes, cudaMemcpyDeviceToDevice, stream_), "copy");
        CK(cudaMemcpyAsync(dst, tmp, bytes, cudaMemcpyDeviceToDevice, stream_), "copy");
        free(tmp);
    }
    void synchronize() override {
        not_capturing("synchronize");
        dev();
        CK(cudaStreamSynchronize(stream_), "synchronize");
    }
    size_t memory_free() const override {
        size_t f = 0, t = 0;
        cudaSetDevice(dev_);
        if (cudaMemGetInfo(&f, &t) != cudaSuccess) {
            (void)cudaGetLastError();
            return 0;
        }
        return f;
    }

    // ---- weights ----------------------------------------------------------------------------------
    const void * weight(const void * host, Type type, int64_t ne0, int64_t n_rows) override {
        std::lock_guard<std::mutex> lock(mu_);
        auto it = weights_.find(host);
        if (it != weights_.end()) return it->second.dev;
        not_capturing("weight");
        const TypeTraits * tr = type_traits(type);
        if (!host || !tr || ne0 <= 0 || n_rows < 0 || ne0 % tr->block_size != 0)
            throw Error(strfmt("cuda: weight: bad tensor (type %s, %lld x %lld)", type_name((int32_t)type),
                               (long long)ne0, (long long)n_rows));
        dev();
        const size_t rb = row_size(type, ne0), bytes = rb * (size_t)std::max<int64_t>(n_rows, 1);
        Weight w;
        w.type = type;
        w.ne0 = ne0;
        w.n_rows = n_rows;
        w.bytes = bytes;
        CK(cudaMalloc(&w.dev, bytes), "weight");
        CK(cudaMemcpy(w.dev, host, rb * (size_t)n_rows, cudaMemcpyHostToDevice), "weight");
        weight_bytes_ += bytes;
        if (!decodes_natively(type)) {
            if (!tr->to_float)
                throw Error(strfmt("cuda: weight: type %s cannot be read by this engine", type_name((int32_t)type)));
            make_shadow(w, host, tr);
        }
        auto & slot = weights_[host];
        slot = w;
        by_dev_[(uintptr_t)slot.dev] = &slot;
        return slot.dev;
    }
    size_t weight_bytes() const override { return weight_bytes_; }

    // ---- ops --------------------------------------------------------------------------------------
    bool supports_matmul(Type wtype) const override {
        const TypeTraits * tr = type_traits(wtype);
        return tr && tr->to_float && (decodes_natively(wtype) || tr->quantized);
    }

    void matmul(const float * x, int64_t N, int64_t K, const void * w, Type wtype, int64_t M, float * y) override {
        const char * op = "matmul";
        check_mm(op, x, N, K, w, wtype, M, y);
        if (N == 0 || M == 0) return;
        dev();
        const Resolved r = resolve(op, w, wtype, K);
        cu::GemmCols c;
        c.n_cols = N;
        gemm(op, x, N, K, r, M, c, y);
    }

    void moe_matmul(const MoeArgs & a) override {
        const char * op = "moe_matmul";
        if (a.N < 0 || a.top_k < 1 || a.E < 1 || a.E > 8192 || a.M < 0)
            throw Error(strfmt("cuda: moe_matmul: bad shape N=%lld top_k=%lld E=%lld (1..8192) M=%lld", (long long)a.N,
                               (long long)a.top_k, (long long)a.E, (long long)a.M));
        check_mm(op, a.x, a.N, a.K, a.w, a.wtype, a.M, a.y);
        if (a.N > 0 && !a.ids) throw Error("cuda: moe_matmul: null ids");
        if (a.N == 0 || a.M == 0) return;
        dev();
        const Resolved r = resolve(op, a.w, a.wtype, a.K);
        const int64_t S = a.N * a.top_k;
        Scratch idx(this, (size_t)(S + 2 * (a.E + 1)) * sizeof(int32_t));
        int32_t * perm = (int32_t *)idx.p;
        int32_t * col_off = perm + S;
        int32_t * tile_off = col_off + a.E + 1;
        cu::moe_sort(a.ids, S, a.E, perm, col_off, tile_off, stream_);
        cu::GemmCols c;
        c.n_cols = S;
        c.perm = perm;
        c.col_off = col_off;
        c.tile_off = tile_off;
        c.E = a.E;
        c.max_tiles = (S + cu::GEMM_TILE_N - 1) / cu::GEMM_TILE_N + a.E;
        c.top_k = a.top_k;
        c.x_per_slot = a.x_per_slot;
        c.w_expert_bytes = r.row_bytes * (size_t)a.M;
        std::unique_ptr<Scratch> tmp;
        float * out = a.y;
        if (a.rw) {
            tmp = std::make_unique<Scratch>(this, (size_t)(S * a.M) * sizeof(float));
            out = (float *)tmp->p;
        }
        CK(cudaMemsetAsync(out, 0, (size_t)(S * a.M) * sizeof(float), stream_), op);  // slots of dropped ids
        gemm(op, a.x, a.x_per_slot ? S : a.N, a.K, r, a.M, c, out);
        if (a.rw) cu::moe_reduce(out, a.rw, a.N, a.top_k, a.M, a.y, stream_);
    }

    void rms_norm(const float * x, int64_t n_rows, int64_t n, const float * weight, float eps, float * out) override {
        rows_check("rms_norm", x, out, n_rows, n);
        if (!(eps >= 0.0f)) throw Error(strfmt("cuda: rms_norm: eps must be >= 0, got %g", (double)eps));
        dev();
        cu::rms_norm(x, n_rows, n, weight, eps, out, stream_);
    }

    void rope_neox(float * x, int64_t n_tok, int64_t n_head, int64_t head_dim, const int32_t * pos,
                   const RopeParams & p) override {
        const int64_t n_rot = p.n_rot == 0 ? head_dim : p.n_rot;
        if (n_tok < 0 || n_head < 0 || head_dim <= 0 || n_rot <= 0 || n_rot % 2 != 0 || n_rot > head_dim)
            throw Error(strfmt("cuda: rope_neox: bad shape n_tok=%lld n_head=%lld head_dim=%lld n_rot=%lld",
                               (long long)n_tok, (long long)n_head, (long long)head_dim, (long long)n_rot));
        if (n_tok * n_head > 0 && (!x || !pos)) throw Error("cuda: rope_neox: null x or pos");
        dev();
        cu::rope_neox(x, n_tok, n_head, head_dim, pos, n_rot, p.theta_base, p.freq_factors, p.inv_freq, stream_);
    }

    void geglu(const float * gate, const float * up, int64_t n_rows, int64_t n, int64_t ld_in, float * out) override {
        if (n_rows < 0 || n < 0 || ld_in < n) throw Error("cuda: geglu: bad shape (need ld_in >= n >= 0)");
        if (n_rows * n > 0 && (!gate || !up || !out)) throw Error("cuda: geglu: null pointer");
        dev();
        cu::geglu(gate, up, n_rows, n, ld_in, out, stream_);
    }

    void softcap(const float * x, int64_t n, float cap, float * out) override {
        rows_check("softcap", x, out, 1, n);
        if (!(cap > 0.0f)) throw Error(strfmt("cuda: softcap: cap must be > 0, got %g", (double)cap));
        dev();
        cu::softcap(x, n, cap, out, stream_);
    }

    void softmax(const float * x, int64_t n_rows, int64_t n, float * out) override {
        rows_check("softmax", x, out, n_rows, n);
        dev();
        cu::softmax(x, n_rows, n, out, stream_);
    }

    void router_topk(const float * logits, int64_t n_tok, int64_t n_expert, int64_t k, const float * per_expert_scale,
                     int32_t * ids_out, float * weights_out) override {
        if (n_tok < 0 || n_expert <= 0 || n_expert > 8192)
            throw Error(strfmt("cuda: router_topk: bad shape [%lld, %lld]", (long long)n_tok, (long long)n_expert));
        if (k < 1 || k > n_expert)
            throw Error(strfmt("cuda: router_topk: k = %lld must be in [1, n_expert = %lld]", (long long)k,
                               (long long)n_expert));
        if (n_tok > 0 && (!logits || !ids_out || !weights_out)) throw Error("cuda: router_topk: null pointer");
        dev();
        cu::router_topk(logits, n_tok, n_expert, k, per_expert_scale, ids_out, weights_out, stream_);
    }

    void attention(const AttnArgs & a) override {
        attention_validate(a);
        dev();
        cu::attention(a, stream_);
    }

    void add(const float * a, const float * b, int64_t n, float * out) override {
        if (n < 0 || (n > 0 && (!a || !b || !out))) throw Error("cuda: add: bad arguments");
        dev();
        cu::add(a, b, n, out, stream_);
    }

    void scale(const float * x, int64_t n, float s, float * out) override {
        rows_check("scale", x, out, 1, n);
        dev();
        cu::scale(x, n, s, out, stream_);
    }

    void get_rows(const void * w, Type wtype, int64_t ne0, int64_t n_rows, const int32_t * ids, int64_t n, float s,
                  float * out) override {
        const char * op = "get_rows";
        if (n < 0 || ne0 <= 0 || n_rows < 0) throw Error("cuda: get_rows: bad shape");
        if (n == 0) return;
        if (!w || !ids || !out) throw Error("cuda: get_rows: null pointer");
        dev();
        const Resolved r = resolve(op, w, wtype, ne0);
        cu::get_rows(r.w, r.type, ne0, r.row_bytes, ids, n, s, out, stream_);
    }

    void store_rows(const float * src, int64_t n, int64_t width, Type dst_type, void * dst) override {
        if (dst_type != Type::F32 && dst_type != Type::F16 && dst_type != Type::Q8_0)
            throw Error(strfmt("cuda: store_rows: unsupported type %s (F32, F16, Q8_0)", type_name((int32_t)dst_type)));
        if (n < 0 || width <= 0 || (dst_type == Type::Q8_0 && width % 32 != 0))
            throw Error(strfmt("cuda: store_rows: bad shape n=%lld width=%lld", (long long)n, (long long)width));
        if (n > 0 && (!src || !dst)) throw Error("cuda: store_rows: null pointer");
        dev();
        cu::store_rows(src, n, width, dst_type, dst, stream_);
    }

    void vocab_head(const VocabHeadArgs & a) override {
        const char * op = "vocab_head";
        if (a.C < 0 || a.H <= 0 || a.V <= 0 || a.V > (1 << 20))
            throw Error(strfmt("cuda: vocab_head: bad shape C=%lld H=%lld V=%lld (V <= 2^20)", (long long)a.C,
                               (long long)a.H, (long long)a.V));
        if (!(a.temperature > 0.0f)) throw Error("cuda: vocab_head: temperature must be > 0");
        if (a.C == 0) return;
        if (!a.hidden || !a.out_w || !a.argmax || !a.draw || !a.entropy || (a.soft && !a.embd))
            throw Error("cuda: vocab_head: null pointer");
        dev();
        const Resolved ro = resolve(op, a.out_w, a.out_type, a.H);
        Resolved re;
        if (a.soft) re = resolve(op, a.embd, a.embd_type, a.H);
        const int64_t TV = std::min<int64_t>(a.V, 8192), TVp = (TV + 31) / 32 * 32;
        // soft as the CPU head computes it: exactly for an F32 embedding, else through a Q8_0 Eᵀ (int8 mma)
        const bool int8_soft = a.soft && re.type != Type::F32;
        const int64_t Vp = (a.V + 31) / 32 * 32;
        const uint8_t * et = int8_soft ? (const uint8_t *)embedding_t(re, a.H, a.V, Vp) : nullptr;
        const size_t et_row = (size_t)(Vp / 32) * 34;
        Scratch state(this, sizeof(cu::HeadState) * (size_t)a.C);
        Scratch tile(this, sizeof(float) * (size_t)(a.C * TV));
        std::unique_ptr<Scratch> wts, y;
        if (int8_soft) {
            wts = std::make_unique<Scratch>(this, sizeof(float) * (size_t)(a.C * TVp));
            y = std::make_unique<Scratch>(this, sizeof(float) * (size_t)(a.C * a.H));
        }
        cu::HeadState * st = (cu::HeadState *)state.p;
        float * lg = (float *)tile.p;
        cu::head_init(st, a.C, a.soft, a.H, stream_);
        // the hidden states quantized once for every tile (int8 path)
        std::unique_ptr<Scratch> qa;
        if (cu::mmq_supports(ro.type)) qa = quantize(op, a.hidden, a.C, a.H, cu::mmq_group(ro.type));
        for (int64_t v0 = 0; v0 < a.V; v0 += TV) {
            const int64_t tv = std::min(TV, a.V - v0), tvp = (tv + 31) / 32 * 32;
            Resolved rt = ro;
            rt.w = (const uint8_t *)ro.w + (size_t)v0 * ro.row_bytes;
            cu::GemmCols c;
            c.n_cols = a.C;
            gemm(op, a.hidden, a.C, a.H, rt, tv, c, lg, qa.get());
            float * w = int8_soft ? (float *)wts->p : lg;
            cu::head_tile_stats(lg, a.C, tv, v0, a.softcap, a.temperature, a.sample, a.seed, a.canvas_key,
                                a.step_key, st, w, int8_soft ? tvp : tv, stream_);
            if (!a.soft) continue;
            if (int8_soft) {
                auto qw = quantize(op, w, a.C, tvp, 32);
                const size_t qb = ((size_t)(a.C * tvp) + 255) / 256 * 256, nb = (size_t)(a.C * (tvp / 32)) * sizeof(float);
                cu::mmq(Type::Q8_0, (const int8_t *)qw->p, (const float *)((char *)qw->p + qb),
                        (const float *)((char *)qw->p + qb + nb), tvp, et + (size_t)(v0 / 32) * 34, a.H, c,
                        (float *)y->p, stream_, et_row);
                cu::head_soft_axpy(st, (const float *)y->p, a.C, a.H, a.soft, stream_);
            } else {
                cu::head_tile_soft(lg, tv, a.C, tv, (const uint8_t *)re.w + (size_t)v0 * re.row_bytes, re.type,
                                   re.row_bytes, a.H, st, a.soft, stream_);
            }
        }
        cu::head_finish(st, a.C, a.sample, a.argmax, a.draw, a.entropy, a.soft, a.H, stream_);
    }

    // ---- capture (CUDA graphs) ------------------------------------------------------------------------
    bool supports_capture() const override { return true; }
    void capture_begin() override {
        if (capturing_) throw Error("cuda: capture_begin: a capture is already open");
        dev();
        CK(cudaStreamBeginCapture(stream_, cudaStreamCaptureModeThreadLocal), "capture_begin");
        capturing_ = true;
    }
    int capture_end() override {
        if (!capturing_) throw Error("cuda: capture_end: no capture is open");
        dev();
        capturing_ = false;
        cudaGraph_t g = nullptr;
        CK(cudaStreamEndCapture(stream_, &g), "capture_end");  // fails when an op failed inside the capture
        cudaGraphExec_t exec = nullptr;
        const cudaError_t err = cudaGraphInstantiate(&exec, g, 0);
        cudaGraphDestroy(g);
        CK(err, "capture_end");
        const int id = next_graph_++;
        graphs_[id] = exec;
        return id;
    }
    void replay(int id) override {
        not_capturing("replay");
        auto it = graphs_.find(id);
        if (it == graphs_.end()) throw Error(strfmt("cuda: replay: no captured graph %d", id));
        dev();
        CK(cudaGraphLaunch(it->second, stream_), "replay");
    }
    void capture_release(int id) noexcept override {
        auto it = graphs_.find(id);
        if (it == graphs_.end()) return;
        cudaSetDevice(dev_);
        cudaStreamSynchronize(stream_);
        cudaGraphExecDestroy(it->second);
        graphs_.erase(it);
    }

private:
    void not_capturing(const char * op) const {
        if (capturing_) throw Error(std::string("cuda: ") + op + " is not allowed while ops are being captured");
    }

    struct Weight {
        Type type = Type::F32;
        int64_t ne0 = 0, n_rows = 0;
        size_t bytes = 0;
        void * dev = nullptr;
        uint16_t * shadow = nullptr;  // F16 copy for the types without native kernels
    };
    // A weight (or part of one) as the kernels read it.
    struct Resolved {
        const void * w = nullptr;
        Type type = Type::F32;
        size_t row_bytes = 0;
    };
    // Stream-ordered scratch memory, freed (in stream order) when the op returns.
    struct Scratch {
        CudaBackend * b;
        void * p;
        Scratch(CudaBackend * be, size_t bytes) : b(be), p(be->alloc(bytes ? bytes : 1)) {}
        ~Scratch() { b->free(p); }
        Scratch(const Scratch &) = delete;
        Scratch & operator=(const Scratch &) = delete;
    };

    void dev() const { ck(cudaSetDevice(dev_), "cudaSetDevice", name_.c_str()); }

    static void rows_check(const char * op, const float * x, const float * out, int64_t n_rows, int64_t n) {
        if (n_rows < 0 || n < 0) throw Error(strfmt("cuda: %s: bad shape [%lld, %lld]", op, (long long)n_rows, (long long)n));
        if (n_rows * n > 0 && (!x || !out)) throw Error(strfmt("cuda: %s: null pointer", op));
    }

    void check_mm(const char * op, const float * x, int64_t N, int64_t K, const void * w, Type t, int64_t M,
                  const float * y) const {
        const TypeTraits * tr = type_traits(t);
        if (!tr || !supports_matmul(t))
            throw Error(strfmt("cuda: %s: unsupported weight type %s", op, type_name((int32_t)t)));
        if (N < 0 || M < 0 || K <= 0 || K % tr->block_size != 0)
            throw Error(strfmt("cuda: %s: bad shape N=%lld K=%lld M=%lld (K a multiple of %lld for %s)", op,
                               (long long)N, (long long)K, (long long)M, (long long)tr->block_size, tr->name));
        if (N > 0 && M > 0 && (!x || !w || !y)) throw Error(strfmt("cuda: %s: null pointer", op));
    }

    // Native types: the pointer itself. Other types: the matching rows of the weight's F16 shadow.
    Resolved resolve(const char * op, const void * w, Type t, int64_t ne0) {
        Resolved r;
        if (decodes_natively(t)) {
            r.w = w;
            r.type = t;
            r.row_bytes = row_size(t, ne0);
            return r;
        }
        std::lock_guard<std::mutex> lock(mu_);
        auto it = by_dev_.upper_bound((uintptr_t)w);
        if (it == by_dev_.begin())
            throw Error(strfmt("cuda: %s: a %s weight must come from weight()", op, type_name((int32_t)t)));
        --it;
        const Weight & wt = *it->second;
        const size_t off = (uintptr_t)w - it->first, rb = row_size(t, ne0);
        if (wt.type != t || wt.ne0 != ne0 || off >= wt.bytes || off % rb != 0 || !wt.shadow)
            throw Error(strfmt("cuda: %s: %s pointer is not a row of a weight() tensor of that type and width", op,
                               type_name((int32_t)t)));
        r.w = wt.shadow + (off / rb) * (size_t)ne0;
        r.type = Type::F16;
        r.row_bytes = (size_t)ne0 * 2;
        return r;
    }

    // Eᵀ of an embedding as Q8_0 (H rows of Vp values), built on the device at first use and kept.
    const void * embedding_t(const Resolved & e, int64_t H, int64_t V, int64_t Vp) {
        std::lock_guard<std::mutex> lock(mu_);
        auto it = et_.find(e.w);
        if (it != et_.end()) return it->second;
        not_capturing("vocab_head (its first call builds the transposed embedding)");
        const size_t bytes = (size_t)H * (size_t)(Vp / 32) * 34;
        void * p = nullptr;
        CK(cudaMalloc(&p, bytes), "vocab_head");
        weight_bytes_ += bytes;
        et_[e.w] = p;
        cu::head_build_et(e.w, e.type, H, V, Vp, p, stream_);
        return p;
    }

    std::unique_ptr<Scratch> quantize(const char * op, const float * x, int64_t R, int64_t K, int G) {
        const size_t qb = ((size_t)(R * K) + 255) / 256 * 256, nb = (size_t)(R * (K / G)) * sizeof(float);
        auto s = std::make_unique<Scratch>(this, qb + 2 * nb);
        cu::quantize_act(x, R, K, G, (int8_t *)s->p, (float *)((char *)s->p + qb), (float *)((char *)s->p + qb + nb),
                         stream_);
        (void)op;
        return s;
    }

    // y = x · Wᵀ over the columns c; R: rows of x. qa: x already quantized for this weight type (or null).
    void gemm(const char * op, const float * x, int64_t R, int64_t K, const Resolved & r, int64_t M,
              const cu::GemmCols & c, float * y, Scratch * qa = nullptr) {
        if (cu::mmq_supports(r.type)) {
            const int G = cu::mmq_group(r.type);
            std::unique_ptr<Scratch> own;
            if (!qa) {
                own = quantize(op, x, R, K, G);
                qa = own.get();
            }
            const size_t qb = ((size_t)(R * K) + 255) / 256 * 256, nb = (size_t)(R * (K / G)) * sizeof(float);
            cu::mmq(r.type, (const int8_t *)qa->p, (const float *)((char *)qa->p + qb),
                    (const float *)((char *)qa->p + qb + nb), K, r.w, M, c, y, stream_);
        } else {
            cu::mmf(r.type, x, K, r.w, M, c, y, stream_);
        }
    }

    void make_shadow(Weight & w, const void * host, const TypeTraits * tr) {
        const size_t n = (size_t)w.ne0 * (size_t)w.n_rows;
        CK(cudaMalloc((void **)&w.shadow, std::max<size_t>(n, 1) * 2), "weight");
        weight_bytes_ += std::max<size_t>(n, 1) * 2;
        const int64_t rows_per = std::max<int64_t>(1, (int64_t)((16u << 20) / (size_t)w.ne0));
        std::vector<float> f;
        std::vector<fp16_t> h;
        const size_t rb = row_size(w.type, w.ne0);
        for (int64_t r0 = 0; r0 < w.n_rows; r0 += rows_per) {
            const int64_t nr = std::min(rows_per, w.n_rows - r0);
            f.resize((size_t)(nr * w.ne0));
            h.resize(f.size());
            for (int64_t r = 0; r < nr; ++r)
                tr->to_float((const uint8_t *)host + (size_t)(r0 + r) * rb, f.data() + r * w.ne0, w.ne0);
            for (size_t i = 0; i < f.size(); ++i) h[i] = f32_to_fp16(f[i]);
            CK(cudaMemcpy(w.shadow + (size_t)r0 * (size_t)w.ne0, h.data(), h.size() * 2, cudaMemcpyHostToDevice),
               "weight");
        }
    }

    int dev_;
    std::string name_, desc_;
    cudaStream_t stream_ = nullptr;
    std::mutex mu_;
    std::map<const void *, Weight> weights_;
    std::map<uintptr_t, Weight *> by_dev_;
    size_t weight_bytes_ = 0;
    bool capturing_ = false;
    std::map<int, cudaGraphExec_t> graphs_;
    std::map<const void *, void *> et_;  // embedding (device) -> its Q8_0 transpose
    int next_graph_ = 1;
};

}  // namespace

std::vector<BackendInfo> cuda_backend_infos() {
    std::vector<BackendInfo> out;
    int n = 0;
    const cudaError_t err = cudaGetDeviceCount(&n);
    if (err != cudaSuccess || n == 0) {
        (void)cudaGetLastError();
        BackendInfo i;
        i.kind = BackendKind::cuda;
        i.name = "cuda";
        i.description = "NVIDIA GPUs";
        i.compiled = true;
        i.available = false;
        i.reason = err != cudaSuccess ? std::string("no usable CUDA driver/device: ") + cudaGetErrorName(err) + " (" +
                                            cudaGetErrorString(err) + ")"
                                      : std::string("no CUDA device found");
        out.push_back(i);
        return out;
    }
    for (int d = 0; d < n; ++d) {
        BackendInfo i;
        i.kind = BackendKind::cuda;
        i.name = strfmt("cuda:%d", d);
        i.compiled = true;
        cudaDeviceProp prop;
        if (cudaGetDeviceProperties(&prop, d) != cudaSuccess) {
            (void)cudaGetLastError();
            i.description = "NVIDIA GPU";
            i.reason = "cudaGetDeviceProperties failed";
            out.push_back(i);
            continue;
        }
        i.description = strfmt("%s (sm_%d%d, %s)", prop.name, prop.major, prop.minor, gib(prop.totalGlobalMem).c_str());
        i.memory_total = prop.totalGlobalMem;
        std::string why;
        if (!cu::kernels_runnable(d, why)) {
            i.reason = strfmt("this build has no kernels for sm_%d%d (%s); rebuild with CUDAARCHS=%d%d", prop.major,
                              prop.minor, why.c_str(), prop.major, prop.minor);
        } else {
            i.available = true;
            size_t f = 0, t = 0;
            if (cudaMemGetInfo(&f, &t) == cudaSuccess) i.memory_free = f;
            else (void)cudaGetLastError();
        }
        out.push_back(i);
    }
    return out;
}

std::unique_ptr<Backend> cuda_backend_create(int device) {
    const std::vector<BackendInfo> infos = cuda_backend_infos();
    if (device < 0 || device >= (int)infos.size() || !infos[(size_t)device].available) {
        std::string why = infos.empty() ? "no CUDA device" : infos[0].reason;
        if (device >= 0 && device < (int)infos.size()) why = infos[(size_t)device].reason;
        else if (infos[0].available) why = strfmt("no device %d (%zu devices)", device, infos.size());
        throw Error("device 'cuda': " + why);
    }
    return std::make_unique<CudaBackend>(device);
}

}  // namespace ld::ggml::detail
