// Private: the per-ISA kernel table behind the optimized ops of cpu-nn.h. Each ISA file
// (nn-kernels-generic.cpp, nn-kernels-avx2.cpp, nn-kernels-avx512.cpp) fills one NnKernels with the
// same entry points; the drivers (attention.cpp, nn.cpp) own tiling, masks and threading.
//
// Determinism: a kernel's result for an element never depends on where it sits in a call (vector lane
// or tail), so drivers may cut work into any fixed pieces.
#pragma once

#include <cstdint>

#include "ld-ggml/cpu-features.h"

namespace ld::ggml {

constexpr int ATTN_BK = 64;  // keys per attention tile (the scores kernels' fixed width)
constexpr int ATTN_VC = 64;  // columns per chunk of a packed V tile

struct NnKernels {
    const char * name;

    // Scores of one tile: s[r][j] = sum_c q[r*ldq + c] * kt[c*ATTN_BK + j] for r < rows, j < ATTN_BK.
    // q: [rows, d] (row stride ldq), kt: the key tile transposed, [d][ATTN_BK]; s: [rows][ATTN_BK].
    void (*attn_scores)(const float * q, int64_t ldq, int rows, const float * kt, int64_t d, float * s);

    // Online-softmax update of one tile, per row r (masked scores are -inf):
    //   m' = max(m[r], max_j s[r][j]); alpha[r] = exp(m[r] - m'); s[r][j] <- exp(s[r][j] - m');
    //   l[r] <- l[r] * alpha[r] + sum_j s[r][j]; m[r] <- m'.
    // A row whose m' is -inf (nothing visible yet) gets alpha 1, s 0, and keeps m, l.
    void (*attn_softmax)(float * s, int rows, float * m, float * l, float * alpha);

    // o[r][c] <- alpha[r] * o[r][c] + sum_{j < nk} p[r][j] * V[j][c] for r < rows, c < d.
    // p: [rows][ATTN_BK]; o: [rows, d]; vt: the V tile packed in column chunks so each chunk is contiguous:
    // the chunk of columns [c0, c0 + w), w = min(ATTN_VC, d - c0), c0 a multiple of ATTN_VC, holds
    // V[j][c] at vt[c0 * ATTN_BK + j * w + (c - c0)].
    void (*attn_pv)(const float * p, int rows, const float * vt, int nk, int64_t d, const float * alpha, float * o);

    // Elementwise / row kernels (see cpu-nn.h for the maths).
    void (*rms_norm_row)(const float * x, int64_t n, const float * w, float eps, float * out);
    void (*gelu)(const float * x, int64_t n, float * out);
    void (*geglu)(const float * g, const float * u, int64_t n, float * out);
    void (*softmax_row)(const float * x, int64_t n, float * out);

    // out[i] = cap * tanh(x[i] / cap), cap > 0 (the vector kernels: tanh to about 2 ulp).
    void (*softcap)(const float * x, int64_t n, float cap, float * out);

    // The fused vocab head's per-position passes over one tile of logits (vocab-head-fused.cpp):
    // head_logits: l[j] <- softcap(l[j]) / T in place (no softcap when cap <= 0, the same values as the
    // softcap kernel); returns max_j l[j] and sets *arg to its first index (-inf and -1 when no value
    // exceeds -inf; NaN never wins).
    float (*head_logits)(float * l, int64_t n, float cap, float T, int64_t * arg);
    // head_exp: w[j] = e^{l[j] - m} (m >= every l[j]); *s += sum_j w[j], *a += sum_j w[j] (l[j] - m).
    void (*head_exp)(const float * l, int64_t n, float m, float * w, double * s, double * a);
};

const NnKernels & nn_kernels_generic();
#if defined(LD_HAVE_AVX2)
const NnKernels & nn_kernels_avx2();
#endif
#if defined(LD_HAVE_AVX512)
const NnKernels & nn_kernels_avx512();
#endif
#if defined(LD_HAVE_NEON)
const NnKernels & nn_kernels_neon();
#endif

// The table for an ISA (throws ld::ggml::Error when this build or CPU cannot run it).
const NnKernels & nn_kernels(CpuIsa isa);

}  // namespace ld::ggml
