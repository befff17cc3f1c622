// Flash-style attention with the CPU's mask semantics (AttnArgs, cpu-nn.h): causal, sliding window, and
// canvas (every canvas key + the prefix, all of it or its last window-1 positions); negative key positions
// are empty slots; a query that sees no key gets zeros; GQA (consecutive query heads share a KV head);
// K/V of F32, F16 or Q8_0 with any token stride; queries with any token stride.
//
// A block of 8 warps serves one KV head and 8 (query, head) pairs of its group; key tiles of TK keys are
// dequantized to f32 in shared memory once for the 8 warps; each warp keeps its query row and output
// accumulator in registers (head_dim / 32 values per lane, head_dim <= 512) and runs the online softmax
// (running max, rescaled sum and accumulator) over the visible keys in key order, f32 throughout.
#include "decode.cuh"
#include "ops.h"

namespace ld::ggml::cuda {

namespace {

constexpr int WARPS = 8, MAXJ = 16;  // head_dim <= 32 * MAXJ

__device__ __forceinline__ bool visible(AttnMask mask, int64_t qp, int64_t kp, int32_t window, int32_t canvas_begin) {
    if (kp < 0) return false;
    switch (mask) {
        case AttnMask::causal: return kp <= qp;
        case AttnMask::sliding: return kp <= qp && kp > qp - window;
        default: return kp >= canvas_begin || window == 0 || kp > (int64_t)canvas_begin - window;
    }
}

template <Type T>
__device__ __forceinline__ float kv_value(const uint8_t * tok, int64_t g, int64_t hd, int64_t d) {
    if constexpr (T == Type::F32) return ((const float *)tok)[g * hd + d];
    else if constexpr (T == Type::F16) return f16_to_f32(((const uint16_t *)tok)[g * hd + d]);
    else {
        const uint8_t * b = tok + (g * (hd / 32) + d / 32) * 34;
        return f16_to_f32(ld_u16(b)) * (float)(int8_t)b[2 + d % 32];
    }
}

template <Type T>
__global__ void __launch_bounds__(WARPS * 32) attn_kernel(AttnArgs a, int64_t q_stride, size_t kv_stride, int TK) {
    extern __shared__ float sm[];
    const int64_t hd = a.head_dim, rep = a.n_head / a.n_kv_head, g = blockIdx.y;
    float * Ks = sm;
    float * Vs = sm + (size_t)TK * hd;
    int32_t * kps = (int32_t *)(Vs + (size_t)TK * hd);

    const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
    const int64_t pair = (int64_t)blockIdx.x * WARPS + warp;
    const bool active = pair < a.n_q * rep;
    const int64_t qi = active ? pair / rep : 0, h = g * rep + (active ? pair % rep : 0);
    const int nj = (int)((hd + 31) / 32);
    const int64_t qp = active ? a.q_pos[qi] : 0;

    float qr[MAXJ], acc[MAXJ];
#pragma unroll
    for (int j = 0; j < MAXJ; ++j) {
        const int64_t d = lane + 32 * j;
        qr[j] = (active && j < nj && d < hd) ? a.q[qi * q_stride + h * hd + d] : 0.0f;
        acc[j] = 0.0f;
    }
    float m = -INFINITY, l = 0.0f;

    const uint8_t * kb = (const uint8_t *)a.k;
    const uint8_t * vb = (const uint8_t *)a.v;
    for (int64_t k0 = 0; k0 < a.n_kv; k0 += TK) {
        for (int64_t idx = threadIdx.x; idx < (int64_t)TK * hd; idx += blockDim.x) {
            const int64_t j = idx / hd, d = idx % hd, key = k0 + j;
            float kv = 0.0f, vv = 0.0f;
            if (key < a.n_kv) {
                kv = kv_value<T>(kb + key * kv_stride, g, hd, d);
                vv = kv_value<T>(vb + key * kv_stride, g, hd, d);
            }
            Ks[idx] = kv;
            Vs[idx] = vv;
        }
        for (int j = threadIdx.x; j < TK; j += blockDim.x) kps[j] = k0 + j < a.n_kv ? a.k_pos[k0 + j] : -1;
        __syncthreads();
        if (active) {
            const int nk = (int)min((int64_t)TK, a.n_kv - k0);
            for (int j = 0; j < nk; ++j) {
                if (!visible(a.mask, qp, kps[j], a.window, a.canvas_begin)) continue;
                const float * kr = Ks + (size_t)j * hd;
                float part = 0.0f;
#pragma unroll
                for (int jj = 0; jj < MAXJ; ++jj) {
                    const int64_t d = lane + 32 * jj;
                    if (jj < nj && d < hd) part = fmaf(qr[jj], kr[d], part);
                }
                const float s = warp_sum(part) * a.scale;
                const float * vr = Vs + (size_t)j * hd;
                float p, corr;
                if (s > m) {
                    corr = expf(m - s);  // 0 for the first visible key
                    p = 1.0f;
                    m = s;
                } else {
                    corr = 1.0f;
                    p = expf(s - m);
                }
                l = l * corr + p;
#pragma unroll
                for (int jj = 0; jj < MAXJ; ++jj) {
                    const int64_t d = lane + 32 * jj;
                    if (jj < nj && d < hd) acc[jj] = acc[jj] * corr + p * vr[d];
                }
            }
        }
        __syncthreads();
    }
    if (!active) return;
    const float inv = l > 0.0f ? 1.0f / l : 0.0f;
    float * out = a.out + (qi * a.n_head + h) * hd;
#pragma unroll
    for (int jj = 0; jj < MAXJ; ++jj) {
        const int64_t d = lane + 32 * jj;
        if (jj < nj && d < hd) out[d] = acc[jj] * inv;
    }
}

}  // namespace

void attention(const AttnArgs & a, cudaStream_t st) {
    if (a.n_q <= 0) return;
    if (a.head_dim > 32 * MAXJ)
        throw Error("cuda: attention: head_dim " + std::to_string(a.head_dim) + " > " + std::to_string(32 * MAXJ) +
                    " is not supported by the CUDA kernel");
    const int64_t hd = a.head_dim;
    const int64_t q_stride = a.q_stride ? a.q_stride : a.n_head * hd;
    size_t elt_row;  // bytes of one token's K (all KV heads)
    if (a.kv_type == Type::F32) elt_row = (size_t)(a.n_kv_head * hd * 4);
    else if (a.kv_type == Type::F16) elt_row = (size_t)(a.n_kv_head * hd * 2);
    else elt_row = (size_t)(a.n_kv_head * (hd / 32) * 34);
    const size_t kv_stride = a.kv_stride ? a.kv_stride : elt_row;
    int TK = (int)(40960 / (8 * hd));
    TK = TK < 1 ? 1 : (TK > 64 ? 64 : TK);
    const size_t smem = (size_t)TK * hd * 2 * sizeof(float) + (size_t)TK * sizeof(int32_t);
    const int64_t rep = a.n_head / a.n_kv_head;
    const dim3 grid((unsigned)ceil_div(a.n_q * rep, WARPS), (unsigned)a.n_kv_head);
    switch (a.kv_type) {
        case Type::F32: attn_kernel<Type::F32><<<grid, WARPS * 32, smem, st>>>(a, q_stride, kv_stride, TK); break;
        case Type::F16: attn_kernel<Type::F16><<<grid, WARPS * 32, smem, st>>>(a, q_stride, kv_stride, TK); break;
        case Type::Q8_0: attn_kernel<Type::Q8_0><<<grid, WARPS * 32, smem, st>>>(a, q_stride, kv_stride, TK); break;
        default: throw Error(std::string("cuda: attention: unsupported kv type ") + type_name((int32_t)a.kv_type));
    }
    check_launch("attn_kernel", "attention");
}

}  // namespace ld::ggml::cuda
