// The fused vocab head's per-tile kernels (the backend's vocab_head drives them: backend-cuda.cpp).
// For each tile of the vocabulary [v0, v0 + tv) the backend computes the tile's logits [C, tv] with the
// matmul kernels, then:
//   head_tile_stats: per position c (one block), r = softcap(raw) / T; folds the tile into the running
//     state: max m, Z = Σ e^(r-m), S = Σ e^(r-m)(r-m) (entropy = log Z − S/Z), the argmax (first index of
//     the max r), and the draw; writes the weights e^(r - m_new); alpha = e^(m_old - m_new).
//   soft[c, :] = alpha_c soft[c, :] + Σ_v w[c, v] E[v0 + v, :], as the CPU head does it: exactly in f32 for
//     an F32 embedding (head_tile_soft, FMA tiles), else through a Q8_0 Eᵀ built once (head_build_et) with
//     the weights quantized per 32 and the int8 tensor-core matmul (mmq.cu), then head_soft_axpy.
// head_finish divides soft by Z and writes argmax / draw / entropy. Only [C, tv] and [C, H] buffers exist.
//
// The draw is Gumbel-max: pick = argmax_v (r_v + G_v) with G_v = −log(−log u_v), u_v the counter RNG's
// uniform (rng.h) for the key (seed, Sample, canvas_key, step_key, c · 2^20 + v) (v < 2^20), computed in
// f64; ties keep the lower v. That is an exact categorical sample of softmax(r) (a different stream of
// numbers than the CPU's reservoir sampler: same distribution, reproducible on any CUDA device).
#include <cfloat>

#include "decode.cuh"
#include "ops.h"

namespace ld::ggml::cuda {

namespace {

constexpr int THREADS = 256;

// rng.h, on the device: the SplitMix64 chain of rng_u64 and the open-interval uniform of rng_uniform.
__device__ __forceinline__ uint64_t mix(uint64_t x) {
    x += 0x9E3779B97F4A7C15ull;
    x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
    x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
    return x ^ (x >> 31);
}
__device__ __forceinline__ double uniform(uint64_t seed, uint64_t purpose, uint64_t a, uint64_t b, uint64_t c) {
    uint64_t h = mix(seed ^ 0x6C6C616D612D6466ull);
    h = mix(h ^ purpose);
    h = mix(h ^ a);
    h = mix(h ^ b);
    h = mix(h ^ c);
    return ((double)(h >> 11) + 0.5) * (1.0 / 9007199254740992.0);
}

// (value, index) block reduction: the larger value, ties to the lower index. Every thread gets the result.
template <typename V>
__device__ void block_argmax(V & val, int32_t & idx) {
    __shared__ V sv[THREADS / 32];
    __shared__ int32_t si[THREADS / 32];
    for (int o = 16; o > 0; o >>= 1) {
        const V ov = __shfl_xor_sync(0xffffffffu, val, o);
        const int32_t oi = __shfl_xor_sync(0xffffffffu, idx, o);
        if (ov > val || (ov == val && oi < idx)) { val = ov; idx = oi; }
    }
    const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
    __syncthreads();
    if (lane == 0) { sv[warp] = val; si[warp] = idx; }
    __syncthreads();
    val = sv[0];
    idx = si[0];
    for (int w = 1; w < THREADS / 32; ++w)
        if (sv[w] > val || (sv[w] == val && si[w] < idx)) { val = sv[w]; idx = si[w]; }
}

__device__ float block_sum(float v) {
    __shared__ float sh[THREADS / 32];
    v = warp_sum(v);
    const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
    __syncthreads();
    if (lane == 0) sh[warp] = v;
    __syncthreads();
    float t = 0.0f;
    for (int w = 0; w < THREADS / 32; ++w) t += sh[w];
    return t;
}

__device__ __forceinline__ float processed(float raw, float cap, float temperature) {
    if (cap > 0.0f) raw = cap * tanhf(raw / cap);
    return raw / temperature;
}

__global__ void init_kernel(HeadState * st, int64_t C, float * soft, int64_t H) {
    for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < C * (H > 0 ? H : 1);
         i += (int64_t)gridDim.x * blockDim.x) {
        if (i < C) {
            HeadState s;
            s.m = -INFINITY; s.Z = 0.0f; s.S = 0.0f; s.best = -INFINITY; s.arg = 0; s.pick = 0;
            s.pick_key = -INFINITY; s.alpha = 0.0f;
            st[i] = s;
        }
        if (soft && H > 0) soft[i] = 0.0f;
    }
}

__global__ void stats_kernel(float * logits, int64_t tv, int64_t v0, float cap, float temperature, bool sample,
                             uint64_t seed, uint64_t canvas_key, uint64_t step_key, HeadState * st, float * wts,
                             int64_t ldw) {
    const int64_t c = blockIdx.x;
    float * row = logits + c * tv;
    float best = -INFINITY;
    int32_t arg = INT32_MAX;
    double key = -INFINITY;
    int32_t pick = INT32_MAX;
    for (int64_t j = threadIdx.x; j < tv; j += blockDim.x) {
        const float r = processed(row[j], cap, temperature);
        row[j] = r;
        const int32_t v = (int32_t)(v0 + j);
        if (r > best || (r == best && v < arg)) { best = r; arg = v; }
        if (sample) {
            const double u = uniform(seed, 2 /* RngPurpose::Sample */, canvas_key, step_key, ((uint64_t)c << 20) + (uint64_t)v);
            const double k = (double)r - log(-log(u));
            if (k > key || (k == key && v < pick)) { key = k; pick = v; }
        }
    }
    block_argmax(best, arg);
    if (sample) block_argmax(key, pick);
    HeadState s = st[c];
    const float m_new = fmaxf(s.m, best);
    float z = 0.0f, sx = 0.0f;
    float * wr = wts + c * ldw;
    for (int64_t j = threadIdx.x; j < ldw; j += blockDim.x) {
        float e = 0.0f;
        if (j < tv && m_new != -INFINITY) {
            const float d = row[j] - m_new;
            e = expf(d);
            z += e;
            sx += e > 0.0f ? e * d : 0.0f;
        }
        wr[j] = e;
    }
    z = block_sum(z);
    sx = block_sum(sx);
    if (threadIdx.x != 0) return;
    const float corr = (s.Z > 0.0f) ? expf(s.m - m_new) : 0.0f;
    const float old_s = (s.Z > 0.0f) ? corr * (s.S + (s.m - m_new) * s.Z) : 0.0f;
    s.Z = s.Z * corr + z;
    s.S = old_s + sx;
    s.m = m_new;
    s.alpha = corr;
    if (best > s.best) { s.best = best; s.arg = arg; }
    if (sample && key > s.pick_key) { s.pick_key = key; s.pick = pick; }
    st[c] = s;
}

// soft[c, h] = alpha_c soft[c, h] + Σ_v w[c, v] E[v, h]: 64 positions x 64 columns per block, v in chunks of 16.
__global__ void __launch_bounds__(256) soft_kernel(const float * __restrict__ w, int64_t ldw, int64_t C, int64_t tv,
                                                   const uint8_t * __restrict__ E, Type t, size_t row_bytes, int64_t H,
                                                   const HeadState * __restrict__ st, float * __restrict__ soft) {
    constexpr int BC = 64, BH = 64, BV = 16;
    __shared__ float sw[BV][BC + 4];
    __shared__ float se[BV][BH + 4];
    const int tid = threadIdx.x, tx = tid % 16, ty = tid / 16;
    const int64_t h0 = (int64_t)blockIdx.x * BH, c0 = (int64_t)blockIdx.y * BC;
    float acc[4][4] = {};
    for (int64_t v0 = 0; v0 < tv; v0 += BV) {
        for (int i = tid; i < BC * BV; i += 256) {
            const int cc = i / BV, vv = i % BV;
            const int64_t c = c0 + cc, v = v0 + vv;
            sw[vv][cc] = (c < C && v < tv) ? w[c * ldw + v] : 0.0f;
        }
        for (int i = tid; i < BH * BV; i += 256) {
            const int vv = i / BH, hh = i % BH;
            const int64_t v = v0 + vv, h = h0 + hh;
            se[vv][hh] = (v < tv && h < H) ? dq_value(t, E + v * row_bytes, h) : 0.0f;
        }
        __syncthreads();
#pragma unroll
        for (int vv = 0; vv < BV; ++vv) {
            float a[4], b[4];
#pragma unroll
            for (int i = 0; i < 4; ++i) a[i] = sw[vv][ty * 4 + i];
#pragma unroll
            for (int j = 0; j < 4; ++j) b[j] = se[vv][tx * 4 + j];
#pragma unroll
            for (int i = 0; i < 4; ++i)
#pragma unroll
                for (int j = 0; j < 4; ++j) acc[i][j] = fmaf(a[i], b[j], acc[i][j]);
        }
        __syncthreads();
    }
#pragma unroll
    for (int i = 0; i < 4; ++i) {
        const int64_t c = c0 + ty * 4 + i;
        if (c >= C) continue;
        const float al = st[c].alpha;
#pragma unroll
        for (int j = 0; j < 4; ++j) {
            const int64_t h = h0 + tx * 4 + j;
            if (h < H) soft[c * H + h] = al * soft[c * H + h] + acc[i][j];
        }
    }
}

// Eᵀ as Q8_0: one warp per (h, block of 32 vocabulary rows), the reference Q8_0 rule (d = amax/127 as f16,
// q = round-half-away(x/d)); rows beyond V are zero.
__global__ void build_et_kernel(const uint8_t * __restrict__ E, Type t, size_t row_bytes, int64_t H, int64_t V,
                                int64_t Vp, uint8_t * __restrict__ et) {
    const int lane = threadIdx.x % 32;
    const int64_t nb = Vp / 32, total = H * nb;
    for (int64_t w = ((int64_t)blockIdx.x * blockDim.x + threadIdx.x) / 32; w < total;
         w += ((int64_t)gridDim.x * blockDim.x) / 32) {
        const int64_t h = w / nb, b = w % nb, v = b * 32 + lane;
        const float x = v < V ? dq_value(t, E + v * row_bytes, h) : 0.0f;
        float amax = fabsf(x);
        for (int o = 16; o > 0; o >>= 1) amax = fmaxf(amax, __shfl_xor_sync(0xffffffffu, amax, o));
        const float d = amax / 127.0f;
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        uint8_t * blk = et + (h * nb + b) * 34;
        blk[2 + lane] = (uint8_t)(int8_t)round_away_i8(x * id);
        if (lane == 0) {
            const uint16_t hb = f32_to_f16(d);
            blk[0] = (uint8_t)(hb & 0xFF);
            blk[1] = (uint8_t)(hb >> 8);
        }
    }
}

__global__ void soft_axpy_kernel(const HeadState * st, const float * y, int64_t C, int64_t H, float * soft) {
    for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < C * H; i += (int64_t)gridDim.x * blockDim.x)
        soft[i] = st[i / H].alpha * soft[i] + y[i];
}

__global__ void finish_kernel(const HeadState * st, int64_t C, bool sample, int32_t * argmax, int32_t * draw,
                              float * entropy, float * soft, int64_t H) {
    for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < C * (H > 0 ? H : 1);
         i += (int64_t)gridDim.x * blockDim.x) {
        if (i < C) {
            const HeadState s = st[i];
            if (argmax) argmax[i] = s.arg;
            if (draw) draw[i] = sample ? s.pick : s.arg;
            if (entropy) entropy[i] = s.Z > 0.0f ? logf(s.Z) - s.S / s.Z : 0.0f;
        }
        if (soft && H > 0) {
            const float z = st[i / H].Z;
            soft[i] = z > 0.0f ? soft[i] / z : 0.0f;
        }
    }
}

}  // namespace

void head_init(HeadState * st, int64_t C, float * soft, int64_t H, cudaStream_t s) {
    const int64_t n = C * (soft && H > 0 ? H : 1);
    init_kernel<<<grid_for(n, 256), 256, 0, s>>>(st, C, soft, soft ? H : 0);
    check_launch("init_kernel", "vocab_head");
}

void head_tile_stats(float * logits, int64_t C, int64_t tv, int64_t v0, float softcap, float temperature, bool sample,
                     uint64_t seed, uint64_t canvas_key, uint64_t step_key, HeadState * st, float * wts, int64_t ldw,
                     cudaStream_t s) {
    stats_kernel<<<(unsigned)C, THREADS, 0, s>>>(logits, tv, v0, softcap, temperature, sample, seed, canvas_key,
                                                 step_key, st, wts, ldw);
    check_launch("stats_kernel", "vocab_head");
}

void head_tile_soft(const float * wts, int64_t ldw, int64_t C, int64_t tv, const void * E_tile, Type t,
                    size_t row_bytes, int64_t H, const HeadState * st, float * soft, cudaStream_t s) {
    const dim3 grid((unsigned)ceil_div(H, 64), (unsigned)ceil_div(C, 64));
    soft_kernel<<<grid, 256, 0, s>>>(wts, ldw, C, tv, (const uint8_t *)E_tile, t, row_bytes, H, st, soft);
    check_launch("soft_kernel", "vocab_head");
}

void head_build_et(const void * E, Type t, int64_t H, int64_t V, int64_t Vp, void * et, cudaStream_t s) {
    const int64_t warps = H * (Vp / 32);
    if (warps <= 0) return;
    build_et_kernel<<<grid_for(warps * 32, 256), 256, 0, s>>>((const uint8_t *)E, t, (size_t)native_row_bytes(t, H), H,
                                                              V, Vp, (uint8_t *)et);
    check_launch("build_et_kernel", "vocab_head");
}

void head_soft_axpy(const HeadState * st, const float * y, int64_t C, int64_t H, float * soft, cudaStream_t s) {
    if (C * H <= 0) return;
    soft_axpy_kernel<<<grid_for(C * H, 256), 256, 0, s>>>(st, y, C, H, soft);
    check_launch("soft_axpy_kernel", "vocab_head");
}

void head_finish(const HeadState * st, int64_t C, bool sample, int32_t * argmax, int32_t * draw, float * entropy,
                 float * soft, int64_t H, cudaStream_t s) {
    const int64_t n = C * (soft && H > 0 ? H : 1);
    finish_kernel<<<grid_for(n, 256), 256, 0, s>>>(st, C, sample, argmax, draw, entropy, soft, soft ? H : 0);
    check_launch("finish_kernel", "vocab_head");
}

}  // namespace ld::ggml::cuda
