// C++ test: the engine used from several threads at once, for a bounded time (built and run under
// ThreadSanitizer by tests/python/test_tsan.py). Two demo models share the global pool, a third owns
// its pool; six threads generate (each model guarded by its own mutex, as the Python bindings do:
// one generation per model at a time), reset, and call parallel_for on the global pool, while another
// thread keeps switching the global pool's size. Afterwards every model still gives its reference
// tokens. Argument: seconds to run (default 2).
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "generate/generate.h"
#include "ld-ggml/thread-pool.h"
#include "model/model.h"
#include "test-check.h"

#ifndef LD_SOURCE_DIR
#error "LD_SOURCE_DIR must name the repository root (set by CMakeLists.txt)"
#endif

namespace {

struct Guarded {
    std::unique_ptr<ld::Model> m;
    std::unique_ptr<ld::gen::Generator> g;
    std::mutex mu;
};

std::vector<int32_t> run(Guarded & x, uint64_t seed) {
    std::lock_guard<std::mutex> lk(x.mu);
    ld::gen::GenParams p = ld::gen::default_gen_params(*x.m, nullptr);
    p.max_tokens = 32;
    p.seed = seed;
    p.eos_ids.clear();
    x.m->reset();
    return x.g->generate({1, 2, 3, 4, 5}, p).tokens;
}

}  // namespace

int main(int argc, char ** argv) {
    const double seconds = argc > 1 ? std::atof(argv[1]) : 2.0;
    const std::string path = std::string(LD_SOURCE_DIR) + "/python/llama_diffusion/models/diffusiongemma-demo-q8_0.gguf";
    ld::ggml::ThreadPool::set_global_threads(2);
    std::vector<std::unique_ptr<Guarded>> models;
    for (int n_threads : {0, 0, 3}) {
        auto x = std::make_unique<Guarded>();
        x->m = ld::Model::open(path, n_threads);
        x->g = std::make_unique<ld::gen::Generator>(*x->m);
        models.push_back(std::move(x));
    }
    std::vector<std::vector<int32_t>> ref;
    for (auto & x : models) ref.push_back(run(*x, 7));
    CHECK(ref[0] == ref[1] && ref[0] == ref[2]);

    const auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
    std::atomic<int> wrong{0}, errors{0}, passes{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < 6; ++t)
        threads.emplace_back([&, t] {
            int i = 0;
            while (std::chrono::steady_clock::now() < deadline) {
                Guarded & x = *models[(size_t)((t + i) % 3)];
                try {
                    if (t == 5) {
                        std::atomic<int64_t> sum{0};
                        ld::ggml::ThreadPool::global().parallel_for(64, [&](int64_t k, int) { sum += k; });
                        if (sum != 64 * 63 / 2) wrong++;
                    } else if ((t + i) % 4 == 3) {
                        std::lock_guard<std::mutex> lk(x.mu);
                        x.m->reset();
                    } else if (run(x, 7) != ref[0]) {
                        wrong++;
                    }
                    passes++;
                } catch (const std::exception & e) {
                    std::fprintf(stderr, "thread %d: %s\n", t, e.what());
                    errors++;
                }
                ++i;
            }
        });
    threads.emplace_back([&] {
        int n = 0;
        while (std::chrono::steady_clock::now() < deadline) {
            ld::ggml::ThreadPool::set_global_threads(1 + n++ % 3);
            std::this_thread::sleep_for(std::chrono::milliseconds(2));
        }
    });
    for (auto & th : threads) th.join();
    CHECK(wrong == 0);
    CHECK(errors == 0);
    CHECK(passes > 6);
    for (size_t k = 0; k < models.size(); ++k) CHECK(run(*models[k], 7) == ref[k]);
    if (failures) {
        std::fprintf(stderr, "%d check(s) failed\n", failures);
        return 1;
    }
    std::printf("test-engine-threads: all checks passed (%d calls in %.1f s)\n", passes.load(), seconds);
    return 0;
}
