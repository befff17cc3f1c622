// AVX-512 (16-wide f32) instantiation of the NnKernels table (nn-kernels-simd.h).
#include "avx512-intrinsics.h"

#include "nn-kernels-simd.h"

namespace ld::ggml {

namespace {

struct V512 {
    using T = __m512;
    static constexpr int W = 16;
    static T load(const float * p) { return _mm512_loadu_ps(p); }
    static void store(float * p, T v) { _mm512_storeu_ps(p, v); }
    static T set1(float x) { return _mm512_set1_ps(x); }
    static T zero() { return _mm512_setzero_ps(); }
    static T add(T a, T b) { return _mm512_add_ps(a, b); }
    static T sub(T a, T b) { return _mm512_sub_ps(a, b); }
    static T mul(T a, T b) { return _mm512_mul_ps(a, b); }
    static T div(T a, T b) { return _mm512_div_ps(a, b); }
    static T fmadd(T a, T b, T c) { return _mm512_fmadd_ps(a, b, c); }
    static T max(T a, T b) { return _mm512_max_ps(a, b); }
    static T min(T a, T b) { return _mm512_min_ps(a, b); }
    static T round(T a) { return _mm512_roundscale_ps(a, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC); }
    static T pow2(T n) {
        const __m512i e = _mm512_slli_epi32(_mm512_add_epi32(_mm512_cvtps_epi32(n), _mm512_set1_epi32(127)), 23);
        return _mm512_castsi512_ps(e);
    }
    static T select_lt(T x, T y, T a, T b) { return _mm512_mask_blend_ps(_mm512_cmp_ps_mask(x, y, _CMP_LT_OQ), b, a); }
    static T select_gt(T x, T y, T a, T b) { return _mm512_mask_blend_ps(_mm512_cmp_ps_mask(x, y, _CMP_GT_OQ), b, a); }
    static float hsum(T v) { return _mm512_reduce_add_ps(v); }
    static float hmax(T v) { return _mm512_reduce_max_ps(v); }
};

const NnKernels kAvx512 = {
    "avx512",
    simd::attn_scores<V512, 6, 4, 128>,  // 128-dim chunks: 32 KB of kt fits the 48 KB L1 of AVX-512 cores
    simd::attn_softmax<V512>,
    simd::attn_pv<V512, 6, 4>,
    simd::rms_norm_row<V512>,
    simd::gelu<V512>,
    simd::geglu<V512>,
    simd::softmax_row<V512>,
    simd::softcap<V512>,
    simd::head_logits<V512>,
    simd::head_exp<V512>,
};

}  // namespace

const NnKernels & nn_kernels_avx512() { return kAvx512; }

}  // namespace ld::ggml
