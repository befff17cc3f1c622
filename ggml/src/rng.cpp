// Counter-based RNG (see rng.h).
#include "ld-ggml/rng.h"

namespace ld::ggml {

uint64_t rng_u64(uint64_t seed, RngPurpose purpose, uint64_t a, uint64_t b, uint64_t c) {
    uint64_t h = rng_mix(seed ^ 0x6C6C616D612D6466ull);  // "llama-df"
    h = rng_mix(h ^ (uint64_t)purpose);
    h = rng_mix(h ^ a);
    h = rng_mix(h ^ b);
    return rng_mix(h ^ c);
}

double rng_uniform(uint64_t seed, RngPurpose purpose, uint64_t a, uint64_t b, uint64_t c) {
    const uint64_t k = rng_u64(seed, purpose, a, b, c) >> 11;
    return ((double)k + 0.5) * (1.0 / 9007199254740992.0);
}

int64_t rng_below(uint64_t seed, RngPurpose purpose, uint64_t a, uint64_t b, uint64_t c, int64_t n) {
    const unsigned __int128 p = (unsigned __int128)rng_u64(seed, purpose, a, b, c) * (unsigned __int128)(uint64_t)n;
    return (int64_t)(uint64_t)(p >> 64);
}

}  // namespace ld::ggml
