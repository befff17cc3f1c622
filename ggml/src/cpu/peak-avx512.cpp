// Register-only peak-throughput micro-benchmarks of this core (for the ops benchmark): 512-bit
// vpdpbusd (int8 ops), vfmadd (f32 FLOPs) and vdpbf16ps (bf16 FLOPs), each with 16 independent
// accumulator chains held in registers (fully unrolled) so latency is hidden. Counted as 2 ops per
// multiply-add. cpu_peak_gops (peak.cpp) calls them where the avx512 ISA runs.
#include "avx512-intrinsics.h"

#include <cstring>

#include "peak.h"

namespace ld::ggml {

namespace {

volatile float g_sink;

}  // namespace

double peak::avx512_gops(const char * what, double seconds) {
    auto keep_i = [](const __m512i * a) {
        __m512i s = a[0];
        for (int i = 1; i < 16; ++i) s = _mm512_add_epi32(s, a[i]);
        g_sink = (float)_mm512_reduce_add_epi32(s);
    };
    auto keep_f = [](const __m512 * a) {
        __m512 s = a[0];
        for (int i = 1; i < 16; ++i) s = _mm512_add_ps(s, a[i]);
        g_sink = _mm512_reduce_add_ps(s);
    };
    auto init_f = [](int i) { return _mm512_set1_ps((float)i); };
    if (std::strcmp(what, "vnni") == 0) {
        const __m512i x = _mm512_set1_epi8(1), y = _mm512_set1_epi8(2);
        return peak::chains16<__m512i>(seconds, 64 * 2, [](int i) { return _mm512_set1_epi32(i); },
                                       [&](__m512i a) { return _mm512_dpbusd_epi32(a, x, y); }, keep_i);
    }
    if (std::strcmp(what, "fma") == 0) {
        const __m512 x = _mm512_set1_ps(0.999f), y = _mm512_set1_ps(1e-3f);
        return peak::chains16<__m512>(seconds, 16 * 2, init_f, [&](__m512 a) { return _mm512_fmadd_ps(a, x, y); }, keep_f);
    }
    if (std::strcmp(what, "bf16") == 0) {
        const __m512bh x = (__m512bh)_mm512_set1_epi16(0x3f80), y = (__m512bh)_mm512_set1_epi16(0x3a83);
        return peak::chains16<__m512>(seconds, 32 * 2, init_f, [&](__m512 a) { return _mm512_dpbf16_ps(a, x, y); }, keep_f);
    }
    return 0.0;
}

}  // namespace ld::ggml
