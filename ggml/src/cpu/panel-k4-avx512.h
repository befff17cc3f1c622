// Private to the AVX-512 matmul table (matmul-avx512.cpp): Q4_K / Q5_K weights into its panel of R = 32
// rows, in two stages per 256-value super-block, so that the costly half can be done once at load:
//
//   compact (the transposes): 32 rows' super-block -> the rows' nibble bytes already in panel order (16x16
//     dword transposes of the raw bytes, the nibbles still paired), Q5_K's qh transposed the same way, and
//     the heads as stored (fp16 d, dmin) with the 6-bit (scale, min) pairs taken apart to one byte each.
//     Per super-block: Q4_K 4,736 bytes (32 rows x 144 = 4,608 as stored: +2.8%), Q5_K 5,760 (5,632: +2.3%).
//   expand (cheap, no shuffles): compact -> the panel's unsigned codes (low / high nibbles, Q5_K's fifth
//     bit) and its f32 s1 = d * scale, s2 = -(dmin * min) (the scalar rule's products).
//
// The transposes write either the compact form or, from the same registers, the panel itself (k4_pack_panel,
// k4_rows_to_chunk: no compact form in between); a prepared weight keeps the compact form
// (matmul-prepared.cpp) and each call only expands it. All give the bytes of unpack_row.
#pragma once

#include <cstddef>
#include <cstdint>

#include "ld-ggml/types.h"

namespace ld::ggml::mm {

// Bytes of the compact form of one 32-row panel of K values (K % 256 == 0); 0 for types other than Q4_K, Q5_K.
size_t k4_compact_bytes(Type w, int64_t K);

// rows: n_rows (1..32) rows of row_bytes; rows past n_rows repeat the last row's codes with zero heads.
// Needs row_bytes <= INT32_MAX / 32 (the heads are gathered with int32 offsets).
void k4_pack_compact(Type w, const uint8_t * rows, size_t row_bytes, int n_rows, int64_t K, uint8_t * compact);

// compact (64-byte aligned) -> panel (64-byte aligned, the AVX-512 quant panel layout); rows past n_rows get
// zero scales.
void k4_expand(Type w, const uint8_t * compact, int n_rows, int64_t K, uint8_t * panel);

// Both stages, one super-block at a time: the panel straight from the rows.
void k4_pack_panel(Type w, const uint8_t * rows, size_t row_bytes, int n_rows, int64_t K, uint8_t * panel);

// Super-block b alone as a panel chunk (the panel layout for K = 256: codes 8,192 bytes | s1 [8][32] | s2 [8][32],
// kK4ChunkBytes, 64-byte aligned), from the rows or from the compact form: a chunk stays in L1 while every
// tile of the panel runs over it (matmul-avx512.cpp, compute_raw / compute_compact).
constexpr size_t kK4ChunkBytes = 8192 + 2 * 1024;
void k4_rows_to_chunk(Type w, const uint8_t * rows, size_t row_bytes, int n_rows, int64_t K, int64_t b, uint8_t * chunk);
void k4_compact_to_chunk(Type w, const uint8_t * compact, int n_rows, int64_t b, uint8_t * chunk);

}  // namespace ld::ggml::mm
