// Times the fused vocab head (ggml::vocab_head_fused: LM head, softcap, the sampler statistics and the
// self-conditioning soft embedding, one pass over vocabulary tiles) on a model file's real output and
// embedding matrices, with random decoder states, and the parts of it one at a time. Build against the
// static libraries, e.g.
//   g++ -O2 -std=c++17 -Iggml/include -Icpp bench/cpp/bench-vocab-head.cpp build/dev/libld_engine.a \
//       build/dev/libld_ggml.a -lpthread -o /tmp/bench-vocab-head
// Usage: bench-vocab-head MODEL.gguf C REPEATS THREADS [sample 0|1]
// Prints the median CPU time (summed over threads) and wall time of: the whole head with the soft
// embedding (and with the transposed embedding kept across calls, EmbeddingTCache), the head without it, the LM head matmuls alone, the softcap pass alone, the Eᵀ tile builds
// alone and the soft products alone (the int8 path; where the head runs its soft product on AMX-BF16 it
// says so); then the machine's peaks per core (cpu_peak_gops).
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include "bench-head-args.h"
#include "ld-ggml/cpu-matmul.h"
#include "ld-ggml/cpu-nn.h"

using namespace ld;

namespace {

struct Timing { double cpu_ms, wall_ms; };

Timing median_time(int reps, const std::function<void()> & f) {
    std::vector<double> c, w;
    f();  // warm-up
    for (int r = 0; r < reps; ++r) {
        timespec a0, a1;
        clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &a0);
        const auto w0 = std::chrono::steady_clock::now();
        f();
        const auto w1 = std::chrono::steady_clock::now();
        clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &a1);
        c.push_back((a1.tv_sec - a0.tv_sec) * 1e3 + (a1.tv_nsec - a0.tv_nsec) * 1e-6);
        w.push_back(std::chrono::duration<double, std::milli>(w1 - w0).count());
    }
    std::sort(c.begin(), c.end());
    std::sort(w.begin(), w.end());
    return {c[c.size() / 2], w[w.size() / 2]};
}

}  // namespace

int main(int argc, char ** argv) {
    if (argc < 5) {
        std::fprintf(stderr, "usage: bench-vocab-head MODEL.gguf C REPEATS THREADS [sample 0|1]\n");
        return 2;
    }
    const int64_t C = std::atoll(argv[2]);
    const int reps = std::atoi(argv[3]), nth = std::atoi(argv[4]);
    const bool sample = argc > 5 && std::atoi(argv[5]) != 0;
    auto m = Model::open(argv[1], nth);
    const int64_t H = m->hparams().n_embd, V = m->hparams().n_vocab;
    std::vector<float> hidden((size_t)(C * H));
    std::mt19937 rng(7);
    std::normal_distribution<float> nd(0.0f, 1.0f);
    for (float & x : hidden) x = nd(rng);
    const Weights & w = m->weights();
    bench::HeadOutputs out(C);
    std::vector<float> soft((size_t)(C * H));
    ggml::VocabHeadArgs a = bench::head_args(*m, hidden.data(), C, out, nullptr);
    a.sample = sample;
    ggml::ThreadPool * pool = m->pool();
    const double gflop = 2.0 * (double)C * (double)H * (double)V * 1e-9;
    auto report = [&](const char * what, Timing t, double gf) {
        std::printf("%-44s cpu %9.1f ms  wall %9.1f ms", what, t.cpu_ms, t.wall_ms);
        if (gf > 0) std::printf("  %7.1f GFLOP/s per core of CPU time", gf / (t.cpu_ms * 1e-3));
        std::printf("\n");
    };
    std::printf("C %lld H %lld V %lld, out %s, embd %s, softcap %g, %d threads, sample %d, median of %d\n", (long long)C,
                (long long)H, (long long)V, ggml::type_name((int32_t)w.output.type), ggml::type_name((int32_t)w.tok_embd.type),
                (double)a.softcap, nth, (int)sample, reps);
    a.soft = soft.data();
    report("head with the soft embedding", median_time(reps, [&] { ggml::vocab_head_fused(a, pool); }), 2 * gflop);
    ggml::EmbeddingTCache kept;  // as the CPU backend keeps it while repacking is on (--repack)
    report("the same, E^T kept across calls (--repack)", median_time(reps, [&] { ggml::vocab_head_fused(a, pool, 0, &kept); }),
           2 * gflop);
    std::printf("  (E^T kept: %.1f MB)\n", kept.bytes() / 1e6);
    kept.clear();
    a.soft = nullptr;
    report("head without it", median_time(reps, [&] { ggml::vocab_head_fused(a, pool); }), gflop);
    const int64_t tile = 4096;
    std::vector<float> lg((size_t)(C * tile));
    const size_t orb = ggml::row_size(w.output.type, H);
    report("LM head matmuls alone (tiles of 4096)", median_time(reps, [&] {
        for (int64_t v0 = 0; v0 < V; v0 += tile)
            ggml::matmul(hidden.data(), C, H, (const uint8_t *)w.output.data + (size_t)v0 * orb, w.output.type,
                         std::min(tile, V - v0), lg.data(), pool);
    }), gflop);
    report("softcap of every tile alone", median_time(reps, [&] {
        for (int64_t v0 = 0; v0 < V; v0 += tile) ggml::softcap(lg.data(), C * std::min(tile, V - v0), a.softcap, lg.data(), pool);
    }), 0);
    // the int8 self-conditioning path of CPUs without AMX-BF16 (on AMX-BF16 the head runs its soft product on
    // bf16 tiles from E's rows instead: ggml/src/cpu/soft-product-amx.cpp, timed only inside the whole head)
    const ggml::CpuFeatures & cf = ggml::cpu_features();
    const bool bf16_soft = ggml::cpu_isa() == ggml::CpuIsa::amx && cf.amx_bf16 && cf.avx512bf16 && w.tok_embd.type != ggml::Type::F32;
    std::printf("the head's soft product here: %s\n", bf16_soft ? "AMX-BF16 (the int8 lines below are other CPUs' path)"
                                                                   : "int8 (E^T tiles, the lines below)");
    ggml::EmbeddingTileT et(w.tok_embd.data, w.tok_embd.type, H, V, tile, pool->n_threads());
    report("E^T tile builds alone", median_time(reps, [&] {
        for (int64_t v0 = 0; v0 < V; v0 += tile) et.build(v0, std::min(tile, V - v0), pool);
    }), 0);
    std::vector<float> wt((size_t)(C * tile), 0.5f), part((size_t)(C * H));
    et.build(0, tile, pool);
    report("soft products alone (one tile x V/4096)", median_time(reps, [&] {
        for (int64_t v0 = 0; v0 < V; v0 += tile) {
            if (et.prepared()) ggml::matmul_prepared(wt.data(), C, *et.prepared(), part.data(), pool);  // as the head
            else ggml::matmul(wt.data(), C, tile, et.data(), et.type(), H, part.data(), pool);
        }
    }), gflop);
    // the machine's peaks, measured now (per core; the rates above are per core of CPU time)
    const double vnni = ggml::cpu_peak_gops("vnni", 0.3), amx = ggml::cpu_peak_gops("amx_int8", 0.2),
                 bf16 = ggml::cpu_peak_gops("amx_bf16", 0.2);
    std::printf("peaks per core, measured now: int8 vnni %.0f GOP/s, amx_int8 %.0f GOP/s; amx_bf16 %.0f GFLOP/s\n", vnni,
                amx, bf16);
    return 0;
}
