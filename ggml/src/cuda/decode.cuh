// Device-side decoding of the weight types the CUDA kernels read natively (F32, F16, BF16, Q8_0, Q5_0,
// Q4_K, Q6_K; block layouts: ld-ggml/blocks.h). Two forms:
//   * decode_group<T>: one group of G values as int8 codes plus a scale and a min (value = d*q - m),
//     the form the int8 tensor-core matmul consumes (G = 32; Q6_K: 16, its scale granularity);
//   * dq_value(t, row, k): value k of a row as f32 (get_rows, the vocab head's soft sum).
// Every other type reaches the kernels as an F16 copy made at upload (backend-cuda.cpp, "shadow").
#pragma once

#include "common.cuh"
#include "ld-ggml/types.h"

namespace ld::ggml::cuda {

template <Type T> struct QGroup;

// Q8_0: 34-byte blocks of 32: d (f16), qs[32].
template <> struct QGroup<Type::Q8_0> {
    static constexpr int G = 32, BLOCK_VALUES = 32, BLOCK_BYTES = 34;
    static constexpr bool HAS_MIN = false;
    __device__ static void decode(const uint8_t * row, int64_t g, uint32_t * q, float & d, float & m) {
        const uint8_t * b = row + g * BLOCK_BYTES;
        d = f16_to_f32(ld_u16(b));
        m = 0.0f;
        const uint16_t * qs = (const uint16_t *)(b + 2);  // 2-byte aligned
#pragma unroll
        for (int i = 0; i < 8; ++i) q[i] = (uint32_t)qs[2 * i] | ((uint32_t)qs[2 * i + 1] << 16);
    }
};

// Q5_0: 22-byte blocks of 32: d (f16), qh (32 high bits), qs[16] (low nibbles j, high nibbles j+16); q - 16.
template <> struct QGroup<Type::Q5_0> {
    static constexpr int G = 32, BLOCK_VALUES = 32, BLOCK_BYTES = 22;
    static constexpr bool HAS_MIN = false;
    __device__ static void decode(const uint8_t * row, int64_t g, uint32_t * q, float & d, float & m) {
        const uint8_t * b = row + g * BLOCK_BYTES;
        d = f16_to_f32(ld_u16(b));
        m = 0.0f;
        const uint32_t qh = ld_u32(b + 2);
        const uint8_t * qs = b + 6;
#pragma unroll
        for (int w = 0; w < 8; ++w) {
            uint32_t word = 0;
#pragma unroll
            for (int i = 0; i < 4; ++i) {
                const int j = 4 * w + i;  // value index 0..31
                const int lo = j < 16 ? (qs[j] & 15) : (qs[j - 16] >> 4);
                const int v = (lo | (int)(((qh >> j) & 1u) << 4)) - 16;
                word |= (uint32_t)(uint8_t)(int8_t)v << (8 * i);
            }
            q[w] = word;
        }
    }
};

__device__ __forceinline__ void scale_min_k4(int j, const uint8_t * s, int & sc, int & m) {
    if (j < 4) {
        sc = s[j] & 63;
        m = s[j + 4] & 63;
    } else {
        sc = (s[j + 4] & 15) | ((s[j - 4] >> 6) << 4);
        m = (s[j + 4] >> 4) | ((s[j] >> 6) << 4);
    }
}

// Q4_K: 144-byte super-blocks of 256: d, dmin (f16), scales[12], qs[128]; sub-block j of 32:
// value = d*sc_j*q - dmin*m_j with q the low (j even) or high (j odd) nibbles of qs[32*(j/2) ..].
template <> struct QGroup<Type::Q4_K> {
    static constexpr int G = 32, BLOCK_VALUES = 256, BLOCK_BYTES = 144;
    static constexpr bool HAS_MIN = true;
    __device__ static void decode(const uint8_t * row, int64_t g, uint32_t * q, float & d, float & m) {
        const uint8_t * b = row + (g / 8) * BLOCK_BYTES;
        const int j = (int)(g % 8);
        int sc, mn;
        scale_min_k4(j, b + 4, sc, mn);
        d = f16_to_f32(ld_u16(b)) * (float)sc;
        m = f16_to_f32(ld_u16(b + 2)) * (float)mn;
        const uint32_t * qs = (const uint32_t *)(b + 16 + 32 * (j / 2));  // 4-byte aligned within the block
        const int shift = (j & 1) * 4;
        if (((uintptr_t)qs & 3) == 0) {
#pragma unroll
            for (int w = 0; w < 8; ++w) q[w] = (qs[w] >> shift) & 0x0F0F0F0Fu;
        } else {
            const uint8_t * p = (const uint8_t *)qs;
#pragma unroll
            for (int w = 0; w < 8; ++w) q[w] = (ld_u32(p + 4 * w) >> shift) & 0x0F0F0F0Fu;
        }
    }
};

// Q6_K: 210-byte super-blocks of 256: ql[128], qh[64], scales[16] (int8), d (f16); group g16 of 16 values
// has scale d*scales[g16]; value i: half h = i/128, quarter c = (i%128)/32, l = i%32:
// low 4 bits from ql[64h + l + 32(c&1)] (nibble c/2), high 2 bits from qh[32h + l] >> 2c; q - 32.
template <> struct QGroup<Type::Q6_K> {
    static constexpr int G = 16, BLOCK_VALUES = 256, BLOCK_BYTES = 210;
    static constexpr bool HAS_MIN = false;
    __device__ static void decode(const uint8_t * row, int64_t g, uint32_t * q, float & d, float & m) {
        const uint8_t * b = row + (g / 16) * BLOCK_BYTES;
        const int g16 = (int)(g % 16);
        d = f16_to_f32(ld_u16(b + 208)) * (float)(int8_t)b[192 + g16];
        m = 0.0f;
        const int h = g16 / 8, c = (g16 % 8) / 2, l0 = (g16 & 1) * 16;
        const uint8_t * ql = b + 64 * h + 32 * (c & 1) + l0;
        const uint8_t * qh = b + 128 + 32 * h + l0;
        const int lshift = (c / 2) * 4, hshift = 2 * c;
#pragma unroll
        for (int w = 0; w < 4; ++w) {
            uint32_t word = 0;
#pragma unroll
            for (int i = 0; i < 4; ++i) {
                const int l = 4 * w + i;
                const int v = (((ql[l] >> lshift) & 15) | (((qh[l] >> hshift) & 3) << 4)) - 32;
                word |= (uint32_t)(uint8_t)(int8_t)v << (8 * i);
            }
            q[w] = word;
        }
    }
};

// Value k (0-based) of a row of type t, as f32. Types: F32, F16, BF16, Q8_0, Q5_0, Q4_K, Q6_K.
__device__ __forceinline__ float dq_value(Type t, const uint8_t * row, int64_t k) {
    switch (t) {
        case Type::F32: return ((const float *)row)[k];
        case Type::F16: return f16_to_f32(((const uint16_t *)row)[k]);
        case Type::BF16: return bf16_to_f32(((const uint16_t *)row)[k]);
        case Type::Q8_0: {
            const uint8_t * b = row + (k / 32) * 34;
            return f16_to_f32(ld_u16(b)) * (float)(int8_t)b[2 + k % 32];
        }
        case Type::Q5_0: {
            const uint8_t * b = row + (k / 32) * 22;
            const int j = (int)(k % 32);
            const uint32_t qh = ld_u32(b + 2);
            const int lo = j < 16 ? (b[6 + j] & 15) : (b[6 + j - 16] >> 4);
            return f16_to_f32(ld_u16(b)) * (float)((lo | (int)(((qh >> j) & 1u) << 4)) - 16);
        }
        case Type::Q4_K: {
            const uint8_t * b = row + (k / 256) * 144;
            const int i = (int)(k % 256), j = i / 32;
            int sc, mn;
            scale_min_k4(j, b + 4, sc, mn);
            const uint8_t byte = b[16 + 32 * (j / 2) + i % 32];
            const int qv = (j & 1) ? (byte >> 4) : (byte & 15);
            return f16_to_f32(ld_u16(b)) * (float)sc * (float)qv - f16_to_f32(ld_u16(b + 2)) * (float)mn;
        }
        case Type::Q6_K: {
            const uint8_t * b = row + (k / 256) * 210;
            const int i = (int)(k % 256), h = i / 128, c = (i % 128) / 32, l = i % 32;
            const int lo = (b[64 * h + l + 32 * (c & 1)] >> ((c / 2) * 4)) & 15;
            const int hi = (b[128 + 32 * h + l] >> (2 * c)) & 3;
            const float d = f16_to_f32(ld_u16(b + 208)) * (float)(int8_t)b[192 + i / 16];
            return d * (float)((lo | (hi << 4)) - 32);
        }
        default: return 0.0f;
    }
}

// Bytes of a row of ne0 values for the natively decoded types (host and device).
__host__ __device__ __forceinline__ int64_t native_row_bytes(Type t, int64_t ne0) {
    switch (t) {
        case Type::F32: return ne0 * 4;
        case Type::F16:
        case Type::BF16: return ne0 * 2;
        case Type::Q8_0: return ne0 / 32 * 34;
        case Type::Q5_0: return ne0 / 32 * 22;
        case Type::Q4_K: return ne0 / 256 * 144;
        case Type::Q6_K: return ne0 / 256 * 210;
        default: return 0;
    }
}

}  // namespace ld::ggml::cuda
