// Shared by every Metal kernel file: the MSL prelude (or, on Linux, the emulator's), the block layouts
// of the natively dequantized weight types, their dequantization, the attention mask and the counter
// RNG. Compiles as MSL (xcrun metal, or the embedded source at run time) and as C++17 under msl-emu.h.
//
// Block layouts: the same bytes as ld-ggml/blocks.h (docs/format.md §2.3), restated with MSL
// types (half, uchar); tests/cpp/test-metal-kernels.cpp pins sizeof and every field offset against
// blocks.h with static_asserts.
#pragma once

#ifdef __METAL_VERSION__
#include <metal_stdlib>
using namespace metal;
typedef char ld_i8;
#define LD_TG(T, name, n) threadgroup T name[n]
#else
// C++ (tests): msl-emu.h must be included first.
typedef int8_t ld_i8;
using namespace metal;
#endif

#include "ld-metal-args.h"

// Thread ids every kernel takes (1-D threadgroups of 32 * n simdgroups).
#define LD_TIDS                                                                                  \
    uint3 tgpig [[threadgroup_position_in_grid]], uint tiitg [[thread_index_in_threadgroup]],    \
        uint tiisg [[thread_index_in_simdgroup]], uint sgitg [[simdgroup_index_in_threadgroup]], \
        uint3 ntg [[threads_per_threadgroup]]

struct mblock_q8_0 { half d; ld_i8 qs[32]; };
struct mblock_q5_0 { half d; uchar qh[4]; uchar qs[16]; };
struct mblock_q4_K { half d; half dmin; uchar scales[12]; uchar qs[128]; };
struct mblock_q6_K { uchar ql[128]; uchar qh[64]; ld_i8 scales[16]; half d; };

// Value k (< K) of a weight row of `type` (one of LD_MT_*); other types never reach the kernels.
inline float ld_dequant1(int type, device const uchar * row, int k) {
    switch (type) {
        case LD_MT_F32: return ((device const float *)row)[k];
        case LD_MT_F16: return (float)((device const half *)row)[k];
        case LD_MT_BF16: return as_type<float>((uint)((device const ushort *)row)[k] << 16);
        case LD_MT_Q8_0: {
            device const mblock_q8_0 * b = (device const mblock_q8_0 *)row + k / 32;
            return (float)b->d * (float)b->qs[k % 32];
        }
        case LD_MT_Q5_0: {
            device const mblock_q5_0 * b = (device const mblock_q5_0 *)row + k / 32;
            const int j = k % 32;
            const uint qh = (uint)b->qh[0] | ((uint)b->qh[1] << 8) | ((uint)b->qh[2] << 16) | ((uint)b->qh[3] << 24);
            const uint nib = j < 16 ? (b->qs[j] & 15u) : (b->qs[j - 16] >> 4);
            const int q = (int)(nib | (((qh >> j) & 1u) << 4)) - 16;
            return (float)b->d * (float)q;
        }
        case LD_MT_Q4_K: {
            device const mblock_q4_K * b = (device const mblock_q4_K *)row + k / 256;
            const int j = k % 256, chunk = j / 64, w = j % 64, sub = 2 * chunk + (w >= 32 ? 1 : 0);
            uint sc, mn;
            if (sub < 4) {
                sc = b->scales[sub] & 63u;
                mn = b->scales[sub + 4] & 63u;
            } else {
                sc = (b->scales[sub + 4] & 15u) | ((uint)(b->scales[sub - 4] >> 6) << 4);
                mn = (uint)(b->scales[sub + 4] >> 4) | ((uint)(b->scales[sub] >> 6) << 4);
            }
            const uchar byte = b->qs[32 * chunk + w % 32];
            const uint q = w < 32 ? (byte & 15u) : (uint)(byte >> 4);
            const float d1 = (float)b->d * (float)sc, m1 = (float)b->dmin * (float)mn;
            return d1 * (float)q - m1;
        }
        case LD_MT_Q6_K: {
            device const mblock_q6_K * b = (device const mblock_q6_K *)row + k / 256;
            const int j = k % 256, n = j / 128, r = j % 128, quarter = r / 32, l = r % 32;
            const uchar qlb = b->ql[64 * n + l + (quarter & 1) * 32];
            const uint lo = quarter >= 2 ? (uint)(qlb >> 4) : (qlb & 15u);
            const uint hi = ((uint)b->qh[32 * n + l] >> (2 * quarter)) & 3u;
            const int q = (int)(lo | (hi << 4)) - 32;
            const float sc = (float)b->scales[8 * n + l / 16 + 2 * quarter];
            return (float)b->d * sc * (float)q;
        }
    }
    return 0.0f;
}

// Visibility of key position kp for query position qp (cpu-nn.h AttnArgs): mask 0 causal, 1 sliding,
// 2 canvas; a negative key position is an empty slot.
inline bool ld_attn_visible(int mask, int window, int canvas_begin, int qp, int kp) {
    if (kp < 0) return false;
    if (mask == 0) return kp <= qp;
    if (mask == 1) return kp <= qp && (long)kp > (long)qp - (long)window;
    return kp >= canvas_begin || window == 0 || (long)kp > (long)canvas_begin - (long)window;
}

// rng.h's key hash (SplitMix64 chain), and a uniform float in (0, 1) from its top 24 bits.
inline ulong ld_rng_mix(ulong x) {
    x += 0x9E3779B97F4A7C15ul;
    x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ul;
    x = (x ^ (x >> 27)) * 0x94D049BB133111EBul;
    return x ^ (x >> 31);
}
inline float ld_rng_uniformf(ulong seed, ulong purpose, ulong a, ulong b, ulong c) {
    ulong h = ld_rng_mix(seed ^ 0x6C6C616D612D6466ul);
    h = ld_rng_mix(h ^ purpose);
    h = ld_rng_mix(h ^ a);
    h = ld_rng_mix(h ^ b);
    h = ld_rng_mix(h ^ c);
    return ((float)(uint)(h >> 40) + 0.5f) * (1.0f / 16777216.0f);
}
