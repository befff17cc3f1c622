// Grouped expert (MoE) matmul: tokens are grouped by routed expert, each expert runs one small GEMM
// over its tokens with the same per-ISA kernels as the dense matmul (matmul.cpp), and the results
// are scattered back per (token, slot), then optionally summed over slots with the routing weights
// in slot order (deterministic for any thread count).
#include <algorithm>
#include <cstring>

#include "ld-ggml/error.h"
#include "ld-ggml/cpu-matmul.h"
#include "ld-ggml/vec-dot.h"
#include "matmul-impl.h"

namespace ld::ggml {

using namespace mm;

namespace {

void check_moe(const char * op, const MoeArgs & a) {
    check_weight(op, a.wtype, a.K);
    if (a.N < 0 || a.M <= 0 || a.E <= 0 || a.top_k <= 0)
        throw Error(strfmt("%s: bad sizes N = %lld, M = %lld, E = %lld, top_k = %lld", op, (long long)a.N,
                           (long long)a.M, (long long)a.E, (long long)a.top_k));
    if (a.N > 0 && (!a.x || !a.ids || !a.y || (!a.w && !a.prepared))) throw Error(strfmt("%s: null buffer", op));
    for (int64_t i = 0; i < a.N * a.top_k; ++i)
        if (a.ids[i] < 0 || a.ids[i] >= a.E)
            throw Error(strfmt("%s: expert id %d of token %lld slot %lld is outside [0, %lld)", op, (int)a.ids[i],
                               (long long)(i / a.top_k), (long long)(i % a.top_k), (long long)a.E));
}

// y[n, :] = sum_s rw[n, s] * tmp[n, s, :], slots in order.
void weighted_sum(const MoeArgs & a, const float * tmp, ThreadPool & pool) {
    pool.parallel_for(a.N, [&](int64_t n, int) {
        float * y = a.y + n * a.M;
        for (int64_t m = 0; m < a.M; ++m) y[m] = 0.0f;
        for (int64_t s = 0; s < a.top_k; ++s) {
            const float r = a.rw[n * a.top_k + s];
            const float * t = tmp + (n * a.top_k + s) * a.M;
            for (int64_t m = 0; m < a.M; ++m) y[m] += r * t[m];
        }
    });
}

}  // namespace

void moe_matmul_isa(CpuIsa isa, const MoeArgs & a, ThreadPool * pool) {
    check_moe("moe_matmul", a);
    if (a.N == 0) return;
    ThreadPool & P = pool ? *pool : ThreadPool::global();
    const int64_t NS = a.N * a.top_k;
    const Kernels * k = kernels_for(isa, a.wtype);
    const PreparedWeight * pw = a.prepared;
    if (pw && (pw->k != k || !k))
        throw Error(strfmt("moe_matmul: the prepared weight was made for CPU ISA '%s', the call runs '%s'",
                           cpu_isa_name(pw->isa), cpu_isa_name(isa)));
    if (pw && (pw->wtype != a.wtype || pw->K != a.K || pw->M != a.M || pw->n_mats != a.E))
        throw Error(strfmt("moe_matmul: the prepared weight (%s, K = %lld, M = %lld, %lld matrices) does not match the "
                           "call (%s, K = %lld, M = %lld, E = %lld)", type_name((int32_t)pw->wtype), (long long)pw->K,
                           (long long)pw->M, (long long)pw->n_mats, type_name((int32_t)a.wtype), (long long)a.K,
                           (long long)a.M, (long long)a.E));
    ActRows act;
    quantize_acts(k, a.wtype, a.x, a.x_per_slot ? NS : a.N, a.K, P, act);
    // output rows: per slot, straight into y, or into a scratch summed afterwards
    static thread_local std::vector<float> tmp;  // grow-only per calling thread (no page faults per call)
    float * out = a.y;
    if (a.rw) {
        if (tmp.size() < (size_t)(NS * a.M)) tmp.resize((size_t)(NS * a.M));
        out = tmp.data();
    }
    // group the (token, slot) pairs by expert, in (token, slot) order within an expert
    std::vector<int64_t> count((size_t)a.E + 1, 0);
    for (int64_t i = 0; i < NS; ++i) count[(size_t)a.ids[i] + 1]++;
    for (int64_t e = 0; e < a.E; ++e) count[(size_t)e + 1] += count[(size_t)e];
    std::vector<int64_t> ids((size_t)NS);
    std::vector<float *> outs((size_t)NS);
    std::vector<int64_t> fill(count.begin(), count.end() - 1);
    for (int64_t i = 0; i < NS; ++i) {
        const int64_t pos = fill[(size_t)a.ids[i]]++;
        ids[(size_t)pos] = a.x_per_slot ? i : i / a.top_k;
        outs[(size_t)pos] = out + i * a.M;
    }
    const size_t wrb = row_size(a.wtype, a.K);
    std::vector<Group> groups;
    for (int64_t e = 0; e < a.E; ++e) {
        const int64_t n = count[(size_t)e + 1] - count[(size_t)e];
        if (n == 0) continue;
        groups.push_back(Group{pw ? nullptr : static_cast<const uint8_t *>(a.w) + wrb * (size_t)(a.M * e),
                               ids.data() + count[(size_t)e], outs.data() + count[(size_t)e], n,
                               pw ? pw->panels(e) : nullptr, pw ? pw->panel_stride : 0, pw && pw->compact});
    }
    run_groups(k, a.wtype, a.K, a.M, act, groups, P);
    if (a.rw) weighted_sum(a, tmp.data(), P);
}

void moe_matmul(const MoeArgs & a, ThreadPool * pool) { moe_matmul_isa(cpu_isa(), a, pool); }

void moe_matmul_ref(const MoeArgs & a) {
    check_moe("moe_matmul_ref", a);
    if (a.N > 0 && !a.w) throw Error("moe_matmul_ref: the reference reads the weights (w), not a prepared weight");
    const vec_dot_fn dot = vec_dot_generic(a.wtype);
    const Type at = type_traits(a.wtype)->vec_dot_type;
    const size_t arb = row_size(at, a.K), wrb = row_size(a.wtype, a.K);
    std::vector<uint8_t> q(arb);
    std::vector<float> r((size_t)a.M);
    for (int64_t n = 0; n < a.N; ++n) {
        if (a.rw) std::fill(a.y + n * a.M, a.y + (n + 1) * a.M, 0.0f);
        for (int64_t s = 0; s < a.top_k; ++s) {
            const int64_t i = n * a.top_k + s;
            quantize_activation_row(a.wtype, a.x + (a.x_per_slot ? i : n) * a.K, q.data(), a.K);
            const uint8_t * we = static_cast<const uint8_t *>(a.w) + wrb * (size_t)(a.M * a.ids[i]);
            for (int64_t m = 0; m < a.M; ++m) r[(size_t)m] = dot(a.K, we + wrb * (size_t)m, q.data());
            if (a.rw) {
                for (int64_t m = 0; m < a.M; ++m) a.y[n * a.M + m] += a.rw[i] * r[(size_t)m];
            } else {
                std::memcpy(a.y + i * a.M, r.data(), (size_t)a.M * sizeof(float));
            }
        }
    }
}

}  // namespace ld::ggml
