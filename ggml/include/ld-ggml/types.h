// Tensor element types (ids exactly as in GGUF/ggml) and their traits table: block size, bytes per
// block, reference dequantization (to_float), reference quantization (from_float_ref) and the
// activation type the CPU dot product pairs the weight with (vec_dot_type).
#pragma once

#include <cstddef>
#include <cstdint>

namespace ld::ggml {

enum class Type : int32_t {
    F32 = 0, F16 = 1, Q4_0 = 2, Q4_1 = 3,
    // 4, 5: retired Q4_2 / Q4_3
    Q5_0 = 6, Q5_1 = 7, Q8_0 = 8, Q8_1 = 9,
    Q2_K = 10, Q3_K = 11, Q4_K = 12, Q5_K = 13, Q6_K = 14, Q8_K = 15,
    IQ2_XXS = 16, IQ2_XS = 17, IQ3_XXS = 18, IQ1_S = 19, IQ4_NL = 20, IQ3_S = 21, IQ2_S = 22, IQ4_XS = 23,
    I8 = 24, I16 = 25, I32 = 26, I64 = 27, F64 = 28, IQ1_M = 29, BF16 = 30,
    // 31-33: retired Q4_0_4_4 / Q4_0_4_8 / Q4_0_8_8
    TQ1_0 = 34, TQ2_0 = 35,
    // 36-38: retired IQ4_NL_4_4 / 4_8 / 8_8
    MXFP4 = 39, NVFP4 = 40, Q1_0 = 41,
    COUNT = 42,
};

// Converts n values (a multiple of the block size) of this type to f32.
using to_float_fn = void (*)(const void * src, float * dst, int64_t n);
// Quantizes n f32 values (a multiple of the block size) into blocks of this type.
using from_float_fn = void (*)(const float * src, void * dst, int64_t n);

struct TypeTraits {
    const char * name;        // GGUF type name, e.g. "Q4_K"
    int64_t block_size;       // values per block (1 for plain types); 0 = retired id
    size_t type_size;         // bytes per block
    bool quantized;           // block type (not a plain array of scalars)
    to_float_fn to_float;     // reference dequantization; nullptr = not supported by this engine
    from_float_fn from_float_ref;  // reference quantization; nullptr = none
    Type vec_dot_type;        // activation type of the CPU dot product
};

// Traits of a type id, or nullptr when the id is outside [0, COUNT) or retired (block size 0).
const TypeTraits * type_traits(int32_t id);
inline const TypeTraits * type_traits(Type t) { return type_traits((int32_t)t); }

// Name of a type id ("Q4_K"), or "type#<id>" for an unknown id (thread-local buffer).
const char * type_name(int32_t id);

// Type id from its name (case-insensitive), -1 when unknown.
int32_t type_from_name(const char * name);

// True when this engine can read tensors of this type (has a reference to_float).
bool type_is_supported(int32_t id);

// True for the types that llama-quantize makes only with an importance matrix (IQ1_S, IQ1_M,
// IQ2_XXS, IQ2_XS, IQ2_S): this engine reads them but has no quantizer for them.
bool type_needs_imatrix(int32_t id);

// Bytes of one row of ne0 values; ne0 must be a multiple of the block size.
size_t row_size(Type t, int64_t ne0);

// The x86 runtime flavour of the Q8_0 activation quantizer (127/amax multiplier, round half to
// even), which ggml's AVX paths use for activations; the reference rule is Type::Q8_0's
// from_float_ref. See spec gguf.md §2.5.
void quantize_row_q8_0_x86(const float * src, void * dst, int64_t n);

}  // namespace ld::ggml
