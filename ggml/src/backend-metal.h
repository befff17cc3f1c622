// The hook between the backend registry (backend.cpp) and the Metal backend (ggml/src/metal/, LD_METAL
// builds on macOS) or its stand-in (backend-metal-none.cpp, every other build), so the core builds and
// runs with no Apple toolchain.
#pragma once

#include <memory>
#include <vector>

#include "ld-ggml/backend.h"

namespace ld::ggml::detail {

// One entry: the system's default Metal device, or why there is none (not compiled, no device, ...).
std::vector<BackendInfo> metal_backend_infos();
// Throws ggml::Error naming why when Metal is not compiled in or no device can be used.
std::unique_ptr<Backend> metal_backend_create(int device);

}  // namespace ld::ggml::detail
