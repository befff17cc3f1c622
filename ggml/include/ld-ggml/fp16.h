// Scalar conversions used inside quant blocks: IEEE binary16 and bfloat16 <-> f32, exact and
// portable (no F16C needed), plus the E8M0 scale of MXFP4. Usable from C++ (and later CUDA).
#pragma once

#include <cstdint>
#include <cstring>

namespace ld::ggml {

using fp16_t = uint16_t;  // raw IEEE binary16 bits
using bf16_t = uint16_t;  // raw bfloat16 bits

inline float bits_to_f32(uint32_t u) { float f; std::memcpy(&f, &u, 4); return f; }
inline uint32_t f32_to_bits(float f) { uint32_t u; std::memcpy(&u, &f, 4); return u; }

// fp16 -> f32: exact, subnormals, inf and NaN included.
inline float fp16_to_f32(fp16_t h) {
    const uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
    const uint32_t exp = (h >> 10) & 0x1Fu;
    uint32_t man = h & 0x3FFu;
    if (exp == 0x1F) return bits_to_f32(sign | 0x7F800000u | (man << 13));  // inf / NaN
    if (exp == 0) {
        if (man == 0) return bits_to_f32(sign);
        // subnormal: value = man * 2^-24, exactly representable in f32
        float v = (float)man * (1.0f / 16777216.0f);
        return sign ? -v : v;
    }
    return bits_to_f32(sign | ((exp + 112u) << 23) | (man << 13));
}

// f32 -> fp16 with round-to-nearest-even; overflow to inf, NaN kept as a quiet NaN.
inline fp16_t f32_to_fp16(float f) {
    const uint32_t x = f32_to_bits(f);
    const uint32_t sign = (x >> 16) & 0x8000u;
    const uint32_t ax = x & 0x7FFFFFFFu;
    if (ax > 0x7F800000u) return (fp16_t)(sign | 0x7E00u | ((ax >> 13) & 0x3FFu));  // NaN
    if (ax >= 0x477FF000u) return (fp16_t)(sign | 0x7C00u);  // rounds to >= 65520 -> inf
    if (ax < 0x38800000u) {
        // result is subnormal (or zero) in fp16: value / 2^-24 rounded to nearest even
        if (ax < 0x33000000u) return (fp16_t)sign;  // < 2^-25: rounds to 0
        const uint32_t e = ax >> 23;
        const uint32_t m = (ax & 0x7FFFFFu) | 0x800000u;
        const uint32_t shift = 126u - e;  // 14 .. 24
        uint32_t r = m >> shift;
        const uint32_t rem = m & ((1u << shift) - 1u);
        const uint32_t half = 1u << (shift - 1u);
        if (rem > half || (rem == half && (r & 1u))) r++;
        return (fp16_t)(sign | r);
    }
    // normal: rebias the exponent and round the 13 dropped bits to nearest even
    uint32_t r = ((ax >> 13) - (112u << 10));
    const uint32_t rem = ax & 0x1FFFu;
    if (rem > 0x1000u || (rem == 0x1000u && (r & 1u))) r++;
    return (fp16_t)(sign | r);
}

inline float bf16_to_f32(bf16_t h) { return bits_to_f32((uint32_t)h << 16); }

// f32 -> bf16, round-to-nearest-even; NaN kept quiet (bit 6 of the high half set).
inline bf16_t f32_to_bf16(float f) {
    uint32_t u = f32_to_bits(f);
    if ((u & 0x7FFFFFFFu) > 0x7F800000u) return (bf16_t)((u >> 16) | 64u);
    return (bf16_t)((u + (0x7FFFu + ((u >> 16) & 1u))) >> 16);
}

// MXFP4 block scale: E8M0 used as 2^(e-128) (the FP4 code table is doubled).
inline float e8m0_to_f32_half(uint8_t e) {
    // 2^(e-128): for e >= 2 this is a normal f32 with biased exponent e-1; e = 0, 1 are subnormal.
    uint32_t bits = e < 2 ? (0x00200000u << e) : ((uint32_t)(e - 1) << 23);
    return bits_to_f32(bits);
}

}  // namespace ld::ggml
