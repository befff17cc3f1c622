// Row gathers and stores: get_rows (dequantized rows of a weight by id, times a scale: the embedding
// lookup) and store_rows (f32 rows written as F32, F16 or Q8_0 rows: the KV cache's staging, Q8_0 with the
// reference rounding: d = amax/127 stored as f16, q = round-half-away(x · (1/d)) with the unrounded d).
#include "decode.cuh"
#include "ops.h"

namespace ld::ggml::cuda {

namespace {

__global__ void get_rows_kernel(const uint8_t * w, Type t, int64_t ne0, size_t row_bytes, const int32_t * ids,
                                int64_t n, float s, float * out) {
    for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < n * ne0; i += (int64_t)gridDim.x * blockDim.x) {
        const int64_t r = i / ne0, k = i % ne0;
        out[i] = dq_value(t, w + (size_t)ids[r] * row_bytes, k) * s;
    }
}

__global__ void store_f32_kernel(const float * src, int64_t n, uint8_t * dst, Type t) {
    for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x) {
        if (t == Type::F32) ((float *)dst)[i] = src[i];
        else ((uint16_t *)dst)[i] = f32_to_f16(src[i]);
    }
}

// One warp per block of 32 values (width is a multiple of 32, so blocks never straddle rows).
__global__ void store_q8_0_kernel(const float * src, int64_t n_blocks, uint8_t * dst) {
    const int lane = threadIdx.x % 32;
    for (int64_t b = ((int64_t)blockIdx.x * blockDim.x + threadIdx.x) / 32; b < n_blocks;
         b += ((int64_t)gridDim.x * blockDim.x) / 32) {
        const float v = src[b * 32 + lane];
        float amax = fabsf(v);
        for (int o = 16; o > 0; o >>= 1) amax = fmaxf(amax, __shfl_xor_sync(0xffffffffu, amax, o));
        const float d = amax / 127.0f;
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        uint8_t * blk = dst + b * 34;
        blk[2 + lane] = (uint8_t)(int8_t)round_away_i8(v * id);
        if (lane == 0) {
            const uint16_t h = f32_to_f16(d);
            blk[0] = (uint8_t)(h & 0xFF);
            blk[1] = (uint8_t)(h >> 8);
        }
    }
}

}  // namespace

void get_rows(const void * w, Type t, int64_t ne0, size_t row_bytes, const int32_t * ids, int64_t n, float s,
              float * out, cudaStream_t st) {
    if (n * ne0 <= 0) return;
    get_rows_kernel<<<grid_for(n * ne0, 256), 256, 0, st>>>((const uint8_t *)w, t, ne0, row_bytes, ids, n, s, out);
    check_launch("get_rows_kernel", "get_rows");
}

void store_rows(const float * src, int64_t n, int64_t width, Type dst_type, void * dst, cudaStream_t st) {
    const int64_t total = n * width;
    if (total <= 0) return;
    if (dst_type == Type::Q8_0) {
        // 8 warps per block; the grid-stride step stays a whole number of warps
        store_q8_0_kernel<<<grid_for(total, 256), 256, 0, st>>>(src, total / 32, (uint8_t *)dst);
        check_launch("store_q8_0_kernel", "store_rows");
    } else {
        store_f32_kernel<<<grid_for(total, 256), 256, 0, st>>>(src, total, (uint8_t *)dst, dst_type);
        check_launch("store_f32_kernel", "store_rows");
    }
}

}  // namespace ld::ggml::cuda
