// C++ test: the persistent thread pool runs every task exactly once, for any thread count, rethrows
// task exceptions, and gives thread-count-independent results when tasks own fixed output tiles.
#include <atomic>
#include <cstdio>
#include <stdexcept>
#include <vector>

#include "ld-ggml/thread-pool.h"
#include "test-check.h"

using ld::ggml::ThreadPool;

int main() {
    for (int n_threads : {1, 2, 3, 8}) {
        ThreadPool pool(n_threads);
        CHECK(pool.n_threads() == n_threads);
        for (int64_t n_tasks : {0, 1, 2, 7, 1000}) {
            std::vector<std::atomic<int>> hits(n_tasks > 0 ? n_tasks : 1);
            for (auto & h : hits) h = 0;
            std::atomic<int> bad_thread{0};
            pool.parallel_for(n_tasks, [&](int64_t task, int thread) {
                hits[task]++;
                if (thread < 0 || thread >= n_threads) bad_thread++;
            });
            for (int64_t i = 0; i < n_tasks; ++i) CHECK(hits[i] == 1);
            CHECK(bad_thread == 0);
        }
        // Repeated calls reuse the same workers (no deadlock across generations).
        std::atomic<int64_t> total{0};
        for (int rep = 0; rep < 200; ++rep) pool.parallel_for(5, [&](int64_t t, int) { total += t; });
        CHECK(total == 200 * 10);
        // Exceptions propagate to the caller and the pool stays usable.
        bool caught = false;
        try {
            pool.parallel_for(10, [&](int64_t t, int) { if (t == 3) throw std::runtime_error("task 3"); });
        } catch (const std::runtime_error &) {
            caught = true;
        }
        CHECK(caught);
        std::atomic<int> after{0};
        pool.parallel_for(4, [&](int64_t, int) { after++; });
        CHECK(after == 4);
    }
    // Fixed tiles: the same bits whatever the thread count.
    std::vector<float> ref;
    for (int n_threads : {1, 2, 4}) {
        ThreadPool pool(n_threads);
        std::vector<float> out(64);
        pool.parallel_for(64, [&](int64_t t, int) {
            float acc = 0.0f;
            for (int i = 1; i <= 1000; ++i) acc += 1.0f / (float)(i + t);
            out[t] = acc;
        });
        if (ref.empty()) ref = out;
        CHECK(out == ref);
    }
    if (failures) {
        std::fprintf(stderr, "%d check(s) failed\n", failures);
        return 1;
    }
    std::printf("test-thread-pool: all checks passed\n");
    return 0;
}
