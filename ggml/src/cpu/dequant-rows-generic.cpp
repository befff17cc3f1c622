// The kernels of dequant-rows.h for the baseline ISA (bodies: dequant-rows-impl.h), the scalar
// helpers of the column quantizer, and the dispatch on type and ISA (dequant-rows-avx2.cpp /
// -avx512.cpp hold the wider builds).
#include "ld-ggml/dequant-rows.h"

#include <cmath>

#include "ld-ggml/error.h"
#include "dequant-rows-impl.h"
#include "ld-ggml/fp16.h"

namespace ld::ggml {

namespace dqdetail {

namespace {
// Round half away from zero of y, clamped to [-128, 127], NaN -> 0: the reference Q8_0 rule.
inline int8_t round_away_i8(float y) {
    y = y == y ? y : 0.0f;
    y = y < -128.0f ? -128.0f : y;
    y = y > 127.0f ? 127.0f : y;
    const int32_t t = (int32_t)y;
    const float fr = y - (float)t;
    return (int8_t)(t + (fr >= 0.5f ? 1 : 0) - (fr <= -0.5f ? 1 : 0));
}
}  // namespace

void q8_0_columns_scalar(const float * x, int64_t ld, int64_t n, uint8_t * dst, size_t stride) {
    for (int64_t k = 0; k < n; ++k) {
        float amax = 0.0f;
        for (int64_t r = 0; r < kQRows; ++r) {
            const float a = std::fabs(x[r * ld + k]);
            amax = a > amax ? a : amax;  // a NaN never wins (as fmax in the reference)
        }
        const float d = amax / 127.0f;
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        auto * blk = (block_q8_0 *)(dst + (size_t)k * stride);
        blk->d = f32_to_fp16(d);
        for (int64_t r = 0; r < kQRows; ++r) blk->qs[r] = round_away_i8(x[r * ld + k] * id);
    }
}

void q8_0_store_d(const float * d, int64_t n, uint8_t * dst, size_t stride) {
    for (int64_t k = 0; k < n; ++k) ((block_q8_0 *)(dst + (size_t)k * stride))->d = f32_to_fp16(d[k]);
}

}  // namespace dqdetail

#if defined(LD_HAVE_AVX2)
const DequantRows & dequant_rows_avx2();
#endif
#if defined(LD_HAVE_AVX512)
const DequantRows & dequant_rows_avx512();
#endif

namespace {

const DequantRows kGenericRows = LD_DEQUANT_ROWS_TABLE("generic");

void check_isa(CpuIsa isa) {
    bool ok = false;
    for (CpuIsa a : cpu_isas_available()) ok = ok || a == isa;
    if (!ok) throw Error(strfmt("dequant rows: ISA '%s' is not available on this CPU/build", cpu_isa_name(isa)));
}

const DequantRows & table(CpuIsa isa) {
    switch (cpu_isa_base(isa)) {  // amx: the avx512 kernels
#if defined(LD_HAVE_AVX512)
        case CpuIsa::avx512: return dequant_rows_avx512();
#endif
#if defined(LD_HAVE_AVX2)
        case CpuIsa::avx2: return dequant_rows_avx2();
#endif
        default: return kGenericRows;
    }
}

DequantRowFn pick(const DequantRows & t, Type type) {
    switch (type) {
        case Type::F32: return t.f32;
        case Type::F16: return t.f16;
        case Type::BF16: return t.bf16;
        case Type::Q8_0: return t.q8_0;
        case Type::Q4_K: return t.q4_K;
        case Type::Q6_K: return t.q6_K;
        default: return nullptr;
    }
}

}  // namespace

bool dequant_row_fast(Type type) { return pick(kGenericRows, type) != nullptr; }

to_float_fn dequant_row_fn(Type type, CpuIsa isa) {
    check_isa(isa);
    if (const DequantRowFn f = pick(table(isa), type)) return f;
    const TypeTraits * tt = type_traits(type);
    if (!tt || !tt->to_float) throw Error(strfmt("dequant_row: cannot read type %d", (int)type));
    return tt->to_float;
}

void dequant_row(Type type, const void * x, float * y, int64_t n, CpuIsa isa) { dequant_row_fn(type, isa)(x, y, n); }

q8_0_columns_fn quantize_columns_q8_0_fn(CpuIsa isa) {
    check_isa(isa);
    return table(isa).q8_0_columns;
}

void dequant_row(Type type, const void * x, float * y, int64_t n) { dequant_row(type, x, y, n, cpu_isa()); }

}  // namespace ld::ggml
