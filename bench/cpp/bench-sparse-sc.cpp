// Times the fused vocab head with exact vs sparse self-conditioning (VocabHeadArgs::soft_drop_mass) on a
// real model's decoder states, and reports the fraction of vocabulary rows the soft sum used and the
// largest difference of soft between the modes. The states come from bench/sparse_sc.py (raw f32
// [C, H]). Build against the static libraries, e.g.
//   g++ -O2 -std=c++17 -Iggml/include -Icpp bench/cpp/bench-sparse-sc.cpp build/dev/libld_engine.a \
//       build/dev/libld_ggml.a -lpthread -o /tmp/bench-sparse-sc
// Usage: bench-sparse-sc MODEL.gguf HIDDEN.f32 C TEMPERATURE EPS REPEATS THREADS
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <fstream>
#include <string>
#include <vector>

#include "bench-head-args.h"

using namespace ld;

int main(int argc, char ** argv) {
    if (argc < 8) {
        std::fprintf(stderr, "usage: bench-sparse-sc MODEL.gguf HIDDEN.f32 C TEMPERATURE EPS REPEATS THREADS\n");
        return 2;
    }
    const int64_t C = std::atoll(argv[3]);
    const float T = std::atof(argv[4]), eps = std::atof(argv[5]);
    const int reps = std::atoi(argv[6]), nth = std::atoi(argv[7]);
    auto m = Model::open(argv[1], nth);
    const int64_t H = m->hparams().n_embd, V = m->hparams().n_vocab;
    std::vector<float> hidden((size_t)(C * H));
    std::ifstream f(argv[2], std::ios::binary);
    if (!f.read(reinterpret_cast<char *>(hidden.data()), (std::streamsize)(hidden.size() * sizeof(float)))) {
        std::fprintf(stderr, "bench-sparse-sc: %s does not hold %lld x %lld f32 values\n", argv[2], (long long)C, (long long)H);
        return 1;
    }
    auto run = [&](float e, std::vector<float> & soft, int64_t & rows) {
        bench::HeadOutputs out(C);
        soft.assign((size_t)(C * H), 0.0f);
        ggml::VocabHeadArgs a = bench::head_args(*m, hidden.data(), C, out, soft.data());
        a.temperature = T;
        a.soft_drop_mass = e;
        a.soft_rows_used = &rows;
        std::vector<double> ts;
        for (int r = 0; r < reps; ++r) {
            const clock_t c0 = std::clock();
            ggml::vocab_head_fused(a, m->pool());
            ts.push_back((double)(std::clock() - c0) / CLOCKS_PER_SEC);
        }
        std::sort(ts.begin(), ts.end());
        return ts[ts.size() / 2];
    };
    std::vector<float> s0, s1;
    int64_t r0 = 0, r1 = 0;
    const double t0 = run(0.0f, s0, r0), t1 = run(eps, s1, r1);
    double d = 0.0, mx = 0.0;
    for (size_t i = 0; i < s0.size(); ++i) {
        d = std::max(d, (double)std::fabs(s0[i] - s1[i]));
        mx = std::max(mx, (double)std::fabs(s0[i]));
    }
    std::printf("C %lld V %lld T %g: exact %.2f ms cpu, sparse (eps %g) %.2f ms cpu (%.2fx); rows used %lld of %lld "
                "tiles' rows (%.1f%% skipped); max |soft sparse - exact| %.3g (max |soft| %.3g)\n",
                (long long)C, (long long)V, (double)T, t0 * 1e3, (double)eps, t1 * 1e3, t0 / t1, (long long)r1, (long long)r0,
                100.0 * (1.0 - (double)r1 / (double)r0), d, mx);
    return 0;
}
