// Generic (portable C++) kernels of the NnKernels table, and nn_kernels(): the ISA dispatch.
// Loops are written so the compiler can vectorize them for the baseline target.
#include <cmath>
#include <limits>

#include "ld-ggml/error.h"
#include "nn-common.h"
#include "nn-kernels.h"

namespace ld::ggml {

namespace {

constexpr float kNegInf = -std::numeric_limits<float>::infinity();
constexpr float kGeluK2 = 1.5957691216057308f;  // 2 * sqrt(2 / pi)

void scores_generic(const float * q, int64_t ldq, int rows, const float * kt, int64_t d, float * s) {
    for (int64_t i = 0; i < (int64_t)rows * ATTN_BK; ++i) s[i] = 0.0f;
    for (int64_t c0 = 0; c0 < d; c0 += 64) {  // a 64-dim chunk of kt (16 KB) stays in L1 for all rows
        const int64_t c1 = c0 + 64 < d ? c0 + 64 : d;
        for (int r = 0; r < rows; ++r) {
            float * sr = s + r * ATTN_BK;
            const float * qr = q + r * ldq;
            for (int64_t c = c0; c < c1; ++c) {
                const float qv = qr[c];
                const float * kc = kt + c * ATTN_BK;
                for (int j = 0; j < ATTN_BK; ++j) sr[j] += qv * kc[j];
            }
        }
    }
}

void softmax_tile_generic(float * s, int rows, float * m, float * l, float * alpha) {
    for (int r = 0; r < rows; ++r) {
        float * sr = s + r * ATTN_BK;
        float mx = m[r];
        for (int j = 0; j < ATTN_BK; ++j) mx = sr[j] > mx ? sr[j] : mx;
        if (mx == kNegInf) {
            alpha[r] = 1.0f;
            for (int j = 0; j < ATTN_BK; ++j) sr[j] = 0.0f;
            continue;
        }
        alpha[r] = std::exp(m[r] - mx);
        float sum = 0.0f;
        for (int j = 0; j < ATTN_BK; ++j) {
            sr[j] = std::exp(sr[j] - mx);
            sum += sr[j];
        }
        l[r] = l[r] * alpha[r] + sum;
        m[r] = mx;
    }
}

void pv_generic(const float * p, int rows, const float * vt, int nk, int64_t d, const float * alpha, float * o) {
    for (int r = 0; r < rows; ++r) {
        float * orow = o + r * d;
        const float a = alpha[r];
        for (int64_t c = 0; c < d; ++c) orow[c] *= a;
        const float * pr = p + r * ATTN_BK;
        for (int64_t c0 = 0; c0 < d; c0 += ATTN_VC) {
            const int64_t w = d - c0 < ATTN_VC ? d - c0 : ATTN_VC;
            const float * chunk = vt + c0 * ATTN_BK;
            float * oc = orow + c0;
            for (int j = 0; j < nk; ++j) {
                const float pj = pr[j];
                const float * vj = chunk + j * w;
                for (int64_t c = 0; c < w; ++c) oc[c] += pj * vj[c];
            }
        }
    }
}

void rms_norm_row_generic(const float * x, int64_t n, const float * w, float eps, float * out) {
    double ss = 0.0;
    for (int64_t i = 0; i < n; ++i) ss += (double)x[i] * x[i];
    const float inv = (float)(1.0 / std::sqrt(ss / (double)n + (double)eps));
    if (w)
        for (int64_t i = 0; i < n; ++i) out[i] = x[i] * inv * w[i];
    else
        for (int64_t i = 0; i < n; ++i) out[i] = x[i] * inv;
}

// gelu_tanh(x) = x * sigmoid(2 sqrt(2/pi) (x + 0.044715 x^3)) (same function as 0.5x(1+tanh(.)), without
// the cancellation of 1 + tanh for negative x).
inline float gelu_one(float x) {
    const float y = kGeluK2 * (x + 0.044715f * x * x * x);
    return x / (1.0f + std::exp(-y));
}

void gelu_generic(const float * x, int64_t n, float * out) {
    for (int64_t i = 0; i < n; ++i) out[i] = gelu_one(x[i]);
}

void geglu_generic(const float * g, const float * u, int64_t n, float * out) {
    for (int64_t i = 0; i < n; ++i) out[i] = gelu_one(g[i]) * u[i];
}

void softcap_generic(const float * x, int64_t n, float cap, float * out) {
    const float inv_cap = 1.0f / cap;
    for (int64_t i = 0; i < n; ++i) out[i] = cap * std::tanh(x[i] * inv_cap);
}

float head_logits_generic(float * l, int64_t n, float cap, float T, int64_t * arg) {
    float m = kNegInf;
    int64_t best = -1;
    const float inv_cap = cap > 0.0f ? 1.0f / cap : 0.0f;
    for (int64_t j = 0; j < n; ++j) {
        float x = l[j];
        if (cap > 0.0f) x = cap * std::tanh(x * inv_cap);
        l[j] = x / T;
        if (l[j] > m) { m = l[j]; best = j; }
    }
    *arg = best;
    return m;
}

// The sums in double, term by term (the reference the vector kernels are tested against).
void head_exp_generic(const float * l, int64_t n, float m, float * w, double * s, double * a) {
    for (int64_t j = 0; j < n; ++j) {
        const double d = (double)l[j] - (double)m;
        const double e = std::exp(d);
        *s += e;
        *a += e * d;
        w[j] = (float)e;
    }
}

const NnKernels kGeneric = {
    "generic", scores_generic, softmax_tile_generic, pv_generic,
    rms_norm_row_generic, gelu_generic, geglu_generic, softmax_row_scalar,
    softcap_generic, head_logits_generic, head_exp_generic,
};

}  // namespace

const NnKernels & nn_kernels_generic() { return kGeneric; }

const NnKernels & nn_kernels(CpuIsa isa) {
    bool ok = false;
    for (CpuIsa a : cpu_isas_available()) ok = ok || a == isa;
    if (!ok) throw Error(strfmt("nn kernels: ISA '%s' is not available on this CPU/build", cpu_isa_name(isa)));
    switch (cpu_isa_base(isa)) {  // amx: the avx512 table
#if defined(LD_HAVE_AVX512)
        case CpuIsa::avx512: return nn_kernels_avx512();
#endif
#if defined(LD_HAVE_AVX2)
        case CpuIsa::avx2: return nn_kernels_avx2();
#endif
#if defined(LD_HAVE_NEON)
        case CpuIsa::neon: return nn_kernels_neon();
#endif
        default: return kGeneric;
    }
}

}  // namespace ld::ggml
