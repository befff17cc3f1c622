// Private: packing of one key tile of the tiled attention (attention.cpp) into the layouts of the
// NnKernels attention kernels (nn-kernels.h): K transposed to kt [d][ATTN_BK] (zero columns past the
// tile's valid keys), V in column chunks vt (chunk c0 holds V[j][c] at vt[c0 * ATTN_BK + j * w + c - c0],
// w = min(ATTN_VC, d - c0); rows past the valid keys are not written). Converted values are exact
// (f16 -> f32 and q8_0 scale * int8 are exact in f32), so every packer gives the same bits.
#pragma once

#include <cstdint>

#include "ld-ggml/cpu-nn.h"

namespace ld::ggml {

#if defined(LD_HAVE_AVX2)
// The same with AVX2 + F16C and 8x8 transposes.
void attn_pack_tile_avx2(const AttnArgs & a, int64_t g, int64_t t, float * kt, float * vt);
#endif
#if defined(LD_HAVE_AVX512)
// Key tile t (keys [t * ATTN_BK, ...)) of KV head g, with AVX-512 conversion and 16x16 transposes.
void attn_pack_tile_avx512(const AttnArgs & a, int64_t g, int64_t t, float * kt, float * vt);
#endif

}  // namespace ld::ggml
