// Shared helpers of the CUDA kernels (ggml/src/cuda/*.cu): error checking that turns every CUDA error
// into ggml::Error naming the call and the op, launch-size helpers, and f16 / bf16 scalar decoding.
#pragma once

#include <cuda_runtime.h>
#include <cuda_fp16.h>

#include <cstdint>
#include <string>

#include "ld-ggml/error.h"

namespace ld::ggml::cuda {

// Throws ggml::Error("cuda: <op>: <call> failed: <error>") when err is not cudaSuccess.
void check(cudaError_t err, const char * call, const char * op);

// After a kernel launch: checks the launch itself (bad configuration, no kernel image for this GPU).
void check_launch(const char * kernel, const char * op);

#define LD_CUDA_CHECK(call, op) ::ld::ggml::cuda::check((call), #call, (op))

inline int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

// Grid size of an elementwise kernel over n items with `threads` per block, capped (grid-stride loops).
inline unsigned grid_for(int64_t n, int threads) {
    int64_t g = ceil_div(n, threads);
    if (g > 65535LL * 16) g = 65535LL * 16;
    return (unsigned)(g < 1 ? 1 : g);
}

__device__ __forceinline__ float f16_to_f32(uint16_t h) { return __half2float(__ushort_as_half(h)); }
__device__ __forceinline__ uint16_t f32_to_f16(float f) { return __half_as_ushort(__float2half_rn(f)); }
__device__ __forceinline__ float bf16_to_f32(uint16_t h) { return __uint_as_float((uint32_t)h << 16); }

// Little-endian loads from byte pointers of any alignment (GGUF blocks are 2-byte aligned at best).
__device__ __forceinline__ uint16_t ld_u16(const uint8_t * p) { return (uint16_t)(p[0] | (p[1] << 8)); }
__device__ __forceinline__ uint32_t ld_u32(const uint8_t * p) {
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}

// The reference's int8 rounding: round half away from zero, clamped to [-128, 127], NaN -> 0.
__device__ __forceinline__ int round_away_i8(float v) {
    if (!(v == v)) return 0;
    if (v >= 127.0f) return 127;
    if (v <= -128.0f) return -128;
    return (int)roundf(v);
}

__device__ __forceinline__ float warp_sum(float v) {
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    return v;
}
__device__ __forceinline__ float warp_max(float v) {
    for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
    return v;
}

}  // namespace ld::ggml::cuda
