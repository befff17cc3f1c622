// The backend seam: one small interface through which the engine (cpp/model, cpp/generate) runs every
// op of a DiffusionGemma / Gemma 3 step, whatever the device. Modelled on MLX's primitive/stream split
// and ggml's backend vtable: a backend owns device memory (buffers: alloc / upload / download / copy /
// free), takes the model's weights once at load time (`weight`), and executes the op list below eagerly,
// in call order, on its own stream. Every pointer passed to an op is memory of THIS backend (a pointer
// from alloc() or weight(), offset within it); the engine never dereferences a device pointer itself,
// and moves data between backends only through upload/download at whole-layer boundaries.
//
// Backends:
//   * cpu   (always): today's kernels (cpu-matmul.h, cpu-nn.h) on a ThreadPool; its memory is host memory
//                     and weight() returns the memory-mapped bytes themselves (zero copy, no slowdown).
//   * cuda  (LD_CUDA builds, ggml/src/cuda/): kernels on one CUDA device; weights uploaded once in their
//                     stored quantized form (a device-friendly repack is allowed).
//   * metal (LD_METAL builds on macOS, ggml/src/metal/): unified memory, weights wrapped without a copy
//                     (newBufferWithBytesNoCopy); host_visible() is false (kernels read MTLBuffers only).
//   * sim   (always): the CPU kernels on a simulated discrete device, for tests (ggml/src/cpu/backend-cpu.cpp).
// The op semantics, argument layouts and error rules are exactly those of the CPU ops they name (see the
// headers cited per op); GPU results must match the CPU reference within the tolerances documented in
// docs and tested by tests/python/test_backend_ops.py. Bad arguments throw ggml::Error.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "ld-ggml/cpu-matmul.h"
#include "ld-ggml/cpu-nn.h"
#include "ld-ggml/cpu-vocab-head.h"
#include "ld-ggml/error.h"
#include "ld-ggml/thread-pool.h"
#include "ld-ggml/types.h"

namespace ld::ggml {

// sim: the CPU kernels behind a simulated discrete device (separate memory, weights copied at load,
// nothing host-visible), for testing placement and hand-overs without a GPU; never chosen by "auto".
enum class BackendKind { cpu = 0, cuda = 1, metal = 2, sim = 3 };

const char * backend_kind_name(BackendKind k);                 // "cpu", "cuda", "metal", "sim"
BackendKind backend_kind_from_name(const std::string & name);  // throws ggml::Error on an unknown name

// What this build and machine offer (ld.backends() in Python).
struct BackendInfo {
    BackendKind kind = BackendKind::cpu;
    std::string name;            // "cpu", "cuda:0", ...
    std::string description;     // "x86-64 avx512 (2 threads)", "NVIDIA H200 (sm_90, 139.8 GiB)", ...
    bool compiled = false;       // this build contains the backend
    bool available = false;      // ... and the machine can run it
    std::string reason;          // why not, when !available
    size_t memory_total = 0;     // bytes (0: unknown / host memory)
    size_t memory_free = 0;
};
std::vector<BackendInfo> backends_list();

class Backend {
public:
    virtual ~Backend() = default;
    Backend() = default;
    Backend(const Backend &) = delete;
    Backend & operator=(const Backend &) = delete;

    virtual BackendKind kind() const = 0;
    virtual std::string name() const = 0;
    virtual std::string description() const = 0;
    // True when this backend's memory is ordinary host memory (CPU; unified-memory GPUs): pointers from
    // alloc()/weight() may then be read and written by the host after synchronize().
    virtual bool host_visible() const = 0;

    // ---- buffers --------------------------------------------------------------------------------------
    // Device memory of `bytes` (>= 1), aligned to 64 bytes; throws ggml::Error when it cannot be had
    // (naming the size and the free memory).
    virtual void * alloc(size_t bytes) = 0;
    virtual void free(void * p) noexcept = 0;        // nullptr allowed
    // Host -> device; returns once `src` may be reused. Device -> host; returns once `dst` holds the data
    // (waits for every op enqueued before). Device -> device; the ranges may overlap (memmove).
    virtual void upload(void * dst, const void * src, size_t bytes) = 0;
    virtual void download(void * dst, const void * src, size_t bytes) = 0;
    virtual void copy(void * dst, const void * src, size_t bytes) = 0;
    virtual void synchronize() = 0;
    virtual size_t memory_free() const = 0;          // bytes; host backends: 0 (unknown)

    // A weight tensor of n_rows rows of ne0 values of `type` in host memory (the mmapped GGUF) made usable
    // by this backend's ops. CPU: `host` itself. GPU: uploaded once (stored form or a repack), owned by
    // the backend until it is destroyed. The same host pointer given twice returns the same result.
    virtual const void * weight(const void * host, Type type, int64_t ne0, int64_t n_rows) = 0;
    // Bytes of device memory held by weights (0 for the CPU).
    virtual size_t weight_bytes() const = 0;
    // CPU only (others ignore it): with `enabled`, a matmul / expert weight is repacked on its first use
    // into the prepared panel form of the ISA in effect where that ISA has one within 7% of its bytes
    // (prepare_weight: e.g. Q8_0 panels on avx512 / amx, the compact forms of Q4_K / Q5_K / Q5_0 / Q4_0 on
    // avx512), kept by the backend and used by every later call on that ISA (bit-identical results), and
    // release(host, bytes) is then called so the owner can drop the host bytes' pages (a mapped file stays
    // the source of truth). The CPU vocab head then also keeps the self-conditioning product's transposed
    // embedding across steps (EmbeddingTCache, cpu-vocab-head.h; counted in repacked_bytes). Off (the
    // default): the host bytes are used as they are.
    struct WeightRepack {
        bool enabled = false;
        std::function<void(const void *, size_t)> release;
        std::vector<const void *> keep;  // host weights never repacked (other ops read them too)
    };
    virtual void set_weight_repack(WeightRepack r) { (void)r; }
    // Bytes the repacked weights hold (0 when none).
    virtual size_t repacked_bytes() const { return 0; }

    // ---- ops (semantics: cpu-matmul.h / cpu-nn.h; pointers are this backend's memory) ----------------
    virtual bool supports_matmul(Type wtype) const = 0;
    // y[N, M] = x[N, K] · W[M, K]ᵀ, W from weight().
    virtual void matmul(const float * x, int64_t N, int64_t K, const void * w, Type wtype, int64_t M, float * y) = 0;
    // Grouped expert matmul (MoeArgs of cpu-matmul.h; ids/rw/x/y in this backend's memory).
    virtual void moe_matmul(const MoeArgs & a) = 0;
    virtual void rms_norm(const float * x, int64_t n_rows, int64_t n, const float * weight, float eps, float * out) = 0;
    // RoPE in place (RopeParams pointers in this backend's memory).
    virtual void rope_neox(float * x, int64_t n_tok, int64_t n_head, int64_t head_dim, const int32_t * pos,
                           const RopeParams & p) = 0;
    virtual void geglu(const float * gate, const float * up, int64_t n_rows, int64_t n, int64_t ld_in, float * out) = 0;
    virtual void softcap(const float * x, int64_t n, float cap, float * out) = 0;
    virtual void softmax(const float * x, int64_t n_rows, int64_t n, float * out) = 0;
    virtual void router_topk(const float * logits, int64_t n_tok, int64_t n_expert, int64_t k,
                             const float * per_expert_scale, int32_t * ids_out, float * weights_out) = 0;
    virtual void attention(const AttnArgs & a) = 0;

    // out[i] = a[i] + b[i], i < n (out may alias a or b).
    virtual void add(const float * a, const float * b, int64_t n, float * out) = 0;
    // out[i] = x[i] * s (out may alias x).
    virtual void scale(const float * x, int64_t n, float s, float * out) = 0;
    // out[i, :] = dequantized row ids[i] of W (n_rows rows of ne0 values of wtype, from weight()) · s.
    // Every id must be in [0, n_rows) (the engine checks ids on the host before uploading them).
    virtual void get_rows(const void * w, Type wtype, int64_t ne0, int64_t n_rows, const int32_t * ids, int64_t n,
                          float s, float * out) = 0;
    // Stores n rows of width f32 values as rows of dst_type (F32, F16 or Q8_0 with the reference
    // rounding): the KV cache's staging. dst rows are row_size(dst_type, width) bytes apart.
    virtual void store_rows(const float * src, int64_t n, int64_t width, Type dst_type, void * dst) = 0;
    // The fused vocab head with the sampler's per-position statistics (VocabHeadArgs above).
    virtual void vocab_head(const VocabHeadArgs & a) = 0;

    // ---- optional: recording ops once and replaying them (CUDA graphs) ------------------------------
    // Between capture_begin() and capture_end() the ops are recorded, not run; replay(id) then runs the
    // recorded sequence with exactly the recorded pointers, shapes and scalar arguments (so e.g. the layers
    // of a denoising step with fixed buffers and KV length: one capture per canvas, one replay per step;
    // a vocab_head with a new step key must be called eagerly). While recording, upload / download /
    // synchronize / weight() throw. After an op throws inside a capture, capture_end() throws too and
    // leaves capture mode. Backends without it (default) report false and throw from capture_begin().
    virtual bool supports_capture() const { return false; }
    virtual void capture_begin() { throw Error(name() + ": op capture is not supported by this backend"); }
    virtual int capture_end() { throw Error(name() + ": op capture is not supported by this backend"); }
    virtual void replay(int id) { throw Error(name() + ": op capture is not supported by this backend"); }
    virtual void capture_release(int id) noexcept {}
};

// Creates a backend. cpu: pool = the thread pool its ops run on (nullptr: ThreadPool::global()).
// cuda: device = the CUDA device index. Throws ggml::Error naming why when the backend is not compiled
// into this build or the machine cannot run it.
std::unique_ptr<Backend> backend_create(BackendKind kind, ThreadPool * pool = nullptr, int device = 0);

}  // namespace ld::ggml
