// ld::Error: the one exception type for user errors (bad files, bad arguments, bad shapes).
// The message names the operation or file and the offending values; Python sees it as ValueError
// (or a subclass such as GGUFError), the CLI prints it on one line and exits non-zero.
#pragma once

#include <cstdio>
#include <stdexcept>
#include <string>
#include <utility>

namespace ld {

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
