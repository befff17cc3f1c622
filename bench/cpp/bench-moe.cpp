// Stand-alone timing of the grouped expert matmul on the full-size shapes (256 tokens, top-8 of 128
// experts; gate_up Q4_K 2816->1408, down Q5_0 / Q8_0 704->2816), for profiling with perf (the Python
// module is stripped). Build against the static core library, e.g.
//   g++ -O2 -std=c++17 -Iggml/include bench/cpp/bench-moe.cpp build/dev/libld_ggml.a -lpthread -o /tmp/bench-moe
// Usage: bench-moe gate_up|down_q5_0|down_q8_0 ISA REPEATS THREADS [prepared] [layers=L]. With `prepared` the
// expert weights are packed once first (prepare_weight: where the ISA offers it, e.g. Q8_0 panels, the compact
// forms of Q4_K / Q5_0 on avx512) and the calls use them. With layers=L the calls rotate over L copies of the
// weights (as a model's layers do): a working set larger than the last-level cache, so the weights come from
// DRAM as in the full-size model (one copy of ~280 MB may stay in a large L3). Prints the median CPU-time rate per
// core and its ratio to the vnni int8 peak measured in the same run (cpu_peak_gops).
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <random>
#include <string>
#include <vector>

#include "ld-ggml/cpu-matmul.h"
#include "ld-ggml/types.h"

using namespace ld::ggml;

int main(int argc, char ** argv) {
    if (argc < 5) { std::fprintf(stderr, "usage: bench-moe gate_up|down_q5_0|down_q8_0 ISA REPEATS THREADS [prepared] [layers=L]\n"); return 2; }
    bool prep = false;
    int n_layers = 1;
    for (int i = 5; i < argc; ++i) {
        const std::string o = argv[i];
        if (o == "prepared") prep = true;
        else if (o.rfind("layers=", 0) == 0) n_layers = std::max(1, std::atoi(o.c_str() + 7));
        else { std::fprintf(stderr, "bench-moe: unknown option '%s'\n", o.c_str()); return 2; }
    }
    const std::string which = argv[1];
    const CpuIsa isa = cpu_isa_from_name(argv[2]);
    const int reps = std::atoi(argv[3]), nth = std::atoi(argv[4]);
    const int64_t N = 256, TK = 8, E = 128, FE = 704, D = 2816;
    const bool gu = which == "gate_up";
    const Type t = gu ? Type::Q4_K : (which == "down_q5_0" ? Type::Q5_0 : Type::Q8_0);
    const int64_t K = gu ? D : FE, M = gu ? 2 * FE : D;
    std::mt19937 rng(1);
    const size_t rb = row_size(t, K);
    std::vector<uint8_t> w(rb * (size_t)(M * E));
    for (auto & b : w) b = (uint8_t)rng();
    const size_t bb = type_traits(t)->type_size;  // every block starts with fp16 d (and dmin for Q4_K)
    for (size_t o = 0; o + bb <= w.size(); o += bb) { w[o] = 0x00; w[o + 1] = 0x1c; if (gu) { w[o + 2] = 0x00; w[o + 3] = 0x1c; } }
    std::vector<int32_t> ids((size_t)(N * TK));
    for (int64_t n = 0; n < N; ++n) {
        std::vector<int32_t> p((size_t)E);
        for (int64_t e = 0; e < E; ++e) p[(size_t)e] = (int32_t)e;
        std::shuffle(p.begin(), p.end(), rng);
        for (int64_t s = 0; s < TK; ++s) ids[(size_t)(n * TK + s)] = p[(size_t)s];
    }
    std::normal_distribution<float> nd;
    std::vector<float> x((size_t)(N * (gu ? 1 : TK) * K)), rw((size_t)(N * TK)), y((size_t)(N * TK * M));
    for (auto & v : x) v = nd(rng);
    for (auto & v : rw) v = (float)(rng() % 1000) / 1000.0f;
    MoeArgs a;
    a.x = x.data(); a.N = N; a.K = K; a.x_per_slot = !gu; a.w = w.data(); a.wtype = t; a.M = M; a.E = E;
    a.ids = ids.data(); a.rw = gu ? nullptr : rw.data(); a.top_k = TK; a.y = y.data();
    ThreadPool pool(nth);
    // the layers: copies of the weights (or of their prepared form), used in turn
    std::vector<std::vector<uint8_t>> layers((size_t)n_layers - 1, w);
    std::vector<const uint8_t *> lw{w.data()};
    for (auto & l : layers) lw.push_back(l.data());
    std::vector<std::shared_ptr<const PreparedWeight>> pw;
    if (prep) {
        const auto t0 = std::chrono::steady_clock::now();
        for (const uint8_t * l : lw) pw.push_back(prepare_weight(isa, l, t, E, M, K, &pool));
        std::printf("prepared in %.0f ms: %.1f MB per layer (weights %.1f MB)\n",
                    std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() * 1e3,
                    prepared_weight_bytes(*pw[0]) / 1e6, w.size() / 1e6);
    }
    auto use_layer = [&](int l) {
        a.w = lw[(size_t)l];
        a.prepared = prep ? pw[(size_t)l].get() : nullptr;
    };
    for (int l = 0; l < n_layers; ++l) {
        use_layer(l);
        moe_matmul_isa(isa, a, &pool);
    }
    std::vector<double> cpu, wall;
    for (int r = 0; r < reps; ++r) {
        use_layer(r % n_layers);
        const clock_t c0 = std::clock();
        const auto t0 = std::chrono::steady_clock::now();
        moe_matmul_isa(isa, a, &pool);
        wall.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
        cpu.push_back((double)(std::clock() - c0) / CLOCKS_PER_SEC);
    }
    const double vnni = cpu_peak_gops("vnni", 0.3), amx = cpu_peak_gops("amx_int8", 0.2);
    std::sort(cpu.begin(), cpu.end());
    std::sort(wall.begin(), wall.end());
    const double fl = 2.0 * N * TK * K * M;
    const double rate = fl / cpu[cpu.size() / 2] / 1e9;  // CPU time summed over the threads: per core
    std::printf("%s %s threads %d%s%s: median cpu %.1f ms, %.1f GFLOP/s per core of CPU time = %.1f%% of the vnni peak "
                "(%.0f GOP/s per core, measured now; amx_int8 %.0f), wall %.1f ms\n", which.c_str(), argv[2], nth,
                prep ? " prepared" : "", n_layers > 1 ? (" layers=" + std::to_string(n_layers)).c_str() : "",
                cpu[cpu.size() / 2] * 1e3, rate, 100.0 * rate / vnni, vnni, amx, wall[wall.size() / 2] * 1e3);
    return 0;
}
