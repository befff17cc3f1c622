// C++ test of the fused vocab head's quantized self-conditioning path (vocab-head-fused.cpp,
// vocab-head-tile.cpp), which the Python tests (F32 embeddings only) do not reach:
//   1. the per-tile transposed embedding equals an independent reference: each column of the
//      tile gathered from the reference dequantization of E, zero padded, then
//      quantize_row_q8_0_ref (F32: the exact transpose), for F32 / F16 / Q8_0 / Q6_K / Q4_K
//      embeddings, tiles that start off the 32-grid and end in a partial block, widths that are
//      not a multiple of 16, values that round at exactly .5, and for 1, 2 and 3 threads;
//   2. the fused head with a Q8_0 / Q6_K embedding against the plain head (materialised logits,
//      TransposedEmbedding) and against a float64 softmax of the same logits: argmax, entropy,
//      draws, and soft = Σ p_v E_v within the 8-bit rounding of E and p;
//   3. the fused head's outputs are bit-identical for 1, 2 and 3 threads;
//   4. sparse self-conditioning (soft_drop_mass = 1e-6) on a peaked softmax: rows are skipped, argmax,
//      entropy and draws equal the exact mode's, soft is within 1e-6 * max|E| (+ f32 rounding) of a
//      float64 Σ p_v E_v for an F32 embedding (within the 8-bit rounding for Q8_0 / Q6_K), bit-identical
//      for 1, 2 and 3 threads; exact mode uses every row; a flat softmax keeps every row and equals the
//      exact mode bit for bit.
//   5. on CPUs with AMX-BF16, the bf16 self-conditioning product (soft-product-amx.cpp) within the bf16
//      rounding of p and E of a float64 reference, exact and sparse, with tails in every dimension.
//   6. the transposed embedding kept across calls (EmbeddingTCache) gives the uncached results bit for bit
//      and is really read by the later calls (test_et_cache).
// Tests 1 (also with a BF16 embedding), 2 and 5 run once per ISA this CPU and build can run (forced with
// cpu_isa_set), so every kernel of ld-ggml/dequant-rows.h that builds the tiles is covered.
#include <cmath>
#include <cstdio>
#include <cstring>
#include <random>
#include <vector>

#include "ld-ggml/cpu-vocab-head.h"
#include "generate/vocab-head.h"
#include "ld-ggml/cpu-features.h"
#include "ld-ggml/cpu-matmul.h"
#include "ld-ggml/cpu-nn.h"
#include "ld-ggml/types.h"
#include "model/embedding-t.h"
#include "test-check.h"

using namespace ld;

namespace {

struct Emb {
    std::vector<uint8_t> bytes;
    Mat m;
};

// E {H, V} of type t from the values f [V, H] (reference quantization).
Emb make_emb(const std::vector<float> & f, int64_t H, int64_t V, ggml::Type t) {
    Emb e;
    const size_t rb = ggml::row_size(t, H);
    e.bytes.resize(rb * (size_t)V);
    const auto * tt = ggml::type_traits(t);
    for (int64_t v = 0; v < V; ++v) {
        if (t == ggml::Type::F32) std::memcpy(e.bytes.data() + rb * v, f.data() + v * H, rb);
        else tt->from_float_ref(f.data() + v * H, e.bytes.data() + rb * v, H);
    }
    e.m.data = e.bytes.data();
    e.m.type = t;
    e.m.ne[0] = H;
    e.m.ne[1] = V;
    e.m.ne[2] = 1;
    e.m.name = "test_embd";
    return e;
}

std::vector<float> dequant(const Mat & E) {
    const int64_t H = E.ne[0], V = E.ne[1];
    std::vector<float> out((size_t)(H * V));
    for (int64_t v = 0; v < V; ++v) mat_get_row(E, v, out.data() + v * H);
    return out;
}

// The reference Eᵀ tile: H rows of cols values.
std::vector<uint8_t> ref_tile(const Mat & E, int64_t v0, int64_t nt, int64_t cols) {
    const int64_t H = E.ne[0];
    const std::vector<float> d = dequant(E);
    const ggml::Type t = E.type == ggml::Type::F32 ? ggml::Type::F32 : ggml::Type::Q8_0;
    const size_t rb = ggml::row_size(t, cols);
    std::vector<uint8_t> out(rb * (size_t)H);
    std::vector<float> col((size_t)cols);
    for (int64_t h = 0; h < H; ++h) {
        for (int64_t r = 0; r < cols; ++r) col[(size_t)r] = r < nt ? d[(size_t)((v0 + r) * H + h)] : 0.0f;
        if (t == ggml::Type::F32) std::memcpy(out.data() + rb * h, col.data(), rb);
        else ggml::type_traits(t)->from_float_ref(col.data(), out.data() + rb * h, cols);
    }
    return out;
}

void test_tiles() {
    struct Case { ggml::Type t; int64_t H; };
    const Case cases[] = {{ggml::Type::F32, 40}, {ggml::Type::F16, 40}, {ggml::Type::F16, 100}, {ggml::Type::Q8_0, 96},
                          {ggml::Type::Q6_K, 512}, {ggml::Type::Q4_K, 256}, {ggml::Type::BF16, 72}};
    const int64_t V = 230;
    std::mt19937 g(7);
    std::normal_distribution<float> nd(0.0f, 1.0f);
    for (const Case & cs : cases) {
        std::vector<float> f((size_t)(V * cs.H));
        for (auto & x : f) x = nd(g);
        // Column 3: exact halves after scaling (amax 127 -> d = 1): rounding ties, away from zero.
        const float ties[] = {127.0f, 2.5f, -2.5f, 0.5f, -0.5f, 126.5f, -126.5f, 1.5f, -1.5f, 0.0f};
        for (int64_t r = 0; r < V; ++r) f[(size_t)(r * cs.H + 3)] = ties[r % 10];
        const Emb e = make_emb(f, cs.H, V, cs.t);
        const int64_t tiles[][2] = {{0, 64}, {32, 100}, {37, 7}, {200, 30}, {0, V}};
        for (const auto & tl : tiles) {
            const int64_t v0 = tl[0], nt = tl[1];
            std::vector<uint8_t> first;
            for (int nth : {1, 2, 3}) {
                ggml::ThreadPool pool(nth);
                ggml::EmbeddingTileT et(e.m.data, e.m.type, e.m.ne[0], e.m.ne[1], V, nth, /*kernel_panels=*/false);
                et.build(v0, nt, &pool);
                const int64_t cols = et.cols(nt);
                const std::vector<uint8_t> ref = ref_tile(e.m, v0, nt, cols);
                const uint8_t * got = (const uint8_t *)et.data();
                const bool same = std::memcmp(got, ref.data(), ref.size()) == 0;
                if (!same)
                    std::fprintf(stderr, "tile mismatch: type %s H %lld v0 %lld nt %lld threads %d\n",
                                 ggml::type_name((int32_t)cs.t), (long long)cs.H, (long long)v0, (long long)nt, nth);
                CHECK(same);
                if (first.empty()) first.assign(got, got + ref.size());
                CHECK(std::memcmp(first.data(), got, ref.size()) == 0);
            }
        }
    }
}

// 1b. Where the ISA writes the tile straight into its matmul panels (avx512, avx2, avx2_vnni), the product
// with those panels equals, bit for bit, the product with the Q8_0 rows of test 1 (whose panels pack_panel
// makes): embeddings of every type, widths that are not a multiple of the panel's rows, tiles off the
// 32-grid with partial blocks, the sparse mode's gathered rows, 1 and 3 threads.
void test_tile_panels() {
    struct Case { ggml::Type t; int64_t H; };
    const Case cases[] = {{ggml::Type::Q8_0, 96}, {ggml::Type::Q6_K, 512}, {ggml::Type::F16, 100}, {ggml::Type::Q4_K, 256},
                          {ggml::Type::BF16, 40}};
    const int64_t V = 230, C = 5;
    std::mt19937 g(17);
    std::normal_distribution<float> nd(0.0f, 1.0f);
    int n_panel_cases = 0;
    for (const Case & cs : cases) {
        std::vector<float> f((size_t)(V * cs.H));
        for (auto & x : f) x = nd(g);
        const Emb e = make_emb(f, cs.H, V, cs.t);
        const int64_t tiles[][2] = {{0, 64}, {37, 7}, {200, 30}, {0, V}};
        for (const auto & tl : tiles) {
            for (int nth : {1, 3}) {
                ggml::ThreadPool pool(nth);
                ggml::EmbeddingTileT er(e.m.data, e.m.type, e.m.ne[0], e.m.ne[1], V, nth, false);
                ggml::EmbeddingTileT ep(e.m.data, e.m.type, e.m.ne[0], e.m.ne[1], V, nth, true);
                for (bool gathered : {false, true}) {
                    std::vector<int32_t> rows;
                    for (int64_t i = 0; i < tl[1]; ++i) rows.push_back((int32_t)((tl[0] + 7 * i) % V));
                    if (gathered) {
                        er.build_rows(rows.data(), tl[1], &pool);
                        ep.build_rows(rows.data(), tl[1], &pool);
                    } else {
                        er.build(tl[0], tl[1], &pool);
                        ep.build(tl[0], tl[1], &pool);
                    }
                    if (!ep.prepared()) continue;  // this ISA keeps the rows
                    ++n_panel_cases;
                    const int64_t K = er.cols(tl[1]);
                    std::vector<float> x((size_t)(C * K)), yr((size_t)(C * cs.H), NAN), yp((size_t)(C * cs.H), NAN);
                    for (auto & v : x) v = std::fabs(nd(g));  // softmax weights are >= 0
                    x[1] = -x[1];                            // and one negative value: both integer paths
                    ggml::matmul(x.data(), C, K, (const uint8_t *)er.data(), er.type(), cs.H, yr.data(), &pool);
                    ggml::matmul_prepared(x.data() + K, C - 1, *ep.prepared(), yp.data() + cs.H, &pool);
                    ggml::matmul_prepared(x.data(), 1, *ep.prepared(), yp.data(), &pool);
                    const bool same = std::memcmp(yr.data(), yp.data(), yr.size() * sizeof(float)) == 0;
                    if (!same)
                        std::fprintf(stderr, "panel tile mismatch: isa %s type %s H %lld v0 %lld nt %lld gathered %d\n",
                                     ggml::cpu_isa_name(ggml::cpu_isa()), ggml::type_name((int32_t)cs.t), (long long)cs.H,
                                     (long long)tl[0], (long long)tl[1], (int)gathered);
                    CHECK(same);
                }
            }
        }
    }
    const ggml::CpuIsa isa = ggml::cpu_isa();
    const bool expect = isa == ggml::CpuIsa::avx512 || isa == ggml::CpuIsa::avx2 || isa == ggml::CpuIsa::avx2_vnni;
    CHECK(expect == (n_panel_cases > 0));  // the panels are used exactly where they are offered
}

void test_fused_vs_plain() {
    const int64_t C = 9, H = 256, V = 320;
    std::mt19937 g(11);
    std::normal_distribution<float> nd(0.0f, 1.0f);
    std::vector<float> f((size_t)(V * H)), hidden((size_t)(C * H));
    for (auto & x : f) x = 0.15f * nd(g);
    for (auto & x : hidden) x = nd(g);
    for (ggml::Type t : {ggml::Type::Q8_0, ggml::Type::Q6_K}) {
        const Emb e = make_emb(f, H, V, t);
        const std::vector<float> Ed = dequant(e.m);
        ggml::ThreadPool pool(2);
        std::vector<float> lg((size_t)(C * V));
        ggml::matmul(hidden.data(), C, H, e.m.data, e.m.type, V, lg.data(), &pool);
        ggml::softcap(lg.data(), C * V, 30.0f, lg.data(), &pool);
        TransposedEmbedding Et;
        Et.build(e.m, &pool);
        for (float T : {1.0f, 0.5f}) {
            gen::HeadStep st;
            st.temperature = T;
            st.seed = 5;
            gen::HeadOut plain;
            gen::vocab_head_plain(lg.data(), C, V, &Et, st, plain, nullptr, &pool);
            for (int64_t tile : {0, 64, 100}) {
                gen::HeadOut fused;
                gen::vocab_head_fused(hidden.data(), C, e.m, e.m, 30.0f, st, fused, &pool, tile);
                int agree = 0;
                for (int64_t c = 0; c < C; ++c) {
                    // float64 softmax of the plain head's logits: the reference for both heads
                    const float * row = lg.data() + c * V;
                    double m = -1e300;
                    int64_t am = 0;
                    for (int64_t v = 0; v < V; ++v)
                        if ((double)(row[v] / T) > m) { m = row[v] / T; am = v; }
                    double s = 0.0, a = 0.0;
                    std::vector<double> p((size_t)V);
                    for (int64_t v = 0; v < V; ++v) {
                        const double d = (double)(row[v] / T) - m;
                        p[(size_t)v] = std::exp(d);
                        s += p[(size_t)v];
                        a += p[(size_t)v] * d;
                    }
                    CHECK(fused.argmax[(size_t)c] == am && plain.argmax[(size_t)c] == am);
                    CHECK(std::fabs(fused.entropy[(size_t)c] - (std::log(s) - a / s)) < 1e-3);
                    agree += fused.draw[(size_t)c] == plain.draw[(size_t)c];
                    double err_f = 0.0, err_p = 0.0, scale = 0.0;
                    for (int64_t h = 0; h < H; ++h) {
                        double ref = 0.0;
                        for (int64_t v = 0; v < V; ++v) ref += p[(size_t)v] / s * Ed[(size_t)(v * H + h)];
                        err_f = std::max(err_f, std::fabs(fused.soft[(size_t)(c * H + h)] - ref));
                        err_p = std::max(err_p, std::fabs(plain.soft[(size_t)(c * H + h)] - ref));
                        scale = std::max(scale, std::fabs(ref));
                    }
                    // 8-bit rounding of E (per 32 vocabulary rows) and of p: about 1% of the values
                    if (!(err_f < 0.02 * scale + 2e-3 && err_f < 2.0 * err_p + 1e-3))
                        std::fprintf(stderr, "soft: type %s T %g tile %lld c %lld err fused %g plain %g scale %g\n",
                                     ggml::type_name((int32_t)t), (double)T, (long long)tile, (long long)c, err_f, err_p, scale);
                    CHECK(err_f < 0.02 * scale + 2e-3);
                    CHECK(err_f < 2.0 * err_p + 1e-3);
                }
                CHECK(agree >= C - 1);
            }
        }
    }
}

void test_thread_count() {
    const int64_t C = 13, H = 256, V = 1000;
    std::mt19937 g(13);
    std::normal_distribution<float> nd(0.0f, 1.0f);
    std::vector<float> f((size_t)(V * H)), hidden((size_t)(C * H));
    for (auto & x : f) x = 0.1f * nd(g);
    for (auto & x : hidden) x = nd(g);
    const Emb e = make_emb(f, H, V, ggml::Type::Q6_K);
    gen::HeadStep st;
    st.temperature = 0.8f;
    st.seed = 9;
    gen::HeadOut first;
    for (int nth : {1, 2, 3}) {
        ggml::ThreadPool pool(nth);
        gen::HeadOut o;
        gen::vocab_head_fused(hidden.data(), C, e.m, e.m, 30.0f, st, o, &pool, 96);
        if (nth == 1) {
            first = o;
            continue;
        }
        CHECK(o.argmax == first.argmax && o.draw == first.draw);
        CHECK(std::memcmp(o.entropy.data(), first.entropy.data(), sizeof(float) * (size_t)C) == 0);
        CHECK(std::memcmp(o.soft.data(), first.soft.data(), sizeof(float) * (size_t)(C * H)) == 0);
    }
}

// ggml::vocab_head_fused on [C, H] hidden states with embedding e (tied), drop mass eps.
struct SparseOut {
    std::vector<int32_t> argmax, draw;
    std::vector<float> entropy, soft;
    int64_t rows = -1;
};
SparseOut run_head(const std::vector<float> & hidden, int64_t C, int64_t H, int64_t V, const Emb & e, float eps,
                   int nth, int64_t tile, ggml::EmbeddingTCache * cache = nullptr, const void * embd = nullptr) {
    SparseOut o;
    o.argmax.resize((size_t)C);
    o.draw.resize((size_t)C);
    o.entropy.resize((size_t)C);
    o.soft.resize((size_t)(C * H));
    ggml::VocabHeadArgs a;
    a.hidden = hidden.data();
    a.C = C; a.H = H; a.V = V;
    a.out_w = a.embd = e.m.data;
    if (embd) a.embd = embd;  // the soft product's copy of the embedding (the LM head keeps e)
    a.out_type = a.embd_type = e.m.type;
    a.temperature = 0.7f;
    a.seed = 3;
    a.argmax = o.argmax.data(); a.draw = o.draw.data(); a.entropy = o.entropy.data(); a.soft = o.soft.data();
    a.soft_drop_mass = eps;
    a.soft_rows_used = &o.rows;
    ggml::ThreadPool pool(nth);
    ggml::vocab_head_fused(a, &pool, tile, cache);
    return o;
}

// 5. On the amx ISA with AMX-BF16 (soft-product-amx.cpp: bf16 tiles straight from E's rows): soft against a
// float64 Σ p_v E_v of the same logits (ggml::matmul, the head's kernel) within the bf16 rounding of p and E
// (8 significant bits: 2^-8 relative each, so |err| <= ~2^-7 Σ p_v |E_v|), exact and sparse mode (idx rows), sizes with tails everywhere:
// C not a multiple of 32, H not a multiple of 32 (F16, BF16), tiles of 300 rows (chunks of 256 + 44) and a
// last tile of 100; bit-identical for 1, 2 and 3 threads.
void test_soft_bf16() {
    const ggml::CpuFeatures & cf = ggml::cpu_features();
    if (ggml::cpu_isa() != ggml::CpuIsa::amx || !cf.amx_bf16 || !cf.avx512bf16) return;
    std::printf("  soft product on AMX-BF16\n");
    const int64_t C = 37, V = 700, tile = 300;
    std::mt19937 g(23);
    std::normal_distribution<float> nd(0.0f, 1.0f);
    struct Case { ggml::Type t; int64_t H; };
    for (const Case & cs : {Case{ggml::Type::Q6_K, 256}, Case{ggml::Type::Q4_K, 512}, Case{ggml::Type::Q8_0, 96},
                            Case{ggml::Type::F16, 80}, Case{ggml::Type::BF16, 48}}) {
        const int64_t H = cs.H;
        std::vector<float> f((size_t)(V * H)), hidden((size_t)(C * H));
        for (auto & x : f) x = 0.2f * nd(g);
        for (float sc : {0.3f, 2.5f}) {  // a flat and a peaked softmax (sparse mode then drops rows)
            for (auto & x : hidden) x = sc * nd(g);
            const Emb e = make_emb(f, H, V, cs.t);
            const std::vector<float> Ed = dequant(e.m);
            ggml::ThreadPool pool2(2);
            std::vector<float> lg((size_t)(C * V));
            ggml::matmul(hidden.data(), C, H, e.m.data, e.m.type, V, lg.data(), &pool2);
            double emax = 0.0;
            for (float x : Ed) emax = std::max(emax, (double)std::fabs(x));
            for (float eps : {0.0f, 1e-6f}) {
                SparseOut first;
                for (int nth : {1, 2, 3}) {
                    const SparseOut o = run_head(hidden, C, H, V, e, eps, nth, tile);
                    if (nth > 1) {
                        CHECK(std::memcmp(o.soft.data(), first.soft.data(), sizeof(float) * o.soft.size()) == 0);
                        continue;
                    }
                    first = o;
                    if (eps == 0.0f) CHECK(o.rows == V);
                    double worst = 0.0;
                    for (int64_t c = 0; c < C; ++c) {
                        std::vector<double> p((size_t)V);
                        double m = -1e300, s = 0.0;
                        for (int64_t v = 0; v < V; ++v) m = std::max(m, (double)lg[(size_t)(c * V + v)] / 0.7);
                        for (int64_t v = 0; v < V; ++v) s += p[(size_t)v] = std::exp((double)lg[(size_t)(c * V + v)] / 0.7 - m);
                        for (int64_t h = 0; h < H; ++h) {
                            double ref = 0.0, mag = 0.0;
                            for (int64_t v = 0; v < V; ++v) {
                                ref += p[(size_t)v] / s * Ed[(size_t)(v * H + h)];
                                mag += p[(size_t)v] / s * std::fabs(Ed[(size_t)(v * H + h)]);
                            }
                            const double err = std::fabs(o.soft[(size_t)(c * H + h)] - ref);
                            const double bound = 1.25 * mag / 128.0 + (double)eps * emax + 1e-6 * emax;
                            worst = std::max(worst, err / bound);
                        }
                    }
                    if (!(worst <= 1.0))
                        std::fprintf(stderr, "soft bf16: type %s H %lld scale %g eps %g: error %.3g x the bound\n",
                                     ggml::type_name((int32_t)cs.t), (long long)H, (double)sc, (double)eps, worst);
                    CHECK(worst <= 1.0);
                }
            }
        }
    }
}

void test_sparse() {
    const int64_t C = 6, H = 256, V = 3000, tile = 512;
    std::mt19937 g(17);
    std::normal_distribution<float> nd(0.0f, 1.0f);
    std::vector<float> f((size_t)(V * H)), hidden((size_t)(C * H)), flat((size_t)(C * H));
    for (auto & x : f) x = nd(g);
    for (auto & x : hidden) x = 0.75f * nd(g);  // logits ~ N(0, 12^2): a peaked softmax
    for (auto & x : flat) x = 0.002f * nd(g);   // logits ~ 0: every row matters
    for (ggml::Type t : {ggml::Type::F32, ggml::Type::Q8_0, ggml::Type::Q6_K}) {
        const Emb e = make_emb(f, H, V, t);
        const std::vector<float> Ed = dequant(e.m);
        const SparseOut ex = run_head(hidden, C, H, V, e, 0.0f, 2, tile);
        const SparseOut sp = run_head(hidden, C, H, V, e, 1e-6f, 2, tile);
        CHECK(ex.rows == V);
        CHECK(sp.rows > 0 && sp.rows < V / 2);
        std::printf("  sparse soft (%s): %lld of %lld rows used\n", ggml::type_name((int32_t)t), (long long)sp.rows, (long long)V);
        CHECK(sp.argmax == ex.argmax && sp.draw == ex.draw && sp.entropy == ex.entropy);
        for (int64_t c = 0; c < C; ++c) {
            // float64 reference of the same logits: the F32 product of the kernels is close to this one
            std::vector<double> lg((size_t)V);
            double m = -1e300;
            for (int64_t v = 0; v < V; ++v) {
                double d = 0.0;
                for (int64_t h = 0; h < H; ++h) d += (double)hidden[(size_t)(c * H + h)] * Ed[(size_t)(v * H + h)];
                lg[(size_t)v] = d / 0.7;
                m = std::max(m, lg[(size_t)v]);
            }
            double s = 0.0, emax = 0.0;
            for (int64_t v = 0; v < V; ++v) s += std::exp(lg[(size_t)v] - m);
            for (float x : Ed) emax = std::max(emax, (double)std::fabs(x));
            double err_sp = 0.0, err_ex = 0.0;
            for (int64_t h = 0; h < H; ++h) {
                double ref = 0.0;
                for (int64_t v = 0; v < V; ++v) ref += std::exp(lg[(size_t)v] - m) / s * Ed[(size_t)(v * H + h)];
                err_sp = std::max(err_sp, std::fabs(sp.soft[(size_t)(c * H + h)] - ref));
                err_ex = std::max(err_ex, std::fabs(ex.soft[(size_t)(c * H + h)] - ref));
            }
            if (t == ggml::Type::F32) {
                // the dropped mass (<= 1e-6) plus the f32 rounding of the logits (relative ~1e-5 here)
                CHECK(err_sp <= 1e-6 * emax + 1e-4 * emax);
                CHECK(std::fabs(err_sp - err_ex) <= 1e-6 * emax + 1e-6);
            } else {
                // the quantized logits (Q8_0 activations) move p away from the float64 reference for both
                // modes alike; sparse vs exact: the dropped mass plus the 8-bit roundings of Eᵀ and of p, whose
                // blocks group other rows in sparse mode (each at most half a step, amax / 254, per mode)
                double d = 0.0;
                for (int64_t h = 0; h < H; ++h)
                    d = std::max(d, (double)std::fabs(sp.soft[(size_t)(c * H + h)] - ex.soft[(size_t)(c * H + h)]));
                if (!(d <= 1e-6 * emax + 4.0 * emax / 254.0))
                    std::fprintf(stderr, "sparse %s c %lld: |sparse - exact| %g, err %g / %g, emax %g\n",
                                 ggml::type_name((int32_t)t), (long long)c, d, err_sp, err_ex, emax);
                CHECK(d <= 1e-6 * emax + 4.0 * emax / 254.0);
                CHECK(err_sp <= 1.5 * err_ex + emax / 254.0);
            }
        }
        for (int nth : {1, 3}) {
            const SparseOut o = run_head(hidden, C, H, V, e, 1e-6f, nth, tile);
            CHECK(o.rows == sp.rows && o.argmax == sp.argmax && o.draw == sp.draw);
            CHECK(std::memcmp(o.soft.data(), sp.soft.data(), sizeof(float) * o.soft.size()) == 0);
        }
        // a flat softmax: no row is negligible, so sparse mode is the exact mode
        const SparseOut fe = run_head(flat, C, H, V, e, 0.0f, 2, tile), fs = run_head(flat, C, H, V, e, 1e-6f, 2, tile);
        CHECK(fs.rows == V);
        CHECK(std::memcmp(fe.soft.data(), fs.soft.data(), sizeof(float) * fe.soft.size()) == 0);
    }
    bool threw = false;
    try {
        const Emb e = make_emb(f, H, V, ggml::Type::F32);
        run_head(hidden, C, H, V, e, 1.5f, 1, tile);
    } catch (const std::exception &) {
        threw = true;
    }
    CHECK(threw);  // soft_drop_mass outside [0, 1)
}

bool same(const SparseOut & x, const SparseOut & y) {
    return x.argmax == y.argmax && x.draw == y.draw && x.rows == y.rows && x.entropy.size() == y.entropy.size() &&
           x.soft.size() == y.soft.size() &&
           std::memcmp(x.entropy.data(), y.entropy.data(), sizeof(float) * x.entropy.size()) == 0 &&
           std::memcmp(x.soft.data(), y.soft.data(), sizeof(float) * x.soft.size()) == 0;
}

// 6. The transposed embedding kept across calls (EmbeddingTCache): the first and later calls equal the
// uncached head bit for bit (exact and sparse mode, a last tile of 184 rows); where the ISA keeps panels the
// later calls read the kept tiles (a copy of the embedding given to the soft product, then zeroed: the
// results do not change), and another embedding clears the cache (its results are that embedding's).
void test_et_cache() {
    const int64_t C = 9, H = 256, V = 1720, tile = 512;
    std::mt19937 g(29);
    std::normal_distribution<float> nd(0.0f, 1.0f);
    std::vector<float> f((size_t)(V * H)), f2((size_t)(V * H)), hidden((size_t)(C * H));
    for (auto & x : f) x = nd(g);
    for (auto & x : f2) x = nd(g);
    for (auto & x : hidden) x = 0.75f * nd(g);
    for (ggml::Type t : {ggml::Type::Q6_K, ggml::Type::Q8_0, ggml::Type::F32}) {
        const Emb e = make_emb(f, H, V, t), e2 = make_emb(f2, H, V, t);
        for (float eps : {0.0f, 1e-6f}) {
            const SparseOut ref = run_head(hidden, C, H, V, e, eps, 2, tile);
            std::vector<uint8_t> copy = e.bytes;  // the soft product's embedding
            ggml::EmbeddingTCache cache;
            CHECK(same(run_head(hidden, C, H, V, e, eps, 2, tile, &cache, copy.data()), ref));
            const bool kept = cache.bytes() > 0;
            CHECK(same(run_head(hidden, C, H, V, e, eps, 3, tile, &cache, copy.data()), ref));
            if (kept && eps == 0.0f) {
                std::fill(copy.begin(), copy.end(), (uint8_t)0);
                CHECK(same(run_head(hidden, C, H, V, e, eps, 1, tile, &cache, copy.data()), ref));
            }
            // another embedding: the cache starts over
            CHECK(same(run_head(hidden, C, H, V, e2, eps, 2, tile, &cache), run_head(hidden, C, H, V, e2, eps, 2, tile)));
            if (eps == 0.0f)
                std::printf("  kept transposed embedding (%s): %zu bytes\n", ggml::type_name((int32_t)t), cache.bytes());
        }
    }
}

}  // namespace

int main() {
    for (ggml::CpuIsa isa : ggml::cpu_isas_available()) {
        ggml::cpu_isa_set(isa);
        std::printf("isa %s\n", ggml::cpu_isa_name(isa));
        test_tiles();
        test_tile_panels();
        test_fused_vs_plain();
        test_soft_bf16();
    }
    test_thread_count();
    for (ggml::CpuIsa isa : ggml::cpu_isas_available()) {
        ggml::cpu_isa_set(isa);
        std::printf("isa %s: sparse self-conditioning\n", ggml::cpu_isa_name(isa));
        test_sparse();
        test_et_cache();
    }
    if (failures) {
        std::fprintf(stderr, "%d check(s) failed\n", failures);
        return 1;
    }
    std::printf("test-vocab-head-fused: all checks passed\n");
    return 0;
}
