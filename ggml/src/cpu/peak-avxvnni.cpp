// Register-only peak-throughput micro-benchmark of 256-bit vpdpbusd (AVX-VNNI, the int8 products of the
// avx2_vnni matmul table) for the ops benchmark: 16 independent accumulator chains held in registers
// (fully unrolled) so latency is hidden; 2 ops per multiply-add. cpu_peak_gops (peak.cpp) calls it where
// the avx2_vnni ISA runs.
#include <immintrin.h>

#include <cstdint>

#include "peak.h"

namespace ld::ggml {

namespace {

volatile int g_sink_vnni;

}  // namespace

double peak::avx_vnni_gops(double seconds) {
    const __m256i x = _mm256_set1_epi8(1), y = _mm256_set1_epi8(2);
    return peak::chains16<__m256i>(
        seconds, 32 * 2, [](int i) { return _mm256_set1_epi32(i); },
        [&](__m256i a) { return _mm256_dpbusd_avx_epi32(a, x, y); },
        [](const __m256i * a) {
            __m256i s = a[0];
            for (int i = 1; i < 16; ++i) s = _mm256_add_epi32(s, a[i]);
            g_sink_vnni = _mm256_extract_epi32(s, 0) + _mm256_extract_epi32(s, 7);
        });
}

}  // namespace ld::ggml
