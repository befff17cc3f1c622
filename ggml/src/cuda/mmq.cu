// Quantized matmul on the int8 tensor cores: y = x · Wᵀ for Q8_0, Q5_0, Q4_K (groups of 32) and Q6_K
// (groups of 16, its scale granularity), dense or grouped by expert (GemmCols, ops.h).
//
// Activations are quantized once per call (quantize_act: int8 per group of G, scale amax/127, round half
// away from zero) and each weight group is decoded to int8 codes with a scale and a min (decode.cuh), so
// for every (row, column, group) the exact int32 Σ q_w q_x comes from one tensor-core instruction
// (mma.sync m16n8k32 s8 for G = 32, m16n8k16 for G = 16; dp4a below sm_80) and the f32 result is
//   y += d_w d_x Σ q_w q_x  −  m_w (d_x Σ q_x)        (the min term only for Q4_K).
// Tiles: 64 weight rows x 64 columns per block of 4 warps (2 x 2, each 32 x 32), K in chunks of 128
// values staged in shared memory (rows padded to 144 bytes: conflict-free fragment loads).
#include "decode.cuh"
#include "ops.h"

namespace ld::ggml::cuda {

namespace {

constexpr int BM = 64, BN = GEMM_TILE_N, KC = 128, ROWB = KC + 16, THREADS = 128;

struct ColTile {
    int64_t base = 0;  // first column (index into perm, or the column itself when dense)
    int count = 0;
    int64_t e = 0;
};

// The column tile of this block (blockIdx.y); false when the block has no work.
__device__ bool col_tile(const GemmCols & c, ColTile & t) {
    const int64_t y = blockIdx.y;
    if (!c.perm) {
        t.base = y * BN;
        t.count = (int)min((int64_t)BN, c.n_cols - t.base);
        t.e = 0;
        return t.count > 0;
    }
    if (y >= c.tile_off[c.E]) return false;
    int64_t lo = 0, hi = c.E - 1;  // the last expert with tile_off[e] <= y owns tile y
    while (lo < hi) {
        const int64_t mid = (lo + hi + 1) / 2;
        if (c.tile_off[mid] <= y) lo = mid; else hi = mid - 1;
    }
    t.e = lo;
    t.base = c.col_off[lo] + (y - c.tile_off[lo]) * BN;
    t.count = (int)min((int64_t)BN, (int64_t)c.col_off[lo + 1] - t.base);
    return t.count > 0;
}

// x row and y row of column j of the tile (-1: none).
__device__ void col_rows(const GemmCols & c, const ColTile & t, int j, int64_t & xrow, int64_t & yrow) {
    if (j >= t.count) { xrow = yrow = -1; return; }
    if (!c.perm) { xrow = yrow = t.base + j; return; }
    const int64_t s = c.perm[t.base + j];
    xrow = c.x_per_slot ? s : s / c.top_k;
    yrow = s;
}

// Σ over one group of the int8 products for the thread's 4 outputs of a 16 x 8 tile:
// c[0] (row g, col 2t), c[1] (g, 2t+1), c[2] (g+8, 2t), c[3] (g+8, 2t+1). a: row 0 of the 16 rows,
// b: column 0 of the 8 columns, both at the group's byte offset, rows ROWB bytes apart.
template <int G>
__device__ __forceinline__ void group_mma(const uint8_t * a, const uint8_t * b, int g, int t, int (&c)[4]) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
    if constexpr (G == 32) {
        const uint32_t a0 = *(const uint32_t *)(a + g * ROWB + 4 * t);
        const uint32_t a1 = *(const uint32_t *)(a + (g + 8) * ROWB + 4 * t);
        const uint32_t a2 = *(const uint32_t *)(a + g * ROWB + 16 + 4 * t);
        const uint32_t a3 = *(const uint32_t *)(a + (g + 8) * ROWB + 16 + 4 * t);
        const uint32_t b0 = *(const uint32_t *)(b + g * ROWB + 4 * t);
        const uint32_t b1 = *(const uint32_t *)(b + g * ROWB + 16 + 4 * t);
        asm volatile(
            "mma.sync.aligned.m16n8k32.row.col.s32.s8.s8.s32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, "
            "{%10,%11,%12,%13};\n"
            : "=r"(c[0]), "=r"(c[1]), "=r"(c[2]), "=r"(c[3])
            : "r"(a0), "r"(a1), "r"(a2), "r"(a3), "r"(b0), "r"(b1), "r"(0), "r"(0), "r"(0), "r"(0));
    } else {
        const uint32_t a0 = *(const uint32_t *)(a + g * ROWB + 4 * t);
        const uint32_t a1 = *(const uint32_t *)(a + (g + 8) * ROWB + 4 * t);
        const uint32_t b0 = *(const uint32_t *)(b + g * ROWB + 4 * t);
        asm volatile(
            "mma.sync.aligned.m16n8k16.row.col.s32.s8.s8.s32 {%0,%1,%2,%3}, {%4,%5}, {%6}, {%7,%8,%9,%10};\n"
            : "=r"(c[0]), "=r"(c[1]), "=r"(c[2]), "=r"(c[3])
            : "r"(a0), "r"(a1), "r"(b0), "r"(0), "r"(0), "r"(0), "r"(0));
    }
#else
    // dp4a fallback (sm_75 and the host pass): the same four sums, read straight from shared memory.
    for (int i = 0; i < 4; ++i) {
        const int r = g + (i >= 2 ? 8 : 0), col = 2 * t + (i & 1);
        const int * ar = (const int *)(a + r * ROWB);
        const int * bc = (const int *)(b + col * ROWB);
        int s = 0;
#pragma unroll
        for (int w = 0; w < G / 4; ++w) {
#if defined(__CUDA_ARCH__)
            s = __dp4a(ar[w], bc[w], s);
#else
            (void)ar; (void)bc;
#endif
        }
        c[i] = s;
    }
#endif
}

template <Type T>
__global__ void __launch_bounds__(THREADS) mmq_kernel(const int8_t * __restrict__ xq, const float * __restrict__ xd,
                                                      const float * __restrict__ xs, int64_t K,
                                                      const uint8_t * __restrict__ w, int64_t M, size_t row_bytes,
                                                      GemmCols c, float * __restrict__ y) {
    using Q = QGroup<T>;
    constexpr int G = Q::G, NG = KC / G;
    __shared__ __align__(16) uint8_t sw[BM * ROWB];
    __shared__ __align__(16) uint8_t sx[BN * ROWB];
    __shared__ float swd[BM][NG], swm[BM][NG], sxd[BN][NG], sxs[BN][NG];
    __shared__ int64_t s_xrow[BN], s_yrow[BN];

    ColTile ct;
    if (!col_tile(c, ct)) return;
    const int tid = threadIdx.x, warp = tid / 32, lane = tid % 32, g = lane >> 2, t = lane & 3;
    const int64_t m0 = (int64_t)blockIdx.x * BM;
    const uint8_t * wb = w + ct.e * c.w_expert_bytes;
    if (tid < BN) col_rows(c, ct, tid, s_xrow[tid], s_yrow[tid]);
    __syncthreads();

    const int wm = (warp / 2) * 32, wn = (warp % 2) * 32;
    float acc[2][4][4];
#pragma unroll
    for (int a = 0; a < 2; ++a)
#pragma unroll
        for (int b = 0; b < 4; ++b)
#pragma unroll
            for (int i = 0; i < 4; ++i) acc[a][b][i] = 0.0f;

    const int64_t KG = K / G;
    for (int64_t k0 = 0; k0 < K; k0 += KC) {
        const int64_t g0 = k0 / G;
        for (int i = tid; i < BM * NG; i += THREADS) {
            const int r = i / NG, j = i % NG;
            const int64_t gg = g0 + j, m = m0 + r;
            uint32_t q[G / 4];
            float d = 0.0f, mn = 0.0f;
            if (m < M && gg < KG) {
                Q::decode(wb + m * row_bytes, gg, q, d, mn);
            } else {
#pragma unroll
                for (int u = 0; u < G / 4; ++u) q[u] = 0;
            }
            uint32_t * dst = (uint32_t *)(sw + r * ROWB + j * G);
#pragma unroll
            for (int u = 0; u < G / 4; ++u) dst[u] = q[u];
            swd[r][j] = d;
            swm[r][j] = mn;
        }
        for (int i = tid; i < BN * (KC / 16); i += THREADS) {
            const int r = i / (KC / 16), p = i % (KC / 16);
            const int64_t k = k0 + p * 16;
            uint4 v = make_uint4(0, 0, 0, 0);
            if (s_xrow[r] >= 0 && k < K) v = *(const uint4 *)(xq + s_xrow[r] * K + k);
            *(uint4 *)(sx + r * ROWB + p * 16) = v;
        }
        for (int i = tid; i < BN * NG; i += THREADS) {
            const int r = i / NG, j = i % NG;
            const int64_t gg = g0 + j;
            const bool ok = s_xrow[r] >= 0 && gg < KG;
            sxd[r][j] = ok ? xd[s_xrow[r] * KG + gg] : 0.0f;
            sxs[r][j] = ok ? xs[s_xrow[r] * KG + gg] : 0.0f;
        }
        __syncthreads();
#pragma unroll
        for (int j = 0; j < NG; ++j) {
#pragma unroll
            for (int mt = 0; mt < 2; ++mt) {
#pragma unroll
                for (int nt = 0; nt < 4; ++nt) {
                    int cc[4];
                    group_mma<G>(sw + (wm + mt * 16) * ROWB + j * G, sx + (wn + nt * 8) * ROWB + j * G, g, t, cc);
#pragma unroll
                    for (int i = 0; i < 4; ++i) {
                        const int rr = wm + mt * 16 + g + (i >= 2 ? 8 : 0);
                        const int col = wn + nt * 8 + 2 * t + (i & 1);
                        acc[mt][nt][i] += (float)cc[i] * (swd[rr][j] * sxd[col][j]);
                        if constexpr (Q::HAS_MIN) acc[mt][nt][i] -= swm[rr][j] * sxs[col][j];
                    }
                }
            }
        }
        __syncthreads();
    }

#pragma unroll
    for (int mt = 0; mt < 2; ++mt)
#pragma unroll
        for (int nt = 0; nt < 4; ++nt)
#pragma unroll
            for (int i = 0; i < 4; ++i) {
                const int rr = wm + mt * 16 + g + (i >= 2 ? 8 : 0);
                const int col = wn + nt * 8 + 2 * t + (i & 1);
                const int64_t m = m0 + rr, yr = s_yrow[col];
                if (m < M && yr >= 0) y[yr * M + m] = acc[mt][nt][i];
            }
}

// One thread per value; a warp covers 32 consecutive values (one group of 32, or two of 16).
__global__ void quantize_act_kernel(const float * __restrict__ x, int64_t n, int G, int8_t * __restrict__ q,
                                    float * __restrict__ d, float * __restrict__ s) {
    const int lane = threadIdx.x % 32;
    for (int64_t base = ((int64_t)blockIdx.x * blockDim.x + threadIdx.x) - lane; base < n;
         base += (int64_t)gridDim.x * blockDim.x) {
        const int64_t e = base + lane;
        const float v = e < n ? x[e] : 0.0f;
        float amax = fabsf(v);
        for (int o = G / 2; o > 0; o >>= 1) amax = fmaxf(amax, __shfl_xor_sync(0xffffffffu, amax, o));
        const float dd = amax / 127.0f;
        const float id = dd != 0.0f ? 1.0f / dd : 0.0f;
        const int qi = round_away_i8(v * id);  // as the CPU's Q8_0 reference
        int sum = qi;
        for (int o = G / 2; o > 0; o >>= 1) sum += __shfl_xor_sync(0xffffffffu, sum, o);
        if (e < n) {
            q[e] = (int8_t)qi;
            if (e % G == 0) {
                d[e / G] = dd;
                s[e / G] = dd * (float)sum;
            }
        }
    }
}

template <Type T>
void launch(const int8_t * xq, const float * xd, const float * xs, int64_t K, const void * w, int64_t M,
            const GemmCols & c, float * y, cudaStream_t st, size_t row_bytes) {
    const int64_t tiles = c.perm ? c.max_tiles : ceil_div(c.n_cols, BN);
    if (tiles <= 0 || M <= 0) return;
    const dim3 grid((unsigned)ceil_div(M, BM), (unsigned)tiles);
    if (!row_bytes) row_bytes = (size_t)native_row_bytes(T, K);
    mmq_kernel<T><<<grid, THREADS, 0, st>>>(xq, xd, xs, K, (const uint8_t *)w, M, row_bytes, c, y);
    check_launch("mmq_kernel", "matmul");
}

}  // namespace

bool mmq_supports(Type t) { return t == Type::Q8_0 || t == Type::Q5_0 || t == Type::Q4_K || t == Type::Q6_K; }
int mmq_group(Type t) { return t == Type::Q6_K ? 16 : 32; }

void quantize_act(const float * x, int64_t R, int64_t K, int G, int8_t * q, float * d, float * s, cudaStream_t st) {
    const int64_t n = R * K;  // K is a multiple of 32
    if (n <= 0) return;
    quantize_act_kernel<<<grid_for(n, 256), 256, 0, st>>>(x, n, G, q, d, s);
    check_launch("quantize_act_kernel", "matmul");
}

void mmq(Type t, const int8_t * xq, const float * xd, const float * xs, int64_t K, const void * w, int64_t M,
         const GemmCols & c, float * y, cudaStream_t st, size_t row_bytes) {
    switch (t) {
        case Type::Q8_0: launch<Type::Q8_0>(xq, xd, xs, K, w, M, c, y, st, row_bytes); break;
        case Type::Q5_0: launch<Type::Q5_0>(xq, xd, xs, K, w, M, c, y, st, row_bytes); break;
        case Type::Q4_K: launch<Type::Q4_K>(xq, xd, xs, K, w, M, c, y, st, row_bytes); break;
        case Type::Q6_K: launch<Type::Q6_K>(xq, xd, xs, K, w, M, c, y, st, row_bytes); break;
        default: throw Error(std::string("cuda: matmul: no int8 kernel for ") + type_name((int32_t)t));
    }
}

}  // namespace ld::ggml::cuda
