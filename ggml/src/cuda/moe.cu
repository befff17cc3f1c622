// Grouped expert matmul support: the device counting sort of the (token, slot) pairs by expert, and the
// routing-weighted reduction of the slots' outputs. The GEMMs themselves (mmq.cu / mmf.cu) run all
// experts in one launch over the sorted slots.
#include "common.cuh"
#include "ops.h"

namespace ld::ggml::cuda {

namespace {

// One block: histogram of the experts in shared memory, prefix sums (columns and column tiles), then
// each slot placed at its expert's cursor. The order within an expert does not matter: every output
// column is computed independently of the others.
__global__ void moe_sort_kernel(const int32_t * __restrict__ ids, int64_t S, int64_t E, int32_t * __restrict__ perm,
                                int32_t * __restrict__ col_off, int32_t * __restrict__ tile_off) {
    extern __shared__ int32_t cnt[];  // [E]
    for (int64_t e = threadIdx.x; e < E; e += blockDim.x) cnt[e] = 0;
    __syncthreads();
    for (int64_t s = threadIdx.x; s < S; s += blockDim.x) {
        const int32_t e = ids[s];
        if (e >= 0 && e < E) atomicAdd(&cnt[e], 1);
    }
    __syncthreads();
    if (threadIdx.x == 0) {
        int32_t off = 0, toff = 0;
        for (int64_t e = 0; e < E; ++e) {
            const int32_t n = cnt[e];
            col_off[e] = off;
            tile_off[e] = toff;
            cnt[e] = off;  // becomes the cursor
            off += n;
            toff += (n + GEMM_TILE_N - 1) / GEMM_TILE_N;
        }
        col_off[E] = off;
        tile_off[E] = toff;
    }
    __syncthreads();
    for (int64_t s = threadIdx.x; s < S; s += blockDim.x) {
        const int32_t e = ids[s];
        if (e >= 0 && e < E) perm[atomicAdd(&cnt[e], 1)] = (int32_t)s;
    }
}

__global__ void moe_reduce_kernel(const float * __restrict__ tmp, const float * __restrict__ rw, int64_t N,
                                  int64_t top_k, int64_t M, float * __restrict__ y) {
    for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < N * M; i += (int64_t)gridDim.x * blockDim.x) {
        const int64_t n = i / M, m = i % M;
        float acc = 0.0f;
        for (int64_t s = 0; s < top_k; ++s) acc += rw[n * top_k + s] * tmp[(n * top_k + s) * M + m];
        y[i] = acc;
    }
}

}  // namespace

void moe_sort(const int32_t * ids, int64_t S, int64_t E, int32_t * perm, int32_t * col_off, int32_t * tile_off,
              cudaStream_t st) {
    moe_sort_kernel<<<1, 1024, (size_t)E * sizeof(int32_t), st>>>(ids, S, E, perm, col_off, tile_off);
    check_launch("moe_sort_kernel", "moe_matmul");
}

void moe_reduce(const float * tmp, const float * rw, int64_t N, int64_t top_k, int64_t M, float * y, cudaStream_t st) {
    if (N * M <= 0) return;
    moe_reduce_kernel<<<grid_for(N * M, 256), 256, 0, st>>>(tmp, rw, N, top_k, M, y);
    check_launch("moe_reduce_kernel", "moe_matmul");
}

}  // namespace ld::ggml::cuda
