// A persistent CPU thread pool for the kernels. Work is expressed as n_tasks independent tasks; a task's
// result must depend only on its index (never on which thread runs it or how many threads exist), so
// every kernel gives the same bits for any thread count.
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
    // n_threads <= 0: the number of hardware threads.
    explicit ThreadPool(int n_threads = 0);
    ~ThreadPool();
    ThreadPool(const ThreadPool &) = delete;
    ThreadPool & operator=(const ThreadPool &) = delete;

    int n_threads() const { return n_threads_; }

    // Runs fn(task, thread) for task in [0, n_tasks) on all threads (the caller is thread 0) and
    // returns when every task is done. Tasks are handed out dynamically. Not reentrant: a task must
    // not call parallel_for on the same pool. An exception thrown by a task is rethrown here (the
    // first one; the remaining tasks still run).
    void parallel_for(int64_t n_tasks, const std::function<void(int64_t task, int thread)> & fn);

    // The process-wide pool used by the ops (size: LD_NUM_THREADS or hardware threads);
    // set_global_threads() resizes it (not while it is running work).
    static ThreadPool & global();
    static void set_global_threads(int n_threads);

private:
    void worker(int thread);
    void run_tasks(int thread);

    int n_threads_;
    std::vector<std::thread> workers_;
    std::mutex mu_;
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
