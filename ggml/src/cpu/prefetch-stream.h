// The weight bytes a micro-kernel asks the memory system for while it computes: the driver points the
// calling thread's stream at the raw rows of the panel it will pack next, and the kernel issues a few
// L2 prefetches per scale block, so those rows arrive during the arithmetic instead of stalling the
// packing that follows (the weights of a MoE expert meet ~16 tokens: its panels are packed often and
// computed briefly). Only a hint: a kernel that ignores the stream computes the same result.
#pragma once

#include <cstdint>

namespace ld::ggml::mm {

struct PrefetchStream {
    const char * p = nullptr;    // next cache line to ask for
    const char * end = nullptr;  // one past the last byte
    int per_step = 0;            // lines per kernel step (a scale block of one tile)
};

// The calling thread's stream (matmul.cpp); empty unless the driver set it for this compute call.
PrefetchStream & prefetch_stream();

// One kernel step: per_step lines from p into L2 while p < end; returns the advanced cursor.
inline const char * prefetch_step(const char * p, const char * end, int per_step) {
    if (p < end) {
        for (int i = 0; i < per_step; ++i) __builtin_prefetch(p + 64 * i, 0, 2);
        p += 64 * per_step;
    }
    return p;
}

}  // namespace ld::ggml::mm
