// Persistent thread pool (see thread-pool.h): workers sleep on a condition variable between calls and
// pull task indices from an atomic counter.
#include "ld-ggml/thread-pool.h"

#include <cstdlib>
#include <memory>

namespace ld::ggml {

ThreadPool::ThreadPool(int n_threads) {
    if (n_threads <= 0) n_threads = (int)std::thread::hardware_concurrency();
    if (n_threads <= 0) n_threads = 1;
    n_threads_ = n_threads;
    for (int t = 1; t < n_threads_; ++t) workers_.emplace_back([this, t] { worker(t); });
}

ThreadPool::~ThreadPool() {
    {
        std::lock_guard<std::mutex> lock(mu_);
        stop_ = true;
    }
    cv_start_.notify_all();
    for (auto & w : workers_) w.join();
}

void ThreadPool::run_tasks(int thread) {
    for (;;) {
        const int64_t task = next_.fetch_add(1, std::memory_order_relaxed);
        if (task >= n_tasks_) break;
        try {
            (*fn_)(task, thread);
        } catch (...) {
            std::lock_guard<std::mutex> lock(mu_);
            if (!error_) error_ = std::current_exception();
        }
    }
}

void ThreadPool::worker(int thread) {
    uint64_t seen = 0;
    for (;;) {
        {
            std::unique_lock<std::mutex> lock(mu_);
            cv_start_.wait(lock, [&] { return stop_ || generation_ != seen; });
            if (stop_) return;
            seen = generation_;
        }
        run_tasks(thread);
        {
            std::lock_guard<std::mutex> lock(mu_);
            if (--busy_ == 0) cv_done_.notify_one();
        }
    }
}

void ThreadPool::parallel_for(int64_t n_tasks, const std::function<void(int64_t, int)> & fn) {
    if (n_tasks <= 0) return;
    if (n_threads_ == 1 || n_tasks == 1) {
        for (int64_t i = 0; i < n_tasks; ++i) fn(i, 0);
        return;
    }
    {
        std::lock_guard<std::mutex> lock(mu_);
        fn_ = &fn;
        n_tasks_ = n_tasks;
        next_.store(0);
        error_ = nullptr;
        busy_ = n_threads_ - 1;
        ++generation_;
    }
    cv_start_.notify_all();
    run_tasks(0);
    std::exception_ptr err;
    {
        std::unique_lock<std::mutex> lock(mu_);
        cv_done_.wait(lock, [&] { return busy_ == 0; });
        fn_ = nullptr;
        err = error_;
        error_ = nullptr;
    }
    if (err) std::rethrow_exception(err);
}

namespace {
std::unique_ptr<ThreadPool> & global_slot() {
    static std::unique_ptr<ThreadPool> pool;
    return pool;
}
std::mutex g_global_mu;
}  // namespace

ThreadPool & ThreadPool::global() {
    std::lock_guard<std::mutex> lock(g_global_mu);
    auto & p = global_slot();
    if (!p) {
        int n = 0;
        if (const char * env = std::getenv("LD_NUM_THREADS")) n = std::atoi(env);
        p = std::make_unique<ThreadPool>(n);
    }
    return *p;
}

void ThreadPool::set_global_threads(int n_threads) {
    std::lock_guard<std::mutex> lock(g_global_mu);
    auto & p = global_slot();
    if (p && p->n_threads() == (n_threads > 0 ? n_threads : (int)std::thread::hardware_concurrency())) return;
    p.reset();
    p = std::make_unique<ThreadPool>(n_threads);
}

}  // namespace ld::ggml
