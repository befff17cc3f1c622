// The check macro of the C++ test executables: CHECK(cond) reports a failed condition with its line
// and counts it in `failures`; main() returns non-zero when failures > 0.
#pragma once

#include <cstdio>

static int failures = 0;
#define CHECK(cond)                                                             \
    do {                                                                        \
        if (!(cond)) {                                                          \
            std::fprintf(stderr, "FAILED: %s (line %d)\n", #cond, __LINE__);    \
            ++failures;                                                         \
        }                                                                       \
    } while (0)
