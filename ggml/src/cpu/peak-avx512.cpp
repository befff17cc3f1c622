// Register-only peak-throughput micro-benchmarks of this core (for the ops benchmark): 512-bit
// vpdpbusd (int8 ops), vfmadd (f32 FLOPs) and vdpbf16ps (bf16 FLOPs), each with 16 independent
// accumulator chains held in registers (fully unrolled) so latency is hidden. Counted as 2 ops per
// multiply-add. cpu_peak_gops (peak.cpp) calls them where the avx512 ISA runs.
#include <immintrin.h>

// GCC 12's AVX-512 headers build some results from _mm512_undefined_*(), which -Wall reports as (maybe-)
// uninitialized (a known false positive).
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
#endif

#include <cstring>

#include "peak.h"

namespace ld::ggml {

using peak::time_loop;

namespace {

volatile float g_sink;

}  // namespace

double peak::avx512_gops(const char * what, double seconds) {
    if (std::strcmp(what, "vnni") == 0) {
        return time_loop(seconds, 16 * 64 * 2, [](int64_t n) {
            __m512i a[16];
            for (int i = 0; i < 16; ++i) a[i] = _mm512_set1_epi32(i);
            const __m512i x = _mm512_set1_epi8(1), y = _mm512_set1_epi8(2);
            for (int64_t it = 0; it < n; ++it) {
#pragma GCC unroll 16
                for (int i = 0; i < 16; ++i) a[i] = _mm512_dpbusd_epi32(a[i], x, y);
            }
            __m512i s = a[0];
            for (int i = 1; i < 16; ++i) s = _mm512_add_epi32(s, a[i]);
            g_sink = (float)_mm512_reduce_add_epi32(s);
        });
    }
    if (std::strcmp(what, "fma") == 0) {
        return time_loop(seconds, 16 * 16 * 2, [](int64_t n) {
            __m512 a[16];
            for (int i = 0; i < 16; ++i) a[i] = _mm512_set1_ps((float)i);
            const __m512 x = _mm512_set1_ps(0.999f), y = _mm512_set1_ps(1e-3f);
            for (int64_t it = 0; it < n; ++it) {
#pragma GCC unroll 16
                for (int i = 0; i < 16; ++i) a[i] = _mm512_fmadd_ps(a[i], x, y);
            }
            __m512 s = a[0];
            for (int i = 1; i < 16; ++i) s = _mm512_add_ps(s, a[i]);
            g_sink = _mm512_reduce_add_ps(s);
        });
    }
    if (std::strcmp(what, "bf16") == 0) {
        return time_loop(seconds, 16 * 32 * 2, [](int64_t n) {
            __m512 a[16];
            for (int i = 0; i < 16; ++i) a[i] = _mm512_set1_ps((float)i);
            const __m512bh x = (__m512bh)_mm512_set1_epi16(0x3f80), y = (__m512bh)_mm512_set1_epi16(0x3a83);
            for (int64_t it = 0; it < n; ++it) {
#pragma GCC unroll 16
                for (int i = 0; i < 16; ++i) a[i] = _mm512_dpbf16_ps(a[i], x, y);
            }
            __m512 s = a[0];
            for (int i = 1; i < 16; ++i) s = _mm512_add_ps(s, a[i]);
            g_sink = _mm512_reduce_add_ps(s);
        });
    }
    return 0.0;
}

}  // namespace ld::ggml
