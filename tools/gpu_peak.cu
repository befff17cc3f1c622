// GPU ceilings for tools/gpu_check.sh: the int8 tensor-core rate (mma.sync m16n8k32 s8 in registers,
// every SM busy) and the memory bandwidth (a streaming read with 16-byte loads, and a copy), printed as
// one JSON object. Build: nvcc -O3 -arch=sm_90 tools/gpu_peak.cu -o gpu_peak
#include <cuda_runtime.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>

#define CK(x)                                                                                  \
    do {                                                                                       \
        cudaError_t e_ = (x);                                                                  \
        if (e_ != cudaSuccess) {                                                               \
            std::fprintf(stderr, "%s failed: %s\n", #x, cudaGetErrorString(e_));               \
            std::exit(1);                                                                      \
        }                                                                                      \
    } while (0)

constexpr int MMA_ITERS = 4096;

// Each warp: 4 independent accumulators, MMA_ITERS rounds of 4 mma (16x8x32 int8 = 8192 ops each).
__global__ void mma_int8_kernel(int * out, uint32_t seed) {
    uint32_t a0 = seed ^ threadIdx.x, a1 = a0 * 3u, a2 = a0 * 5u, a3 = a0 * 7u, b0 = a0 * 11u, b1 = a0 * 13u;
    int c[4][4] = {};
    for (int it = 0; it < MMA_ITERS; ++it) {
#pragma unroll
        for (int j = 0; j < 4; ++j)
            asm volatile(
                "mma.sync.aligned.m16n8k32.row.col.s32.s8.s8.s32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, "
                "{%0,%1,%2,%3};\n"
                : "+r"(c[j][0]), "+r"(c[j][1]), "+r"(c[j][2]), "+r"(c[j][3])
                : "r"(a0), "r"(a1), "r"(a2), "r"(a3), "r"(b0), "r"(b1));
    }
    int s = 0;
    for (int j = 0; j < 4; ++j) s += c[j][0] + c[j][1] + c[j][2] + c[j][3];
    if (s == 0x12345678) out[0] = s;  // keeps the work
}

__global__ void read_kernel(const uint4 * p, size_t n, unsigned long long * out) {
    uint32_t acc = 0;
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x) {
        const uint4 v = p[i];
        acc ^= v.x ^ v.y ^ v.z ^ v.w;
    }
    if (acc == 0x9E3779B9u) atomicAdd(out, 1ull);
}

__global__ void copy_kernel(const uint4 * src, uint4 * dst, size_t n) {
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x)
        dst[i] = src[i];
}

template <typename F> float time_ms(F f, int reps) {
    cudaEvent_t a, b;
    CK(cudaEventCreate(&a));
    CK(cudaEventCreate(&b));
    f();  // warm-up
    CK(cudaDeviceSynchronize());
    CK(cudaEventRecord(a));
    for (int i = 0; i < reps; ++i) f();
    CK(cudaEventRecord(b));
    CK(cudaEventSynchronize(b));
    float ms = 0;
    CK(cudaEventElapsedTime(&ms, a, b));
    return ms / reps;
}

int main() {
    cudaDeviceProp prop;
    CK(cudaGetDeviceProperties(&prop, 0));
    int * d_out;
    CK(cudaMalloc(&d_out, 16));
    const int blocks = prop.multiProcessorCount * 8, threads = 256;
    const float mma_ms = time_ms([&] { mma_int8_kernel<<<blocks, threads>>>(d_out, 1u); }, 5);
    CK(cudaGetLastError());
    const double ops = (double)blocks * (threads / 32) * MMA_ITERS * 4 * (16.0 * 8 * 32 * 2);
    const double int8_tops = ops / (mma_ms * 1e-3) / 1e12;

    const size_t bytes = (size_t)4 << 30;  // 4 GiB (beyond any cache)
    uint4 * a;
    uint4 * b;
    CK(cudaMalloc(&a, bytes));
    CK(cudaMalloc(&b, bytes));
    CK(cudaMemset(a, 1, bytes));
    unsigned long long * cnt;
    CK(cudaMalloc(&cnt, 8));
    const size_t n = bytes / sizeof(uint4);
    const int bw_blocks = prop.multiProcessorCount * 16;
    const float read_ms = time_ms([&] { read_kernel<<<bw_blocks, 512>>>(a, n, cnt); }, 10);
    const float copy_ms = time_ms([&] { copy_kernel<<<bw_blocks, 512>>>(a, b, n); }, 10);
    CK(cudaGetLastError());
    std::printf("{\"device\": \"%s\", \"sm\": \"%d%d\", \"sms\": %d, \"memory_gib\": %.1f, "
                "\"int8_mma_tops\": %.1f, \"read_gbps\": %.0f, \"copy_gbps\": %.0f}\n",
                prop.name, prop.major, prop.minor, prop.multiProcessorCount,
                (double)prop.totalGlobalMem / (1 << 30), int8_tops, (double)bytes / (read_ms * 1e-3) / 1e9,
                2.0 * (double)bytes / (copy_ms * 1e-3) / 1e9);
    return 0;
}
