// Every Metal kernel, run through the Linux emulator (ggml/src/metal/msl-emu.h) behind the real op layer
// (ops-metal.cpp), against the CPU references on small versions of the real shapes:
//   * the block layouts of ld-metal.h equal blocks.h (static_asserts on sizes and field offsets);
//   * matmul for every published weight type (F32, F16, BF16, Q8_0, Q5_0, Q4_K, Q6_K) and, through the
//     dequantize-then-GEMM fallback, Q4_0 / Q4_1 / IQ4_NL / Q5_K / Q2_K, against a float64 product with
//     the reference dequantization (and loosely against ggml::matmul_ref, which quantizes activations),
//     with partial tiles in N and M;
//   * the grouped MoE matmul (raw slots and routing-weighted sums, x shared and per slot);
//   * attention with the causal / sliding / canvas masks, F32 / F16 / Q8_0 K/V, strided K/V, empty
//     slots and keys out of order, against attention_ref;
//   * rms_norm, rope_neox (plain, partial, frequency factors), geglu, softcap, softmax, router_topk,
//     add, scale, get_rows (each type), store_rows (F32, F16, Q8_0 byte for byte);
//   * the fused vocab head (softcap, two vocabulary tiles, soft for F32 / Q8_0 / Q6_K embeddings) against
//     a float64 reference and the CPU head's argmax, and its draws against the softmax (frequencies).
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstddef>
#include <cstdio>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "ld-ggml/backend.h"
#include "ld-ggml/blocks.h"
#include "ld-ggml/cpu-matmul.h"
#include "ld-ggml/cpu-nn.h"
#include "ld-ggml/cpu-vocab-head.h"
#include "ld-ggml/error.h"
#include "ld-ggml/quants-ref.h"
#include "ld-ggml/types.h"
#include "metal/backend-emu-metal.h"
#include "metal/ops-metal.h"
#include "test-check.h"

namespace ld::ggml::metal {
extern const char * const kEmbeddedSource;  // the generated one-file source (embed-source.cmake)
}

// The Metal-side block layouts (needs the emulator's MSL types; its keyword macros are unused below).
#include "metal/msl-emu.h"
#include "metal/ld-metal.h"

namespace g = ld::ggml;

#define SAME_LAYOUT(M, C, f) static_assert(offsetof(M, f) == offsetof(C, f), #M "." #f " offset")
static_assert(sizeof(mblock_q8_0) == sizeof(g::block_q8_0), "q8_0 size");
static_assert(sizeof(mblock_q5_0) == sizeof(g::block_q5_0), "q5_0 size");
static_assert(sizeof(mblock_q4_K) == sizeof(g::block_q4_K), "q4_K size");
static_assert(sizeof(mblock_q6_K) == sizeof(g::block_q6_K), "q6_K size");
SAME_LAYOUT(mblock_q8_0, g::block_q8_0, qs);
SAME_LAYOUT(mblock_q5_0, g::block_q5_0, qh);
SAME_LAYOUT(mblock_q5_0, g::block_q5_0, qs);
SAME_LAYOUT(mblock_q4_K, g::block_q4_K, dmin);
SAME_LAYOUT(mblock_q4_K, g::block_q4_K, scales);
SAME_LAYOUT(mblock_q4_K, g::block_q4_K, qs);
SAME_LAYOUT(mblock_q6_K, g::block_q6_K, qh);
SAME_LAYOUT(mblock_q6_K, g::block_q6_K, scales);
SAME_LAYOUT(mblock_q6_K, g::block_q6_K, d);
static_assert(LD_MT_F32 == (int)g::Type::F32 && LD_MT_F16 == (int)g::Type::F16 && LD_MT_BF16 == (int)g::Type::BF16 &&
                  LD_MT_Q8_0 == (int)g::Type::Q8_0 && LD_MT_Q5_0 == (int)g::Type::Q5_0 &&
                  LD_MT_Q4_K == (int)g::Type::Q4_K && LD_MT_Q6_K == (int)g::Type::Q6_K,
              "type ids");

namespace {

std::mt19937 rng(1234);

// Host weights stay alive for the whole run, as the mmapped file does in the engine (weight() caches
// by host pointer).
std::vector<std::vector<uint8_t>> keep;
const std::vector<uint8_t> & kept(std::vector<uint8_t> v) {
    keep.push_back(std::move(v));
    return keep.back();
}

std::vector<float> randv(size_t n, float lo = -1.0f, float hi = 1.0f) {
    std::uniform_real_distribution<float> d(lo, hi);
    std::vector<float> v(n);
    for (float & x : v) x = d(rng);
    return v;
}

template <class T>
T * up(g::Backend & be, const std::vector<T> & v) {
    T * p = (T *)be.alloc(std::max<size_t>(1, v.size() * sizeof(T)));
    if (!v.empty()) be.upload(p, v.data(), v.size() * sizeof(T));
    return p;
}
template <class T>
std::vector<T> down(g::Backend & be, const T * p, size_t n) {
    std::vector<T> v(n);
    be.download(v.data(), p, n * sizeof(T));
    return v;
}

// max |a - b| / (atol + rtol * |b|) <= 1, reported with the worst index.
bool close(const char * what, const std::vector<float> & a, const std::vector<float> & b, double atol, double rtol = 0.0) {
    if (a.size() != b.size()) { std::fprintf(stderr, "%s: size %zu vs %zu\n", what, a.size(), b.size()); return false; }
    double worst = 0.0;
    size_t wi = 0;
    for (size_t i = 0; i < a.size(); ++i) {
        const double e = std::fabs((double)a[i] - (double)b[i]) / (atol + rtol * std::fabs((double)b[i]));
        if (!(e <= worst) || std::isnan(e)) { worst = std::isnan(e) ? 1e30 : e; wi = i; }
    }
    if (worst > 1.0) {
        std::fprintf(stderr, "%s: mismatch at %zu: got %.9g want %.9g (ratio %.3g)\n", what, wi, a[wi], b[wi], worst);
        return false;
    }
    return true;
}

std::vector<uint8_t> quantize(const std::vector<float> & f, g::Type t, int64_t ne0) {
    const g::TypeTraits * tt = g::type_traits(t);
    const int64_t rows = (int64_t)f.size() / ne0;
    std::vector<uint8_t> q(g::row_size(t, ne0) * (size_t)rows);
    for (int64_t r = 0; r < rows; ++r) tt->from_float_ref(f.data() + r * ne0, q.data() + (size_t)r * g::row_size(t, ne0), ne0);
    return q;
}
std::vector<float> dequantize(const std::vector<uint8_t> & q, g::Type t, int64_t ne0, int64_t rows) {
    std::vector<float> f((size_t)(ne0 * rows));
    g::type_traits(t)->to_float(q.data(), f.data(), ne0 * rows);
    return f;
}

const g::Type kNative[] = {g::Type::F32, g::Type::F16, g::Type::BF16, g::Type::Q8_0, g::Type::Q5_0, g::Type::Q4_K, g::Type::Q6_K};
const g::Type kFallback[] = {g::Type::Q4_0, g::Type::Q4_1, g::Type::IQ4_NL, g::Type::Q5_K, g::Type::Q2_K};

void test_matmul(g::Backend & be, g::Type t, int64_t N, int64_t K, int64_t M) {
    const std::vector<float> wf = randv((size_t)(M * K)), x = randv((size_t)(N * K));
    const std::vector<uint8_t> & wq = kept(quantize(wf, t, K));
    const std::vector<float> wd = dequantize(wq, t, K, M);
    std::vector<float> ref((size_t)(N * M)), cpu((size_t)(N * M));
    double mag = 0.0;
    for (int64_t n = 0; n < N; ++n)
        for (int64_t m = 0; m < M; ++m) {
            double s = 0.0, a = 0.0;
            for (int64_t k = 0; k < K; ++k) {
                s += (double)x[(size_t)(n * K + k)] * wd[(size_t)(m * K + k)];
                a += std::fabs((double)x[(size_t)(n * K + k)] * wd[(size_t)(m * K + k)]);
            }
            ref[(size_t)(n * M + m)] = (float)s;
            mag = std::max(mag, a);
        }
    g::matmul_ref(x.data(), N, K, wq.data(), t, M, cpu.data());
    const void * w = be.weight(wq.data(), t, K, M);
    float * dx = up(be, x);
    float * dy = (float *)be.alloc((size_t)(N * M) * sizeof(float));
    be.matmul(dx, N, K, w, t, M, dy);
    const std::vector<float> y = down(be, dy, (size_t)(N * M));
    const std::string name = std::string("matmul ") + g::type_name((int32_t)t) + " N=" + std::to_string(N) + " M=" + std::to_string(M);
    CHECK(close((name + " vs float64").c_str(), y, ref, 1e-5 * mag));
    CHECK(close((name + " vs CPU").c_str(), y, cpu, 2e-2 * mag));
    be.free(dx);
    be.free(dy);
}

void test_moe(g::Backend & be, g::Type t, bool per_slot, bool weighted, bool bad_id = false) {
    const int64_t N = 5, K = 256, M = 40, E = 4, top_k = 2;
    const std::vector<float> wf = randv((size_t)(E * M * K));
    const std::vector<uint8_t> & wq = kept(quantize(wf, t, K));
    const std::vector<float> wd = dequantize(wq, t, K, E * M);
    const std::vector<float> x = randv((size_t)((per_slot ? N * top_k : N) * K));
    std::vector<int32_t> ids((size_t)(N * top_k));
    for (int64_t n = 0; n < N; ++n) {
        ids[(size_t)(n * top_k)] = (int32_t)((n * 3) % E);
        ids[(size_t)(n * top_k + 1)] = (int32_t)((n * 3 + 1 + n % 2) % E);
    }
    if (bad_id) ids[3] = (int32_t)E + 5;  // an id out of range: that slot's output is zero, nothing is read
    const std::vector<float> rw = randv((size_t)(N * top_k), 0.1f, 1.0f);
    const int64_t out_n = weighted ? N * M : N * top_k * M;
    std::vector<float> ref((size_t)out_n, 0.0f);
    double mag = 0.0;
    for (int64_t n = 0; n < N; ++n)
        for (int64_t s = 0; s < top_k; ++s) {
            const int32_t e = ids[(size_t)(n * top_k + s)];
            if (e < 0 || e >= E) continue;
            const float * xr = x.data() + (per_slot ? n * top_k + s : n) * K;
            for (int64_t m = 0; m < M; ++m) {
                double d = 0.0, a = 0.0;
                for (int64_t k = 0; k < K; ++k) {
                    d += (double)xr[k] * wd[(size_t)((e * M + m) * K + k)];
                    a += std::fabs((double)xr[k] * wd[(size_t)((e * M + m) * K + k)]);
                }
                mag = std::max(mag, a);
                if (weighted) ref[(size_t)(n * M + m)] += (float)(rw[(size_t)(n * top_k + s)] * d);
                else ref[(size_t)((n * top_k + s) * M + m)] = (float)d;
            }
        }
    g::MoeArgs a;
    a.x = up(be, x);
    a.N = N;
    a.K = K;
    a.x_per_slot = per_slot;
    a.w = be.weight(wq.data(), t, K, E * M);
    a.wtype = t;
    a.M = M;
    a.E = E;
    a.ids = up(be, ids);
    a.rw = weighted ? up(be, rw) : nullptr;
    a.top_k = top_k;
    a.y = (float *)be.alloc((size_t)out_n * sizeof(float));
    be.moe_matmul(a);
    const std::vector<float> y = down(be, a.y, (size_t)out_n);
    const std::string name = std::string("moe ") + g::type_name((int32_t)t) + (per_slot ? " per-slot" : " shared") +
                             (weighted ? " weighted" : " raw") + (bad_id ? " bad id" : "");
    CHECK(close(name.c_str(), y, ref, 2e-5 * mag));
}

void test_attention(g::Backend & be, g::AttnMask mask, int32_t window, g::Type kv_type, int64_t head_dim, bool strided) {
    const int64_t n_q = 6, n_head = 4, n_kv_head = 2, n_kv = 45;
    const int32_t canvas_begin = 30;
    // strided: q rows of a fused QKV projection too (q_stride > n_head * head_dim)
    const int64_t q_stride = strided ? n_head * head_dim + 2 * n_kv_head * head_dim : 0;
    std::vector<float> q = randv((size_t)(n_q * (strided ? q_stride : n_head * head_dim)));
    std::vector<int32_t> qpos((size_t)n_q), kpos((size_t)n_kv);
    for (int64_t i = 0; i < n_q; ++i) qpos[(size_t)i] = canvas_begin + (int32_t)(i * 2);
    for (int64_t j = 0; j < n_kv; ++j) kpos[(size_t)j] = (int32_t)((j * 17) % n_kv);  // out of order
    kpos[3] = -1;  // empty slots
    kpos[40] = -1;
    const size_t row = g::row_size(kv_type, head_dim);
    const size_t stride = row * (size_t)n_kv_head + (strided ? 64 : 0);
    std::vector<uint8_t> k((size_t)n_kv * stride, 0), v((size_t)n_kv * stride, 0);
    for (int64_t j = 0; j < n_kv; ++j)
        for (int64_t h = 0; h < n_kv_head; ++h) {
            const std::vector<float> kf = randv((size_t)head_dim), vf = randv((size_t)head_dim);
            const std::vector<uint8_t> kq = quantize(kf, kv_type, head_dim), vq = quantize(vf, kv_type, head_dim);
            std::memcpy(k.data() + (size_t)j * stride + (size_t)h * row, kq.data(), row);
            std::memcpy(v.data() + (size_t)j * stride + (size_t)h * row, vq.data(), row);
        }
    g::AttnArgs a;
    a.q = q.data();
    a.q_pos = qpos.data();
    a.n_q = n_q;
    a.n_head = n_head;
    a.head_dim = head_dim;
    a.q_stride = q_stride;
    a.k = k.data();
    a.v = v.data();
    a.k_pos = kpos.data();
    a.kv_type = kv_type;
    a.n_kv = n_kv;
    a.n_kv_head = n_kv_head;
    a.kv_stride = strided ? stride : 0;
    a.mask = mask;
    a.window = window;
    a.canvas_begin = canvas_begin;
    a.scale = 0.125f;
    std::vector<float> ref((size_t)(n_q * n_head * head_dim));
    a.out = ref.data();
    g::attention_ref(a);
    g::AttnArgs d = a;
    d.q = up(be, q);
    d.q_pos = up(be, qpos);
    d.k = up(be, k);
    d.v = up(be, v);
    d.k_pos = up(be, kpos);
    d.out = (float *)be.alloc(ref.size() * sizeof(float));
    be.attention(d);
    const std::vector<float> out = down(be, d.out, ref.size());
    const std::string name = std::string("attention mask ") + std::to_string((int)mask) + " window " + std::to_string(window) +
                             " " + g::type_name((int32_t)kv_type) + " D=" + std::to_string(head_dim) + (strided ? " strided" : "");
    CHECK(close(name.c_str(), out, ref, 2e-6, 1e-5));
}

void test_small_ops(g::Backend & be) {
    // rms_norm with and without weight
    {
        const int64_t R = 5, n = 100;
        const std::vector<float> x = randv((size_t)(R * n), -3.0f, 3.0f), w = randv((size_t)n);
        std::vector<float> ref((size_t)(R * n)), ref2((size_t)(R * n));
        g::rms_norm_ref(x.data(), R, n, w.data(), 1e-6f, ref.data());
        g::rms_norm_ref(x.data(), R, n, nullptr, 1e-6f, ref2.data());
        float * dx = up(be, x);
        float * dw = up(be, w);
        float * o = (float *)be.alloc(ref.size() * 4);
        be.rms_norm(dx, R, n, dw, 1e-6f, o);
        CHECK(close("rms_norm", down(be, o, ref.size()), ref, 1e-6, 1e-5));
        be.rms_norm(dx, R, n, nullptr, 1e-6f, dx);  // in place
        CHECK(close("rms_norm (no weight, in place)", down(be, dx, ref.size()), ref2, 1e-6, 1e-5));
    }
    // softmax, including an all -inf row
    {
        const int64_t R = 4, n = 70;
        std::vector<float> x = randv((size_t)(R * n), -5.0f, 5.0f);
        for (int64_t i = 0; i < n; ++i) x[(size_t)(2 * n + i)] = -INFINITY;
        x[5] = -INFINITY;
        std::vector<float> ref(x.size());
        g::softmax_ref(x.data(), R, n, ref.data());
        float * dx = up(be, x);
        be.softmax(dx, R, n, dx);
        CHECK(close("softmax", down(be, dx, x.size()), ref, 1e-7, 1e-5));
    }
    // rope: full, partial with frequency factors (1e30 = unrotated), explicit inv_freq
    for (int variant = 0; variant < 3; ++variant) {
        const int64_t T = 3, Hh = 2, D = 64;
        std::vector<float> x = randv((size_t)(T * Hh * D));
        const std::vector<int32_t> pos = {0, 7, 1000};
        g::RopeParams p;
        p.theta_base = 10000.0f;
        std::vector<float> ff, inv;
        if (variant == 1) {
            p.n_rot = 32;
            for (int i = 0; i < 16; ++i) ff.push_back(i < 8 ? 1.0f + 0.5f * (float)i : 1e30f);
        }
        if (variant == 2) {
            for (int i = 0; i < 32; ++i) inv.push_back(std::pow(1e6f, -(float)i / 32.0f));
        }
        std::vector<float> ref = x;
        p.freq_factors = ff.empty() ? nullptr : ff.data();
        p.inv_freq = inv.empty() ? nullptr : inv.data();
        g::rope_neox_ref(ref.data(), T, Hh, D, pos.data(), p);
        float * dx = up(be, x);
        g::RopeParams dp = p;
        dp.freq_factors = ff.empty() ? nullptr : up(be, ff);
        dp.inv_freq = inv.empty() ? nullptr : up(be, inv);
        be.rope_neox(dx, T, Hh, D, up(be, pos), dp);
        // angles up to 1000 rad: float sin/cos of the same f32 angle (the reference rounds via double)
        CHECK(close(("rope variant " + std::to_string(variant)).c_str(), down(be, dx, x.size()), ref, 2e-6, 1e-5));
    }
    // geglu on the fused gate_up layout, softcap, add, scale
    {
        const int64_t R = 3, n = 50;
        const std::vector<float> gu = randv((size_t)(R * 2 * n), -4.0f, 4.0f);
        std::vector<float> ref((size_t)(R * n));
        g::geglu_ref(gu.data(), gu.data() + n, R, n, 2 * n, ref.data());
        float * dgu = up(be, gu);
        float * o = (float *)be.alloc(ref.size() * 4);
        be.geglu(dgu, dgu + n, R, n, 2 * n, o);
        CHECK(close("geglu", down(be, o, ref.size()), ref, 1e-6, 1e-5));
        std::vector<float> sc(gu.size());
        g::softcap_ref(gu.data(), (int64_t)gu.size(), 2.5f, sc.data());
        float * dsc = (float *)be.alloc(gu.size() * 4);
        be.softcap(dgu, (int64_t)gu.size(), 2.5f, dsc);
        CHECK(close("softcap", down(be, dsc, gu.size()), sc, 1e-6, 1e-5));
        const std::vector<float> dsc_host = down(be, dsc, gu.size());
        std::vector<float> sum(gu.size()), scl(gu.size());
        for (size_t i = 0; i < gu.size(); ++i) { sum[i] = gu[i] + dsc_host[i]; scl[i] = gu[i] * 0.3f; }
        be.add(dgu, dsc, (int64_t)gu.size(), dsc);
        CHECK(close("add", down(be, dsc, gu.size()), sum, 0.0 + 1e-30));
        be.scale(dgu, (int64_t)gu.size(), 0.3f, dgu);
        CHECK(close("scale", down(be, dgu, gu.size()), scl, 1e-30));
    }
    // router_topk
    {
        const int64_t T = 7, E = 40, k = 5;
        const std::vector<float> lg = randv((size_t)(T * E), -3.0f, 3.0f), s = randv((size_t)E, 0.5f, 2.0f);
        std::vector<int32_t> ids((size_t)(T * k));
        std::vector<float> w((size_t)(T * k));
        g::router_topk_ref(lg.data(), T, E, k, s.data(), ids.data(), w.data());
        int32_t * di = (int32_t *)be.alloc(ids.size() * 4);
        float * dw = (float *)be.alloc(w.size() * 4);
        be.router_topk(up(be, lg), T, E, k, up(be, s), di, dw);
        CHECK(down(be, di, ids.size()) == ids);
        CHECK(close("router weights", down(be, dw, w.size()), w, 1e-7, 1e-5));
    }
    // store_rows: F32 exact, F16 and Q8_0 byte for byte with the reference rounding
    for (g::Type t : {g::Type::F32, g::Type::F16, g::Type::Q8_0}) {
        const int64_t n = 3, width = 96;
        std::vector<float> x = randv((size_t)(n * width), -2.0f, 2.0f);
        x[7] = 0.0f;
        for (int i = 32; i < 64; ++i) x[(size_t)i] = 0.0f;  // an all-zero Q8_0 block
        const std::vector<uint8_t> ref = quantize(x, t, width);
        void * d = be.alloc(ref.size());
        be.store_rows(up(be, x), n, width, t, d);
        CHECK(down(be, (const uint8_t *)d, ref.size()) == ref);
    }
    // an out-of-range id in get_rows gives zeros, not a read outside the weight
    {
        std::vector<float> wf0 = randv(4 * 32);
        const std::vector<uint8_t> & wf = kept(std::vector<uint8_t>((const uint8_t *)wf0.data(), (const uint8_t *)(wf0.data() + wf0.size())));
        const void * w = be.weight(wf.data(), g::Type::F32, 32, 4);
        float * o = (float *)be.alloc(32 * 4);
        be.get_rows(w, g::Type::F32, 32, 4, up(be, std::vector<int32_t>{9}), 1, 1.0f, o);
        CHECK(close("get_rows bad id", down(be, o, 32), std::vector<float>(32, 0.0f), 1e-30));
    }
}

void test_get_rows(g::Backend & be, g::Type t) {
    const int64_t ne0 = 256, rows = 9, n = 4;
    const std::vector<float> wf = randv((size_t)(ne0 * rows));
    const std::vector<uint8_t> & wq = kept(quantize(wf, t, ne0));
    const std::vector<float> wd = dequantize(wq, t, ne0, rows);
    const std::vector<int32_t> ids = {8, 0, 3, 3};
    std::vector<float> ref((size_t)(n * ne0));
    for (int64_t i = 0; i < n; ++i)
        for (int64_t k = 0; k < ne0; ++k) ref[(size_t)(i * ne0 + k)] = wd[(size_t)(ids[(size_t)i] * ne0 + k)] * 1.5f;
    const void * w = be.weight(wq.data(), t, ne0, rows);
    float * o = (float *)be.alloc(ref.size() * 4);
    be.get_rows(w, t, ne0, rows, up(be, ids), n, 1.5f, o);
    CHECK(close((std::string("get_rows ") + g::type_name((int32_t)t)).c_str(), down(be, o, ref.size()), ref, 1e-7, 1e-6));
}

// float64 reference of the head: logits, softmax, argmax, entropy, soft.
// The argmax is compared with the float64 one where the top two logits are 1e-4 apart or more, and with
// the CPU head's for F32 weights (for quantized weights the CPU quantizes the activations to 8 bits, so
// near ties may differ; the Metal kernels use f32 activations).
void test_vocab_head(g::Backend & be, g::Type out_t, g::Type emb_t, bool tied, int64_t V, float cap) {
    const int64_t C = 4, H = g::type_traits(out_t)->block_size == 256 || g::type_traits(emb_t)->block_size == 256 ? 256 : 64;
    const std::vector<float> hid = randv((size_t)(C * H), -1.0f, 1.0f);
    const std::vector<float> ow_f = randv((size_t)(V * H), -0.5f, 0.5f), e_f = randv((size_t)(V * H), -0.5f, 0.5f);
    const std::vector<uint8_t> & ow_q = kept(quantize(ow_f, out_t, H));
    const std::vector<uint8_t> & e_q = tied ? ow_q : kept(quantize(e_f, emb_t, H));
    if (tied) emb_t = out_t;
    const std::vector<float> ow_d = dequantize(ow_q, out_t, H, V), e_d = dequantize(e_q, emb_t, H, V);
    const float T = 0.7f;
    std::vector<float> soft_ref((size_t)(C * H)), ent_ref((size_t)C);
    std::vector<int32_t> am_ref((size_t)C);
    std::vector<double> gap((size_t)C);
    for (int64_t c = 0; c < C; ++c) {
        std::vector<double> l((size_t)V);
        double mx = -1e300;
        for (int64_t v = 0; v < V; ++v) {
            double s = 0.0;
            for (int64_t k = 0; k < H; ++k) s += (double)hid[(size_t)(c * H + k)] * ow_d[(size_t)(v * H + k)];
            if (cap > 0.0f) s = cap * std::tanh(s / cap);
            l[(size_t)v] = s / T;
            if (l[(size_t)v] > mx) {
                mx = l[(size_t)v];
                am_ref[(size_t)c] = (int32_t)v;
            }
        }
        double S = 0.0, A = 0.0, second = -1e300;
        for (int64_t v = 0; v < V; ++v) {
            S += std::exp(l[(size_t)v] - mx);
        }
        for (int64_t v = 0; v < V; ++v)
            if (v != am_ref[(size_t)c]) second = std::max(second, l[(size_t)v]);
        gap[(size_t)c] = mx - second;
        std::vector<double> soft((size_t)H, 0.0);
        for (int64_t v = 0; v < V; ++v) {
            const double p = std::exp(l[(size_t)v] - mx) / S;
            A += p * std::log(p);
            for (int64_t k = 0; k < H; ++k) soft[(size_t)k] += p * e_d[(size_t)(v * H + k)];
        }
        ent_ref[(size_t)c] = (float)-A;
        for (int64_t k = 0; k < H; ++k) soft_ref[(size_t)(c * H + k)] = (float)soft[(size_t)k];
    }
    // The CPU head's argmax (deterministic mode must agree token for token).
    g::VocabHeadArgs a;
    a.hidden = hid.data();
    a.C = C;
    a.H = H;
    a.V = V;
    a.out_w = ow_q.data();
    a.out_type = out_t;
    a.embd = e_q.data();
    a.embd_type = emb_t;
    a.softcap = cap;
    a.temperature = T;
    a.sample = false;
    std::vector<int32_t> cpu_am((size_t)C), cpu_dr((size_t)C);
    std::vector<float> cpu_en((size_t)C), cpu_soft((size_t)(C * H));
    a.argmax = cpu_am.data();
    a.draw = cpu_dr.data();
    a.entropy = cpu_en.data();
    a.soft = cpu_soft.data();
    g::vocab_head_fused(a);
    g::VocabHeadArgs d = a;
    d.hidden = up(be, hid);
    d.out_w = be.weight(ow_q.data(), out_t, H, V);
    d.embd = tied ? d.out_w : be.weight(e_q.data(), emb_t, H, V);
    d.argmax = (int32_t *)be.alloc((size_t)C * 4);
    d.draw = (int32_t *)be.alloc((size_t)C * 4);
    d.entropy = (float *)be.alloc((size_t)C * 4);
    d.soft = (float *)be.alloc((size_t)(C * H) * 4);
    be.vocab_head(d);
    const std::string name = std::string("vocab head ") + g::type_name((int32_t)out_t) + "/" + g::type_name((int32_t)emb_t) +
                             " V=" + std::to_string(V);
    const std::vector<int32_t> am = down(be, d.argmax, (size_t)C), dr = down(be, d.draw, (size_t)C);
    if (out_t == g::Type::F32) CHECK(am == cpu_am);
    for (int64_t c = 0; c < C; ++c)
        if (gap[(size_t)c] >= 1e-4 && am[(size_t)c] != am_ref[(size_t)c]) {
            std::fprintf(stderr, "%s: argmax of %lld: metal %d, float64 %d\n", name.c_str(), (long long)c, am[(size_t)c], am_ref[(size_t)c]);
            CHECK(false);
        }
    CHECK(dr == am);  // sample = false: the draw is the argmax
    CHECK(close((name + " entropy").c_str(), down(be, d.entropy, (size_t)C), ent_ref, 1e-4, 1e-4));
    CHECK(close((name + " soft").c_str(), down(be, d.soft, (size_t)(C * H)), soft_ref, 1e-5, 1e-4));
    if (failures) std::fprintf(stderr, "(%s)\n", name.c_str());
}

// Draw frequencies: V = 6 logits, 64 positions with the same hidden state per call, 8 calls (different
// step keys): 512 draws against the softmax probabilities (|f - p| <= 4.5 sigma + 1e-3 per item).
void test_vocab_draws(g::Backend & be) {
    const int64_t C = 64, H = 32, V = 6;
    const std::vector<float> row = randv((size_t)H, -1.0f, 1.0f);
    std::vector<float> hid;
    for (int64_t c = 0; c < C; ++c) hid.insert(hid.end(), row.begin(), row.end());
    static const std::vector<float> w = randv((size_t)(V * H), -0.6f, 0.6f);
    std::vector<double> p((size_t)V);
    double mx = -1e300, S = 0.0;
    for (int64_t v = 0; v < V; ++v) {
        double s = 0.0;
        for (int64_t k = 0; k < H; ++k) s += (double)row[(size_t)k] * w[(size_t)(v * H + k)];
        p[(size_t)v] = s;
        mx = std::max(mx, s);
    }
    for (double & x : p) { x = std::exp(x - mx); S += x; }
    for (double & x : p) x /= S;
    g::VocabHeadArgs d;
    d.hidden = up(be, hid);
    d.C = C;
    d.H = H;
    d.V = V;
    d.out_w = be.weight(w.data(), g::Type::F32, H, V);
    d.out_type = g::Type::F32;
    d.temperature = 1.0f;
    d.sample = true;
    d.seed = 42;
    d.argmax = (int32_t *)be.alloc((size_t)C * 4);
    d.draw = (int32_t *)be.alloc((size_t)C * 4);
    d.entropy = (float *)be.alloc((size_t)C * 4);
    std::vector<int> count((size_t)V, 0);
    const int calls = 8;
    std::vector<int32_t> first;
    for (int s = 0; s < calls; ++s) {
        d.step_key = (uint64_t)s;
        be.vocab_head(d);
        const std::vector<int32_t> dr = down(be, d.draw, (size_t)C);
        if (s == 0) first = dr;
        for (int32_t v : dr) {
            CHECK(v >= 0 && v < V);
            if (v >= 0 && v < V) ++count[(size_t)v];
        }
    }
    d.step_key = 0;
    be.vocab_head(d);
    CHECK(down(be, d.draw, (size_t)C) == first);  // seeded draws are reproducible
    const double n = (double)(calls * C);
    for (int64_t v = 0; v < V; ++v) {
        const double f = count[(size_t)v] / n, pv = p[(size_t)v];
        const double sigma = std::sqrt(pv * (1.0 - pv) / n);
        if (!(std::fabs(f - pv) <= 4.5 * sigma + 1e-3)) {
            std::fprintf(stderr, "draw frequency of %lld: %.4f vs p %.4f\n", (long long)v, f, pv);
            CHECK(false);
        }
    }
}

}  // namespace

// The source the Metal host compiles at run time (when no .metallib is found) is one self-contained
// file that defines every kernel the op layer launches, by the names it uses.
void test_embedded_source() {
    const std::string src = g::metal::kEmbeddedSource;
    for (int k = 0; k < (int)g::metal::Kernel::count; ++k) {
        const std::string decl = std::string("kernel void ") + g::metal::kernel_name((g::metal::Kernel)k) + "(";
        if (src.find(decl) == std::string::npos) {
            std::fprintf(stderr, "embedded source lacks '%s'\n", decl.c_str());
            CHECK(false);
        }
    }
    CHECK(src.find("#include \"") == std::string::npos);  // local headers are inlined
    CHECK(src.find("#include <metal_stdlib>") != std::string::npos);
    CHECK(src.find("struct LdMatmulArgs") != std::string::npos && src.find("struct mblock_q6_K") != std::string::npos);
}

int main() {
    const auto t0 = std::chrono::steady_clock::now();
    test_embedded_source();
    auto be = ld::ggml::metal::metal_emu_backend_create();
    try {
        for (g::Type t : kNative) test_matmul(*be, t, 5, 256, 40);
        for (g::Type t : kFallback) test_matmul(*be, t, 3, 256, 9);
        test_matmul(*be, g::Type::F32, 37, 48, 33);   // K not a multiple of 32, two token tiles
        test_matmul(*be, g::Type::Q8_0, 33, 64, 65);  // three weight tiles, two token tiles
        for (g::Type t : {g::Type::Q8_0, g::Type::Q4_K, g::Type::Q6_K, g::Type::F32})
            test_moe(*be, t, false, false);
        test_moe(*be, g::Type::Q5_0, true, true);
        test_moe(*be, g::Type::BF16, false, true);
        test_moe(*be, g::Type::Q4_0, true, false);  // fallback type
        test_moe(*be, g::Type::Q8_0, false, false, true);
        test_moe(*be, g::Type::Q8_0, true, true, true);
        for (g::Type kv : {g::Type::F32, g::Type::F16, g::Type::Q8_0}) {
            test_attention(*be, g::AttnMask::causal, 0, kv, 64, false);
            test_attention(*be, g::AttnMask::sliding, 5, kv, 64, kv == g::Type::F16);
            test_attention(*be, g::AttnMask::canvas, 0, kv, 64, false);
            test_attention(*be, g::AttnMask::canvas, 7, kv, 64, kv == g::Type::Q8_0);
        }
        test_attention(*be, g::AttnMask::canvas, 0, g::Type::F32, 16, false);
        test_attention(*be, g::AttnMask::canvas, 4, g::Type::Q8_0, 512, false);
        test_small_ops(*be);
        for (g::Type t : kNative) test_get_rows(*be, t);
        test_get_rows(*be, g::Type::Q4_0);
        test_vocab_head(*be, g::Type::F32, g::Type::F32, false, 4500, 0.0f);
        test_vocab_head(*be, g::Type::Q8_0, g::Type::Q8_0, false, 300, 3.0f);
        test_vocab_head(*be, g::Type::Q6_K, g::Type::Q6_K, true, 300, 0.0f);
        test_vocab_head(*be, g::Type::Q4_K, g::Type::Q4_0, false, 100, 2.0f);
        test_vocab_draws(*be);
    } catch (const std::exception & e) {
        std::fprintf(stderr, "FAILED: exception: %s\n", e.what());
        ++failures;
    }
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    std::printf("test-metal-kernels: %s (%.1f s)\n", failures ? "FAILED" : "ok", s);
    return failures ? 1 : 0;
}
