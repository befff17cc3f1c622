// The CUDA hook of a build without the CUDA backend (LD_CUDA off): it reports itself as not compiled.
#include "backend-cuda.h"

#include "ld-ggml/error.h"

namespace ld::ggml::detail {

std::vector<BackendInfo> cuda_backend_infos() {
    BackendInfo i;
    i.kind = BackendKind::cuda;
    i.name = "cuda";
    i.description = "NVIDIA GPUs";
    i.compiled = false;
    i.available = false;
    i.reason = "this build has no CUDA backend (rebuild with -DLD_CUDA=ON, e.g. pip install . -Ccmake.define.LD_CUDA=ON)";
    return {i};
}

std::unique_ptr<Backend> cuda_backend_create(int) {
    throw Error("device 'cuda': " + cuda_backend_infos()[0].reason);
}

}  // namespace ld::ggml::detail
