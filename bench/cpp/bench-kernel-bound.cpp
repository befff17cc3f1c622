// The bound of the avx512 table's integer micro-kernel formulation (matmul-avx512.cpp, quant_blocks) on this
// CPU: the same loop on synthetic data in L1 (16 blocks cycled: no packing, no activation quantization, no
// memory traffic), 32 rows (two zmm) x CC columns, BG vpdpbusd groups per scale block (8: 32-value blocks,
// 4: Q6_K's 16) with one broadcast activation dword feeding two vpdpbusd, then per block and column
// acc_f += cvt(acc_i) * (s1 * da). Prints GOP/s (2 per multiply-add) and the fraction of the VNNI peak
// measured right after over a similar time (a sustained AVX-512 load may run at a lower clock than a short one).
// Standalone (only the peak comes from the library), built with
//   g++ -O2 -std=c++17 -march=sapphirerapids -Iggml/include bench/cpp/bench-kernel-bound.cpp
//       build/rel/libld_ggml.a -lpthread -o /tmp/bench-kernel-bound
// The compiler's register allocation decides much here (an earlier variant that cycled over more blocks,
// with its addressing spilled to the stack, ran 10-15% slower): check the loop for spills when changing it.
#include <immintrin.h>

#if defined(__GNUC__) && !defined(__clang__)  // GCC 12's false positives on _mm512_undefined_*() in its headers
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
#endif

#include <chrono>
#include <cstdint>
#include <cstdio>

#include "ld-ggml/cpu-matmul.h"

namespace {

template <int CC, int BG>
double run(int64_t n_blocks, const uint8_t * w, const int32_t * a, const float * sc) {
    __m512 acc0[CC], acc1[CC];
    for (int c = 0; c < CC; ++c) acc0[c] = acc1[c] = _mm512_setzero_ps();
    const auto t0 = std::chrono::steady_clock::now();
    for (int64_t b = 0; b < n_blocks; ++b) {
        const int64_t lb = b & 15;
        __m512i ai0[CC], ai1[CC];
#pragma GCC unroll 8
        for (int c = 0; c < CC; ++c) ai0[c] = ai1[c] = _mm512_set1_epi32(a[c]);
#pragma GCC unroll 8
        for (int g = 0; g < BG; ++g) {
            const __m512i w0 = _mm512_load_si512(w + (lb * BG + g) * 128);
            const __m512i w1 = _mm512_load_si512(w + (lb * BG + g) * 128 + 64);
            const int32_t * ap = a + (lb * BG + g) * CC;
#pragma GCC unroll 8
            for (int c = 0; c < CC; ++c) {
                const __m512i av = _mm512_set1_epi32(ap[c]);
                ai0[c] = _mm512_dpbusd_epi32(ai0[c], w0, av);
                ai1[c] = _mm512_dpbusd_epi32(ai1[c], w1, av);
            }
        }
        const __m512 s0 = _mm512_load_ps(sc + lb * 32), s1 = _mm512_load_ps(sc + lb * 32 + 16);
#pragma GCC unroll 8
        for (int c = 0; c < CC; ++c) {
            const __m512 d = _mm512_set1_ps(sc[512 + lb * 8 + c]);
            acc0[c] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(ai0[c]), _mm512_mul_ps(s0, d), acc0[c]);
            acc1[c] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(ai1[c]), _mm512_mul_ps(s1, d), acc1[c]);
        }
    }
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    float sink = 0.0f;
    for (int c = 0; c < CC; ++c) sink += _mm512_reduce_add_ps(acc0[c]) + _mm512_reduce_add_ps(acc1[c]);
    if (sink == 12345.0f) std::printf(" ");
    return 2.0 * 64 * 2 * CC * BG * (double)n_blocks / s / 1e9;
}

}  // namespace

int main() {
    alignas(64) static uint8_t w[16 * 8 * 128 * 2];
    alignas(64) static int32_t a[16 * 8 * 8 * 2];
    alignas(64) static float sc[2048];
    for (auto & x : w) x = 3;
    for (auto & x : a) x = 0x01010101;
    for (auto & x : sc) x = 1e-6f;
    if (ld::ggml::cpu_peak_gops("vnni", 0.05) <= 0) {
        std::printf("no AVX-512 VNNI here\n");
        return 0;
    }
    for (int r = 0; r < 3; ++r) {
        const int64_t n = 20000000;
        const double g6 = run<6, 8>(n, w, a, sc), g4 = run<4, 8>(n, w, a, sc), g2 = run<2, 8>(n, w, a, sc),
                     q6 = run<6, 4>(2 * n, w, a, sc);
        const double peak = ld::ggml::cpu_peak_gops("vnni", 2.0);
        std::printf("vnni peak %.0f GOP/s per core over 2 s; 32-value blocks: 6 columns %.0f GOP/s (%.0f%%), 4 columns "
                    "%.0f (%.0f%%), 2 columns %.0f (%.0f%%); 16-value blocks, 6 columns %.0f (%.0f%%)\n",
                    peak, g6, 100 * g6 / peak, g4, 100 * g4 / peak, g2, 100 * g2 / peak, q6, 100 * q6 / peak);
    }
    return 0;
}
