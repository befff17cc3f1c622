// Private to the AVX-512 matmul table (matmul-avx512.cpp): the 32-value block types with an fp16 scale first
// (Q8_0, Q5_0, Q4_0, IQ4_NL; IQ4_XS, whose 8 sub-blocks of IQ4_NL nibbles share a super-block head) into its
// panel of R = 32 rows, and their compact prepared form.
//
// The panel is made 16 rows at a time with dword gathers: dword i of a block's codes, gathered from 16 rows,
// is already the panel's [group][row][4] order (no transpose). The gathers are the costly part: the compact
// form (Q8_0, Q5_0, Q4_0, IQ4_NL) is those gathered dwords stored as they come, per block of 32 rows
//     [codes: n_q dwords x 2 row halves x 64 bytes][Q5_0's qh: 2 x 64][fp16 d: 2 x 32]
// (n_q = 8 for Q8_0, 4 for the nibble types): exactly the bytes of the blocks (34 / 22 / 18 per row and
// block), 64-byte aligned, so a repacked weight costs no memory; expanding it into the panel is the same
// arithmetic on plain loads. Both give the bytes of unpack_row.
#pragma once

#include <cstddef>
#include <cstdint>

#include "ld-ggml/types.h"

namespace ld::ggml::mm {

// The types b32_pack_panel makes.
bool b32_has_panel(Type w);

// rows: n_rows (1..32) rows of row_bytes (row_bytes <= INT32_MAX / 32: the gathers use int32 offsets);
// panel: 64-byte aligned, the AVX-512 quant panel layout; rows past n_rows repeat the last row's codes with
// zero scales.
void b32_pack_panel(Type w, const uint8_t * rows, size_t row_bytes, int n_rows, int64_t K, uint8_t * panel);

// Bytes of the compact form of one 32-row panel of K values; 0 for types without one (IQ4_XS, the others).
size_t b32_compact_bytes(Type w, int64_t K);

// The compact form of n_rows rows (as b32_pack_panel takes them); compact: 64-byte aligned.
void b32_pack_compact(Type w, const uint8_t * rows, size_t row_bytes, int n_rows, int64_t K, uint8_t * compact);

// compact -> the panel b32_pack_panel makes of the same rows.
void b32_expand(Type w, const uint8_t * compact, int n_rows, int64_t K, uint8_t * panel);

}  // namespace ld::ggml::mm
