// C++ test of every kernel ISA this binary and CPU can run (generic, avx2, avx512, amx on x86; generic,
// neon and neon_i8mm on AArch64, natively or under qemu-aarch64): the optimized ops against their scalar
// references.
//
//  1. matmul_isa / moe_matmul_isa vs matmul_ref / moe_matmul_ref for every weight type, N = 1, 7, 33,
//     K = 1..4 blocks, M = 37 (not a multiple of any tile): generic bit-equal, SIMD within 1e-6 of
//     sum_k |w_k x_k| per output element (the tolerance of tests/python/test_matmul.py: the integer
//     block sums are exact, only the f32 combination of the block scales differs). Activations packed once
//     (mm::PackedActs) and applied to two weights equal matmul_isa bit for bit.
//  2. Each per-ISA matmul kernel table driven directly through the shared driver (mm::quantize_acts +
//     mm::run_groups), so a table is covered even before the dispatcher selects it, plus its vector
//     activation quantizer against the reference bytes. The neon_i8mm table (SMMLA) must equal the
//     neon table (SDOT) bit for bit: the same int32 block sums folded with the same f32 operations.
//  3. attention / rms_norm / gelu / geglu / softmax (cpu-nn.h) vs their *_ref, with the tolerances of
//     tests/python/test_attention.py and test_nn_ops.py (the amx ISA's AMX-BF16 attention for F16 / Q8_0
//     K/V: split mode within the same 3e-5, fast mode against the reference on bf16-rounded inputs with
//     the bound of its weight rounding, both bit for bit across thread counts), and each NnKernels table
//     entry against the generic table.
// Prints the ISAs covered; exit status 0 when every check passes. With --list-isas it only prints them.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "common/error.h"
#include "ld-ggml/blocks.h"
#include "ld-ggml/cpu-features.h"
#include "ld-ggml/cpu-matmul.h"
#include "ld-ggml/cpu-nn.h"
#include "ld-ggml/fp16.h"
#include "ld-ggml/thread-pool.h"
#include "ld-ggml/types.h"
#include "ld-ggml/vec-dot.h"
#include "../../ggml/src/cpu/attention-amx.h"
#include "../../ggml/src/cpu/matmul-impl.h"
#include "../../ggml/src/cpu/nn-kernels.h"

using namespace ld::ggml;
using ld::strfmt;

namespace {

int g_failures = 0;
int g_checks = 0;

void check(bool ok, const std::string & what) {
    ++g_checks;
    if (!ok) {
        if (g_failures < 50) std::printf("FAIL: %s\n", what.c_str());
        ++g_failures;
    }
}

const Type kTypes[] = {Type::F32,    Type::F16,   Type::BF16, Type::Q4_0, Type::Q4_1, Type::Q5_0,
                       Type::Q5_1,   Type::Q8_0,  Type::IQ4_NL, Type::MXFP4, Type::Q2_K, Type::Q3_K,
                       Type::Q4_K,   Type::Q5_K,  Type::Q6_K, Type::IQ4_XS};
constexpr double kSimdTol = 1e-6;  // optimized vs reference, relative to sum |w x|

int64_t block_of(Type t) {
    // K steps: the weight's block, at least the activation type's block (Q8_0 / Q8_1 for F-types: 1)
    const TypeTraits * tt = type_traits(t);
    return std::max<int64_t>(std::max<int64_t>(tt->block_size, type_traits(tt->vec_dot_type)->block_size), 32);
}

// Random weights like trained ones: rows of different scales with a few outliers. W: [M, K].
std::vector<float> make_matrix(int64_t rows, int64_t K, std::mt19937 & rng) {
    std::normal_distribution<float> nd(0.0f, 1.0f);
    std::uniform_real_distribution<float> ud(0.2f, 3.0f), u01(0.0f, 1.0f);
    std::vector<float> W((size_t)(rows * K));
    for (int64_t r = 0; r < rows; ++r) {
        const float s = ud(rng);
        for (int64_t k = 0; k < K; ++k) {
            float v = nd(rng) * s;
            if (u01(rng) < 0.01f) v *= 6.0f;
            W[(size_t)(r * K + k)] = v;
        }
    }
    return W;
}

// Quantizes W[rows, K] to t (raw bytes) and returns the dequantized values in Wd.
std::vector<uint8_t> quantize(Type t, const std::vector<float> & W, int64_t rows, int64_t K, std::vector<float> & Wd) {
    const TypeTraits * tt = type_traits(t);
    std::vector<uint8_t> raw(row_size(t, K) * (size_t)rows);
    tt->from_float_ref(W.data(), raw.data(), rows * K);
    Wd.resize(W.size());
    tt->to_float(raw.data(), Wd.data(), rows * K);
    return raw;
}

// scale[n, m] = sum_k |x[n, k] * Wd[m, k]|
std::vector<double> abs_scale(const float * x, int64_t N, const float * Wd, int64_t M, int64_t K) {
    std::vector<double> s((size_t)(N * M));
    for (int64_t n = 0; n < N; ++n)
        for (int64_t m = 0; m < M; ++m) {
            double a = 0.0;
            for (int64_t k = 0; k < K; ++k) a += std::fabs((double)x[n * K + k] * (double)Wd[m * K + k]);
            s[(size_t)(n * M + m)] = a;
        }
    return s;
}

// Max over elements of |y - ref| / scale (infinite when a value is not finite or differs with scale 0).
double rel_err(const float * y, const float * ref, const double * scale, size_t n) {
    double e = 0.0;
    for (size_t i = 0; i < n; ++i) {
        const double d = std::fabs((double)y[i] - (double)ref[i]);
        if (!std::isfinite(y[i])) return INFINITY;
        e = std::max(e, d / std::max(scale[i], 1e-30));
    }
    return e;
}

bool bit_equal(const float * a, const float * b, size_t n) { return std::memcmp(a, b, n * sizeof(float)) == 0; }

std::vector<float> randn(size_t n, std::mt19937 & rng, float sd = 1.0f) {
    std::normal_distribution<float> nd(0.0f, sd);
    std::vector<float> v(n);
    for (auto & x : v) x = nd(rng);
    return v;
}

// Activations: rows of different magnitudes; row 3 (when present) all zero.
std::vector<float> make_acts(int64_t N, int64_t K, std::mt19937 & rng) {
    std::vector<float> x = randn((size_t)(N * K), rng);
    std::uniform_real_distribution<float> ud(0.1f, 4.0f);
    for (int64_t n = 0; n < N; ++n) {
        const float s = n == 3 ? 0.0f : ud(rng);
        for (int64_t k = 0; k < K; ++k) x[(size_t)(n * K + k)] *= s;
    }
    return x;
}

// ---- 1. dense and expert matmul through the public API ----

void test_matmul(const std::vector<CpuIsa> & isas, ThreadPool & pool) {
    std::mt19937 rng(11);
    const int64_t M = 37;
    for (Type t : kTypes) {
        for (int64_t nblk = 1; nblk <= 4; ++nblk) {
            const int64_t K = block_of(t) * nblk;
            std::vector<float> Wd;
            const std::vector<uint8_t> raw = quantize(t, make_matrix(M, K, rng), M, K, Wd);
            for (int64_t N : {1, 7, 33}) {
                const std::vector<float> x = make_acts(N, K, rng);
                std::vector<float> ref((size_t)(N * M)), y((size_t)(N * M));
                matmul_ref(x.data(), N, K, raw.data(), t, M, ref.data());
                const std::vector<double> sc = abs_scale(x.data(), N, Wd.data(), M, K);
                for (CpuIsa isa : isas) {
                    std::fill(y.begin(), y.end(), NAN);
                    matmul_isa(isa, x.data(), N, K, raw.data(), t, M, y.data(), &pool);
                    const std::string what = ld::strfmt("matmul %s isa=%s N=%lld K=%lld", type_traits(t)->name,
                                                    cpu_isa_name(isa), (long long)N, (long long)K);
                    if (isa == CpuIsa::generic) {
                        check(bit_equal(y.data(), ref.data(), y.size()), what + " (bit-equal to matmul_ref)");
                    } else {
                        const double e = rel_err(y.data(), ref.data(), sc.data(), y.size());
                        check(e <= kSimdTol, what + ld::strfmt(" rel err %.3g", e));
                    }
                }
            }
        }
    }
}

// Activations packed once (mm::PackedActs, the vocab head's LM head) and applied to two weights of the same
// type: each product equals matmul_isa bit for bit, on every ISA (the generic path included).
void test_packed_acts(const std::vector<CpuIsa> & isas, ThreadPool & pool) {
    std::mt19937 rng(31);
    for (Type t : kTypes) {
        const int64_t K = block_of(t) * 3;
        std::vector<float> Wd;
        const std::vector<uint8_t> w1 = quantize(t, make_matrix(45, K, rng), 45, K, Wd);
        const std::vector<uint8_t> w2 = quantize(t, make_matrix(32, K, rng), 32, K, Wd);
        for (int64_t N : {1, 13}) {
            const std::vector<float> x = make_acts(N, K, rng);
            for (CpuIsa isa : isas) {
                mm::PackedActs pa;
                pa.pack(isa, t, x.data(), N, K, pool);
                for (const std::vector<uint8_t> * w : {&w1, &w2, &w1}) {
                    const int64_t M = (int64_t)(w->size() / row_size(t, K));
                    std::vector<float> ref((size_t)(N * M)), y((size_t)(N * M), NAN);
                    matmul_isa(isa, x.data(), N, K, w->data(), t, M, ref.data(), &pool);
                    pa.matmul(w->data(), M, y.data(), pool);
                    check(bit_equal(y.data(), ref.data(), y.size()),
                          ld::strfmt("packed acts %s isa=%s N=%lld M=%lld (bit-equal to matmul_isa)", type_traits(t)->name,
                                     cpu_isa_name(isa), (long long)N, (long long)M));
                }
            }
        }
    }
}

void test_moe(const std::vector<CpuIsa> & isas, ThreadPool & pool) {
    std::mt19937 rng(12);
    const int64_t E = 5, top_k = 3;
    for (Type t : kTypes) {
        for (int64_t nblk : {1, 3}) {
            const int64_t K = block_of(t) * nblk;
            for (bool down : {false, true}) {  // gate_up: shared x, per-slot output; down: per-slot x, weighted sum
                const int64_t M = down ? 45 : 2 * 21;
                std::vector<float> Wd;
                const std::vector<uint8_t> raw = quantize(t, make_matrix(E * M, K, rng), E * M, K, Wd);
                for (int64_t N : {1, 7, 33}) {
                    const int64_t NS = N * top_k;
                    std::vector<int32_t> ids((size_t)NS);
                    std::vector<float> rw((size_t)NS);
                    std::uniform_real_distribution<float> ud(0.05f, 1.0f);
                    for (int64_t n = 0; n < N; ++n) {  // distinct experts per token, skewed to expert 0..2
                        std::vector<int32_t> e{0, 1, 2, 3, 4};
                        std::shuffle(e.begin(), e.end(), rng);
                        if (n % 2 == 0) std::sort(e.begin(), e.begin() + 3);
                        for (int64_t s = 0; s < top_k; ++s) {
                            ids[(size_t)(n * top_k + s)] = e[(size_t)s];
                            rw[(size_t)(n * top_k + s)] = ud(rng);
                        }
                    }
                    const std::vector<float> x = make_acts(down ? NS : N, K, rng);
                    MoeArgs a;
                    a.x = x.data(); a.N = N; a.K = K; a.x_per_slot = down;
                    a.w = raw.data(); a.wtype = t; a.M = M; a.E = E;
                    a.ids = ids.data(); a.rw = down ? rw.data() : nullptr; a.top_k = top_k;
                    const size_t ny = (size_t)((down ? N : NS) * M);
                    std::vector<float> ref(ny), y(ny);
                    a.y = ref.data();
                    moe_matmul_ref(a);
                    // scale of each output: sum over its slots of |rw| * sum_k |w x|
                    std::vector<double> sc(ny, 0.0);
                    for (int64_t n = 0; n < N; ++n)
                        for (int64_t s = 0; s < top_k; ++s) {
                            const int64_t i = n * top_k + s;
                            const float * xr = x.data() + (down ? i : n) * K;
                            const float * we = Wd.data() + ids[(size_t)i] * M * K;
                            for (int64_t m = 0; m < M; ++m) {
                                double v = 0.0;
                                for (int64_t k = 0; k < K; ++k) v += std::fabs((double)xr[k] * we[m * K + k]);
                                if (down) sc[(size_t)(n * M + m)] += std::fabs(rw[(size_t)i]) * v;
                                else sc[(size_t)(i * M + m)] = v;
                            }
                        }
                    for (CpuIsa isa : isas) {
                        std::fill(y.begin(), y.end(), NAN);
                        a.y = y.data();
                        moe_matmul_isa(isa, a, &pool);
                        const std::string what = ld::strfmt("moe %s %s isa=%s N=%lld K=%lld", down ? "down" : "gate_up",
                                                        type_traits(t)->name, cpu_isa_name(isa), (long long)N,
                                                        (long long)K);
                        if (isa == CpuIsa::generic) {
                            check(bit_equal(y.data(), ref.data(), ny), what + " (bit-equal to moe_matmul_ref)");
                        } else {
                            const double e = rel_err(y.data(), ref.data(), sc.data(), ny);
                            check(e <= kSimdTol, what + ld::strfmt(" rel err %.3g", e));
                        }
                        if (down) {  // the weighted sum (per panel in the driver) is the per-slot rows summed in slot order
                            std::vector<float> slot((size_t)(NS * M), NAN), want(ny);
                            MoeArgs b = a;
                            b.rw = nullptr;
                            b.y = slot.data();
                            moe_matmul_isa(isa, b, &pool);
                            for (int64_t n = 0; n < N; ++n)
                                for (int64_t m = 0; m < M; ++m) {
                                    float v = 0.0f;
                                    for (int64_t s = 0; s < top_k; ++s)
                                        v += rw[(size_t)(n * top_k + s)] * slot[(size_t)((n * top_k + s) * M + m)];
                                    want[(size_t)(n * M + m)] = v;
                                }
                            check(bit_equal(y.data(), want.data(), ny), what + " (bit-equal to its slots summed in order)");
                        }
                    }
                }
            }
        }
    }
}

// ---- 2. the matmul kernel tables, driven directly ----

struct MmTable {
    const char * name;
    CpuIsa isa;
    const mm::Kernels * k;
};

std::vector<MmTable> mm_tables(const std::vector<CpuIsa> & isas) {
    std::vector<MmTable> out;
    auto runs = [&](CpuIsa i) { return std::find(isas.begin(), isas.end(), i) != isas.end(); };
#if defined(LD_HAVE_AVX2)
    if (runs(CpuIsa::avx2)) out.push_back({"avx2", CpuIsa::avx2, mm::kernels_avx2()});
#endif
#if defined(LD_HAVE_AVX2) && defined(LD_HAVE_AVXVNNI)
    if (runs(CpuIsa::avx2_vnni)) out.push_back({"avx2_vnni", CpuIsa::avx2_vnni, mm::kernels_avx2_vnni()});
#endif
#if defined(LD_HAVE_AVX512)
    if (runs(CpuIsa::avx512)) out.push_back({"avx512", CpuIsa::avx512, mm::kernels_avx512()});
#endif
#if defined(LD_HAVE_NEON)
    if (runs(CpuIsa::neon)) out.push_back({"neon", CpuIsa::neon, mm::kernels_neon()});
#endif
#if defined(LD_HAVE_NEON) && defined(LD_HAVE_NEON_I8MM)
    if (runs(CpuIsa::neon_i8mm)) out.push_back({"neon_i8mm", CpuIsa::neon_i8mm, mm::kernels_neon_i8mm()});
#endif
#if defined(LD_HAVE_AVX512) && defined(LD_HAVE_AMX)
    if (runs(CpuIsa::amx)) out.push_back({"amx", CpuIsa::amx, mm::kernels_amx()});
#endif
    (void)runs;
    return out;
}

// y[N, M] = x . W^T through the driver with table k (as matmul_isa does once the dispatcher selects k).
void matmul_with(const mm::Kernels * k, const float * x, int64_t N, int64_t K, const uint8_t * w, Type t, int64_t M,
                 float * y, ThreadPool & pool) {
    mm::ActRows act;
    mm::quantize_acts(k, t, x, N, K, pool, act);
    std::vector<int64_t> ids((size_t)N);
    std::vector<float *> out((size_t)N);
    for (int64_t i = 0; i < N; ++i) { ids[(size_t)i] = i; out[(size_t)i] = y + i * M; }
    std::vector<mm::Group> groups{mm::Group{w, ids.data(), out.data(), N}};
    mm::run_groups(k, t, K, M, act, groups, pool);
}

void test_mm_tables(const std::vector<MmTable> & tables, ThreadPool & pool) {
    std::mt19937 rng(13);
    for (const MmTable & tb : tables) {
        int n_types = 0;
        for (Type t : kTypes) {
            if (!tb.k->has(t)) continue;
            ++n_types;
            for (int64_t nblk : {1, 4}) {
                const int64_t K = block_of(t) * nblk, M = 2 * tb.k->R + 3;  // a full and a partial panel
                std::vector<float> Wd;
                const std::vector<uint8_t> raw = quantize(t, make_matrix(M, K, rng), M, K, Wd);
                for (int64_t N : {(int64_t)1, (int64_t)2, (int64_t)tb.k->C + 1, (int64_t)33}) {
                    const std::vector<float> x = make_acts(N, K, rng);
                    std::vector<float> ref((size_t)(N * M)), y((size_t)(N * M), NAN), yd((size_t)(N * M), NAN);
                    matmul_ref(x.data(), N, K, raw.data(), t, M, ref.data());
                    matmul_with(tb.k, x.data(), N, K, raw.data(), t, M, y.data(), pool);
                    const std::vector<double> sc = abs_scale(x.data(), N, Wd.data(), M, K);
                    const double e = rel_err(y.data(), ref.data(), sc.data(), y.size());
                    check(e <= kSimdTol, ld::strfmt("table %s %s N=%lld K=%lld rel err %.3g", tb.name, type_traits(t)->name,
                                                (long long)N, (long long)K, e));
#if defined(LD_HAVE_AVX2) && defined(LD_HAVE_AVXVNNI)
                    if (tb.isa == CpuIsa::avx2_vnni) {  // u8 x s8 vpdpbusd = the avx2 table's s16 pairs, bit for bit
                        std::vector<float> ya((size_t)(N * M), NAN);
                        matmul_with(mm::kernels_avx2(), x.data(), N, K, raw.data(), t, M, ya.data(), pool);
                        check(bit_equal(y.data(), ya.data(), y.size()),
                              ld::strfmt("table avx2_vnni %s N=%lld K=%lld equals the avx2 table bit for bit",
                                         type_traits(t)->name, (long long)N, (long long)K));
                    }
#endif
#if defined(LD_HAVE_NEON) && defined(LD_HAVE_NEON_I8MM)
                    if (tb.isa == CpuIsa::neon_i8mm) {  // SMMLA = SDOT table, bit for bit
                        std::vector<float> yn((size_t)(N * M), NAN);
                        matmul_with(mm::kernels_neon(), x.data(), N, K, raw.data(), t, M, yn.data(), pool);
                        check(bit_equal(y.data(), yn.data(), y.size()),
                              ld::strfmt("table neon_i8mm %s N=%lld K=%lld equals the neon table bit for bit",
                                         type_traits(t)->name, (long long)N, (long long)K));
                    }
#endif
                    if (nblk == 4 && N == 33 && t == Type::Q4_K) {  // is the dispatcher using this table?
                        matmul_isa(tb.isa, x.data(), N, K, raw.data(), t, M, yd.data(), &pool);
                        std::printf("  matmul_isa(%s) %s the %s kernel table\n", tb.name,
                                    bit_equal(y.data(), yd.data(), y.size()) ? "runs" : "does NOT run (yet)", tb.name);
                    }
                }
            }
        }
        std::printf("  kernel table %s (R=%d, C=%d): %d weight types\n", tb.name, tb.k->R, tb.k->C, n_types);
        // the amx, neon_i8mm and avx2_vnni tables hold the quantized types only (F32 / F16 / BF16 run the
        // avx512 / neon / avx2 table there)
        const bool quant_only = tb.isa == CpuIsa::amx || tb.isa == CpuIsa::neon_i8mm || tb.isa == CpuIsa::avx2_vnni;
        int want = 0;
        for (Type t : kTypes) want += !quant_only || (t != Type::F32 && t != Type::F16 && t != Type::BF16);
        check(n_types == want, ld::strfmt("table %s covers every type it should (%d of %d)", tb.name, n_types, want));
        // the vector activation quantizer gives the reference bytes (or declines)
        if (!tb.k->quantize_row) continue;
        for (Type t : {Type::Q8_0, Type::Q4_K}) {  // Q8_0 and Q8_K activations
            const int64_t K = 512;
            std::vector<float> x = randn((size_t)K, rng, 2.0f);
            for (int64_t i = 0; i < 32; ++i) x[(size_t)i] = 0.0f;           // an all-zero Q8_0 block
            x[40] = 3.5f; x[41] = -3.5f; x[42] = 1.75f;                         // ties after scaling
            x[100] = 9.0f; x[170] = -9.0f;                   // the largest magnitude twice, signs differ (first wins)
            for (int64_t i = 256; i < 512; ++i) x[(size_t)i] = (float)((i % 9) - 4) * 0.25f;  // exact halves
            const size_t rb = row_size(type_traits(t)->vec_dot_type, K);
            std::vector<uint8_t> want(rb), got(rb, 0xAB);
            quantize_activation_row(t, x.data(), want.data(), K);
            const bool took = tb.k->quantize_row(t, x.data(), got.data(), K);
            check(took && want == got, ld::strfmt("table %s: vector quantizer for %s gives the reference bytes", tb.name,
                                               type_traits(t)->name));
            for (float bad : {INFINITY, -INFINITY, NAN}) {
                for (int64_t at : {(int64_t)300, (int64_t)511}) {  // inside a block, the row's last value
                    std::vector<float> xb = x;
                    xb[(size_t)at] = bad;
                    const bool took_bad = tb.k->quantize_row(t, xb.data(), got.data(), K);
                    check(!took_bad, ld::strfmt("table %s: vector quantizer for %s declines a row with %g at %lld", tb.name,
                                                type_traits(t)->name, bad, (long long)at));
                }
            }
        }
    }
}

// Tables whose kernels pack as they compute (compute_raw, or any later fused path) give bit-for-bit the
// result of the same table packing whole panels first (pack_panel + compute_tiles): every type, a
// full and a partial panel (3 rows: one half, rows past n_rows left over from the full panel), tiles
// of 1..10 (more than one pass falls back), 1 and 2 threads. On amx, the AVX512-VNNI paths of tiles with
// few columns (matmul-kquant-narrow-amx.cpp, matmul-block-narrow-amx.cpp) take N = 1, 2, 5, 8 for Q4_K and
// Q6_K, N = 1, 2 for Q5_0 and Q4_0, N = 1 for Q8_0 (narrow_max_cols); the larger N the tiles. On avx512,
// N <= 6 (one tile) of Q4_K, Q6_K, Q8_0, Q5_0, Q4_0 unpack the rows in registers (matmul-narrow-avx512.cpp).
void test_fused_packing(const std::vector<MmTable> & tables) {
    std::mt19937 rng(31);
    for (const MmTable & tb : tables) {
        if (!tb.k->compute_raw) continue;
        mm::Kernels plain = *tb.k;
        plain.compute_raw = nullptr;
        int n_cases = 0;
        for (Type t : kTypes) {
            if (!tb.k->has(t)) continue;
            for (int64_t K : {256, 768, 288}) {  // 288: an odd number of blocks of 32
                const int64_t M = 2 * tb.k->R + 3;
                if (K % block_of(t) != 0) continue;
                std::vector<float> Wd;
                const std::vector<uint8_t> raw = quantize(t, make_matrix(M, K, rng), M, K, Wd);
                for (int64_t N : {(int64_t)1, (int64_t)2, (int64_t)5, (int64_t)8, (int64_t)9, (int64_t)17, (int64_t)tb.k->C + 1,
                                  (int64_t)10 * tb.k->C}) {
                    const std::vector<float> x = make_acts(N, K, rng);
                    for (int nth : {1, 2}) {
                        ThreadPool pool(nth);
                        std::vector<float> y((size_t)(N * M), NAN), yp((size_t)(N * M), NAN);
                        matmul_with(tb.k, x.data(), N, K, raw.data(), t, M, y.data(), pool);
                        matmul_with(&plain, x.data(), N, K, raw.data(), t, M, yp.data(), pool);
                        check(bit_equal(y.data(), yp.data(), y.size()),
                              ld::strfmt("table %s %s N=%lld K=%lld threads %d: packing as it computes is bit-equal to "
                                         "packed panels", tb.name, type_traits(t)->name, (long long)N, (long long)K, nth));
                        ++n_cases;
                    }
                }
            }
        }
        std::printf("  kernel table %s: packing during compute bit-equal to packed panels (%d cases)\n", tb.name, n_cases);
    }
}

// Prepared weights (prepare_weight): the panels packed once give bit-for-bit the unpacked call's result
// (dense and expert, gate_up and down forms, partial panels per expert, 1 and 2 threads); they are
// offered exactly where the packed form is within 7% of the weights' bytes (Q8_0 at least on avx512
// and amx), refused with an error for the other types, and a call on another ISA's table is refused.
void test_prepared(const std::vector<MmTable> & tables) {
    std::mt19937 rng(37);
    const int64_t K = 256, E = 3, N = 19, top_k = 2;
    for (const MmTable & tb : tables) {
        int n_types = 0;
        for (Type t : kTypes) {
            if (!tb.k->has(t)) continue;
            const int64_t M = 2 * tb.k->R + 3;  // two full panels and a partial one per expert
            const bool ok = prepared_weight_supported(tb.isa, t, K);
            std::vector<float> Wd;
            const std::vector<uint8_t> raw = quantize(t, make_matrix(E * M, K, rng), E * M, K, Wd);
            if (!ok) {
                bool threw = false;
                try { prepare_weight(tb.isa, raw.data(), t, E, M, K); } catch (const Error &) { threw = true; }
                check(threw, ld::strfmt("table %s %s: prepare_weight refuses an unsupported type", tb.name, type_traits(t)->name));
                continue;
            }
            ++n_types;
            const auto pw = prepare_weight(tb.isa, raw.data(), t, E, M, K);
            // within 7% of the bytes of the rows padded to whole panels (3 panels of R rows per expert here)
            const double padded = (double)(E * 3 * tb.k->R) * (double)row_size(t, K);
            check((double)prepared_weight_bytes(*pw) <= 1.07 * padded,
                  ld::strfmt("table %s %s: prepared bytes %zu within 7%% of %.0f", tb.name, type_traits(t)->name,
                             prepared_weight_bytes(*pw), padded));
            std::vector<int32_t> ids((size_t)(N * top_k));
            for (auto & v : ids) v = (int32_t)(rng() % E);
            std::vector<float> rw = randn((size_t)(N * top_k), rng);
            for (bool down : {false, true}) {
                const std::vector<float> x = make_acts(down ? N * top_k : N, K, rng);
                const size_t ny = (size_t)((down ? N : N * top_k) * M);
                for (int nth : {1, 2}) {
                    ThreadPool pool(nth);
                    MoeArgs a;
                    a.x = x.data(); a.N = N; a.K = K; a.x_per_slot = down;
                    a.w = raw.data(); a.wtype = t; a.M = M; a.E = E;
                    a.ids = ids.data(); a.rw = down ? rw.data() : nullptr; a.top_k = top_k;
                    std::vector<float> y(ny, NAN), yp(ny, NAN);
                    a.y = y.data();
                    moe_matmul_isa(tb.isa, a, &pool);
                    a.y = yp.data();
                    a.prepared = pw.get();
                    a.w = nullptr;  // not read
                    moe_matmul_isa(tb.isa, a, &pool);
                    check(bit_equal(y.data(), yp.data(), ny),
                          ld::strfmt("table %s %s %s threads %d: moe with the prepared weight is bit-equal", tb.name,
                                     type_traits(t)->name, down ? "down" : "gate_up", nth));
                }
            }
            // dense: expert 1 as one matrix
            // (N = 19: a few tiles, which a compact form may expand chunk by chunk; 10 C + 1: the whole panel)
            const auto pd = prepare_weight(tb.isa, raw.data() + row_size(t, K) * (size_t)M, t, 1, M, K);
            for (int64_t Nd : {N, (int64_t)10 * tb.k->C + 1}) {
                const std::vector<float> x = make_acts(Nd, K, rng);
                std::vector<float> y((size_t)(Nd * M), NAN), yp((size_t)(Nd * M), NAN);
                ThreadPool pool(2);
                matmul_isa(tb.isa, x.data(), Nd, K, raw.data() + row_size(t, K) * (size_t)M, t, M, y.data(), &pool);
                matmul_prepared(x.data(), Nd, *pd, yp.data(), &pool);
                check(bit_equal(y.data(), yp.data(), y.size()),
                      ld::strfmt("table %s %s N=%lld: matmul_prepared is bit-equal to matmul_isa", tb.name,
                                 type_traits(t)->name, (long long)Nd));
            }
        }
        const bool q8 = prepared_weight_supported(tb.isa, Type::Q8_0, K);
        if (tb.isa == CpuIsa::avx512 || tb.isa == CpuIsa::amx)
            check(q8, ld::strfmt("table %s: Q8_0 weights can be prepared", tb.name));
        std::printf("  kernel table %s: %d weight types preparable, bit-equal to the unpacked calls\n", tb.name, n_types);
    }
    // a weight prepared for one ISA's table is refused by a call on another table
    const MmTable * t0 = nullptr, * t1 = nullptr;  // two tables that both prepare Q8_0
    for (const MmTable & tb : tables)
        if (prepared_weight_supported(tb.isa, Type::Q8_0, K)) (t0 ? t1 : t0) = &tb;
    if (t0 && t1) {
        std::printf("  a Q8_0 weight prepared for %s is refused by a call on %s\n", t0->name, t1->name);
        std::vector<float> Wd;
        const std::vector<uint8_t> raw = quantize(Type::Q8_0, make_matrix(E * 32, K, rng), E * 32, K, Wd);
        const auto pw = prepare_weight(t0->isa, raw.data(), Type::Q8_0, E, 32, K);
        const std::vector<float> x = make_acts(1, K, rng);
        std::vector<int32_t> ids{0};
        std::vector<float> y(32);
        MoeArgs a;
        a.x = x.data(); a.N = 1; a.K = K; a.w = raw.data(); a.wtype = Type::Q8_0; a.M = 32; a.E = E;
        a.ids = ids.data(); a.top_k = 1; a.y = y.data(); a.prepared = pw.get();
        bool threw = false;
        try { moe_matmul_isa(t1->isa, a); } catch (const Error &) { threw = true; }
        check(threw, "a weight prepared for one ISA is refused on another");
    }
}

// The avx512 Q4_K panel (vector scale decoding, 16 rows at a time) holds exactly the codes and the
// f32 scales of the scalar unpacker (mm::unpack_row), zero scales for the rows past n_rows: full,
// partial (two row halves, one empty) panels, with random scale bytes (every 6-bit pattern).
void test_q4k_panel(const std::vector<MmTable> & tables) {
    std::mt19937 rng(29);
    for (const MmTable & tb : tables) {
        if (tb.isa != CpuIsa::avx512) continue;
        const int R = tb.k->R;
        const int64_t K = 3 * 256, nb = K / 32;
        const size_t rb = row_size(Type::Q4_K, K);
        std::vector<uint8_t> w(rb * (size_t)R);
        for (auto & b : w) b = (uint8_t)rng();
        for (size_t o = 0; o < w.size(); o += sizeof(block_q4_K)) {  // finite d, dmin of both signs
            const fp16_t d = f32_to_fp16(std::ldexp((float)(rng() % 200) - 100.0f, -12));
            const fp16_t dm = f32_to_fp16(std::ldexp((float)(rng() % 200) - 100.0f, -14));
            std::memcpy(&w[o], &d, 2);
            std::memcpy(&w[o + 2], &dm, 2);
        }
        const size_t pbytes = tb.k->panel_bytes(Type::Q4_K, K);
        std::vector<uint8_t> pbuf(pbytes + 64);
        uint8_t * panel = pbuf.data() + ((64 - ((uintptr_t)pbuf.data() & 63)) & 63);
        const size_t q_bytes = ((size_t)K * R + 63) & ~(size_t)63, s_bytes = ((size_t)nb * R * 4 + 63) & ~(size_t)63;
        for (int n_rows : {R, 20, 5}) {
            tb.k->pack_panel(Type::Q4_K, w.data(), rb, n_rows, K, panel);
            const float * s1 = reinterpret_cast<const float *>(panel + q_bytes);
            const float * s2 = reinterpret_cast<const float *>(panel + q_bytes + s_bytes);
            bool ok = true;
            std::vector<uint8_t> u((size_t)K);
            std::vector<float> a((size_t)nb), m((size_t)nb);
            for (int r = 0; r < R; ++r) {
                if (r < n_rows) mm::unpack_row(Type::Q4_K, w.data() + rb * (size_t)r, K, u.data(), a.data(), m.data());
                for (int64_t b = 0; b < nb; ++b) {
                    const float wa = r < n_rows ? a[(size_t)b] : 0.0f, wm = r < n_rows ? m[(size_t)b] : 0.0f;
                    ok = ok && std::memcmp(&s1[b * R + r], &wa, 4) == 0 && std::memcmp(&s2[b * R + r], &wm, 4) == 0;
                }
                for (int64_t k = 0; r < n_rows && k < K; ++k)  // code k of row r: byte k%4 of dword k/4 at [k/4][r]
                    ok = ok && panel[(size_t)(k / 4) * R * 4 + (size_t)r * 4 + (size_t)(k % 4)] == u[(size_t)k];
            }
            check(ok, ld::strfmt("table %s: Q4_K panel of %d rows equals the scalar unpacker bit for bit", tb.name, n_rows));
        }
    }
}

// Q4_K with random head bytes (every 6-bit scale and min pattern, d and dmin of both signs) through the
// table's own kernels (amx: the byte-split tiles for N > 8, the AVX512-VNNI columns for N <= 8, both
// decoding 16 rows' heads at a time) against the scalar reference, 1e-6 of sum |w x|; rows 37 (a full
// panel, a partial one), K = 3 super-blocks.
void test_q4k_random_heads(const std::vector<MmTable> & tables, ThreadPool & pool) {
    std::mt19937 rng(41);
    const int64_t K = 3 * 256, M = 37;
    const size_t rb = row_size(Type::Q4_K, K);
    std::vector<uint8_t> w(rb * (size_t)M);
    for (auto & b : w) b = (uint8_t)rng();
    for (size_t o = 0; o < w.size(); o += sizeof(block_q4_K)) {
        const fp16_t d = f32_to_fp16(std::ldexp((float)(rng() % 200) - 100.0f, -12));
        const fp16_t dm = f32_to_fp16(std::ldexp((float)(rng() % 200) - 100.0f, -14));
        std::memcpy(&w[o], &d, 2);
        std::memcpy(&w[o + 2], &dm, 2);
    }
    std::vector<float> Wd((size_t)(M * K));
    type_traits(Type::Q4_K)->to_float(w.data(), Wd.data(), M * K);
    for (const MmTable & tb : tables) {
        if (!tb.k->has(Type::Q4_K)) continue;
        for (int64_t N : {1, 3, 8, 9, 16, 33}) {
            const std::vector<float> x = make_acts(N, K, rng);
            std::vector<float> y((size_t)(N * M), NAN), ref((size_t)(N * M), NAN);
            matmul_ref(x.data(), N, K, w.data(), Type::Q4_K, M, ref.data());
            matmul_with(tb.k, x.data(), N, K, w.data(), Type::Q4_K, M, y.data(), pool);
            const std::vector<double> sc = abs_scale(x.data(), N, Wd.data(), M, K);
            const double e = rel_err(y.data(), ref.data(), sc.data(), y.size());
            check(e <= kSimdTol, ld::strfmt("table %s: Q4_K with random heads N=%lld rel err %.3g", tb.name, (long long)N, e));
#if defined(LD_HAVE_AVX2) && defined(LD_HAVE_AVXVNNI)
            if (tb.isa == CpuIsa::avx2_vnni) {  // its own Q4_K panel packer (heads gathered in lanes) = the avx2 table
                std::vector<float> ya((size_t)(N * M), NAN);
                matmul_with(mm::kernels_avx2(), x.data(), N, K, w.data(), Type::Q4_K, M, ya.data(), pool);
                check(bit_equal(y.data(), ya.data(), y.size()),
                      ld::strfmt("table avx2_vnni: Q4_K with random heads N=%lld equals the avx2 table bit for bit", (long long)N));
            }
#endif
        }
    }
}

// x[N, K] against the weights w (M rows of type t; Wd their values) on every table holding t: each within
// kSimdTol of the reference, and the avx2 table bit for bit the avx2_vnni one (what names the activations).
void check_tables_against(const std::vector<MmTable> & tables, ThreadPool & pool, const std::vector<float> & x, int64_t N,
                          int64_t K, const std::vector<uint8_t> & w, const std::vector<float> & Wd, Type t, int64_t M,
                          const char * what) {
    std::vector<float> ref((size_t)(N * M)), yv((size_t)(N * M), NAN);
    matmul_ref(x.data(), N, K, w.data(), t, M, ref.data());
    const std::vector<double> sc = abs_scale(x.data(), N, Wd.data(), M, K);
    const MmTable * vnni = nullptr;
    for (const MmTable & tb : tables) if (tb.isa == CpuIsa::avx2_vnni) vnni = &tb;
    if (vnni) matmul_with(vnni->k, x.data(), N, K, w.data(), t, M, yv.data(), pool);
    for (const MmTable & tb : tables) {
        if (!tb.k->has(t)) continue;
        std::vector<float> y((size_t)(N * M), NAN);
        matmul_with(tb.k, x.data(), N, K, w.data(), t, M, y.data(), pool);
        const double e = rel_err(y.data(), ref.data(), sc.data(), y.size());
        check(e <= kSimdTol, ld::strfmt("table %s: %s against %s: rel err %.3g", tb.name, type_traits(t)->name, what, e));
        if (vnni && tb.isa == CpuIsa::avx2)
            check(bit_equal(y.data(), yv.data(), y.size()),
                  ld::strfmt("table avx2: %s against %s equals avx2_vnni bit for bit", type_traits(t)->name, what));
    }
}

// The activation quantizers (the reference rules every vector quantizer equals) give the code -128 only in
// blocks whose scale is 0 (rows of subnormal size, where 1/d overflows); tiles holding it (the avx2 table's
// signed path cannot negate -128 and takes its exact split path there) still give every table's result bit
// for bit the avx2_vnni one and the reference's: activation rows of every size, one sign, mixed, with a
// dominant negative value, against Q8_0 (Q8_0 activations), IQ4_XS (Q8_K) and Q4_1 (Q8_1) weights.
void test_act_code_bound(const std::vector<MmTable> & tables, ThreadPool & pool) {
    std::mt19937 rng(47);
    const int64_t K = 512, N = 9, M = 21;
    std::vector<float> x;
    int n_min128_rows = 0;
    for (float scale : {1.0f, 3.0e2f, 1.0e-39f, 1.0e-41f, 7.0f, 1.0e-38f, 3.0e-39f, 0.5f, 1.0e-40f}) {  // (fp16 block scales stay finite)
        std::vector<float> r = randn((size_t)K, rng, scale);
        if (x.size() / K % 3 == 1) for (auto & v : r) v = -std::fabs(v);  // all negative
        if (x.size() / K % 3 == 2) r[5] = -scale * 10.0f;                  // one dominant negative value
        x.insert(x.end(), r.begin(), r.end());
    }
    for (Type t : {Type::Q8_0, Type::IQ4_XS, Type::Q4_1}) {
        const Type at = type_traits(t)->vec_dot_type;
        const size_t rb = row_size(at, K);
        const int bl = 32;
        bool ok = true;
        for (int64_t n = 0; n < N; ++n) {
            std::vector<uint8_t> q(rb);
            quantize_activation_row(t, x.data() + n * K, q.data(), K);
            std::vector<int8_t> qs((size_t)K);
            std::vector<float> da((size_t)(K / bl)), A((size_t)(K / bl));
            std::vector<int32_t> asum((size_t)(K / bl));
            mm::act_blocks(at, bl, q.data(), K, qs.data(), da.data(), asum.data(), A.data());
            bool has = false;
            for (int64_t b = 0; b < K / bl; ++b)
                for (int j = 0; j < bl; ++j)
                    if (qs[(size_t)(b * bl + j)] == -128) {
                        has = true;
                        ok = ok && da[(size_t)b] == 0.0f;
                    }
            n_min128_rows += has;
        }
        check(ok, ld::strfmt("%s activation blocks holding the code -128 have scale 0", type_traits(at)->name));
        std::vector<float> Wd;
        const std::vector<uint8_t> w = quantize(t, make_matrix(M, K, rng), M, K, Wd);
        check_tables_against(tables, pool, x, N, K, w, Wd, t, M, "activations of every size");
    }
    check(n_min128_rows > 0, "the subnormal rows give the code -128 somewhere (the case is exercised)");
}

// Activations that are all >= 0 (the self-conditioning product's softmax weights; the avx2 table's signed
// types take their vpmaddubsw(a, v) path there): every type of codes up to 255, every table against the
// reference, avx2 bit for bit avx2_vnni.
void test_nonneg_acts(const std::vector<MmTable> & tables, ThreadPool & pool) {
    std::mt19937 rng(53);
    const int64_t K = 512, N = 11, M = 19;
    for (Type t : {Type::Q8_0, Type::IQ4_NL, Type::IQ4_XS, Type::MXFP4, Type::IQ3_XXS, Type::IQ3_S}) {  // (those with a quantizer)
        std::vector<float> x = make_acts(N, K, rng);
        for (auto & v : x) v = std::fabs(v);
        for (int64_t k = 0; k < K; k += 7) x[(size_t)k] = 0.0f;  // zeros among them
        std::vector<float> Wd;
        const std::vector<uint8_t> w = quantize(t, make_matrix(M, K, rng), M, K, Wd);
        check_tables_against(tables, pool, x, N, K, w, Wd, t, M, "activations >= 0");
    }
}

// Codes at their largest against activations that quantize to +-127 with one sign per row (the
// largest integer block sums: Q6_K u = 63 with scales -1, Q5_0 u = 31, Q4_K u = 15 with 6-bit scales 63): no
// table's integer path may saturate or wrap (the avx2 table's vpmaddubsw pairs, added as s16, peak at
// 4 * 63 * 127 = 32004 here); every table against the reference.
void test_extreme_codes(const std::vector<MmTable> & tables, ThreadPool & pool) {
    const int64_t K = 512, M = 19;
    for (Type t : {Type::Q6_K, Type::Q5_0, Type::Q4_K}) {
        const size_t rb = row_size(t, K), bs = type_traits(t)->type_size;
        std::vector<uint8_t> w(rb * (size_t)M, 0xFF);
        for (size_t o = 0; o < w.size(); o += bs) {  // finite scales: d (and dmin) of each block
            const fp16_t d = f32_to_fp16(t == Type::Q6_K ? 0.01f : 0.02f);
            const fp16_t dm = f32_to_fp16(0.0f);
            if (t == Type::Q6_K) std::memcpy(&w[o + bs - 2], &d, 2);  // d is the last field of block_q6_K
            else std::memcpy(&w[o], &d, 2);
            if (t == Type::Q4_K) std::memcpy(&w[o + 2], &dm, 2);
        }
        std::vector<float> Wd((size_t)(M * K));
        type_traits(t)->to_float(w.data(), Wd.data(), M * K);
        for (float sign : {1.0f, -1.0f}) {
            const int64_t N = 7;
            std::vector<float> x((size_t)(N * K), sign);
            std::vector<float> y((size_t)(N * M), NAN), ref((size_t)(N * M), NAN);
            matmul_ref(x.data(), N, K, w.data(), t, M, ref.data());
            const std::vector<double> sc = abs_scale(x.data(), N, Wd.data(), M, K);
            for (const MmTable & tb : tables) {
                if (!tb.k->has(t)) continue;
                matmul_with(tb.k, x.data(), N, K, w.data(), t, M, y.data(), pool);
                const double e = rel_err(y.data(), ref.data(), sc.data(), y.size());
                check(e <= kSimdTol, ld::strfmt("table %s: %s with the largest codes, activations %+g: rel err %.3g", tb.name,
                                                type_traits(t)->name, sign, e));
            }
        }
    }
}

// The byte-code panels of the AVX2 tables (panel-u8-avx2.h: u [K/4][8 rows][4], s1[nb][8], s2[nb][8]) and
// of the AVX-512 table (the same layout with 32 rows), built with the SIMD row unpackers and transposes
// or straight from the blocks (Q4_K, Q5_0, Q8_0 on AVX-512), hold exactly the scalar rule's values
// (mm::unpack_row): every quantized type, a full panel and partial ones (5 and 21 rows: the rest zero
// scales), random weight bytes with finite scales.
void test_byte_panels(const std::vector<MmTable> & tables) {
    std::mt19937 rng(43);
    for (const MmTable & tb : tables) {
        if (tb.isa != CpuIsa::avx2 && tb.isa != CpuIsa::avx2_vnni && tb.isa != CpuIsa::avx512) continue;
        int n_types = 0;
        for (Type t : kTypes) {
            mm::QuantCfg cf;
            if (!tb.k->has(t) || !mm::quant_cfg(t, cf)) continue;
            const int64_t K = 2 * std::max<int64_t>(256, block_of(t)), nb = K / cf.bl;
            const int R = tb.k->R;
            std::vector<float> Wd;
            const std::vector<uint8_t> raw = quantize(t, make_matrix(R, K, rng), R, K, Wd);
            const size_t rb = row_size(t, K);
            std::vector<uint8_t> pbuf(tb.k->panel_bytes(t, K) + 64);
            uint8_t * panel = pbuf.data() + ((64 - ((uintptr_t)pbuf.data() & 63)) & 63);
            const size_t q_bytes = ((size_t)K * R + 63) & ~(size_t)63, s_bytes = ((size_t)nb * R * 4 + 63) & ~(size_t)63;
            for (int n_rows : {R, 5, 21}) {
                if (n_rows > R) continue;
                tb.k->pack_panel(t, raw.data(), rb, n_rows, K, panel);
                const uint8_t * q8 = panel;
                const float * s1 = reinterpret_cast<const float *>(panel + q_bytes);
                const float * s2 = reinterpret_cast<const float *>(panel + q_bytes + s_bytes);
                bool ok = true;
                std::vector<uint8_t> u((size_t)K);
                std::vector<float> a((size_t)nb), m((size_t)nb);
                for (int r = 0; r < R; ++r) {
                    if (r < n_rows) mm::unpack_row(t, raw.data() + rb * (size_t)r, K, u.data(), a.data(), m.data());
                    for (int64_t k = 0; k < K; ++k) ok = ok && (r >= n_rows || q8[((k / 4) * R + r) * 4 + k % 4] == u[(size_t)k]);
                    for (int64_t b = 0; b < nb; ++b) {
                        const float wa = r < n_rows ? a[(size_t)b] : 0.0f, wm = r < n_rows ? m[(size_t)b] : 0.0f;
                        ok = ok && std::memcmp(&s1[b * R + r], &wa, 4) == 0 && std::memcmp(&s2[b * R + r], &wm, 4) == 0;
                    }
                }
                check(ok, ld::strfmt("table %s: %s panel of %d rows equals the scalar unpacker bit for bit", tb.name,
                                     type_traits(t)->name, n_rows));
                // the compact prepared form, expanded, is the same panel (codes, s1, s2)
                const size_t cb = tb.k->compact_bytes ? tb.k->compact_bytes(t, K) : 0;
                if (cb > 0) {
                    std::vector<uint8_t> cbuf(cb + 64), ebuf(pbuf.size(), 0xA5);
                    uint8_t * cmp = cbuf.data() + ((64 - ((uintptr_t)cbuf.data() & 63)) & 63);
                    uint8_t * exp = ebuf.data() + ((64 - ((uintptr_t)ebuf.data() & 63)) & 63);
                    tb.k->pack_compact(t, raw.data(), rb, n_rows, K, cmp);
                    tb.k->expand_compact(t, cmp, n_rows, K, exp);
                    const bool same = std::memcmp(exp, panel, (size_t)K * R) == 0 &&
                                      std::memcmp(exp + q_bytes, panel + q_bytes, (size_t)nb * R * 4) == 0 &&
                                      std::memcmp(exp + q_bytes + s_bytes, panel + q_bytes + s_bytes, (size_t)nb * R * 4) == 0;
                    check(same, ld::strfmt("table %s: %s compact form of %d rows expands to the same panel", tb.name,
                                           type_traits(t)->name, n_rows));
                }
            }
            ++n_types;
        }
        std::printf("  kernel table %s: panels of %d quantized types equal the scalar unpacker\n", tb.name, n_types);
    }
}

// ---- 3. nn ops ----

bool close(float got, double want, double rtol, double atol) {
    return std::isfinite(got) == std::isfinite(want) && std::fabs((double)got - want) <= atol + rtol * std::fabs(want);
}

void test_nn_ops(const std::vector<CpuIsa> & isas, ThreadPool & pool) {
    std::mt19937 rng(14);
    for (CpuIsa isa : isas) {
        const char * in = cpu_isa_name(isa);
        // RMSNorm with and without weight, odd lengths and per-head rows
        for (int64_t n : {1, 7, 64, 256, 515}) {
            const int64_t rows = 5;
            const std::vector<float> x = randn((size_t)(rows * n), rng, 3.0f), w = randn((size_t)n, rng);
            for (bool with_w : {false, true}) {
                std::vector<float> ref(x.size()), got(x.size());
                rms_norm_ref(x.data(), rows, n, with_w ? w.data() : nullptr, 1e-6f, ref.data());
                rms_norm(x.data(), rows, n, with_w ? w.data() : nullptr, 1e-6f, got.data(), &pool, isa);
                bool ok = true;
                for (size_t i = 0; i < x.size(); ++i) ok = ok && close(got[i], ref[i], 2e-6, 1e-6);
                check(ok, ld::strfmt("rms_norm isa=%s n=%lld weight=%d", in, (long long)n, (int)with_w));
            }
        }
        // GELU-tanh over a range with tails (tolerance of test_nn_ops.py), GEGLU, odd length
        {
            std::vector<float> x;
            for (int i = 0; i <= 4000; ++i) x.push_back(-12.0f + 24.0f * (float)i / 4000.0f);
            for (float v : {0.0f, -0.0f, 1e-30f, -1e-30f, 1e-8f, 50.0f, -50.0f, 1e4f, -1e4f, 3e12f, -3e12f}) x.push_back(v);
            std::vector<float> ref(x.size()), got(x.size());
            gelu_tanh_ref(x.data(), (int64_t)x.size(), ref.data());
            gelu_tanh(x.data(), (int64_t)x.size(), got.data(), &pool, isa);
            bool ok = true;
            for (size_t i = 0; i < x.size(); ++i) {
                const double xv = x[i];
                const double u = std::fabs(std::sqrt(2.0 / M_PI) * (xv + 0.044715 * xv * xv * xv));
                const double tol = (4e-6 + 2.5e-7 * std::min(u, 1e3)) * std::fabs((double)ref[i]) + 1e-37;
                ok = ok && std::isfinite(got[i]) && std::fabs((double)got[i] - ref[i]) <= tol;
            }
            check(ok, ld::strfmt("gelu_tanh isa=%s", in));
            const int64_t rows = 3, n = 37;
            const std::vector<float> gu = randn((size_t)(rows * 2 * n), rng, 2.0f);
            std::vector<float> gref((size_t)(rows * n)), gg((size_t)(rows * n));
            geglu_ref(gu.data(), gu.data() + n, rows, n, 2 * n, gref.data());
            geglu(gu.data(), gu.data() + n, rows, n, 2 * n, gg.data(), &pool, isa);
            ok = true;
            for (size_t i = 0; i < gg.size(); ++i) ok = ok && close(gg[i], gref[i], 5e-6, 1e-6);
            check(ok, ld::strfmt("geglu (fused layout) isa=%s", in));
        }
        // softmax with masked (-inf) entries and an all -inf row
        {
            const int64_t rows = 4, n = 203;
            std::vector<float> x = randn((size_t)(rows * n), rng, 4.0f);
            for (int64_t i = 0; i < n; i += 3) x[(size_t)(n + i)] = -INFINITY;
            for (int64_t i = 0; i < n; ++i) x[(size_t)(2 * n + i)] = -INFINITY;
            std::vector<float> ref(x.size()), got(x.size());
            softmax_ref(x.data(), rows, n, ref.data());
            softmax(x.data(), rows, n, got.data(), &pool, isa);
            bool ok = true;
            for (size_t i = 0; i < x.size(); ++i) ok = ok && close(got[i], ref[i], 4e-6, 1e-9);
            for (int64_t i = 0; i < n; ++i) ok = ok && got[(size_t)(2 * n + i)] == 0.0f;
            check(ok, ld::strfmt("softmax isa=%s", in));
        }
    }
}

// x rounded to bf16 (nearest even; the values here are finite).
float bf16_round(float x) {
    uint32_t u;
    std::memcpy(&u, &x, 4);
    u = (u + 0x7fffu + ((u >> 16) & 1u)) & 0xffff0000u;
    float y;
    std::memcpy(&y, &u, 4);
    return y;
}

// The amx ISA runs F16 / Q8_0 K/V with head dims % 32 == 0 on AMX-BF16 tiles (attention-amx.cpp).
bool attn_bf16_path(CpuIsa isa, Type kv, int64_t d) {
    return isa == CpuIsa::amx && kv != Type::F32 && d % 32 == 0 && cpu_features().amx_bf16 && cpu_features().avx512bf16;
}

// The fast mode of the AMX-BF16 path against attention_ref on the same inputs rounded to bf16 (q * scale, the stored K/V
// after dequantization): what remains is the rounding of the softmax weights p to bf16 (relative 2^-9
// each, the row sum adds the rounded values, so the output is a weighted mean of V with weights off by at
// most 2 * 2^-9 relatively: |error| <= 2^-8 max|v|) plus f32 summation (1e-5). Against the exact
// reference (scores off by q/K rounding, 2^-9 relative per product) only a sanity bound: 0.05 max|v|.
void check_attention_bf16(const AttnArgs & a, const std::vector<float> & got, const std::vector<float> & ref_exact,
                          const std::string & what) {
    const int64_t d = a.head_dim;
    const TypeTraits * tt = type_traits(a.kv_type);
    const size_t row = row_size(a.kv_type, d), nrow = (size_t)(a.n_kv * a.n_kv_head);
    std::vector<float> kb(nrow * (size_t)d), vb(nrow * (size_t)d), qb((size_t)(a.n_q * a.n_head * d));
    for (size_t r = 0; r < nrow; ++r) {
        tt->to_float((const uint8_t *)a.k + r * row, kb.data() + r * (size_t)d, d);
        tt->to_float((const uint8_t *)a.v + r * row, vb.data() + r * (size_t)d, d);
    }
    float vmax = 0.0f;
    for (float & x : kb) x = bf16_round(x);
    for (float & x : vb) { x = bf16_round(x); vmax = std::max(vmax, std::fabs(x)); }
    for (size_t i = 0; i < qb.size(); ++i) qb[i] = bf16_round(a.q[i] * a.scale);
    AttnArgs b = a;
    b.q = qb.data(); b.k = kb.data(); b.v = vb.data(); b.kv_type = Type::F32; b.scale = 1.0f; b.kv_stride = 0;
    std::vector<float> ref_b(got.size());
    b.out = ref_b.data();
    attention_ref(b);
    double e_b = 0.0, e_x = 0.0;
    for (size_t i = 0; i < got.size(); ++i) {
        e_b = std::max(e_b, std::fabs((double)got[i] - ref_b[i]));
        e_x = std::max(e_x, std::fabs((double)got[i] - ref_exact[i]));
        if (std::isnan(got[i])) e_b = e_x = INFINITY;
    }
    const double tol_b = std::ldexp((double)vmax, -8) + 1e-5, tol_x = 0.05 * vmax;
    check(e_b <= tol_b && e_x <= tol_x, ld::strfmt("%s: bf16 path max error %.3g vs bf16-rounded inputs (bound %.3g), "
                                                   "%.3g vs exact (bound %.3g)", what.c_str(), e_b, tol_b, e_x, tol_x));
}

// KV storage: [n_kv, n_kv_head, d] f32 values converted to kv_type rows of d values.
std::vector<uint8_t> store_kv(Type t, const std::vector<float> & x, int64_t d) {
    const TypeTraits * tt = type_traits(t);
    std::vector<uint8_t> raw(row_size(t, d) * (x.size() / (size_t)d));
    tt->from_float_ref(x.data(), raw.data(), (int64_t)x.size());
    return raw;
}

void test_attention(const std::vector<CpuIsa> & isas, ThreadPool & pool) {
    std::mt19937 rng(15);
    struct Case { AttnMask mask; int32_t window, canvas_begin; int64_t n_q, n_kv, n_head, n_kv_head, d; Type kv; };
    const Case cases[] = {
        {AttnMask::causal, 0, 0, 19, 150, 4, 2, 64, Type::F32},
        {AttnMask::sliding, 24, 0, 21, 130, 8, 1, 48, Type::F16},        // GQA group of 8
        {AttnMask::canvas, 0, 100, 16, 116, 2, 1, 256, Type::Q8_0},      // full layer: whole prefix
        {AttnMask::canvas, 30, 100, 16, 116, 4, 2, 64, Type::F32},       // sliding layer: prefix longer than W
        {AttnMask::causal, 0, 0, 5, 70, 2, 2, 512, Type::F16},           // head dim 512
        // long prefix (the AMX-BF16 path's 256-key tiles: 3, the first partly outside the window, the last
        // partial; 640 rows per KV head: two query tiles of 512 and 128 rows, sub-blocks of 128)
        {AttnMask::canvas, 300, 620, 80, 700, 16, 2, 64, Type::F16},
        {AttnMask::canvas, 0, 620, 80, 700, 16, 2, 96, Type::Q8_0},
        {AttnMask::causal, 0, 0, 40, 600, 8, 4, 32, Type::Q8_0},
    };
    for (const Case & c : cases) {
        const std::vector<float> q = randn((size_t)(c.n_q * c.n_head * c.d), rng, 0.15f);
        const std::vector<float> k = randn((size_t)(c.n_kv * c.n_kv_head * c.d), rng);
        const std::vector<float> v = randn((size_t)(c.n_kv * c.n_kv_head * c.d), rng);
        const std::vector<uint8_t> kr = store_kv(c.kv, k, c.d), vr = store_kv(c.kv, v, c.d);
        std::vector<int32_t> qp((size_t)c.n_q), kp((size_t)c.n_kv);
        for (int64_t j = 0; j < c.n_kv; ++j) kp[(size_t)j] = (int32_t)j;
        kp[7] = -1;  // an empty slot
        const int64_t q0 = c.mask == AttnMask::canvas ? c.canvas_begin : c.n_kv - c.n_q;
        for (int64_t i = 0; i < c.n_q; ++i) qp[(size_t)i] = (int32_t)(q0 + i);
        AttnArgs a;
        a.q = q.data(); a.q_pos = qp.data(); a.n_q = c.n_q; a.n_head = c.n_head; a.head_dim = c.d;
        a.k = kr.data(); a.v = vr.data(); a.k_pos = kp.data(); a.kv_type = c.kv; a.n_kv = c.n_kv;
        a.n_kv_head = c.n_kv_head; a.mask = c.mask; a.window = c.window; a.canvas_begin = c.canvas_begin;
        const size_t no = (size_t)(c.n_q * c.n_head * c.d);
        std::vector<float> ref(no), got(no);
        a.out = ref.data();
        attention_ref(a);
        for (CpuIsa isa : isas) {
            std::fill(got.begin(), got.end(), NAN);
            a.out = got.data();
            attention(a, &pool, isa);
            const std::string what = ld::strfmt("attention mask=%d window=%d n_kv=%lld d=%lld kv=%s isa=%s", (int)c.mask,
                                                c.window, (long long)c.n_kv, (long long)c.d, type_traits(c.kv)->name,
                                                cpu_isa_name(isa));
            bool ok = true;
            const char * env = std::getenv("LD_ATTN_BF16");
            const bool fast = env && std::strcmp(env, "fast") == 0 && attn_bf16_path(isa, c.kv, c.d);
            for (size_t i = 0; i < no; ++i) ok = ok && (fast || close(got[i], ref[i], 0.0, 3e-5));
            check(ok, what);
#if defined(LD_HAVE_AVX512) && defined(LD_HAVE_AMX)
            if (attn_bf16_path(isa, c.kv, c.d)) {
                // both modes called directly (attention() runs one only when LD_ATTN_BF16 asks): split
                // within 3e-5 on these shapes, fast within the bound of its rounding; each bit-identical
                // on 1 and 3 threads
                ThreadPool one(1);
                for (AttnBf16 mode : {AttnBf16::split, AttnBf16::fast}) {
                    const char * mn = mode == AttnBf16::split ? "split" : "fast";
                    std::vector<float> g3(no), g1(no);
                    a.out = g3.data();
                    attention_amx_bf16(a, pool, mode);
                    a.out = g1.data();
                    attention_amx_bf16(a, one, mode);
                    check(std::memcmp(g3.data(), g1.data(), no * sizeof(float)) == 0, what + " " + mn + ": 1 vs 3 threads");
                    if (mode == AttnBf16::fast) {
                        check_attention_bf16(a, g3, ref, what + " fast");
                    } else {
                        bool oks = true;
                        for (size_t i = 0; i < no; ++i) oks = oks && close(g3[i], ref[i], 0.0, 3e-5);
                        check(oks, what + " split");
                    }
                }
            }
#endif
        }
    }
}

// Each NnKernels entry of an ISA table against the generic table.
void test_nn_tables(const std::vector<CpuIsa> & isas) {
    std::vector<const NnKernels *> tables;
    auto runs = [&](CpuIsa i) { return std::find(isas.begin(), isas.end(), i) != isas.end(); };
#if defined(LD_HAVE_AVX2)
    if (runs(CpuIsa::avx2)) tables.push_back(&nn_kernels_avx2());
#endif
#if defined(LD_HAVE_AVX512)
    if (runs(CpuIsa::avx512)) tables.push_back(&nn_kernels_avx512());
#endif
#if defined(LD_HAVE_NEON)
    if (runs(CpuIsa::neon)) tables.push_back(&nn_kernels_neon());
#endif
    (void)runs;
    const NnKernels & G = nn_kernels_generic();
    std::mt19937 rng(16);
    for (const NnKernels * T : tables) {
        const std::string nm = T->name;
        for (int rows : {1, 5, 7, 13}) {
            for (int64_t d : {16, 80, 256}) {
                // scores: q [rows, d] (row stride d + 16), kt [d][ATTN_BK]
                const int64_t ldq = d + 16;
                const std::vector<float> q = randn((size_t)(rows * ldq), rng), kt = randn((size_t)(d * ATTN_BK), rng);
                std::vector<float> s0((size_t)(rows * ATTN_BK)), s1(s0.size());
                G.attn_scores(q.data(), ldq, rows, kt.data(), d, s0.data());
                T->attn_scores(q.data(), ldq, rows, kt.data(), d, s1.data());
                bool ok = true;
                for (int r = 0; r < rows; ++r)
                    for (int j = 0; j < ATTN_BK; ++j) {
                        double sc = 0.0;
                        for (int64_t c = 0; c < d; ++c) sc += std::fabs((double)q[(size_t)(r * ldq + c)] * kt[(size_t)(c * ATTN_BK + j)]);
                        ok = ok && std::fabs((double)s1[(size_t)(r * ATTN_BK + j)] - s0[(size_t)(r * ATTN_BK + j)]) <= 1e-6 * sc + 1e-30;
                    }
                check(ok, ld::strfmt("table %s attn_scores rows=%d d=%lld", nm.c_str(), rows, (long long)d));
                // online softmax update: masked entries, a fully masked row, a running max
                for (int r = 0; r < rows; ++r)
                    for (int j = 0; j < ATTN_BK; j += 5) s0[(size_t)(r * ATTN_BK + j)] = -INFINITY;
                for (int j = 0; j < ATTN_BK; ++j) s0[(size_t)j] = -INFINITY;
                std::copy(s0.begin(), s0.end(), s1.begin());
                std::vector<float> m0((size_t)rows), l0((size_t)rows), al0((size_t)rows), al1((size_t)rows);
                for (int r = 0; r < rows; ++r) {
                    m0[(size_t)r] = r % 2 ? -INFINITY : 1.5f;
                    l0[(size_t)r] = r % 2 ? 0.0f : 3.0f;
                }
                std::vector<float> m1(m0), l1(l0);
                G.attn_softmax(s0.data(), rows, m0.data(), l0.data(), al0.data());
                T->attn_softmax(s1.data(), rows, m1.data(), l1.data(), al1.data());
                ok = true;
                for (size_t i = 0; i < s0.size(); ++i) ok = ok && close(s1[i], s0[i], 4e-6, 1e-30);
                for (int r = 0; r < rows; ++r)
                    ok = ok && m1[(size_t)r] == m0[(size_t)r] && close(l1[(size_t)r], l0[(size_t)r], 4e-6, 0.0) &&
                         close(al1[(size_t)r], al0[(size_t)r], 4e-6, 0.0);
                check(ok, ld::strfmt("table %s attn_softmax rows=%d", nm.c_str(), rows));
                // p . V with a partial key tile and the column-chunked V layout
                const int nk = 37;
                const std::vector<float> vt = randn((size_t)(d * ATTN_BK), rng), o0i = randn((size_t)(rows * d), rng);
                std::vector<float> o0 = o0i, o1 = o0i;
                G.attn_pv(s0.data(), rows, vt.data(), nk, d, al0.data(), o0.data());
                T->attn_pv(s0.data(), rows, vt.data(), nk, d, al0.data(), o1.data());
                ok = true;
                for (size_t i = 0; i < o0.size(); ++i) ok = ok && close(o1[i], o0[i], 1e-5, 1e-6);
                check(ok, ld::strfmt("table %s attn_pv rows=%d d=%lld", nm.c_str(), rows, (long long)d));
            }
        }
        for (int64_t n : {1, 3, 4, 17, 64, 333}) {
            const std::vector<float> x = randn((size_t)n, rng, 3.0f), w = randn((size_t)n, rng), u = randn((size_t)n, rng);
            std::vector<float> y0((size_t)n), y1((size_t)n);
            bool ok = true;
            G.rms_norm_row(x.data(), n, w.data(), 1e-6f, y0.data());
            T->rms_norm_row(x.data(), n, w.data(), 1e-6f, y1.data());
            for (int64_t i = 0; i < n; ++i) ok = ok && close(y1[(size_t)i], y0[(size_t)i], 2e-6, 1e-7);
            G.gelu(x.data(), n, y0.data());
            T->gelu(x.data(), n, y1.data());
            for (int64_t i = 0; i < n; ++i) ok = ok && close(y1[(size_t)i], y0[(size_t)i], 5e-6, 1e-7);
            G.geglu(x.data(), u.data(), n, y0.data());
            T->geglu(x.data(), u.data(), n, y1.data());
            for (int64_t i = 0; i < n; ++i) ok = ok && close(y1[(size_t)i], y0[(size_t)i], 5e-6, 1e-7);
            G.softmax_row(x.data(), n, y0.data());
            T->softmax_row(x.data(), n, y1.data());
            for (int64_t i = 0; i < n; ++i) ok = ok && close(y1[(size_t)i], y0[(size_t)i], 4e-6, 1e-9);
            check(ok, ld::strfmt("table %s row kernels n=%lld", nm.c_str(), (long long)n));
        }
        // softcap: within 3 ulp of the double formula over the whole range (the tanh branch point 0.625,
        // tiny, huge and non-finite inputs), and the vocab head's passes against the generic ones
        {
            std::vector<float> x;
            for (float v = -700.0f; v <= 700.0f; v += 0.37f) x.push_back(v);
            for (float v = -19.5f; v <= 19.5f; v += 0.0123f) x.push_back(v);  // x / 30 around +-0.625 and 0
            for (float v : {0.0f, -0.0f, 1e-30f, -1e-8f, 18.75f, -18.75f, 18.7501f, 3e38f, -3e38f, INFINITY, -INFINITY})
                x.push_back(v);
            const int64_t n = (int64_t)x.size();
            std::vector<float> y((size_t)n);
            T->softcap(x.data(), n, 30.0f, y.data());
            bool ok = true;
            for (int64_t i = 0; i < n; ++i) {
                const double want = 30.0 * std::tanh((double)x[(size_t)i] / 30.0);
                ok = ok && std::fabs(y[(size_t)i] - want) <= 3.0 * 1.2e-7 * std::fabs(want) + 1e-37;
                if (!ok) { std::printf("    softcap(%g) = %.9g, want %.9g\n", (double)x[(size_t)i], (double)y[(size_t)i], want); break; }
            }
            const float nanv = NAN;
            float yn = 0.0f;
            T->softcap(&nanv, 1, 30.0f, &yn);
            check(ok && std::isnan(yn), ld::strfmt("table %s softcap", nm.c_str()));
        }
        for (int64_t n : {1, 5, 16, 17, 100, 4096, 4099}) {
            for (float cap : {0.0f, 30.0f}) {
                std::vector<float> l0 = randn((size_t)n, rng, 12.0f);
                if (n > 20) { l0[7] = l0[19] = 60.0f; }  // a tie: the first index wins
                std::vector<float> l1 = l0;
                int64_t a0 = -2, a1 = -2;
                const float m0 = G.head_logits(l0.data(), n, cap, 0.7f, &a0);
                const float m1 = T->head_logits(l1.data(), n, cap, 0.7f, &a1);
                bool ok = a0 == a1 || (a0 >= 0 && a1 >= 0 && close(l0[(size_t)a1], m0, 6e-7, 0.0));
                ok = ok && close(m1, m0, 6e-7, 0.0) && m1 == l1[(size_t)a1];
                if (n > 20) ok = ok && (cap > 0.0f || a1 == 7);
                for (int64_t i = 0; i < n; ++i) ok = ok && close(l1[(size_t)i], l0[(size_t)i], 6e-7, 1e-30);
                // the softcap pass gives the softcap kernel's values divided by T
                if (cap > 0.0f) {
                    std::vector<float> raw = randn((size_t)n, rng, 12.0f), sc((size_t)n), hl = raw;
                    T->softcap(raw.data(), n, cap, sc.data());
                    int64_t ai = 0;
                    T->head_logits(hl.data(), n, cap, 0.7f, &ai);
                    for (int64_t i = 0; i < n; ++i) ok = ok && hl[(size_t)i] == sc[(size_t)i] / 0.7f;
                }
                const float m = std::max(m0, m1) + 0.25f;
                std::vector<float> w0((size_t)n), w1((size_t)n);
                double s0 = 1.5, sa0 = -2.0, s1 = 1.5, sa1 = -2.0;
                G.head_exp(l0.data(), n, m, w0.data(), &s0, &sa0);
                T->head_exp(l0.data(), n, m, w1.data(), &s1, &sa1);
                // w relative error: 2 ulp of e^x plus the f32 rounding of d = l - m (|d| ulp(1)/2)
                for (int64_t i = 0; i < n; ++i)
                    if (!close(w1[(size_t)i], w0[(size_t)i], 2.4e-7 + 6e-8 * std::fabs((double)l0[(size_t)i] - m), 1.2e-38)) {  // below FLT_MIN: 0
                        std::printf("    w[%lld]: l %.9g m %.9g: %.9g vs %.9g\n", (long long)i, (double)l0[(size_t)i], (double)m,
                                    (double)w1[(size_t)i], (double)w0[(size_t)i]);
                        ok = false;
                    }
                ok = ok && std::fabs(s1 - s0) <= 2e-6 * s0 && std::fabs(sa1 - sa0) <= 2e-6 * (std::fabs(sa0) + s0);
                if (!ok)
                    std::printf("    head: a %lld %lld m %.9g %.9g s %.12g %.12g a %.12g %.12g\n", (long long)a0, (long long)a1,
                                (double)m0, (double)m1, s0, s1, sa0, sa1);
                check(ok, ld::strfmt("table %s head_logits / head_exp n=%lld cap=%g", nm.c_str(), (long long)n, (double)cap));
            }
        }
        {  // nothing above -inf: max -inf, index -1
            std::vector<float> l(9, -INFINITY);
            int64_t a0 = 0, a1 = 0;
            const float m0 = G.head_logits(l.data(), 9, 0.0f, 1.0f, &a0), m1 = T->head_logits(l.data(), 9, 0.0f, 1.0f, &a1);
            check(m0 == -INFINITY && m1 == -INFINITY && a0 == -1 && a1 == -1, ld::strfmt("table %s head_logits all -inf", nm.c_str()));
        }
        std::printf("  nn kernel table %s checked (nn_kernels() for this ISA returns '%s')\n", nm.c_str(),
                    [&]() {
                        for (CpuIsa i : isas)
                            if (nm == cpu_isa_name(i)) return nn_kernels(i).name;
                        return "?";
                    }());
    }
}

}  // namespace

int main(int argc, char ** argv) {
    try {
        const std::vector<CpuIsa> isas = cpu_isas_available();
        const CpuFeatures & f = cpu_features();
        const bool list_only = argc > 1 && std::string(argv[1]) == "--list-isas";
        std::printf("arch %s; ISAs %s:", f.arch.c_str(), list_only ? "available" : "covered");
        for (CpuIsa i : isas) std::printf(" %s", cpu_isa_name(i));
        std::printf("\n");
        if (list_only) return 0;
        ThreadPool pool(3);
        test_matmul(isas, pool);
        test_packed_acts(isas, pool);
        test_moe(isas, pool);
        const std::vector<MmTable> tables = mm_tables(isas);
        test_mm_tables(tables, pool);
        test_q4k_panel(tables);
        test_q4k_random_heads(tables, pool);
        test_byte_panels(tables);
        test_extreme_codes(tables, pool);
        test_act_code_bound(tables, pool);
        test_nonneg_acts(tables, pool);
        test_fused_packing(tables);
        test_prepared(tables);
        test_nn_ops(isas, pool);
        test_attention(isas, pool);
        test_nn_tables(isas);
    } catch (const std::exception & e) {
        std::printf("FAIL: exception %s\n", e.what());
        ++g_failures;
    }
    std::printf("%d checks, %d failures\n", g_checks, g_failures);
    return g_failures == 0 ? 0 : 1;
}
