// C++ test: the per-model lock of the Python bindings (python/src/model-lock.h), without Python.
// Passes wait for each other; a state call raises BusyError while a generation runs in another
// thread and waits for a plain pass; calls from the owning thread (a generation's callback) read
// without locking and raise for anything else. Several threads hammer it for a bounded time (also
// run under ThreadSanitizer by tests/python/test_tsan.py); a shared counter checks exclusion.
#include <atomic>
#include <chrono>
#include <cstdio>
#include <thread>
#include <vector>

#include "../../python/src/model-lock.h"
#include "test-check.h"

using ld::py::BusyError;
using ld::py::ModelLock;

int main() {
    ModelLock lock;
    // Reentry from the owning thread.
    {
        auto h = lock.run("generate", true);
        CHECK(lock.generating());
        bool threw = false;
        try {
            auto h2 = lock.run("encode");
        } catch (const BusyError &) {
            threw = true;
        }
        CHECK(threw);
        threw = false;
        try {
            auto h2 = lock.state("reset", false);
        } catch (const BusyError &) {
            threw = true;
        }
        CHECK(threw);
        auto r = lock.state("kv_cache", true);  // a read from the callback: allowed, no lock taken
    }
    CHECK(!lock.generating());
    // Another thread during a generation: state calls raise, passes wait.
    {
        std::atomic<bool> started{false}, release{false};
        std::thread gen([&] {
            auto h = lock.run("generate", true);
            started = true;
            while (!release) std::this_thread::yield();
        });
        while (!started) std::this_thread::yield();
        bool threw = false;
        try {
            auto h = lock.state("reset", false);
        } catch (const BusyError & e) {
            threw = std::string(e.what()).find("another thread") != std::string::npos;
        }
        CHECK(threw);
        std::atomic<bool> ran{false};
        std::thread pass([&] {
            auto h = lock.run("encode");
            ran = true;
        });
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
        CHECK(!ran);  // waits for the generation
        release = true;
        gen.join();
        pass.join();
        CHECK(ran);
    }
    // Stress: exclusion holds, only BusyError is ever thrown, and only state calls during generations.
    {
        int inside = 0;  // plain int: TSan reports any access not ordered by the lock
        std::atomic<int> overlap{0}, busy{0}, bad{0}, calls{0};
        const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(800);
        std::vector<std::thread> ts;
        for (int t = 0; t < 6; ++t)
            ts.emplace_back([&, t] {
                int i = 0;
                while (std::chrono::steady_clock::now() < deadline) {
                    try {
                        const int kind = (t + i++) % 3;
                        ModelLock::Hold h = kind == 0   ? lock.run("generate", true)
                                            : kind == 1 ? lock.run("encode")
                                                        : lock.state("reset", false);
                        if (++inside != 1) overlap++;
                        std::this_thread::yield();
                        --inside;
                        calls++;
                    } catch (const BusyError &) {
                        busy++;
                    } catch (...) {
                        bad++;
                    }
                }
            });
        for (auto & th : ts) th.join();
        CHECK(overlap == 0);
        CHECK(bad == 0);
        CHECK(calls > 0);
        std::printf("model-lock stress: %d calls, %d busy\n", calls.load(), busy.load());
    }
    if (failures) {
        std::fprintf(stderr, "%d check(s) failed\n", failures);
        return 1;
    }
    std::printf("test-model-lock: all checks passed\n");
    return 0;
}
