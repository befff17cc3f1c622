// ld::Error: the engine's exception type for user errors (bad files, bad arguments, bad shapes).
// It derives from the tensor core's ld::ggml::Error (ld-ggml/error.h), which the kernels throw; catch
// ggml::Error to see both. The message names the operation or file and the offending values; Python
// sees it as ValueError (or a subclass such as GGUFError), the CLI prints it on one line and exits
// non-zero.
#pragma once

#include <string>

#include "ld-ggml/error.h"

namespace ld {

class Error : public ggml::Error {
public:
    explicit Error(const std::string & msg) : ggml::Error(msg) {}
};

using ggml::strfmt;

}  // namespace ld

// Internal invariant (a bug if it fires, never user input): the core's assertion.
#define LD_ASSERT(cond) LD_GGML_ASSERT(cond)
