// The fused vocab head's transposed embedding on its own: EmbeddingTileT::build over every tile of a
// full-size vocabulary (a random Q6_K embedding, 262,144 x 2816, tiles of 4,096 rows), as the
// self-conditioning product rebuilds it every denoising step (bench/results/repack-block32-et-prefetch.md).
// Build against the static core library, e.g.
//   g++ -O2 -std=c++17 -Iggml/include bench/cpp/bench-embd-t.cpp build/rel/libld_ggml.a -lpthread -o bench-embd-t
// Usage: bench-embd-t THREADS [ISA]. Prints the median and minimum wall time of 5 passes over the vocabulary.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <vector>

#include "ld-ggml/cpu-features.h"
#include "ld-ggml/cpu-vocab-head.h"
#include "ld-ggml/types.h"

using namespace ld::ggml;

int main(int argc, char ** argv) {
    if (argc < 2) { std::fprintf(stderr, "usage: bench-embd-t THREADS [ISA]\n"); return 2; }
    const int nth = std::max(1, std::atoi(argv[1]));
    if (argc > 2) cpu_isa_set(cpu_isa_from_name(argv[2]));
    const int64_t H = 2816, V = 262144, tile = 4096;
    const Type t = Type::Q6_K;
    const size_t rb = row_size(t, H), bb = type_traits(t)->type_size;
    std::vector<uint8_t> E(rb * (size_t)V);
    std::mt19937 rng(1);
    for (auto & b : E) b = (uint8_t)rng();
    for (size_t o = 0; o + bb <= E.size(); o += bb) { E[o + bb - 2] = 0x00; E[o + bb - 1] = 0x1c; }  // finite fp16 d
    ThreadPool pool(nth);
    EmbeddingTileT et(E.data(), t, H, V, tile, nth);
    std::vector<double> ts;
    for (int r = 0; r < 5; ++r) {
        const auto t0 = std::chrono::steady_clock::now();
        for (int64_t v0 = 0; v0 < V; v0 += tile) et.build(v0, std::min(tile, V - v0), &pool);
        ts.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
    }
    std::sort(ts.begin(), ts.end());
    std::printf("E^T build over the vocabulary (Q6_K, %lld x %lld), %s, %d threads: median %.0f ms (min %.0f)\n",
                (long long)V, (long long)H, cpu_isa_name(cpu_isa()), nth, ts[2] * 1e3, ts[0] * 1e3);
    return 0;
}
