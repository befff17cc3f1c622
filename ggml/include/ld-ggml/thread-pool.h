// A persistent CPU thread pool for the kernels. Work is expressed as n_tasks independent tasks; a task's
// result must depend only on its index (never on which thread runs it or how many threads exist), so
// every kernel gives the same bits for any thread count.
//
// Threads: a pool may be called from any number of threads; their parallel_for calls take turns (one
// call runs on the pool at a time, the others wait). The size of a pool never changes, so a kernel may
// size per-thread scratch from n_threads() before calling parallel_for.
#pragma once

#include <atomic>
#include <condition_variable>
#include <exception>
#include <cstdint>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace ld::ggml {

class ThreadPool {
public:
    // Most threads a pool may have (a larger request is an ld::ggml::Error).
    static constexpr int kMaxThreads = 1024;

    // n_threads <= 0: the number of hardware threads.
    explicit ThreadPool(int n_threads = 0);
    ~ThreadPool();
    ThreadPool(const ThreadPool &) = delete;
    ThreadPool & operator=(const ThreadPool &) = delete;

    int n_threads() const { return n_threads_; }

    // Runs fn(task, thread) for task in [0, n_tasks) on all threads (the caller is thread 0) and
    // returns when every task is done. Tasks are handed out dynamically. Calls from several threads
    // are serialised (each waits for the running one). A task that calls parallel_for on the pool
    // running it gets that inner loop run on its own thread, in order (no deadlock). An exception
    // thrown by a task is rethrown here (the first one; the remaining tasks still run).
    void parallel_for(int64_t n_tasks, const std::function<void(int64_t task, int thread)> & fn);

    // The process-wide pool used by the ops when none is given (size: LD_NUM_THREADS or hardware
    // threads). set_global_threads(n) makes the pool of n threads (shared(n)) the global one from now
    // on; the previous one is not destroyed, so a pointer a model took from global() stays valid and
    // keeps its size. Safe to call while other threads run work.
    static ThreadPool & global();
    static void set_global_threads(int n_threads);

    // The process-lifetime pool of n threads (n <= 0: hardware threads), made on first use and never
    // destroyed (one per distinct size; its idle workers sleep). ld::ggml::Error if n > kMaxThreads.
    static ThreadPool & shared(int n_threads);

private:
    void worker(int thread);
    void run_tasks(int thread);

    int n_threads_;
    std::vector<std::thread> workers_;
    std::mutex call_mu_;  // held by the thread whose parallel_for runs on the pool
    std::mutex mu_;       // guards the fields below
    std::condition_variable cv_start_, cv_done_;
    uint64_t generation_ = 0;
    int busy_ = 0;
    bool stop_ = false;
    const std::function<void(int64_t, int)> * fn_ = nullptr;
    int64_t n_tasks_ = 0;
    std::atomic<int64_t> next_{0};
    std::exception_ptr error_;
};

}  // namespace ld::ggml
