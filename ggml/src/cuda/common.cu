// The CUDA error checks of common.cuh, and the probe that tells whether this build holds kernels the
// device can run (an architecture outside the compiled list reports "no kernel image").
#include "common.cuh"
#include "probe.h"

namespace ld::ggml::cuda {

void check(cudaError_t err, const char * call, const char * op) {
    if (err == cudaSuccess) return;
    (void)cudaGetLastError();  // clear the sticky-free error state of this thread
    throw Error(std::string("cuda: ") + op + ": " + call + " failed: " + cudaGetErrorName(err) + " (" +
                cudaGetErrorString(err) + ")");
}

void check_launch(const char * kernel, const char * op) {
    const cudaError_t err = cudaGetLastError();
    if (err == cudaSuccess) return;
    throw Error(std::string("cuda: ") + op + ": launch of " + kernel + " failed: " + cudaGetErrorName(err) + " (" +
                cudaGetErrorString(err) + ")");
}

namespace {
__global__ void probe_kernel(int * p) {
    if (p) *p = 1;
}
}  // namespace

bool kernels_runnable(int device, std::string & why) {
    cudaError_t err = cudaSetDevice(device);
    if (err == cudaSuccess) {
        cudaFuncAttributes attr;
        err = cudaFuncGetAttributes(&attr, probe_kernel);
    }
    if (err == cudaSuccess) return true;
    (void)cudaGetLastError();
    why = std::string(cudaGetErrorName(err)) + ": " + cudaGetErrorString(err);
    return false;
}

}  // namespace ld::ggml::cuda
