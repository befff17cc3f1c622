// NEON (AArch64, 4-wide f32) instantiation of the NnKernels table (nn-kernels-simd.h): attention tiles,
// RMSNorm, GELU / GEGLU and row softmax, with the same vector exp as the x86 tables.
#include <arm_neon.h>

#include "nn-kernels-simd.h"

namespace ld::ggml {


namespace {

struct V128 {
    using T = float32x4_t;
    static constexpr int W = 4;
    static T load(const float * p) { return vld1q_f32(p); }
    static void store(float * p, T v) { vst1q_f32(p, v); }
    static T set1(float x) { return vdupq_n_f32(x); }
    static T zero() { return vdupq_n_f32(0.0f); }
    static T add(T a, T b) { return vaddq_f32(a, b); }
    static T sub(T a, T b) { return vsubq_f32(a, b); }
    static T mul(T a, T b) { return vmulq_f32(a, b); }
    static T div(T a, T b) { return vdivq_f32(a, b); }
    static T fmadd(T a, T b, T c) { return vfmaq_f32(c, a, b); }
    static T max(T a, T b) { return vmaxq_f32(a, b); }
    static T min(T a, T b) { return vminq_f32(a, b); }
    static T round(T a) { return vrndnq_f32(a); }  // to nearest, ties to even
    static T pow2(T n) {  // n already integral, in [-126, 127]
        const int32x4_t e = vshlq_n_s32(vaddq_s32(vcvtq_s32_f32(n), vdupq_n_s32(127)), 23);
        return vreinterpretq_f32_s32(e);
    }
    static T select_lt(T x, T y, T a, T b) { return vbslq_f32(vcltq_f32(x, y), a, b); }
    static T select_gt(T x, T y, T a, T b) { return vbslq_f32(vcgtq_f32(x, y), a, b); }
    static float hsum(T v) { return vaddvq_f32(v); }
    static float hmax(T v) { return vmaxvq_f32(v); }
};

// attention: 6 rows x 16 keys (or columns) per block, 24 accumulators + 4 operands of the 32 registers
const NnKernels kNeon = {
    "neon",
    simd::attn_scores<V128, 6, 4>,
    simd::attn_softmax<V128>,
    simd::attn_pv<V128, 6, 4>,
    simd::rms_norm_row<V128>,
    simd::gelu<V128>,
    simd::geglu<V128>,
    simd::softmax_row<V128>,
    simd::softcap<V128>,
    simd::head_logits<V128>,
    simd::head_exp<V128>,
};

}  // namespace

const NnKernels & nn_kernels_neon() { return kNeon; }

}  // namespace ld::ggml
