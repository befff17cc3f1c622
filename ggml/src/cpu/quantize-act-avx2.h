// Private: the activation quantizers of the AVX2 matmul tables (matmul-avx2.cpp, matmul-avxvnni.cpp): the
// reference rules of quants-ref (Q8_0: quantize_row_q8_0_ref, Q8_K: quantize_row_q8_K_ref) vectorized with
// the same f32 operations, so they give the reference bytes. A block holding a NaN or an infinity is left
// to the reference code (the row's function returns false). Only for files compiled with at least the AVX2
// flags; static, so no copy is merged across files built with different flags.
#pragma once

#include <immintrin.h>

#include <cstdint>
#include <cstring>

#include "ld-ggml/blocks.h"
#include "ld-ggml/fp16.h"
#include "ld-ggml/types.h"
#include "matmul-impl.h"

namespace ld::ggml::mm::actq {

static inline float hmax8(__m256 v) {
    __m128 m = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    m = _mm_max_ps(m, _mm_movehl_ps(m, m));
    m = _mm_max_ss(m, _mm_shuffle_ps(m, m, 1));
    return _mm_cvtss_f32(m);
}

static inline int hsum8_epi32(__m256i v) {
    __m128i s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0x4E));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0xB1));
    return _mm_cvtsi128_si32(s);
}

// 32 int32 in -128..127 (q[0] values 0-7 ... q[3] values 24-31) -> 32 int8 in order
static inline __m256i pack32_epi8(const __m256i * q) {
    const __m256i w01 = _mm256_packs_epi32(q[0], q[1]);  // per lane: 4 of q0, 4 of q1
    const __m256i w23 = _mm256_packs_epi32(q[2], q[3]);
    const __m256i b = _mm256_packs_epi16(w01, w23);      // dword order 0 2 4 6 | 1 3 5 7 of the 8 quarters
    return _mm256_permutevar8x32_epi32(b, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
}

// true when some value of v is a NaN or an infinity
static inline bool non_finite(__m256 absv) {
    return _mm256_movemask_ps(_mm256_cmp_ps(absv, _mm256_set1_ps(3.4028235e38f), _CMP_NLE_UQ)) != 0;
}

// Q8_0 reference: d = amax/127, id = 1/d, q = round half away from zero of x*id, clamped.
static inline bool quantize_row_q8_0(const float * x, block_q8_0 * y, int64_t n) {
    const __m256 sign = _mm256_set1_ps(-0.0f), half = _mm256_set1_ps(0.5f), one = _mm256_set1_ps(1.0f);
    for (int64_t b = 0; b < n / 32; ++b, x += 32) {
        __m256 v[4], m = _mm256_setzero_ps();
        bool bad = false;
        for (int i = 0; i < 4; ++i) {
            v[i] = _mm256_loadu_ps(x + 8 * i);
            const __m256 a = _mm256_andnot_ps(sign, v[i]);
            bad = bad || non_finite(a);
            m = _mm256_max_ps(m, a);
        }
        if (bad) return false;
        const float d = hmax8(m) / 127.0f;
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        y[b].d = f32_to_fp16(d);
        const __m256 vid = _mm256_set1_ps(id);
        __m256i q[4];
        for (int i = 0; i < 4; ++i) {
            const __m256 s = _mm256_mul_ps(v[i], vid);
            const __m256 t = _mm256_round_ps(s, _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC);
            const __m256 fr = _mm256_andnot_ps(sign, _mm256_sub_ps(s, t));        // |s - trunc(s)|, exact
            const __m256 up = _mm256_cmp_ps(fr, half, _CMP_GE_OQ);
            const __m256 away = _mm256_or_ps(one, _mm256_and_ps(s, sign));        // +-1 with s's sign
            __m256 r = _mm256_add_ps(t, _mm256_and_ps(up, away));
            r = _mm256_min_ps(_mm256_max_ps(r, _mm256_set1_ps(-128.0f)), _mm256_set1_ps(127.0f));
            q[i] = _mm256_cvttps_epi32(r);
        }
        _mm256_storeu_si256((__m256i *)y[b].qs, pack32_epi8(q));
    }
    return true;
}

// Q8_K reference: max = the signed value of largest magnitude (first on ties), iscale = -127/max,
// q = round half to even of iscale*x clamped to 127, d = 1/iscale, bsums per 16.
static inline bool quantize_row_q8_K(const float * x, block_q8_K * y, int64_t n) {
    const __m256 sign = _mm256_set1_ps(-0.0f);
    for (int64_t b = 0; b < n / 256; ++b, x += 256) {
        __m256 m = _mm256_setzero_ps();
        bool bad = false;
        for (int i = 0; i < 32; ++i) {
            const __m256 a = _mm256_andnot_ps(sign, _mm256_loadu_ps(x + 8 * i));
            bad = bad || non_finite(a);
            m = _mm256_max_ps(m, a);
        }
        if (bad) return false;
        const float amax = hmax8(m);
        if (amax == 0.0f) {
            std::memset(&y[b], 0, sizeof(block_q8_K));
            continue;
        }
        float mx = 0.0f;
        const __m256 va = _mm256_set1_ps(amax);
        for (int i = 0; i < 32; ++i) {
            const int k = _mm256_movemask_ps(_mm256_cmp_ps(_mm256_andnot_ps(sign, _mm256_loadu_ps(x + 8 * i)), va, _CMP_EQ_OQ));
            if (k) { mx = x[8 * i + __builtin_ctz((unsigned)k)]; break; }
        }
        const float iscale = -127.0f / mx;
        const __m256 vs = _mm256_set1_ps(iscale);
        for (int g = 0; g < 8; ++g) {  // 32 values, two bsums
            __m256i q[4];
            for (int i = 0; i < 4; ++i) {
                const __m256 v = _mm256_round_ps(_mm256_mul_ps(vs, _mm256_loadu_ps(x + 32 * g + 8 * i)),
                                                 _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
                q[i] = _mm256_cvttps_epi32(_mm256_min_ps(_mm256_max_ps(v, _mm256_set1_ps(-128.0f)), _mm256_set1_ps(127.0f)));
            }
            _mm256_storeu_si256((__m256i *)(y[b].qs + 32 * g), pack32_epi8(q));
            y[b].bsums[2 * g] = (int16_t)hsum8_epi32(_mm256_add_epi32(q[0], q[1]));
            y[b].bsums[2 * g + 1] = (int16_t)hsum8_epi32(_mm256_add_epi32(q[2], q[3]));
        }
        const float d = 1.0f / iscale;
        std::memcpy(&y[b].d, &d, sizeof d);
    }
    return true;
}

// Kernels::quantize_row: the activation row of weight type w in w's vec_dot_type (Q8_0 or Q8_K);
// false for other activation types and for rows holding a non-finite value.
static inline bool quantize_row(Type w, const float * x, void * dst, int64_t K) {
    QuantCfg c;
    if (!quant_cfg(w, c)) return false;
    if (c.act == Type::Q8_0) return quantize_row_q8_0(x, static_cast<block_q8_0 *>(dst), K);
    if (c.act == Type::Q8_K) return quantize_row_q8_K(x, static_cast<block_q8_K *>(dst), K);
    return false;
}

}  // namespace ld::ggml::mm::actq
