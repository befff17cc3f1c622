// Float matmul: y = x · Wᵀ with F32, F16 or BF16 weights (and the F16 copies of the types without a
// native kernel), f32 activations, f32 FMA accumulation in k order per output. Tiles of 64 weight rows x
// 64 columns x 16 k per block of 256 threads (4 x 4 outputs each), dense or grouped by expert (GemmCols).
#include "decode.cuh"
#include "ops.h"

namespace ld::ggml::cuda {

namespace {

constexpr int BM = 64, BN = GEMM_TILE_N, BK = 16, THREADS = 256;

template <Type T>
__device__ __forceinline__ float wval(const uint8_t * row, int64_t k) {
    if constexpr (T == Type::F32) return ((const float *)row)[k];
    else if constexpr (T == Type::F16) return f16_to_f32(((const uint16_t *)row)[k]);
    else return bf16_to_f32(((const uint16_t *)row)[k]);
}

template <Type T>
__global__ void __launch_bounds__(THREADS) mmf_kernel(const float * __restrict__ x, int64_t K,
                                                      const uint8_t * __restrict__ w, int64_t M, size_t row_bytes,
                                                      GemmCols c, float * __restrict__ y) {
    __shared__ float sw[BK][BM + 4];
    __shared__ float sx[BK][BN + 4];
    __shared__ int64_t s_xrow[BN], s_yrow[BN];

    // the column tile (same rule as mmq.cu)
    const int64_t ty = blockIdx.y;
    int64_t base = 0, e = 0;
    int count = 0;
    if (!c.perm) {
        base = ty * BN;
        count = (int)min((int64_t)BN, c.n_cols - base);
    } else {
        if (ty >= c.tile_off[c.E]) return;
        int64_t lo = 0, hi = c.E - 1;
        while (lo < hi) {
            const int64_t mid = (lo + hi + 1) / 2;
            if (c.tile_off[mid] <= ty) lo = mid; else hi = mid - 1;
        }
        e = lo;
        base = c.col_off[lo] + (ty - c.tile_off[lo]) * BN;
        count = (int)min((int64_t)BN, (int64_t)c.col_off[lo + 1] - base);
    }
    if (count <= 0) return;
    const int tid = threadIdx.x;
    if (tid < BN) {
        if (tid >= count) {
            s_xrow[tid] = s_yrow[tid] = -1;
        } else if (!c.perm) {
            s_xrow[tid] = s_yrow[tid] = base + tid;
        } else {
            const int64_t s = c.perm[base + tid];
            s_xrow[tid] = c.x_per_slot ? s : s / c.top_k;
            s_yrow[tid] = s;
        }
    }
    __syncthreads();

    const int64_t m0 = (int64_t)blockIdx.x * BM;
    const uint8_t * wb = w + e * c.w_expert_bytes;
    const int tx = tid % 16, tyy = tid / 16;
    float acc[4][4] = {};
    for (int64_t k0 = 0; k0 < K; k0 += BK) {
        for (int i = tid; i < BM * BK; i += THREADS) {
            const int r = i / BK, kk = i % BK;
            const int64_t m = m0 + r, k = k0 + kk;
            sw[kk][r] = (m < M && k < K) ? wval<T>(wb + m * row_bytes, k) : 0.0f;
        }
        for (int i = tid; i < BN * BK; i += THREADS) {
            const int r = i / BK, kk = i % BK;
            const int64_t k = k0 + kk;
            sx[kk][r] = (s_xrow[r] >= 0 && k < K) ? x[s_xrow[r] * K + k] : 0.0f;
        }
        __syncthreads();
#pragma unroll
        for (int kk = 0; kk < BK; ++kk) {
            float a[4], b[4];
#pragma unroll
            for (int i = 0; i < 4; ++i) a[i] = sw[kk][tx * 4 + i];
#pragma unroll
            for (int j = 0; j < 4; ++j) b[j] = sx[kk][tyy * 4 + j];
#pragma unroll
            for (int i = 0; i < 4; ++i)
#pragma unroll
                for (int j = 0; j < 4; ++j) acc[i][j] = fmaf(a[i], b[j], acc[i][j]);
        }
        __syncthreads();
    }
#pragma unroll
    for (int j = 0; j < 4; ++j) {
        const int64_t yr = s_yrow[tyy * 4 + j];
        if (yr < 0) continue;
#pragma unroll
        for (int i = 0; i < 4; ++i) {
            const int64_t m = m0 + tx * 4 + i;
            if (m < M) y[yr * M + m] = acc[i][j];
        }
    }
}

template <Type T>
void launch(const float * x, int64_t K, const void * w, int64_t M, const GemmCols & c, float * y, cudaStream_t st) {
    const int64_t tiles = c.perm ? c.max_tiles : ceil_div(c.n_cols, BN);
    if (tiles <= 0 || M <= 0) return;
    const dim3 grid((unsigned)ceil_div(M, BM), (unsigned)tiles);
    mmf_kernel<T><<<grid, THREADS, 0, st>>>(x, K, (const uint8_t *)w, M, (size_t)native_row_bytes(T, K), c, y);
    check_launch("mmf_kernel", "matmul");
}

}  // namespace

bool mmf_supports(Type t) { return t == Type::F32 || t == Type::F16 || t == Type::BF16; }

void mmf(Type t, const float * x, int64_t K, const void * w, int64_t M, const GemmCols & c, float * y, cudaStream_t st) {
    switch (t) {
        case Type::F32: launch<Type::F32>(x, K, w, M, c, y, st); break;
        case Type::F16: launch<Type::F16>(x, K, w, M, c, y, st); break;
        case Type::BF16: launch<Type::BF16>(x, K, w, M, c, y, st); break;
        default: throw Error(std::string("cuda: matmul: no float kernel for ") + type_name((int32_t)t));
    }
}

}  // namespace ld::ggml::cuda
