// The Metal backend's ops, written once for two executors: the real one (backend-metal.mm: MTLDevice,
// command queue, pipelines, MTLBuffers on unified memory) and the Linux emulator of the test suite
// (backend-emu-metal.cpp: the same .metal kernels compiled as C++ under msl-emu.h). This layer checks
// the arguments (the CPU ops' rules), picks the kernel, fills its argument struct (ld-metal-args.h) and
// its grid, and hands a Launch to the executor; it also owns the load-time weight handling and the
// scratch buffers the ops need.
//
// Memory: host_visible() is false on purpose. Metal kernels can only touch MTLBuffers, so every pointer
// an op receives must come from alloc() or weight(); the engine then moves data with upload/download,
// which on unified memory are plain memcpy's after the command buffer has completed.
// Weights: the published types (F32, F16, BF16, Q8_0, Q5_0, Q4_K, Q6_K) are used in place (the host
// pointer, wrapped without a copy by the executor); every other type is dequantized to F32 once at load
// (the dequantize-then-GEMM fallback) and the ops translate pointers and row offsets into that copy.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <vector>

#include "ld-ggml/backend.h"

namespace ld::ggml::metal {

enum class Kernel : int {
    add, scale, softcap, fill, geglu, rms_norm, softmax, rope_neox, router_topk, get_rows, store_rows,
    mul_mm, moe_group, mul_mm_id, moe_reduce, attention, head_stats, head_soft, head_final,
    count
};
const char * kernel_name(Kernel k);  // the MSL function name, e.g. "ld_mul_mm"

struct LaunchBuf {
    const void * p = nullptr;  // memory of this backend (alloc / weight)
    size_t bytes = 0;          // the extent the kernel may touch from p
};

// One kernel dispatch: args (buffer 0), then bufs[0..n) as buffers 1..n; groups x threads.
struct Launch {
    Kernel fn = Kernel::add;
    const void * args = nullptr;
    size_t args_size = 0;
    LaunchBuf bufs[8];
    int n_bufs = 0;
    uint32_t gx = 1, gy = 1, gz = 1;
    uint32_t threads = 32;
};

// True for the weight types the kernels dequantize themselves.
bool native_type(Type t);

class OpsBackend : public Backend {
public:
    ~OpsBackend() override;
    bool host_visible() const override { return false; }

    const void * weight(const void * host, Type type, int64_t ne0, int64_t n_rows) override;
    size_t weight_bytes() const override { return weight_bytes_; }

    bool supports_matmul(Type wtype) const override;
    void matmul(const float * x, int64_t N, int64_t K, const void * w, Type wtype, int64_t M, float * y) override;
    void moe_matmul(const MoeArgs & a) override;
    void rms_norm(const float * x, int64_t n_rows, int64_t n, const float * weight, float eps, float * out) override;
    void rope_neox(float * x, int64_t n_tok, int64_t n_head, int64_t head_dim, const int32_t * pos,
                   const RopeParams & p) override;
    void geglu(const float * gate, const float * up, int64_t n_rows, int64_t n, int64_t ld_in, float * out) override;
    void softcap(const float * x, int64_t n, float cap, float * out) override;
    void softmax(const float * x, int64_t n_rows, int64_t n, float * out) override;
    void router_topk(const float * logits, int64_t n_tok, int64_t n_expert, int64_t k,
                     const float * per_expert_scale, int32_t * ids_out, float * weights_out) override;
    void attention(const AttnArgs & a) override;
    void add(const float * a, const float * b, int64_t n, float * out) override;
    void scale(const float * x, int64_t n, float s, float * out) override;
    void get_rows(const void * w, Type wtype, int64_t ne0, int64_t n_rows, const int32_t * ids, int64_t n, float s,
                  float * out) override;
    void store_rows(const float * src, int64_t n, int64_t width, Type dst_type, void * dst) override;
    void vocab_head(const VocabHeadArgs & a) override;

protected:
    // The executor: enqueue one dispatch (in call order; each sees the results of the ones before).
    virtual void launch(const Launch & l) = 0;
    // Make `bytes` of host memory at `host` (a weight of the mmapped file) usable by the kernels in
    // place (Metal: newBufferWithBytesNoCopy over the page-aligned region; emulator: nothing).
    virtual void wrap_host(const void * host, size_t bytes) = 0;
    // Releases what the ops allocated (call from the subclass destructor, while alloc/free still work).
    void release_all() noexcept;

private:
    struct WeightCopy {
        const void * host = nullptr;  // the host tensor
        size_t host_bytes = 0;
        Type type = Type::F32;        // stored type
        size_t host_row = 0;          // bytes per stored row
        int64_t ne0 = 0;
        float * dev = nullptr;        // the F32 copy: rows of ne0 floats
    };
    struct Resolved {
        const void * p;
        Type type;
        size_t row_bytes;
    };
    // (w, wtype) as given to an op -> what the kernels read (pointer, native type, row bytes).
    Resolved resolve(const void * w, Type wtype, int64_t ne0) const;
    void * scratch(int slot, size_t bytes);
    void dispatch(Kernel k, const void * args, size_t args_size, std::initializer_list<LaunchBuf> bufs, uint32_t gx,
                  uint32_t gy, uint32_t gz, uint32_t threads);
    void matmul_resolved(const float * x, int64_t N, int64_t K, const Resolved & w, int64_t M, float * y);

    struct Loaded {
        const void * p;  // what weight() returned
        Type type;
        size_t bytes;    // of the host tensor
    };
    std::map<const void *, Loaded> by_host_;           // weight(): host -> result
    std::map<const char *, WeightCopy> copies_;        // converted weights, by host start
    std::vector<std::pair<void *, size_t>> scratch_;   // per slot
    std::map<std::pair<int64_t, uint32_t>, float *> inv_freq_;  // rope tables by (n_rot, theta bits)
    size_t weight_bytes_ = 0;
};

}  // namespace ld::ggml::metal
