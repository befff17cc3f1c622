// Single-core streaming read bandwidth: sums a 512 MB array (4 x 64-byte AVX-512 loads per step) five
// times and prints GB per second of CPU time, the floor of any kernel that streams its weights from
// memory once per call (bench/results/ops-moe-repack.md). Build: g++ -O2 -mavx512f bench/cpp/bench-read-bw.cpp
#include <immintrin.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>

int main() {
    const size_t n = 512ull << 20;
    char * p = static_cast<char *>(std::aligned_alloc(64, n));
    if (!p) return 1;
    std::memset(p, 1, n);
    for (int rep = 0; rep < 5; ++rep) {
        const clock_t c0 = std::clock();
        __m512i s = _mm512_setzero_si512();
        for (size_t i = 0; i < n; i += 256) {
            s = _mm512_add_epi32(s, _mm512_load_si512(p + i));
            s = _mm512_add_epi32(s, _mm512_load_si512(p + i + 64));
            s = _mm512_add_epi32(s, _mm512_load_si512(p + i + 128));
            s = _mm512_add_epi32(s, _mm512_load_si512(p + i + 192));
        }
        const double t = (double)(std::clock() - c0) / CLOCKS_PER_SEC;
        std::printf("%.2f GB/s (CPU time), checksum %d\n", (double)n / t / 1e9, _mm512_reduce_add_epi32(s));
    }
    std::free(p);
    return 0;
}
