// ld::ggml::Error: the tensor core's exception type for bad arguments (shapes, types, unknown ISA,
// backend failures). The core includes nothing from the engine (cpp/); the engine's ld::ggml::Error derives
// from this type, so one catch of ggml::Error sees both. Messages name the op and the offending values.
#pragma once

#include <cstdio>
#include <cstdlib>
#include <stdexcept>
#include <string>

namespace ld::ggml {

class Error : public std::runtime_error {
public:
    explicit Error(const std::string & msg) : std::runtime_error(msg) {}
};

// printf-style formatting into a std::string (used to build error messages).
template <typename... Args>
std::string strfmt(const char * fmt, Args... args) {
    int n = std::snprintf(nullptr, 0, fmt, args...);
    if (n < 0) return std::string(fmt);
    std::string out(static_cast<size_t>(n), '\0');
    std::snprintf(&out[0], out.size() + 1, fmt, args...);
    return out;
}

}  // namespace ld::ggml

// Internal invariant (a bug if it fires, never user input); the engine's LD_ASSERT is this macro.
#define LD_GGML_ASSERT(cond)                                                                     \
    do {                                                                                         \
        if (!(cond)) {                                                                           \
            std::fprintf(stderr, "llama-diffusion: internal assertion failed: %s (%s:%d)\n", \
                         #cond, __FILE__, __LINE__);                                             \
            std::abort();                                                                        \
        }                                                                                        \
    } while (0)
