// Locating the built-in demo model: a small DiffusionGemma GGUF shipped inside the Python package
// (llama_diffusion/models/), found from the running executable so `llama-diffusion-cli -p ...`
// works without a model download.
#pragma once

#include <string>
#include <vector>

namespace ld {

// File name of the demo model inside llama_diffusion/models/.
inline constexpr const char * kDemoModelName = "diffusiongemma-demo-q8_0.gguf";
// Environment variable that overrides the search (must name an existing file).
inline constexpr const char * kDemoModelEnv = "LLAMA_DIFFUSION_DEMO_MODEL";

// Absolute path of the running executable (symlinks resolved), or "" where the platform gives none.
std::string executable_path();

// The places searched for the demo model relative to the directory exe_dir, in order (patterns
// may hold a python3.* wildcard):
// (PREFIX is the parent of exe_dir: installers put scripts in PREFIX/bin)
//   PREFIX/lib/python3.*/site-packages/llama_diffusion/models/NAME    (venv, pip --user, conda)
//   PREFIX/lib/python3.*/dist-packages/llama_diffusion/models/NAME    (Debian's system Python)
//   PREFIX/lib64/python3.*/site-packages/llama_diffusion/models/NAME  (Fedora's platlib)
//   exe_dir/pkg/llama_diffusion/models/NAME                           (developer build directory)
std::vector<std::string> demo_model_patterns(const std::string & exe_dir);

// Path of the demo model: $LLAMA_DIFFUSION_DEMO_MODEL when set (ld::Error if it does not exist),
// else the first existing match of demo_model_patterns(directory of the executable). Throws
// ld::Error naming every place searched when nothing is found.
std::string find_demo_model();

}  // namespace ld
