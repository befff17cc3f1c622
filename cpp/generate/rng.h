// The generator's counter-based RNG lives in the tensor core (ld-ggml/rng.h) so that every backend's
// vocab head draws with the same keys; this header brings it into ld::gen.
#pragma once

#include "ld-ggml/rng.h"

namespace ld::gen {
using ggml::RngPurpose;
using ggml::rng_below;
using ggml::rng_mix;
using ggml::rng_u64;
using ggml::rng_uniform;
}  // namespace ld::gen
