// RoPE, NeoX / rotate-half, in place: pairs (i, i + n_rot/2) of the first n_rot dims of each head rotate
// by pos · inv_freq_i (inv_freq = 1 / base^(2i/n_rot) in f32 as HF computes it, or the given table, divided
// by freq_factors); dims >= n_rot pass through; a factor of 1e30 leaves its pair (numerically) unrotated.
// cos / sin of the f32 angle in f64, as the reference.
#include "common.cuh"
#include "ops.h"

namespace ld::ggml::cuda {

namespace {

__global__ void rope_kernel(float * x, int64_t n_tok, int64_t n_head, int64_t head_dim, const int32_t * pos,
                            int64_t n_rot, float theta, const float * ff, const float * inv_freq) {
    const int64_t half = n_rot / 2, total = n_tok * n_head * half;
    for (int64_t idx = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; idx < total;
         idx += (int64_t)gridDim.x * blockDim.x) {
        const int64_t i = idx % half, th = idx / half, t = th / n_head;
        float inv;
        if (inv_freq) {
            inv = inv_freq[i];
        } else {
            const float expo = (float)(2 * i) / (float)n_rot;
            const float powv = (float)pow((double)theta, (double)expo);
            inv = 1.0f / powv;
        }
        if (ff) inv = inv / ff[i];
        const float angle = (float)pos[t] * inv;
        const float c = (float)cos((double)angle), s = (float)sin((double)angle);
        float * xh = x + th * head_dim;
        const float a = xh[i], b = xh[i + half];
        xh[i] = a * c - b * s;
        xh[i + half] = b * c + a * s;
    }
}

}  // namespace

void rope_neox(float * x, int64_t n_tok, int64_t n_head, int64_t head_dim, const int32_t * pos, int64_t n_rot,
               float theta_base, const float * freq_factors, const float * inv_freq, cudaStream_t st) {
    const int64_t total = n_tok * n_head * (n_rot / 2);
    if (total <= 0) return;
    rope_kernel<<<grid_for(total, 256), 256, 0, st>>>(x, n_tok, n_head, head_dim, pos, n_rot, theta_base,
                                                      freq_factors, inv_freq);
    check_launch("rope_kernel", "rope_neox");
}

}  // namespace ld::ggml::cuda
