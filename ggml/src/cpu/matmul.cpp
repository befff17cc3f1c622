// The CPU matmul driver: argument checks, ISA dispatch, activation quantization (once per call),
// and the tiled, threaded run of the per-ISA micro-kernels over groups of (weight matrix, activation
// rows). The dense matmul is one group; moe.cpp builds one group per expert.
//
// Tasks are fixed tiles: (group, panel of R weight rows, chunk of activation tiles); each output
// element is computed by exactly one task, so the result does not depend on the thread count.
#include "ld-ggml/cpu-matmul.h"

#include <algorithm>
#include <cstring>

#include "ld-ggml/error.h"
#include "ld-ggml/vec-dot.h"
#include "matmul-impl.h"
#include "prefetch-stream.h"

namespace ld::ggml {

namespace mm {

void check_weight(const char * op, Type w, int64_t K) {
    const TypeTraits * t = type_traits(w);
    if (!t || !vec_dot_generic(w))
        throw Error(strfmt("%s: weight type %s is not supported by the CPU matmul", op, type_name((int32_t)w)));
    if (K <= 0 || K % t->block_size != 0)
        throw Error(strfmt("%s: K = %lld is not a positive multiple of the %s block size %lld", op, (long long)K,
                           t->name, (long long)t->block_size));
    const TypeTraits * at = type_traits(t->vec_dot_type);
    if (K % at->block_size != 0)
        throw Error(strfmt("%s: K = %lld is not a multiple of the activation (%s) block size %lld", op,
                           (long long)K, at->name, (long long)at->block_size));
}

#if defined(LD_HAVE_AVX512) && defined(LD_HAVE_AMX)
// The quantized types the amx ISA runs on AMX tiles: those whose AMX packers were measured faster than the
// avx512 table (Q4_K, Q6_K: the super-block path; Q8_0: straight from the rows; Q4_0). Every other type
// (Q5_0, Q4_1, Q5_1, Q2_K, Q3_K, Q5_K, IQ4_NL, IQ4_XS, MXFP4, ...) runs the avx512 table there: measured
// 0.13-0.96x the time at every size, MoE and dense, 1-1000 tokens (bench/results/moe-direct-pack.md).
static bool amx_table_preferred(Type w) {
    return w == Type::Q4_K || w == Type::Q6_K || w == Type::Q8_0 || w == Type::Q4_0;
}
#endif

const Kernels * kernels_for(CpuIsa isa, Type w) {
    const Kernels * k = nullptr;
#if defined(LD_HAVE_AVX512)
    if (isa == CpuIsa::avx512) k = kernels_avx512();
#endif
#if defined(LD_HAVE_AVX512) && defined(LD_HAVE_AMX)
    // AMX tiles for the quantized types they run fastest (amx_table_preferred); the other quantized types and
    // F32, F16, BF16 run the avx512 table
    if (isa == CpuIsa::amx) {
        // the tiles need the OS's permission, asked for when the ISAs are listed: never run without it
        static const bool ok = [] {
            for (CpuIsa a : cpu_isas_available())
                if (a == CpuIsa::amx) return true;
            return false;
        }();
        if (!ok) throw Error("matmul: CPU ISA 'amx' is not available on this CPU/OS/build");
        k = amx_table_preferred(w) && kernels_amx()->has(w) ? kernels_amx() : kernels_avx512();
    }
#endif
#if defined(LD_HAVE_AVX2)
    if (isa == CpuIsa::avx2) k = kernels_avx2();
#endif
#if defined(LD_HAVE_AVX2) && defined(LD_HAVE_AVXVNNI)
    // AVX-VNNI for the quantized types; the rest (F32, F16, BF16) run the avx2 table
    if (isa == CpuIsa::avx2_vnni) k = kernels_avx2_vnni()->has(w) ? kernels_avx2_vnni() : kernels_avx2();
#endif
#if defined(LD_HAVE_NEON)
    if (isa == CpuIsa::neon) k = kernels_neon();
#endif
#if defined(LD_HAVE_NEON) && defined(LD_HAVE_NEON_I8MM)
    // SMMLA for the quantized types; the rest (F32, F16, BF16) run the neon table
    if (isa == CpuIsa::neon_i8mm) k = kernels_neon_i8mm()->has(w) ? kernels_neon_i8mm() : kernels_neon();
#endif
    return (k && k->has(w)) ? k : nullptr;
}

void quantize_acts(const Kernels * k, Type w, const float * x, int64_t rows, int64_t K, ThreadPool & pool, ActRows & out,
                   std::vector<uint8_t> * into) {
    const Type at = type_traits(w)->vec_dot_type;
    const size_t rb = row_size(at, K);
    static thread_local std::vector<uint8_t> own;  // grow-only per calling thread
    std::vector<uint8_t> & buf = into ? *into : own;
    if (buf.size() < rb * (size_t)rows) buf.resize(rb * (size_t)rows);
    uint8_t * const base = buf.data();
    const int64_t chunk = 16;
    pool.parallel_for((rows + chunk - 1) / chunk, [&](int64_t t, int) {
        for (int64_t r = t * chunk; r < std::min(rows, (t + 1) * chunk); ++r) {
            uint8_t * dst = base + rb * (size_t)r;
            if (!(k && k->quantize_row && k->quantize_row(w, x + r * K, dst, K))) quantize_activation_row(w, x + r * K, dst, K);
        }
    });
    out.type = at;
    out.data = base;
    out.row_bytes = rb;
}

namespace {

void run_generic(Type w, int64_t K, int64_t M, const ActRows & act, const std::vector<Group> & groups, ThreadPool & pool) {
    const vec_dot_fn dot = vec_dot_generic(w);
    const size_t wrb = row_size(w, K);
    const int64_t RB = 16;  // weight rows per task
    std::vector<int64_t> first(groups.size() + 1, 0);
    for (size_t g = 0; g < groups.size(); ++g) first[g + 1] = first[g] + (groups[g].n > 0 ? (M + RB - 1) / RB : 0);
    pool.parallel_for(first.back(), [&](int64_t task, int) {
        const size_t g = (size_t)(std::upper_bound(first.begin(), first.end(), task) - first.begin() - 1);
        const Group & G = groups[g];
        const int64_t m0 = (task - first[g]) * RB, m1 = std::min(M, m0 + RB);
        for (int64_t i = 0; i < G.n; ++i) {
            const uint8_t * a = act.row(G.ids[i]);
            for (int64_t m = m0; m < m1; ++m) G.out[i][m] = dot(K, G.w + wrb * (size_t)m, a);
        }
    });
}

}  // namespace

PrefetchStream & prefetch_stream() {
    static thread_local PrefetchStream s;
    return s;
}

std::vector<int64_t> group_tiles(const Kernels * k, const std::vector<Group> & groups) {
    std::vector<int64_t> tile0(groups.size() + 1, 0);
    for (size_t g = 0; g < groups.size(); ++g) tile0[g + 1] = tile0[g] + (groups[g].n + k->C - 1) / k->C;
    return tile0;
}

const uint8_t * pack_tiles(const Kernels * k, Type w, int64_t K, const ActRows & act, const std::vector<Group> & groups,
                           const std::vector<int64_t> & tile0, ThreadPool & pool, std::vector<uint8_t> & buf) {
    const int C = k->C;
    const size_t tb = k->tile_bytes(w, K);
    const int64_t n_tiles = tile0.back();
    if (buf.size() < tb * (size_t)n_tiles + 64) buf.resize(tb * (size_t)n_tiles + 64);
    uint8_t * tiles_base = aligned64(buf);
    pool.parallel_for(n_tiles, [&](int64_t t, int) {
        const size_t g = (size_t)(std::upper_bound(tile0.begin(), tile0.end(), t) - tile0.begin() - 1);
        const int64_t i0 = (t - tile0[g]) * C;
        const int n = (int)std::min<int64_t>(C, groups[g].n - i0);
        k->pack_tile(w, act, groups[g].ids + i0, n, K, tiles_base + tb * (size_t)t);
    });
    return tiles_base;
}

void run_groups(const Kernels * k, Type w, int64_t K, int64_t M, const ActRows & act, const std::vector<Group> & groups,
                ThreadPool & pool) {
    if (!k) {
        run_generic(w, K, M, act, groups, pool);
        return;
    }
    // 1. pack every activation tile once (tile t of group g covers ids[t*C .. t*C+C)), into a grow-only buffer
    // of the calling thread: no page faults and zero-fill for every call of the same shape
    const std::vector<int64_t> tile0 = group_tiles(k, groups);
    if (tile0.back() == 0) return;
    static thread_local std::vector<uint8_t> tiles;
    const uint8_t * tiles_base = pack_tiles(k, w, K, act, groups, tile0, pool, tiles);
    run_tiles(k, w, K, M, groups, tile0, tiles_base, pool);
}

void run_tiles(const Kernels * k, Type w, int64_t K, int64_t M, const std::vector<Group> & groups,
               const std::vector<int64_t> & tile0, const uint8_t * tiles_base, ThreadPool & pool) {
    const int R = k->R, C = k->C;
    const size_t wrb = row_size(w, K);
    const size_t tb = k->tile_bytes(w, K), pb = k->panel_bytes(w, K);
    // 2. tasks: (group, run of PB consecutive panels, chunk of tiles), handed out longest first (cost ~
    // panels x (tiles + the packing, worth ~2 tiles)): experts with many tokens start early and the
    // threads finish together. A task packs each of its panels once and runs all its tiles over it
    // (or lets the kernel pack as it computes: compute_raw; or uses the panels of a prepared weight).
    // Every output element is computed by exactly one task, the same way for any thread count.
    const int64_t n_panels = (M + R - 1) / R;
    const int64_t chunk_tiles = std::max<int64_t>(1, 1024 / C);
    const int nt = pool.n_threads();
    int64_t n_units = 0;  // (group, panel, tile chunk) units
    for (size_t g = 0; g < groups.size(); ++g) n_units += n_panels * ((tile0[g + 1] - tile0[g] + chunk_tiles - 1) / chunk_tiles);
    const int64_t PB = std::clamp<int64_t>(n_units / (16 * (int64_t)nt), 1, 8);  // panels per task
    struct Task { int32_t g; int32_t p0, p1; int64_t t0, t1; int64_t cost; };
    std::vector<Task> tasks;
    for (size_t g = 0; g < groups.size(); ++g)
        for (int64_t p = 0; p < n_panels; p += PB)
            for (int64_t t = tile0[g]; t < tile0[g + 1]; t += chunk_tiles) {
                const int64_t t1 = std::min(tile0[g + 1], t + chunk_tiles), p1 = std::min(n_panels, p + PB);
                tasks.push_back({(int32_t)g, (int32_t)p, (int32_t)p1, t, t1, (p1 - p) * (t1 - t + 2)});
            }
    std::stable_sort(tasks.begin(), tasks.end(), [](const Task & a, const Task & b) { return a.cost > b.cost; });
    const int raw_max = k->raw_max_tiles ? k->raw_max_tiles(w) : 0;  // 0: no limit
    std::vector<std::vector<uint8_t>> panels((size_t)nt);
    std::vector<std::pair<int32_t, int32_t>> cached((size_t)nt, {-1, -1});
    // the output columns of a task's tiles for compute_tiles / compute_raw: ycols[i][c] = row r0 of
    // the output of column c of tile i, ncols[i] its columns (per calling thread)
    static thread_local std::vector<float *> yptr;
    static thread_local std::vector<float * const *> ycols;
    static thread_local std::vector<int> ncols;
    auto set_cols = [&](const Task & T, int64_t r0) {
        const Group & G = groups[(size_t)T.g];
        const int ntl = (int)(T.t1 - T.t0);
        yptr.resize((size_t)ntl * C);
        ycols.resize((size_t)ntl);
        ncols.resize((size_t)ntl);
        for (int i = 0; i < ntl; ++i) {
            const int64_t i0 = (T.t0 + i - tile0[(size_t)T.g]) * C;
            ncols[(size_t)i] = (int)std::min<int64_t>(C, G.n - i0);
            for (int c = 0; c < ncols[(size_t)i]; ++c) yptr[(size_t)i * C + c] = G.out[i0 + c] + r0;
            ycols[(size_t)i] = yptr.data() + (size_t)i * C;
        }
    };
    pool.parallel_for((int64_t)tasks.size(), [&](int64_t ti, int th) {
        const Task & T = tasks[(size_t)ti];
        const Group & G = groups[(size_t)T.g];
        std::vector<uint8_t> & pbuf = panels[(size_t)th];
        if (pbuf.size() < pb + 64) pbuf.resize(pb + 64);
        uint8_t * panel = aligned64(pbuf);
        for (int32_t p = T.p0; p < T.p1; ++p) {
            const int64_t r0 = (int64_t)p * R;
            const int n_rows = (int)std::min<int64_t>(R, M - r0);
            const bool packed = (G.panels && !G.compact) || cached[(size_t)th] == std::make_pair(T.g, p);
            // while this panel's tiles run, the bytes of the next one (its rows, or its prepared panel or compact
            // form; this task's next panel, or usually the next task's first) come into L2, a few lines per block
            // (prefetch-stream.h)
            PrefetchStream & ps = prefetch_stream();
            if (r0 + R < M) {
                ps.p = G.panels ? reinterpret_cast<const char *>(G.panels + G.panel_stride * (size_t)(p + 1))
                                : reinterpret_cast<const char *>(G.w + wrb * (size_t)(r0 + R));
                ps.end = ps.p + (G.panels ? G.panel_stride : wrb * (size_t)std::min<int64_t>(R, M - r0 - R));
                const int64_t steps = (T.t1 - T.t0) * std::max<int64_t>(1, K / 32);
                ps.per_step = (int)std::max<int64_t>(1, ((int64_t)(ps.end - ps.p) / 64 + steps - 1) / steps);
            }
            // the kernel may pack (or expand the compact form) as it goes
            if (!packed && (raw_max == 0 || T.t1 - T.t0 <= raw_max)) {
                const uint8_t * tl = tiles_base + tb * (size_t)T.t0;
                const int ntl = (int)(T.t1 - T.t0);
                bool done = false;
                if (!G.panels && k->compute_raw) {
                    set_cols(T, r0);
                    done = k->compute_raw(w, G.w + wrb * (size_t)r0, wrb, n_rows, K, tl, tb, ntl, ncols.data(), ycols.data());
                } else if (G.panels && k->compute_compact) {
                    set_cols(T, r0);
                    done = k->compute_compact(w, G.panels + G.panel_stride * (size_t)p, n_rows, K, tl, tb, ntl,
                                              ncols.data(), ycols.data());
                }
                if (done) {
                    ps = PrefetchStream{};
                    continue;
                }
            }
            if (!packed) {
                if (G.panels) k->expand_compact(w, G.panels + G.panel_stride * (size_t)p, n_rows, K, panel);
                else k->pack_panel(w, G.w + wrb * (size_t)r0, wrb, n_rows, K, panel);
                cached[(size_t)th] = {T.g, p};
            }
            // prepared, or packed / expanded now
            const uint8_t * pan = G.panels && !G.compact ? G.panels + G.panel_stride * (size_t)p : panel;
            if (k->compute_tiles) {  // the whole chunk in one call
                set_cols(T, r0);
                k->compute_tiles(w, pan, tiles_base + tb * (size_t)T.t0, tb, (int)(T.t1 - T.t0), K, n_rows, ncols.data(),
                                 ycols.data());
            } else {
                float * ycol[64];
                for (int64_t t = T.t0; t < T.t1; ++t) {
                    const int64_t i0 = (t - tile0[(size_t)T.g]) * C;
                    const int n = (int)std::min<int64_t>(C, G.n - i0);
                    for (int c = 0; c < n; ++c) ycol[c] = G.out[i0 + c] + r0;
                    k->compute(w, pan, tiles_base + tb * (size_t)t, K, n_rows, n, ycol);
                }
            }
            ps = PrefetchStream{};
        }
    });
}

void PackedActs::pack(CpuIsa isa, Type w, const float * x, int64_t N, int64_t K, ThreadPool & pool) {
    check_weight("matmul", w, K);
    if (N < 0) throw Error(strfmt("matmul: negative N = %lld", (long long)N));
    k_ = kernels_for(isa, w);
    w_ = w;
    N_ = N;
    K_ = K;
    ids_.resize((size_t)N);
    for (int64_t i = 0; i < N; ++i) ids_[(size_t)i] = i;
    out_.assign((size_t)N, nullptr);
    if (N == 0) return;
    quantize_acts(k_, w, x, N, K, pool, act_, &q_);
    if (!k_) return;
    const std::vector<Group> groups{Group{nullptr, ids_.data(), out_.data(), N}};
    tile0_ = group_tiles(k_, groups);
    tiles_base_ = pack_tiles(k_, w, K, act_, groups, tile0_, pool, tiles_);
}

void PackedActs::matmul(const void * w, int64_t M, float * y, ThreadPool & pool) {
    if (N_ == 0 || M == 0) return;
    if (M < 0 || !w || !y) throw Error("matmul: bad weight or output");
    for (int64_t i = 0; i < N_; ++i) out_[(size_t)i] = y + i * M;
    const std::vector<Group> groups{Group{static_cast<const uint8_t *>(w), ids_.data(), out_.data(), N_}};
    if (!k_) run_generic(w_, K_, M, act_, groups, pool);
    else run_tiles(k_, w_, K_, M, groups, tile0_, tiles_base_, pool);
}

}  // namespace mm

using namespace mm;

bool matmul_supports(Type wtype) { return vec_dot_generic(wtype) != nullptr; }

namespace {

void check_dense(const char * op, const float * x, int64_t N, int64_t K, const void * w, Type wtype, int64_t M,
                 const float * y) {
    check_weight(op, wtype, K);
    if (N < 0 || M < 0) throw Error(strfmt("%s: negative size N = %lld, M = %lld", op, (long long)N, (long long)M));
    if ((N > 0 && (!x || !y)) || (M > 0 && !w)) throw Error(strfmt("%s: null buffer", op));
}

}  // namespace

void matmul_isa(CpuIsa isa, const float * x, int64_t N, int64_t K, const void * w, Type wtype, int64_t M, float * y,
                ThreadPool * pool) {
    check_dense("matmul", x, N, K, w, wtype, M, y);
    if (N == 0 || M == 0) return;
    ThreadPool & P = pool ? *pool : ThreadPool::global();
    const Kernels * k = kernels_for(isa, wtype);
    ActRows act;
    quantize_acts(k, wtype, x, N, K, P, act);
    std::vector<int64_t> ids((size_t)N);
    std::vector<float *> out((size_t)N);
    for (int64_t i = 0; i < N; ++i) { ids[(size_t)i] = i; out[(size_t)i] = y + i * M; }
    std::vector<Group> groups{Group{static_cast<const uint8_t *>(w), ids.data(), out.data(), N}};
    run_groups(k, wtype, K, M, act, groups, P);
}

void matmul(const float * x, int64_t N, int64_t K, const void * w, Type wtype, int64_t M, float * y, ThreadPool * pool) {
    matmul_isa(cpu_isa(), x, N, K, w, wtype, M, y, pool);
}

void matmul_ref(const float * x, int64_t N, int64_t K, const void * w, Type wtype, int64_t M, float * y) {
    check_dense("matmul_ref", x, N, K, w, wtype, M, y);
    const vec_dot_fn dot = vec_dot_generic(wtype);
    const Type at = type_traits(wtype)->vec_dot_type;
    const size_t arb = row_size(at, K), wrb = row_size(wtype, K);
    std::vector<uint8_t> a(arb);
    const uint8_t * wb = static_cast<const uint8_t *>(w);
    for (int64_t n = 0; n < N; ++n) {
        quantize_activation_row(wtype, x + n * K, a.data(), K);
        for (int64_t m = 0; m < M; ++m) y[n * M + m] = dot(K, wb + wrb * (size_t)m, a.data());
    }
}

}  // namespace ld::ggml
