// AVX2 + FMA (8-wide f32) instantiation of the NnKernels table (nn-kernels-simd.h).
#include <immintrin.h>

#include "nn-kernels-simd.h"

namespace ld::ggml {

namespace {

struct V256 {
    using T = __m256;
    static constexpr int W = 8;
    static T load(const float * p) { return _mm256_loadu_ps(p); }
    static void store(float * p, T v) { _mm256_storeu_ps(p, v); }
    static T set1(float x) { return _mm256_set1_ps(x); }
    static T zero() { return _mm256_setzero_ps(); }
    static T add(T a, T b) { return _mm256_add_ps(a, b); }
    static T sub(T a, T b) { return _mm256_sub_ps(a, b); }
    static T mul(T a, T b) { return _mm256_mul_ps(a, b); }
    static T div(T a, T b) { return _mm256_div_ps(a, b); }
    static T fmadd(T a, T b, T c) { return _mm256_fmadd_ps(a, b, c); }
    static T max(T a, T b) { return _mm256_max_ps(a, b); }
    static T min(T a, T b) { return _mm256_min_ps(a, b); }
    static T round(T a) { return _mm256_round_ps(a, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC); }
    static T pow2(T n) {
        const __m256i e = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
        return _mm256_castsi256_ps(e);
    }
    static T select_lt(T x, T y, T a, T b) { return _mm256_blendv_ps(b, a, _mm256_cmp_ps(x, y, _CMP_LT_OQ)); }
    static T select_gt(T x, T y, T a, T b) { return _mm256_blendv_ps(b, a, _mm256_cmp_ps(x, y, _CMP_GT_OQ)); }
    static float hsum(T v) {
        __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
        s = _mm_add_ps(s, _mm_movehl_ps(s, s));
        s = _mm_add_ss(s, _mm_movehdup_ps(s));
        return _mm_cvtss_f32(s);
    }
    static float hmax(T v) {
        __m128 s = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
        s = _mm_max_ps(s, _mm_movehl_ps(s, s));
        s = _mm_max_ss(s, _mm_movehdup_ps(s));
        return _mm_cvtss_f32(s);
    }
};

const NnKernels kAvx2 = {
    "avx2",
    simd::attn_scores<V256, 6, 2>,
    simd::attn_softmax<V256>,
    simd::attn_pv<V256, 6, 2>,
    simd::rms_norm_row<V256>,
    simd::gelu<V256>,
    simd::geglu<V256>,
    simd::softmax_row<V256>,
    simd::softcap<V256>,
    simd::head_logits<V256>,
    simd::head_exp<V256>,
};

}  // namespace

const NnKernels & nn_kernels_avx2() { return kAvx2; }

}  // namespace ld::ggml
