// Internal interface of the peak-throughput micro-benchmarks (dispatched by cpu_peak_gops in peak.cpp:
// the 512-bit loops in peak-avx512.cpp, the 256-bit AVX-VNNI and AVX2 loops in peak-avxvnni.cpp and
// peak-avx2.cpp, the AMX loops in
// peak-amx.cpp): the timing loop they share and their entry points (each runs only where its ISA does).
#pragma once

#include <chrono>
#include <cstdint>

namespace ld::ggml::peak {

// Best rate in G ops/s of body(iters) (iters iterations of ops_per_iter ops each) over `seconds`:
// iters doubles until one call takes 10 ms, then every call counts towards the best.
template <typename F>
double time_loop(double seconds, int64_t ops_per_iter, F body) {
    using clk = std::chrono::steady_clock;
    int64_t iters = 1 << 14;
    double best = 0.0;
    const auto t_end = clk::now() + std::chrono::duration<double>(seconds);
    while (clk::now() < t_end) {
        const auto t0 = clk::now();
        body(iters);
        const double dt = std::chrono::duration<double>(clk::now() - t0).count();
        if (dt > 0) {
            const double r = (double)iters * (double)ops_per_iter / dt / 1e9;
            if (r > best) best = r;
        }
        if (dt < 0.01) iters *= 2;
    }
    return best;
}

// The best rate of 16 independent accumulator chains a[i] = step(a[i]) (V: a vector type) held in registers
// and fully unrolled, so that latency is hidden, from a[i] = init(i); ops_per_step ops per step and chain;
// keep(a) consumes the chains so that they are not optimized away.
template <class V, class Init, class Step, class Keep>
double chains16(double seconds, int64_t ops_per_step, Init init, Step step, Keep keep) {
    return time_loop(seconds, 16 * ops_per_step, [&](int64_t n) {
        V a[16];
        for (int i = 0; i < 16; ++i) a[i] = init(i);
        for (int64_t it = 0; it < n; ++it) {
#pragma GCC unroll 16
            for (int i = 0; i < 16; ++i) a[i] = step(a[i]);
        }
        keep(a);
    });
}

// "vnni" (512-bit vpdpbusd), "fma" (512-bit f32 FMA) or "bf16" (vdpbf16ps); 0 for another name.
double avx512_gops(const char * what, double seconds);
// 256-bit vpdpbusd (AVX-VNNI) int8 ops.
double avx_vnni_gops(double seconds);
// 256-bit vpmaddubsw + vpmaddwd + vpaddd (AVX2) int8 ops.
double avx2_int8_gops(double seconds);

// AMX-INT8 tdpbssd peak of the calling thread's core (peak-amx.cpp); the caller has checked that the
// amx ISA is available (CPU, OS permission, build).
double amx_int8_gops(double seconds);
// AMX-BF16 tdpbf16ps peak (FLOPs) of the calling thread's core; the caller has also checked amx_bf16.
double amx_bf16_gops(double seconds);

}  // namespace ld::ggml::peak
