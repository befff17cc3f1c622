// Whether the kernels of this build can run on a CUDA device (the build's architecture list covers it).
#pragma once

#include <string>

namespace ld::ggml::cuda {

// True when device `device` can run this build's kernels; else false with the CUDA error in `why`.
bool kernels_runnable(int device, std::string & why);

}  // namespace ld::ggml::cuda
