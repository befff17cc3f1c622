// Private: the transposed embedding of the fused vocab head written straight into the packed Q8_0 panels of
// a kernel table (embd-panels-avx512.cpp: the avx512 table, 32-row panels; embd-panels-avx2.cpp: the avx2 /
// avx2_vnni byte-code panels, 8 rows), instead of Q8_0 blocks that the matmul unpacks and transposes again.
// From f32 staging x[32 vocabulary rows][ld] (W embedding columns at x, W = 16 or 8): per column the Q8_0
// rule of the transposing column quantizer (q8-columns-x86.h, shared with dequant-rows-impl.h), then the
// panel's bytes of that
// block: codes u = q + 128 interleaved 4 vocabulary rows per dword ([8 groups][R rows][4]) and
// s1 = f32(fp16(d)): byte for byte what pack_panel makes of the Q8_0 blocks.
#pragma once

#include <cstddef>
#include <cstdint>

namespace ld::ggml::mm {

// codes: the panel's group 8b, row hoff (16 columns -> rows hoff .. hoff + 15; group stride 32 * 4 bytes);
// s1: the panel's s1 of block b, row hoff.
void embd_q8_0_panel16_avx512(const float * x, int64_t ld, uint8_t * codes, float * s1);
// codes: the panel's group 8b (8 columns = the 8 rows; group stride 8 * 4 bytes); s1: of block b.
void embd_q8_0_panel8_avx2(const float * x, int64_t ld, uint8_t * codes, float * s1);

}  // namespace ld::ggml::mm
