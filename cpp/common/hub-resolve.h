// -hf REPO[:QUANT] for the command-line tools: the Hugging Face Hub file is resolved (and downloaded
// into the standard HF cache, with progress on stderr) by the Python package's resolver,
// `python -m llama_diffusion.hub resolve SPEC` (llama_diffusion/hub.py, on huggingface_hub), run as
// a child process without a shell. The resolver lives in Python so the CLI and
// ld.Model.from_pretrained share one implementation, the HF cache layout, auth and offline mode.
#pragma once

#include <string>
#include <vector>

namespace ld {

// The interpreter and environment used: $LLAMA_DIFFUSION_PYTHON when set, else a python3 / python
// next to the executable (a venv's bin/), else python3 on PATH. In a developer build directory
// (exe_dir/pkg/llama_diffusion exists) exe_dir/pkg is prepended to PYTHONPATH.
std::vector<std::string> hub_python_command(const std::string & exe_dir);

// Path of the local GGUF (the first shard of a split model) for SPEC = "owner/repo[:QUANT]".
// Throws ld::Error with the resolver's one-line reason when it fails.
std::string resolve_hf_model(const std::string & spec);

}  // namespace ld
