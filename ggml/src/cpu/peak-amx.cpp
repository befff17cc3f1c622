// Register-only peak-throughput micro-benchmark of the AMX-INT8 unit (for the ops benchmark): tdpbssd
// on tiles, with the tile configuration of the matmul's 64-byte blocks (matmul-amx.h: tmm0/1 A 16 x 64
// int8, tmm2/3 B 16 rows x 64 bytes, tmm4-7 int32 16 x 16). A and B are loaded once per timed call;
// each iteration is 4 independent tdpbssd (tmm4-7 += tmm0/1 x tmm2/3), each 16 x 16 x 64
// multiply-adds = 2 * 16 * 16 * 64 ops. Also the AMX-BF16 tdpbf16ps loop (on CPUs with amx_bf16).
#include <immintrin.h>

#include <cstdint>

#include "matmul-amx.h"
#include "peak.h"

namespace ld::ggml::peak {

namespace {

constexpr int64_t kOpsPerDpbssd = 2 * 16 * 16 * 64;

// Operand tiles 0-3 from four consecutive 16 x 64-byte blocks at ab, accumulators 4-7 zeroed.
inline void load_operands(const void * ab) {
    const char * p = static_cast<const char *>(ab);
    _tile_loadd(0, p, 64);
    _tile_loadd(1, p + 1024, 64);
    _tile_loadd(2, p + 2048, 64);
    _tile_loadd(3, p + 3072, 64);
    _tile_zero(4);
    _tile_zero(5);
    _tile_zero(6);
    _tile_zero(7);
}

void amx_int8_loop(int64_t n) {
    mm::amx::configure_tiles(64);
    alignas(64) int8_t ab[4][16 * 64];
    for (int t = 0; t < 4; ++t)
        for (int i = 0; i < 16 * 64; ++i) ab[t][i] = (int8_t)((i * 7 + t * 13) % 255 - 127);
    // _tile_loadd has no memory operand in GCC 12: make the stores above happen before the loads
    __asm__ volatile("" ::"r"(ab) : "memory");
    load_operands(ab[0]);
    for (int64_t it = 0; it < n; ++it) {
        _tile_dpbssd(4, 0, 2);
        _tile_dpbssd(5, 0, 3);
        _tile_dpbssd(6, 1, 2);
        _tile_dpbssd(7, 1, 3);
    }
}

// The same with tdpbf16ps (16 x 16 x 32 bf16 multiply-adds into f32 per instruction, the attention's
// AMX-BF16 path; same 16 x 64-byte tiles).
constexpr int64_t kFlopsPerDpbf16 = 2 * 16 * 16 * 32;

void amx_bf16_loop(int64_t n) {
    mm::amx::configure_tiles(64);
    alignas(64) uint16_t ab[4][16 * 32];
    for (int t = 0; t < 4; ++t)
        for (int i = 0; i < 16 * 32; ++i) ab[t][i] = (uint16_t)(0x3f80 + ((i * 7 + t * 13) % 64));  // 1.0 .. 1.5
    __asm__ volatile("" ::"r"(ab) : "memory");
    load_operands(ab[0]);
    for (int64_t it = 0; it < n; ++it) {
        _tile_dpbf16ps(4, 0, 2);
        _tile_dpbf16ps(5, 0, 3);
        _tile_dpbf16ps(6, 1, 2);
        _tile_dpbf16ps(7, 1, 3);
    }
}

}  // namespace

double amx_int8_gops(double seconds) { return time_loop(seconds, 4 * kOpsPerDpbssd, amx_int8_loop); }
double amx_bf16_gops(double seconds) { return time_loop(seconds, 4 * kFlopsPerDpbf16, amx_bf16_loop); }

}  // namespace ld::ggml::peak
