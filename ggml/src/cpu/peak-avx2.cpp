// Register-only peak-throughput micro-benchmark of the avx2 table's integer products for the ops benchmark:
// 256-bit vpmaddubsw (u8 x s8 pairs to s16) widened by vpmaddwd against ones and added (vpaddd), the
// instruction triple of 32 multiply-adds that CPUs without VNNI have; 16 independent accumulator chains
// held in registers (fully unrolled) so latency is hidden; 2 ops per multiply-add. cpu_peak_gops (peak.cpp)
// calls it where the avx2 ISA runs.
#include <immintrin.h>

#include <cstdint>

#include "peak.h"

namespace ld::ggml {

namespace {

volatile int g_sink_avx2;

}  // namespace

double peak::avx2_int8_gops(double seconds) {
    // the products take the chain's own bytes (a loop-invariant vpmaddubsw would be hoisted out of the loop)
    const __m256i y = _mm256_set1_epi8(2), ones = _mm256_set1_epi16(1);
    return peak::chains16<__m256i>(
        seconds, 32 * 2, [](int i) { return _mm256_set1_epi32(i); },
        [&](__m256i a) { return _mm256_add_epi32(a, _mm256_madd_epi16(_mm256_maddubs_epi16(a, y), ones)); },
        [](const __m256i * a) {
            __m256i s = a[0];
            for (int i = 1; i < 16; ++i) s = _mm256_add_epi32(s, a[i]);
            g_sink_avx2 = _mm256_extract_epi32(s, 0) + _mm256_extract_epi32(s, 7);
        });
}

}  // namespace ld::ggml
