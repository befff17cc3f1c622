// ld::Error: the engine's exception type for user errors (bad files, bad arguments, bad shapes).
// It derives from the tensor core's ld::ggml::Error (ld-ggml/error.h), which the kernels throw; catch
// ggml::Error to see both. The message names the operation or file and the offending values; Python
// sees it as ValueError (or a subclass such as GGUFError), the CLI prints it on one line and exits
// non-zero.
#pragma once

#include <cstdio>
#include <cstdlib>
#include <string>

#include "ld-ggml/error.h"

namespace ld {

class Error : public ggml::Error {
public:
    explicit Error(const std::string & msg) : ggml::Error(msg) {}
};

using ggml::strfmt;

}  // namespace ld

// Internal invariant (a bug if it fires, never user input).
#define LD_ASSERT(cond)                                                                          \
    do {                                                                                         \
        if (!(cond)) {                                                                           \
            std::fprintf(stderr, "llama-diffusion: internal assertion failed: %s (%s:%d)\n",      \
                         #cond, __FILE__, __LINE__);                                             \
            std::abort();                                                                        \
        }                                                                                        \
    } while (0)
