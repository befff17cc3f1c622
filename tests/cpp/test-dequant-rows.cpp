// C++ test of the row dequantizers (ld-ggml/dequant-rows.h, ggml/src/cpu/dequant-rows-*.cpp): for
// every ISA this CPU and build can run, each fast type (F32, F16, BF16, Q8_0, Q4_K, Q6_K) and one
// type without a fast kernel (Q5_K, the reference fallback) must give exactly the bits of the
// reference to_float (quants-ref.h) on
//   * every one of the 65536 fp16 / bf16 bit patterns (subnormals, infinities, NaNs), in rows whose
//     length is not a multiple of any vector width;
//   * random block bytes (so random fp16 scales: subnormal, huge, negative, inf, NaN) and blocks
//     whose scales are set to chosen odd values, in rows of 1 and 7 blocks;
// and that the transposing Q8_0 quantizer (quantize_columns_q8_0_fn) gives, for every ISA, the
// bytes of quantize_row_q8_0_ref on each gathered column: widths that are not a multiple of 16,
// columns of tiny (subnormal fp16 scale), huge (scale overflows to inf) and ordinary magnitudes,
// exact .5 ties, zeros, NaNs and infinities.
#include <cmath>
#include <cstdio>
#include <cstring>
#include <random>
#include <vector>

#include "common/error.h"
#include "ld-ggml/cpu-features.h"
#include "ld-ggml/dequant-rows.h"
#include "ld-ggml/types.h"
#include "test-check.h"

using namespace ld;

namespace {

// Fast vs reference on n values at x; reports the first differing index.
bool same_as_ref(ggml::Type t, const uint8_t * x, int64_t n, ggml::CpuIsa isa) {
    std::vector<float> ref((size_t)n), got((size_t)n, -1.0f);
    ggml::type_traits(t)->to_float(x, ref.data(), n);
    ggml::dequant_row(t, x, got.data(), n, isa);
    for (int64_t i = 0; i < n; ++i) {
        uint32_t a, b;
        std::memcpy(&a, &ref[(size_t)i], 4);
        std::memcpy(&b, &got[(size_t)i], 4);
        if (a != b) {
            std::fprintf(stderr, "dequant_row %s isa %s n %lld: value %lld is %08x, reference %08x\n",
                         ggml::type_name((int32_t)t), ggml::cpu_isa_name(isa), (long long)n, (long long)i, b, a);
            return false;
        }
    }
    return true;
}

// The offset of the fp16 scale(s) of a block, for setting chosen values.
void set_scales(ggml::Type t, uint8_t * blk, uint16_t d, uint16_t dmin) {
    switch (t) {
        case ggml::Type::Q8_0: std::memcpy(blk, &d, 2); break;
        case ggml::Type::Q4_K:
        case ggml::Type::Q5_K: std::memcpy(blk, &d, 2); std::memcpy(blk + 2, &dmin, 2); break;
        case ggml::Type::Q6_K: std::memcpy(blk + ggml::type_traits(t)->type_size - 2, &d, 2); break;
        default: break;
    }
}

void test_isa(ggml::CpuIsa isa) {
    std::mt19937 g(1234);
    // Every 16-bit pattern, in rows of 4099 values (odd tails for every vector width).
    for (ggml::Type t : {ggml::Type::F16, ggml::Type::BF16}) {
        std::vector<uint16_t> all(65536);
        for (uint32_t i = 0; i < 65536; ++i) all[i] = (uint16_t)i;
        for (int64_t i0 = 0; i0 < 65536; i0 += 4099)
            CHECK(same_as_ref(t, (const uint8_t *)(all.data() + i0), std::min<int64_t>(4099, 65536 - i0), isa));
        CHECK(same_as_ref(t, (const uint8_t *)all.data(), 1, isa));
    }
    {
        std::vector<float> f(1001);
        for (auto & x : f) { uint32_t u = g(); std::memcpy(&x, &u, 4); }
        CHECK(same_as_ref(ggml::Type::F32, (const uint8_t *)f.data(), 1001, isa));
    }
    // Block types: random bytes, then chosen scales.
    const uint16_t odd[] = {0x0000, 0x8000, 0x0001, 0x83FF, 0x3C00, 0xBC00, 0x7BFF, 0xFBFF, 0x7C00, 0xFC00,
                            0x7E00, 0x7D01, 0xFE55, 0x0400, 0x2E66, 0x1234, 0xB3C0};
    for (ggml::Type t : {ggml::Type::Q8_0, ggml::Type::Q4_K, ggml::Type::Q6_K, ggml::Type::Q5_K}) {
        const auto * tt = ggml::type_traits(t);
        for (int64_t nb : {1, 7}) {
            std::vector<uint8_t> x((size_t)nb * tt->type_size);
            for (int rep = 0; rep < 200; ++rep) {
                for (auto & b : x) b = (uint8_t)g();
                if (rep >= 100)
                    for (int64_t k = 0; k < nb; ++k)
                        set_scales(t, x.data() + (size_t)k * tt->type_size, odd[g() % 17], odd[g() % 17]);
                const bool ok = same_as_ref(t, x.data(), nb * tt->block_size, isa);
                CHECK(ok);
                if (!ok) break;
            }
        }
    }
}

void test_columns(ggml::CpuIsa isa) {
    std::mt19937 g(99);
    std::normal_distribution<float> nd(0.0f, 1.0f);
    const float mags[] = {1.0f, 1e-3f, 3e-7f, 1e-9f, 1e4f, 1e7f, 0.0f, 127.0f};
    const auto * q8 = ggml::type_traits(ggml::Type::Q8_0);
    const ggml::q8_0_columns_fn fn = ggml::quantize_columns_q8_0_fn(isa);
    for (int64_t n : {1, 5, 16, 17, 33, 64}) {
        for (int rep = 0; rep < 20; ++rep) {
            const int64_t ld = n + 3;
            std::vector<float> x((size_t)(32 * ld), 12345.0f);  // the 3 extra columns must not be read
            for (int64_t k = 0; k < n; ++k) {
                const int kind = (int)(g() % 10);
                const float mag = mags[g() % 8];
                for (int64_t r = 0; r < 32; ++r) {
                    float v = mag * nd(g);
                    if (kind == 0) v = r == 0 ? 127.0f : (float)((int)(g() % 255) - 127) + 0.5f;  // ties at d = 1
                    if (kind == 1 && r % 7 == 3) v = std::nanf("");
                    if (kind == 2 && r == 5) v = (g() & 1) ? INFINITY : -INFINITY;
                    x[(size_t)(r * ld + k)] = v;
                }
            }
            const size_t stride = 40;  // block stride (> 34 bytes): blocks apart, the gap untouched
            std::vector<uint8_t> got((size_t)n * stride, 0xAB), ref((size_t)n * stride, 0xAB);
            fn(x.data(), ld, n, got.data(), stride);
            float col[32];
            for (int64_t k = 0; k < n; ++k) {
                for (int64_t r = 0; r < 32; ++r) col[r] = x[(size_t)(r * ld + k)];
                q8->from_float_ref(col, ref.data() + (size_t)k * stride, 32);
            }
            const bool same = std::memcmp(got.data(), ref.data(), got.size()) == 0;
            if (!same)
                std::fprintf(stderr, "q8_0 columns isa %s n %lld rep %d differ from the reference\n",
                             ggml::cpu_isa_name(isa), (long long)n, rep);
            CHECK(same);
            if (!same) return;
        }
    }
}

}  // namespace

int main() {
    for (ggml::Type t : {ggml::Type::F32, ggml::Type::F16, ggml::Type::BF16, ggml::Type::Q8_0, ggml::Type::Q4_K,
                         ggml::Type::Q6_K})
        CHECK(ggml::dequant_row_fast(t));
    CHECK(!ggml::dequant_row_fast(ggml::Type::Q5_K));
    for (ggml::CpuIsa isa : ggml::cpu_isas_available()) {
        std::printf("dequant rows: isa %s\n", ggml::cpu_isa_name(isa));
        test_isa(isa);
        test_columns(isa);
    }
    // An ISA this build or CPU lacks, or an unreadable type, is an ld::Error.
    bool threw = false;
    try {
        float y[32];
        uint8_t x[64] = {};
        ggml::dequant_row((ggml::Type)9999, x, y, 32, ggml::CpuIsa::generic);
    } catch (const ggml::Error &) {
        threw = true;
    }
    CHECK(threw);
    if (failures) std::fprintf(stderr, "%d check(s) failed\n", failures);
    else std::printf("test-dequant-rows: all checks passed\n");
    return failures ? 1 : 0;
}
