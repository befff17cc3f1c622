// Prepared weights (cpu-matmul.h): a weight packed once into the panels of one ISA's kernel table, so
// that matmul_prepared / moe_matmul use the panels directly instead of packing each panel on every
// call. The panel bytes are pack_panel's (the leading bytes that compute reads), so the results are
// those of the unpacked call. Offered only where a panel is at most 7% larger than its rows' bytes;
// else, where the table has one within 7%, the compact form (Kernels::pack_compact: Q4_K / Q5_K on avx512),
// which each call expands into the same panel bytes.
#include <algorithm>
#include <cstdlib>
#include <cstring>
#if defined(__linux__)
#include <sys/mman.h>
#endif

#include "ld-ggml/cpu-matmul.h"
#include "ld-ggml/error.h"
#include "ld-ggml/vec-dot.h"
#include "matmul-impl.h"

namespace ld::ggml {

using namespace mm;

namespace {

constexpr double kMaxGrowth = 1.07;  // prepared bytes / weight bytes

// The kernel table and panel stride for (isa, wtype, K), or nullptr where preparing is not offered;
// compact: the table's compact form is the one offered.
const Kernels * prepared_table(CpuIsa isa, Type wtype, int64_t K, size_t & stride, bool & compact) {
    const TypeTraits * t = type_traits(wtype);
    if (!t || !vec_dot_generic(wtype) || K <= 0 || K % t->block_size != 0) return nullptr;
    const Kernels * k = nullptr;
    try {
        k = kernels_for(isa, wtype);
    } catch (const Error &) {
        return nullptr;  // the ISA is not available here
    }
    if (!k) return nullptr;
    stride = k->panel_bytes_read ? k->panel_bytes_read(wtype, K) : k->panel_bytes(wtype, K);
    const double raw = (double)k->R * (double)row_size(wtype, K);
    compact = false;
    if ((double)stride <= kMaxGrowth * raw) return k;
    const size_t cb = k->compact_bytes ? k->compact_bytes(wtype, K) : 0;
    if (cb == 0 || (double)cb > kMaxGrowth * raw) return nullptr;
    stride = cb;
    compact = true;
    return k;
}

// Bytes for the panels, uninitialised (every byte is written once by the packers): 2 MiB aligned and, on
// Linux, in transparent huge pages where the system allows them (the panels are streamed once per call:
// fewer TLB misses). Throws ld::ggml::Error when the memory is not there.
uint8_t * alloc_panels(size_t bytes) {
    constexpr size_t kHuge = (size_t)2 << 20;
    const bool big = bytes >= 2 * kHuge;
    const size_t align = big ? kHuge : 64;
    void * q = nullptr;
    if (posix_memalign(&q, align, std::max<size_t>(bytes, 64)) != 0 || !q)
        throw Error(strfmt("prepare_weight: cannot allocate %.1f MB for the packed weight", (double)bytes / 1e6));
#if defined(__linux__) && defined(MADV_HUGEPAGE)
    if (big) madvise(q, bytes / kHuge * kHuge, MADV_HUGEPAGE);  // a hint: ignored where not allowed
#endif
    return static_cast<uint8_t *>(q);
}

}  // namespace

bool prepared_weight_supported(CpuIsa isa, Type wtype, int64_t K) {
    size_t stride = 0;
    bool compact = false;
    return prepared_table(isa, wtype, K, stride, compact) != nullptr;
}

bool prepared_weight_compact(CpuIsa isa, Type wtype, int64_t K) {
    size_t stride = 0;
    bool compact = false;
    return prepared_table(isa, wtype, K, stride, compact) != nullptr && compact;
}

std::shared_ptr<const PreparedWeight> prepare_weight(CpuIsa isa, const void * w, Type wtype, int64_t n_mats, int64_t M,
                                                     int64_t K, ThreadPool * pool) {
    check_weight("prepare_weight", wtype, K);
    if (n_mats <= 0 || M <= 0)
        throw Error(strfmt("prepare_weight: bad sizes n_mats = %lld, M = %lld", (long long)n_mats, (long long)M));
    if (!w) throw Error("prepare_weight: null weights");
    size_t stride = 0;
    bool compact = false;
    const Kernels * k = prepared_table(isa, wtype, K, stride, compact);
    if (!k)
        throw Error(strfmt("prepare_weight: %s weights (K = %lld) are not offered packed on CPU ISA '%s' (the packed form "
                           "would not be within %.0f%% of the weights' bytes, or the ISA has no kernels here)",
                           type_name((int32_t)wtype), (long long)K, cpu_isa_name(isa), (kMaxGrowth - 1) * 100));
    auto p = std::make_shared<PreparedWeight>();
    p->k = k;
    p->isa = isa;
    p->wtype = wtype;
    p->n_mats = n_mats;
    p->M = M;
    p->K = K;
    p->panels_per_mat = (M + k->R - 1) / k->R;
    p->panel_stride = stride;
    p->compact = compact;
    const int64_t n_panels = n_mats * p->panels_per_mat;
    uint8_t * base = alloc_panels(stride * (size_t)n_panels);
    p->owned.reset(base);
    p->base = base;
    const size_t wrb = row_size(wtype, K), pb = k->panel_bytes(wtype, K);
    ThreadPool & P = pool ? *pool : ThreadPool::global();
    const int64_t chunk = 16;  // panels per task
    P.parallel_for((n_panels + chunk - 1) / chunk, [&](int64_t t, int) {
        static thread_local std::vector<uint8_t> tmp;  // one whole panel (pack_panel writes all of it)
        if (!compact && tmp.size() < pb + 64) tmp.resize(pb + 64);
        uint8_t * buf = aligned64(tmp);
        for (int64_t i = t * chunk; i < std::min(n_panels, (t + 1) * chunk); ++i) {
            const int64_t mat = i / p->panels_per_mat, r0 = (i % p->panels_per_mat) * k->R;
            const int n_rows = (int)std::min<int64_t>(k->R, M - r0);
            const uint8_t * rows = static_cast<const uint8_t *>(w) + wrb * (size_t)(mat * M + r0);
            if (compact) {
                k->pack_compact(wtype, rows, wrb, n_rows, K, base + stride * (size_t)i);
                continue;
            }
            k->pack_panel(wtype, rows, wrb, n_rows, K, buf);
            std::memcpy(base + stride * (size_t)i, buf, stride);
        }
    });
    return p;
}

size_t prepared_weight_bytes(const PreparedWeight & p) { return p.panel_stride * (size_t)(p.n_mats * p.panels_per_mat); }

void matmul_prepared(const float * x, int64_t N, const PreparedWeight & pw, float * y, ThreadPool * pool) {
    if (pw.n_mats != 1)
        throw Error(strfmt("matmul_prepared: the prepared weight holds %lld matrices (experts: use moe_matmul)",
                           (long long)pw.n_mats));
    if (N < 0) throw Error(strfmt("matmul_prepared: negative N = %lld", (long long)N));
    if (N > 0 && (!x || !y)) throw Error("matmul_prepared: null buffer");
    if (N == 0) return;
    ThreadPool & P = pool ? *pool : ThreadPool::global();
    ActRows act;
    quantize_acts(pw.k, pw.wtype, x, N, pw.K, P, act);
    std::vector<int64_t> ids((size_t)N);
    std::vector<float *> out((size_t)N);
    for (int64_t i = 0; i < N; ++i) { ids[(size_t)i] = i; out[(size_t)i] = y + i * pw.M; }
    std::vector<Group> groups{Group{nullptr, ids.data(), out.data(), N, pw.panels(0), pw.panel_stride, pw.compact}};
    run_groups(pw.k, pw.wtype, pw.K, pw.M, act, groups, P);
}

}  // namespace ld::ggml
