// The emulated Metal backend (backend-emu-metal.h): OpsBackend on host memory, each Launch run by
// msl_emu::dispatch over the .metal kernels compiled as C++ in this file.
#include "metal/backend-emu-metal.h"

#include <cstdlib>
#include <cstring>
#include <map>
#include <string>

#include "ld-ggml/error.h"
#include "metal/ops-metal.h"

// After every other header: the emulator defines the MSL keywords as macros.
#include "metal/msl-emu.h"
#include "metal/kernels-attention.metal"
#include "metal/kernels-head.metal"
#include "metal/kernels-matmul.metal"
#include "metal/kernels-nn.metal"

namespace ld::ggml::metal {

namespace {

template <class T>
T * B(const Launch & l, int i) { return (T *)const_cast<void *>(l.bufs[i].p); }
template <class T>
const T & A(const Launch & l) { return *(const T *)l.args; }

#define LD_IDS t.tgpig, t.tiitg, t.tiisg, t.sgitg, msl_emu::uint3(t.ntg, 1, 1)

void run_kernel(const Launch & l) {
    using msl_emu::ThreadIds;
    msl_emu::Body body;
    switch (l.fn) {
        case Kernel::add: body = [&](const ThreadIds & t) { ld_add(A<LdEltArgs>(l), B<float>(l, 0), B<float>(l, 1), B<float>(l, 2), LD_IDS); }; break;
        case Kernel::scale: body = [&](const ThreadIds & t) { ld_scale(A<LdEltArgs>(l), B<float>(l, 0), B<float>(l, 1), LD_IDS); }; break;
        case Kernel::softcap: body = [&](const ThreadIds & t) { ld_softcap(A<LdEltArgs>(l), B<float>(l, 0), B<float>(l, 1), LD_IDS); }; break;
        case Kernel::fill: body = [&](const ThreadIds & t) { ld_fill(A<LdEltArgs>(l), B<float>(l, 0), LD_IDS); }; break;
        case Kernel::geglu: body = [&](const ThreadIds & t) { ld_geglu(A<LdGegluArgs>(l), B<float>(l, 0), B<float>(l, 1), B<float>(l, 2), LD_IDS); }; break;
        case Kernel::rms_norm: body = [&](const ThreadIds & t) { ld_rms_norm(A<LdRowArgs>(l), B<float>(l, 0), B<float>(l, 1), B<float>(l, 2), LD_IDS); }; break;
        case Kernel::softmax: body = [&](const ThreadIds & t) { ld_softmax(A<LdRowArgs>(l), B<float>(l, 0), B<float>(l, 1), LD_IDS); }; break;
        case Kernel::rope_neox:
            body = [&](const ThreadIds & t) { ld_rope_neox(A<LdRopeArgs>(l), B<float>(l, 0), B<int>(l, 1), B<float>(l, 2), B<float>(l, 3), LD_IDS); };
            break;
        case Kernel::router_topk:
            body = [&](const ThreadIds & t) { ld_router_topk(A<LdRouterArgs>(l), B<float>(l, 0), B<float>(l, 1), B<int>(l, 2), B<float>(l, 3), LD_IDS); };
            break;
        case Kernel::get_rows:
            body = [&](const ThreadIds & t) { ld_get_rows(A<LdGetRowsArgs>(l), B<uchar>(l, 0), B<int>(l, 1), B<float>(l, 2), LD_IDS); };
            break;
        case Kernel::store_rows:
            body = [&](const ThreadIds & t) { ld_store_rows(A<LdStoreRowsArgs>(l), B<float>(l, 0), B<uchar>(l, 1), LD_IDS); };
            break;
        case Kernel::mul_mm:
            body = [&](const ThreadIds & t) { ld_mul_mm(A<LdMatmulArgs>(l), B<float>(l, 0), B<uchar>(l, 1), B<float>(l, 2), LD_IDS); };
            break;
        case Kernel::moe_group:
            body = [&](const ThreadIds & t) { ld_moe_group(A<LdMoeArgs>(l), B<int>(l, 0), B<int>(l, 1), B<int>(l, 2), LD_IDS); };
            break;
        case Kernel::mul_mm_id:
            body = [&](const ThreadIds & t) {
                ld_mul_mm_id(A<LdMatmulArgs>(l), B<float>(l, 0), B<uchar>(l, 1), B<int>(l, 2), B<int>(l, 3), B<float>(l, 4), LD_IDS);
            };
            break;
        case Kernel::moe_reduce:
            body = [&](const ThreadIds & t) { ld_moe_reduce(A<LdMoeArgs>(l), B<float>(l, 0), B<float>(l, 1), B<int>(l, 2), B<float>(l, 3), LD_IDS); };
            break;
        case Kernel::attention:
            body = [&](const ThreadIds & t) {
                ld_attention(A<LdAttnArgs>(l), B<float>(l, 0), B<int>(l, 1), B<uchar>(l, 2), B<uchar>(l, 3), B<int>(l, 4), B<float>(l, 5), LD_IDS);
            };
            break;
        case Kernel::head_stats:
            body = [&](const ThreadIds & t) { ld_head_stats(A<LdHeadArgs>(l), B<float>(l, 0), B<LdHeadState>(l, 1), B<float>(l, 2), LD_IDS); };
            break;
        case Kernel::head_soft:
            body = [&](const ThreadIds & t) { ld_head_soft(A<LdHeadArgs>(l), B<float>(l, 0), B<float>(l, 1), B<uchar>(l, 2), B<float>(l, 3), LD_IDS); };
            break;
        case Kernel::head_final:
            body = [&](const ThreadIds & t) {
                ld_head_final(A<LdHeadArgs>(l), B<LdHeadState>(l, 0), B<int>(l, 1), B<int>(l, 2), B<float>(l, 3), B<float>(l, 4), LD_IDS);
            };
            break;
        case Kernel::count: break;
    }
    if (!body) throw Error("metal-emu: unknown kernel");
    try {
        msl_emu::dispatch(msl_emu::uint3(l.gx, l.gy, l.gz), l.threads, body);
    } catch (const msl_emu::Error & e) {
        throw Error(std::string("metal-emu: kernel ") + kernel_name(l.fn) + ": " + e.what());
    }
}

class EmuMetalBackend final : public OpsBackend {
public:
    ~EmuMetalBackend() override {
        release_all();
        for (auto & a : allocs_) std::free(const_cast<char *>(a.first));
    }
    BackendKind kind() const override { return BackendKind::metal; }
    std::string name() const override { return "metal-emu"; }
    std::string description() const override { return "Metal kernels under the Linux emulator (tests only)"; }

    void * alloc(size_t bytes) override {
        if (bytes < 1) throw Error("metal-emu alloc: zero bytes");
        const size_t n = (bytes + 63) / 64 * 64;
        void * p = std::aligned_alloc(64, n);
        if (!p) throw Error(strfmt("metal-emu alloc: out of memory (%zu bytes)", bytes));
        std::memset(p, 0xFF, n);  // NaN floats: reading memory nobody wrote shows up in results
        allocs_[(const char *)p] = bytes;
        return p;
    }
    void free(void * p) noexcept override {
        if (!p) return;
        auto it = allocs_.find((const char *)p);
        if (it == allocs_.end()) return;
        allocs_.erase(it);
        std::free(p);
    }
    void upload(void * dst, const void * src, size_t bytes) override {
        check_range(dst, bytes, "upload");
        std::memcpy(dst, src, bytes);
    }
    void download(void * dst, const void * src, size_t bytes) override {
        check_range(src, bytes, "download");
        std::memcpy(dst, src, bytes);
    }
    void copy(void * dst, const void * src, size_t bytes) override {
        check_range(dst, bytes, "copy");
        check_range(src, bytes, "copy");
        std::memmove(dst, src, bytes);
    }
    void synchronize() override {}
    size_t memory_free() const override { return 0; }

protected:
    void wrap_host(const void * host, size_t bytes) override { wraps_[(const char *)host] = bytes; }
    void launch(const Launch & l) override {
        for (int i = 0; i < l.n_bufs; ++i)
            if (!inside(l.bufs[i].p, l.bufs[i].bytes))
                throw Error(strfmt("metal-emu: kernel %s, buffer %d (%zu bytes at %p) is not memory of this backend",
                                   kernel_name(l.fn), i + 1, l.bufs[i].bytes, l.bufs[i].p));
        run_kernel(l);
    }

private:
    static bool in_map(const std::map<const char *, size_t> & m, const char * p, size_t n) {
        auto it = m.upper_bound(p);
        if (it == m.begin()) return false;
        --it;
        return p >= it->first && p + n <= it->first + it->second;
    }
    bool inside(const void * p, size_t n) const {
        return p && (in_map(allocs_, (const char *)p, n) || in_map(wraps_, (const char *)p, n));
    }
    void check_range(const void * p, size_t n, const char * op) const {
        if (n > 0 && !in_map(allocs_, (const char *)p, n))
            throw Error(strfmt("metal-emu %s: %zu bytes at %p are not inside one allocation of this backend", op, n, p));
    }
    std::map<const char *, size_t> allocs_, wraps_;
};

}  // namespace

std::unique_ptr<Backend> metal_emu_backend_create() { return std::make_unique<EmuMetalBackend>(); }

bool metal_emulator_requested() {
    const char * v = std::getenv(kMetalEmulatorEnv);
    return v && std::strcmp(v, "1") == 0;
}

}  // namespace ld::ggml::metal
