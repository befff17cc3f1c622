// Counter-based random numbers for generation (in the core so every backend draws the same way): every value is a pure function of
// (seed, purpose, a, b, c), a SplitMix64-style hash chain. No state is carried between draws, so
// a seed gives the same canvases and samples whatever the thread count, the order tasks run in,
// or the machine (only integer arithmetic; the uniform double is exact).
//
// Keys used by the generator (purpose, a, b, c):
//   canvas noise   (Noise,    canvas start position, step (0 = initial canvas), canvas position)
//   diffusion draw (Sample,   canvas start position, step, canvas position * 2^20 + draw index)
//   AR draw        (ArSample, absolute position of the new token, draw index, 0)
#pragma once

#include <cstdint>

namespace ld::ggml {

enum class RngPurpose : uint64_t { Noise = 1, Sample = 2, ArSample = 3, Test = 99 };

// The SplitMix64 finalizer: a bijective 64-bit mix.
inline uint64_t rng_mix(uint64_t x) {
    x += 0x9E3779B97F4A7C15ull;
    x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
    x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
    return x ^ (x >> 31);
}

// 64 random bits for the key (seed, purpose, a, b, c).
uint64_t rng_u64(uint64_t seed, RngPurpose purpose, uint64_t a, uint64_t b, uint64_t c);

// Uniform double in the open interval (0, 1): (k + 0.5) / 2^53 for the top 53 bits k.
double rng_uniform(uint64_t seed, RngPurpose purpose, uint64_t a, uint64_t b, uint64_t c);

// Uniform integer in [0, n) (n > 0), by 64x64->128 multiply-shift (bias below 2^-40 for n < 2^24).
int64_t rng_below(uint64_t seed, RngPurpose purpose, uint64_t a, uint64_t b, uint64_t c, int64_t n);

}  // namespace ld::ggml
