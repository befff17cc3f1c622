// C++ test: the persistent thread pool runs every task exactly once, for any thread count, rethrows
// task exceptions, and gives thread-count-independent results when tasks own fixed output tiles; calls
// from several threads take turns, nested calls run inline, and set_global_threads never invalidates a
// pool a caller still holds.
#include <atomic>
#include <cstdio>
#include <stdexcept>
#include <thread>
#include <vector>

#include "ld-ggml/error.h"
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
    // Several threads calling parallel_for on one pool at once: every call runs all of its tasks
    // (before the pool serialised its callers, two callers shared one task counter and hung).
    {
        ThreadPool pool(3);
        std::atomic<int> wrong{0};
        std::vector<std::thread> callers;
        for (int c = 0; c < 4; ++c)
            callers.emplace_back([&, c] {
                for (int rep = 0; rep < 300; ++rep) {
                    const int64_t n = 3 + (rep + c) % 17;
                    std::vector<std::atomic<int>> hits((size_t)n);
                    for (auto & h : hits) h = 0;
                    pool.parallel_for(n, [&](int64_t t, int) { hits[(size_t)t]++; });
                    for (auto & h : hits)
                        if (h != 1) wrong++;
                }
            });
        for (auto & t : callers) t.join();
        CHECK(wrong == 0);
    }
    // A task calling parallel_for on its own pool runs the inner loop inline (no deadlock).
    {
        ThreadPool pool(4);
        std::atomic<int64_t> sum{0};
        pool.parallel_for(8, [&](int64_t, int) {
            pool.parallel_for(5, [&](int64_t t, int thread) {
                if (thread == 0) sum += t;
            });
        });
        CHECK(sum == 8 * 10);
    }
    // Resizing the global pool while others use it: the pointer they took stays valid and keeps its
    // size (set_global_threads used to destroy the pool under a running model).
    {
        ThreadPool * before = &ThreadPool::global();
        const int n_before = before->n_threads();
        std::atomic<bool> stop{false};
        std::atomic<int> wrong{0};
        std::thread user([&] {
            while (!stop) {
                std::atomic<int> n{0};
                before->parallel_for(16, [&](int64_t, int thread) {
                    if (thread >= n_before) wrong++;
                    n++;
                });
                if (n != 16) wrong++;
                ThreadPool::global().parallel_for(4, [&](int64_t, int) {});
            }
        });
        for (int rep = 0; rep < 50; ++rep) ThreadPool::set_global_threads(1 + rep % 4);
        stop = true;
        user.join();
        CHECK(wrong == 0);
        CHECK(before->n_threads() == n_before);
        ThreadPool::set_global_threads(3);
        CHECK(ThreadPool::global().n_threads() == 3);
        CHECK(&ThreadPool::shared(3) == &ThreadPool::global());
        bool threw = false;
        try {
            ThreadPool::set_global_threads(ThreadPool::kMaxThreads + 1);
        } catch (const ld::ggml::Error &) {
            threw = true;
        }
        CHECK(threw);
    }
    if (failures) {
        std::fprintf(stderr, "%d check(s) failed\n", failures);
        return 1;
    }
    std::printf("test-thread-pool: all checks passed\n");
    return 0;
}
