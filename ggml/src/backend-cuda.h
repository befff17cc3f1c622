// The hook between the backend registry (backend.cpp) and the CUDA backend (ggml/src/cuda/, LD_CUDA
// builds) or its stand-in (backend-cuda-none.cpp, every other build), so the core builds and runs with
// no GPU toolchain.
#pragma once

#include <memory>

#include "ld-ggml/backend.h"

namespace ld::ggml::detail {

// One entry per CUDA device (or a single entry saying why there is none: not compiled, no driver, ...).
std::vector<BackendInfo> cuda_backend_infos();
// Throws ggml::Error naming why when CUDA is not compiled in or the device cannot be used.
std::unique_ptr<Backend> cuda_backend_create(int device);

}  // namespace ld::ggml::detail
