// Row ops with a reduction: RMSNorm (sum of squares in f64 like the reference, one block per row) and
// row softmax (max subtracted, exp in f32, sum in f64, one division; a row of all -inf gives zeros).
#include <cfloat>

#include "common.cuh"
#include "ops.h"

namespace ld::ggml::cuda {

namespace {

constexpr int THREADS = 256;

__device__ double block_sum_d(double v, double * sh) {
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
    __syncthreads();
    if (lane == 0) sh[warp] = v;
    __syncthreads();
    double t = 0.0;
    for (int w = 0; w < (int)blockDim.x / 32; ++w) t += sh[w];
    return t;
}

__device__ float block_max_f(float v, float * sh) {
    v = warp_max(v);
    const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
    __syncthreads();
    if (lane == 0) sh[warp] = v;
    __syncthreads();
    float t = -INFINITY;
    for (int w = 0; w < (int)blockDim.x / 32; ++w) t = fmaxf(t, sh[w]);
    return t;
}

__global__ void rms_norm_kernel(const float * x, int64_t n, const float * w, float eps, float * out) {
    __shared__ double sh[THREADS / 32];
    const float * xr = x + blockIdx.x * n;
    float * yr = out + blockIdx.x * n;
    double ss = 0.0;
    for (int64_t i = threadIdx.x; i < n; i += blockDim.x) ss += (double)xr[i] * xr[i];
    ss = block_sum_d(ss, sh);
    const float inv = (float)(1.0 / sqrt(ss / (double)n + (double)eps));
    for (int64_t i = threadIdx.x; i < n; i += blockDim.x) yr[i] = w ? xr[i] * inv * w[i] : xr[i] * inv;
}

__global__ void softmax_kernel(const float * x, int64_t n, float * out) {
    __shared__ float shf[THREADS / 32];
    __shared__ double shd[THREADS / 32];
    const float * xr = x + blockIdx.x * n;
    float * yr = out + blockIdx.x * n;
    float m = -INFINITY;
    for (int64_t i = threadIdx.x; i < n; i += blockDim.x) m = fmaxf(m, xr[i]);
    m = block_max_f(m, shf);
    if (m == -INFINITY) {
        for (int64_t i = threadIdx.x; i < n; i += blockDim.x) yr[i] = 0.0f;
        return;
    }
    double s = 0.0;
    for (int64_t i = threadIdx.x; i < n; i += blockDim.x) {
        const float e = expf(xr[i] - m);
        yr[i] = e;
        s += e;
    }
    s = block_sum_d(s, shd);
    const float inv = (float)(1.0 / s);
    for (int64_t i = threadIdx.x; i < n; i += blockDim.x) yr[i] *= inv;
}

}  // namespace

void rms_norm(const float * x, int64_t n_rows, int64_t n, const float * w, float eps, float * out, cudaStream_t st) {
    if (n_rows <= 0) return;
    rms_norm_kernel<<<(unsigned)n_rows, THREADS, 0, st>>>(x, n, w, eps, out);
    check_launch("rms_norm_kernel", "rms_norm");
}

void softmax(const float * x, int64_t n_rows, int64_t n, float * out, cudaStream_t st) {
    if (n_rows <= 0) return;
    softmax_kernel<<<(unsigned)n_rows, THREADS, 0, st>>>(x, n, out);
    check_launch("softmax_kernel", "softmax");
}

}  // namespace ld::ggml::cuda
