// Elementwise ops: add, scale, softcap (cap·tanh(x/cap)) and GEGLU (exact tanh-GELU of the gate times up,
// as x·sigmoid(2·sqrt(2/π)(x + 0.044715x³)), the CPU kernels' cancellation-free form, in f32).
#include "common.cuh"
#include "ops.h"

namespace ld::ggml::cuda {

namespace {

#define LD_GRID_LOOP(i, n) \
    for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < (n); i += (int64_t)gridDim.x * blockDim.x)

__global__ void add_kernel(const float * a, const float * b, int64_t n, float * out) {
    LD_GRID_LOOP(i, n) out[i] = a[i] + b[i];
}
__global__ void scale_kernel(const float * x, int64_t n, float s, float * out) {
    LD_GRID_LOOP(i, n) out[i] = x[i] * s;
}
__global__ void softcap_kernel(const float * x, int64_t n, float cap, float * out) {
    LD_GRID_LOOP(i, n) out[i] = (float)((double)cap * tanh((double)x[i] / (double)cap));
}
__global__ void geglu_kernel(const float * gate, const float * up, int64_t n_rows, int64_t n, int64_t ld_in,
                             float * out) {
    LD_GRID_LOOP(i, n_rows * n) {
        const int64_t r = i / n, c = i % n;
        const float x = gate[r * ld_in + c];
        const float u = 1.5957691216057308f * (x + 0.044715f * x * x * x);  // 2·sqrt(2/π)(x + 0.044715x³)
        out[i] = x / (1.0f + expf(-u)) * up[r * ld_in + c];
    }
}

}  // namespace

void add(const float * a, const float * b, int64_t n, float * out, cudaStream_t st) {
    if (n <= 0) return;
    add_kernel<<<grid_for(n, 256), 256, 0, st>>>(a, b, n, out);
    check_launch("add_kernel", "add");
}
void scale(const float * x, int64_t n, float s, float * out, cudaStream_t st) {
    if (n <= 0) return;
    scale_kernel<<<grid_for(n, 256), 256, 0, st>>>(x, n, s, out);
    check_launch("scale_kernel", "scale");
}
void softcap(const float * x, int64_t n, float cap, float * out, cudaStream_t st) {
    if (n <= 0) return;
    softcap_kernel<<<grid_for(n, 256), 256, 0, st>>>(x, n, cap, out);
    check_launch("softcap_kernel", "softcap");
}
void geglu(const float * gate, const float * up, int64_t n_rows, int64_t n, int64_t ld_in, float * out, cudaStream_t st) {
    if (n_rows * n <= 0) return;
    geglu_kernel<<<grid_for(n_rows * n, 256), 256, 0, st>>>(gate, up, n_rows, n, ld_in, out);
    check_launch("geglu_kernel", "geglu");
}

}  // namespace ld::ggml::cuda
