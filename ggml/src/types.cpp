// The type traits table: one row per GGUF type id, with the reference kernels of quants-ref.h.
// Ids the engine can name but not read (TQ, NVFP4, Q1_0, integer types ...) have no to_float,
// so loading a tensor of that type fails with a message naming the tensor and the type.
#include "ld-ggml/types.h"

#include <cctype>
#include <cstdio>
#include <cstring>

#include "ld-ggml/quants-ref.h"

namespace ld::ggml {

namespace {

void f32_copy(const void * src, float * dst, int64_t n) { std::memcpy(dst, src, (size_t)n * sizeof(float)); }
void f32_copy_from(const float * src, void * dst, int64_t n) { std::memcpy(dst, src, (size_t)n * sizeof(float)); }

// Adapters from the typed reference kernels to the untyped table signatures.
template <typename B, void (*F)(const B *, float *, int64_t)>
void to_float_adapter(const void * src, float * dst, int64_t n) { F(static_cast<const B *>(src), dst, n); }
template <typename B, void (*F)(const float *, B *, int64_t)>
void from_float_adapter(const float * src, void * dst, int64_t n) { F(src, static_cast<B *>(dst), n); }

#define LD_TO(B, F) &to_float_adapter<B, F>
#define LD_FROM(B, F) &from_float_adapter<B, F>

TypeTraits make(const char * name, int64_t bs, size_t ts, bool q, to_float_fn tf, from_float_fn ff, Type vd) {
    return TypeTraits{name, bs, ts, q, tf, ff, vd};
}

struct Table {
    TypeTraits t[(int)Type::COUNT];
    Table() {
        for (auto & e : t) e = make(nullptr, 0, 0, false, nullptr, nullptr, Type::F32);
        auto set = [&](Type id, TypeTraits tr) { t[(int)id] = tr; };
        set(Type::F32, make("F32", 1, 4, false, &f32_copy, &f32_copy_from, Type::F32));
        set(Type::F16, make("F16", 1, 2, false, LD_TO(fp16_t, dequantize_row_f16), LD_FROM(fp16_t, quantize_row_f16_ref), Type::F16));
        set(Type::BF16, make("BF16", 1, 2, false, LD_TO(bf16_t, dequantize_row_bf16), LD_FROM(bf16_t, quantize_row_bf16_ref), Type::BF16));
        set(Type::Q4_0, make("Q4_0", QK4_0, sizeof(block_q4_0), true, LD_TO(block_q4_0, dequantize_row_q4_0), LD_FROM(block_q4_0, quantize_row_q4_0_ref), Type::Q8_0));
        set(Type::Q4_1, make("Q4_1", QK4_1, sizeof(block_q4_1), true, LD_TO(block_q4_1, dequantize_row_q4_1), LD_FROM(block_q4_1, quantize_row_q4_1_ref), Type::Q8_1));
        set(Type::Q5_0, make("Q5_0", QK5_0, sizeof(block_q5_0), true, LD_TO(block_q5_0, dequantize_row_q5_0), LD_FROM(block_q5_0, quantize_row_q5_0_ref), Type::Q8_0));
        set(Type::Q5_1, make("Q5_1", QK5_1, sizeof(block_q5_1), true, LD_TO(block_q5_1, dequantize_row_q5_1), LD_FROM(block_q5_1, quantize_row_q5_1_ref), Type::Q8_1));
        set(Type::Q8_0, make("Q8_0", QK8_0, sizeof(block_q8_0), true, LD_TO(block_q8_0, dequantize_row_q8_0), LD_FROM(block_q8_0, quantize_row_q8_0_ref), Type::Q8_0));
        set(Type::Q8_1, make("Q8_1", QK8_1, sizeof(block_q8_1), true, LD_TO(block_q8_1, dequantize_row_q8_1), LD_FROM(block_q8_1, quantize_row_q8_1_ref), Type::Q8_1));
        set(Type::Q2_K, make("Q2_K", QK_K, sizeof(block_q2_K), true, LD_TO(block_q2_K, dequantize_row_q2_K), LD_FROM(block_q2_K, quantize_row_q2_K_ref), Type::Q8_K));
        set(Type::Q3_K, make("Q3_K", QK_K, sizeof(block_q3_K), true, LD_TO(block_q3_K, dequantize_row_q3_K), LD_FROM(block_q3_K, quantize_row_q3_K_ref), Type::Q8_K));
        set(Type::Q4_K, make("Q4_K", QK_K, sizeof(block_q4_K), true, LD_TO(block_q4_K, dequantize_row_q4_K), LD_FROM(block_q4_K, quantize_row_q4_K_ref), Type::Q8_K));
        set(Type::Q5_K, make("Q5_K", QK_K, sizeof(block_q5_K), true, LD_TO(block_q5_K, dequantize_row_q5_K), LD_FROM(block_q5_K, quantize_row_q5_K_ref), Type::Q8_K));
        set(Type::Q6_K, make("Q6_K", QK_K, sizeof(block_q6_K), true, LD_TO(block_q6_K, dequantize_row_q6_K), LD_FROM(block_q6_K, quantize_row_q6_K_ref), Type::Q8_K));
        set(Type::Q8_K, make("Q8_K", QK_K, sizeof(block_q8_K), true, LD_TO(block_q8_K, dequantize_row_q8_K), LD_FROM(block_q8_K, quantize_row_q8_K_ref), Type::Q8_K));
        set(Type::IQ4_NL, make("IQ4_NL", QK4_NL, sizeof(block_iq4_nl), true, LD_TO(block_iq4_nl, dequantize_row_iq4_nl), LD_FROM(block_iq4_nl, quantize_row_iq4_nl_ref), Type::Q8_0));
        set(Type::IQ4_XS, make("IQ4_XS", QK_K, sizeof(block_iq4_xs), true, LD_TO(block_iq4_xs, dequantize_row_iq4_xs), LD_FROM(block_iq4_xs, quantize_row_iq4_xs_ref), Type::Q8_K));
        set(Type::MXFP4, make("MXFP4", QK_MXFP4, sizeof(block_mxfp4), true, LD_TO(block_mxfp4, dequantize_row_mxfp4), LD_FROM(block_mxfp4, quantize_row_mxfp4_ref), Type::Q8_0));
        set(Type::IQ2_XXS, make("IQ2_XXS", QK_K, sizeof(block_iq2_xxs), true, LD_TO(block_iq2_xxs, dequantize_row_iq2_xxs), nullptr, Type::Q8_K));
        set(Type::IQ2_XS, make("IQ2_XS", QK_K, sizeof(block_iq2_xs), true, LD_TO(block_iq2_xs, dequantize_row_iq2_xs), nullptr, Type::Q8_K));
        set(Type::IQ2_S, make("IQ2_S", QK_K, sizeof(block_iq2_s), true, LD_TO(block_iq2_s, dequantize_row_iq2_s), nullptr, Type::Q8_K));
        set(Type::IQ3_XXS, make("IQ3_XXS", QK_K, sizeof(block_iq3_xxs), true, LD_TO(block_iq3_xxs, dequantize_row_iq3_xxs), LD_FROM(block_iq3_xxs, quantize_row_iq3_xxs_ref), Type::Q8_K));
        set(Type::IQ3_S, make("IQ3_S", QK_K, sizeof(block_iq3_s), true, LD_TO(block_iq3_s, dequantize_row_iq3_s), LD_FROM(block_iq3_s, quantize_row_iq3_s_ref), Type::Q8_K));
        set(Type::IQ1_S, make("IQ1_S", QK_K, sizeof(block_iq1_s), true, LD_TO(block_iq1_s, dequantize_row_iq1_s), nullptr, Type::Q8_K));
        set(Type::IQ1_M, make("IQ1_M", QK_K, sizeof(block_iq1_m), true, LD_TO(block_iq1_m, dequantize_row_iq1_m), nullptr, Type::Q8_K));
        // Known to the format, not readable by this engine.
        set(Type::I8, make("I8", 1, 1, false, nullptr, nullptr, Type::I8));
        set(Type::I16, make("I16", 1, 2, false, nullptr, nullptr, Type::I16));
        set(Type::I32, make("I32", 1, 4, false, nullptr, nullptr, Type::I32));
        set(Type::I64, make("I64", 1, 8, false, nullptr, nullptr, Type::I64));
        set(Type::F64, make("F64", 1, 8, false, nullptr, nullptr, Type::F64));
        set(Type::TQ1_0, make("TQ1_0", QK_K, 54, true, nullptr, nullptr, Type::Q8_K));
        set(Type::TQ2_0, make("TQ2_0", QK_K, 66, true, nullptr, nullptr, Type::Q8_K));
        set(Type::NVFP4, make("NVFP4", 64, 36, true, nullptr, nullptr, Type::Q8_0));
        set(Type::Q1_0, make("Q1_0", 128, 18, true, nullptr, nullptr, Type::Q8_0));
    }
};

const Table & table() {
    static const Table tab;
    return tab;
}

}  // namespace

const TypeTraits * type_traits(int32_t id) {
    if (id < 0 || id >= (int32_t)Type::COUNT) return nullptr;
    const TypeTraits * t = &table().t[id];
    return t->block_size == 0 ? nullptr : t;
}

const char * type_name(int32_t id) {
    const TypeTraits * t = type_traits(id);
    if (t) return t->name;
    static thread_local char buf[32];
    std::snprintf(buf, sizeof(buf), "type#%d", (int)id);
    return buf;
}

int32_t type_from_name(const char * name) {
    if (!name) return -1;
    for (int32_t id = 0; id < (int32_t)Type::COUNT; ++id) {
        const TypeTraits * t = type_traits(id);
        if (!t) continue;
        const char * a = t->name;
        const char * b = name;
        while (*a && *b && std::toupper((unsigned char)*a) == std::toupper((unsigned char)*b)) { ++a; ++b; }
        if (*a == 0 && *b == 0) return id;
    }
    return -1;
}

bool type_is_supported(int32_t id) {
    const TypeTraits * t = type_traits(id);
    return t && t->to_float;
}

bool type_needs_imatrix(int32_t id) {
    switch ((Type)id) {
        case Type::IQ1_S: case Type::IQ1_M: case Type::IQ2_XXS: case Type::IQ2_XS: case Type::IQ2_S: return true;
        default: return false;
    }
}

size_t row_size(Type t, int64_t ne0) {
    const TypeTraits * tr = type_traits(t);
    return tr ? (size_t)(ne0 / tr->block_size) * tr->type_size : 0;
}

void quantize_row_q8_0_x86(const float * src, void * dst, int64_t n) {
    quantize_row_q8_0_x86_ref(src, static_cast<block_q8_0 *>(dst), n);
}

}  // namespace ld::ggml
