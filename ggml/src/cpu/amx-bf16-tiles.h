// Private: the AMX-BF16 tile steps and the scratch memory shared by the bf16 kernels (attention-amx.cpp,
// soft-product-amx.cpp), for files built with the -amx flags only. Tiles configured by mm::amx::configure_tiles(64): every tile
// 16 rows x 64 bytes; tmm0/1 the A operands (16 x 32 bf16), tmm2/3 the B operands (the pair layout: row i
// holds K values (2i, 2i+1) of 16 columns, interleaved), tmm4-7 the f32 16 x 16 accumulators.
//
// GCC 12's AMX intrinsics have no memory operands: a kernel calls barrier() before its first tile load of
// memory written by plain stores, and after its last tile store before plain loads read the result.
#pragma once

#include <immintrin.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <string>

#include "ld-ggml/error.h"

namespace ld::ggml::amx_bf16 {

// 64-byte aligned scratch memory (tile loads and stores of whole cache lines), freed with its owner.
struct FreeDeleter {
    void operator()(void * p) const { std::free(p); }
};
using ScratchMem = std::unique_ptr<void, FreeDeleter>;

// At least `bytes` (rounded up to 64) of aligned memory, owned by owner (its old memory is freed); throws
// ld::ggml::Error naming `what` when the memory cannot be had.
inline void * alloc_scratch(ScratchMem & owner, size_t bytes, const char * what) {
    void * p = std::aligned_alloc(64, std::max<size_t>(64, (bytes + 63) & ~(size_t)63));
    if (!p) throw Error(std::string("out of memory for ") + what);
    owner.reset(p);
    return p;
}

inline void barrier() { __asm__ volatile("" ::: "memory"); }

// The 2 x 2 block of accumulators tmm4-7 (row-major at c with ld floats per row: [0, 16) x [0, 16),
// [0, 16) x [16, 32), [16, 32) x [0, 16), [16, 32) x [16, 32)).
inline void acc_2x2_load(const float * c, int64_t ld) {
    _tile_loadd(4, c, ld * 4);
    _tile_loadd(5, c + 16, ld * 4);
    _tile_loadd(6, c + 16 * ld, ld * 4);
    _tile_loadd(7, c + 16 * ld + 16, ld * 4);
}
inline void acc_2x2_zero() {
    _tile_zero(4);
    _tile_zero(5);
    _tile_zero(6);
    _tile_zero(7);
}
inline void acc_2x2_store(float * c, int64_t ld) {
    _tile_stored(4, c, ld * 4);
    _tile_stored(5, c + 16, ld * 4);
    _tile_stored(6, c + 16 * ld, ld * 4);
    _tile_stored(7, c + 16 * ld + 16, ld * 4);
}

// tmm4-7 += (a0 rows; a1 rows: 16 x 32 bf16 each, lda bf16 per row) . (b0, b1: 16 x 32 pair-layout tiles).
inline void dp_2x2(const uint16_t * a0, const uint16_t * a1, int64_t lda, const uint16_t * b0, const uint16_t * b1) {
    _tile_loadd(0, a0, lda * 2);
    _tile_loadd(1, a1, lda * 2);
    _tile_loadd(2, b0, 64);
    _tile_loadd(3, b1, 64);
    _tile_dpbf16ps(4, 0, 2);
    _tile_dpbf16ps(5, 0, 3);
    _tile_dpbf16ps(6, 1, 2);
    _tile_dpbf16ps(7, 1, 3);
}

// 32 bf16 values (words 0-15: x[0..16) of K row 2i, words 16-31: y[0..16) of row 2i+1) as one pair-layout
// tile row: word 2j = x[j], word 2j+1 = y[j].
inline __m512i interleave_pairs(__m512i v) {
    alignas(64) static constexpr uint16_t kIlv[32] = {0, 16, 1, 17, 2,  18, 3,  19, 4,  20, 5,  21, 6,  22, 7,  23,
                                                      8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31};
    return _mm512_permutexvar_epi16(_mm512_load_si512((const void *)kIlv), v);
}

// Two rows of 16 f32 values rounded to bf16 (nearest even) as one pair-layout tile row.
inline __m512i pair_row(__m512 x, __m512 y) { return interleave_pairs((__m512i)_mm512_cvtne2ps_pbh(y, x)); }

}  // namespace ld::ggml::amx_bf16
