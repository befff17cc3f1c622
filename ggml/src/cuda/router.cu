// MoE router top-k: per token p = softmax(logits) (f32 exp, f64 sum, as the reference), the k largest p
// in descending order (strict '>' scan: ties keep the lower expert id), w = p / Σ p_topk, then
// w *= per_expert_scale[id]. One block per token; the selection is the reference's scalar scan (thread 0)
// over p in shared memory, so ids equal the CPU's whenever the f32 exps do.
#include "common.cuh"
#include "ops.h"

namespace ld::ggml::cuda {

namespace {

__global__ void router_kernel(const float * logits, int64_t n_expert, int64_t k, const float * pes, int32_t * ids,
                              float * w) {
    extern __shared__ float p[];  // [n_expert]
    const float * lr = logits + blockIdx.x * n_expert;
    __shared__ float mx;
    if (threadIdx.x == 0) {
        float m = -INFINITY;
        for (int64_t e = 0; e < n_expert; ++e) m = lr[e] > m ? lr[e] : m;
        mx = m;
    }
    __syncthreads();
    for (int64_t e = threadIdx.x; e < n_expert; e += blockDim.x) p[e] = mx == -INFINITY ? 0.0f : expf(lr[e] - mx);
    __syncthreads();
    if (threadIdx.x != 0) return;
    if (mx != -INFINITY) {
        double s = 0.0;
        for (int64_t e = 0; e < n_expert; ++e) s += p[e];
        const float inv = (float)(1.0 / s);
        for (int64_t e = 0; e < n_expert; ++e) p[e] *= inv;
    }
    int32_t * id = ids + blockIdx.x * k;
    float * wt = w + blockIdx.x * k;
    float sum = 0.0f;
    for (int64_t j = 0; j < k; ++j) {
        int64_t best = -1;
        for (int64_t e = 0; e < n_expert; ++e) {
            bool taken = false;
            for (int64_t q = 0; q < j; ++q) taken |= id[q] == e;
            if (taken) continue;
            if (best < 0 || p[e] > p[best]) best = e;
        }
        id[j] = (int32_t)best;
        wt[j] = p[best];
        sum += p[best];
    }
    for (int64_t j = 0; j < k; ++j) {
        wt[j] = wt[j] / sum;
        if (pes) wt[j] *= pes[id[j]];
    }
}

}  // namespace

void router_topk(const float * logits, int64_t n_tok, int64_t n_expert, int64_t k, const float * per_expert_scale,
                 int32_t * ids, float * w, cudaStream_t st) {
    if (n_tok <= 0) return;
    router_kernel<<<(unsigned)n_tok, 128, (size_t)n_expert * sizeof(float), st>>>(logits, n_expert, k,
                                                                                  per_expert_scale, ids, w);
    check_launch("router_kernel", "router_topk");
}

}  // namespace ld::ggml::cuda
