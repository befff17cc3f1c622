// Persistent thread pool (see thread-pool.h): workers sleep on a condition variable between calls and
// pull task indices from an atomic counter. One caller at a time owns the workers (call_mu_); a
// thread already running tasks of a pool (a worker, or the caller as thread 0) runs a nested call
// on that pool inline. Pools handed out by global()/shared() are kept until the process exits.
#include "ld-ggml/thread-pool.h"

#include <cstdlib>
#include <map>

#include "ld-ggml/error.h"

namespace ld::ggml {

namespace {
// The pool whose tasks this thread is running now (nullptr outside any parallel_for).
thread_local const ThreadPool * tl_running = nullptr;

struct RunningScope {
    const ThreadPool * saved;
    explicit RunningScope(const ThreadPool * p) : saved(tl_running) { tl_running = p; }
    ~RunningScope() { tl_running = saved; }
};

int resolve_threads(int n_threads) {
    if (n_threads <= 0) n_threads = (int)std::thread::hardware_concurrency();
    if (n_threads <= 0) n_threads = 1;
    if (n_threads > ThreadPool::kMaxThreads)
        throw Error(strfmt("thread pool: %d threads requested, at most %d allowed", n_threads, ThreadPool::kMaxThreads));
    return n_threads;
}
}  // namespace

ThreadPool::ThreadPool(int n_threads) {
    n_threads_ = resolve_threads(n_threads);
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
    RunningScope scope(this);
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
    if (n_threads_ == 1 || n_tasks == 1 || tl_running == this) {
        // Serial: one thread, one task, or a nested call from a task of this pool (its tasks all run
        // here, as thread 0 of this inner call: per-thread scratch sized for the call is its own).
        for (int64_t i = 0; i < n_tasks; ++i) fn(i, 0);
        return;
    }
    std::lock_guard<std::mutex> call(call_mu_);
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
// Pools by size and the current global one. Deliberately never freed: models and generators keep
// raw pointers to them for their lifetime, which may end after static destruction begins.
struct Registry {
    std::mutex mu;
    std::map<int, ThreadPool *> by_size;
    ThreadPool * global = nullptr;

    ThreadPool & get(int n) {  // mu held
        ThreadPool *& p = by_size[n];
        if (!p) p = new ThreadPool(n);
        return *p;
    }
};
Registry & registry() {
    static Registry * r = new Registry();
    return *r;
}
}  // namespace

ThreadPool & ThreadPool::shared(int n_threads) {
    const int n = resolve_threads(n_threads);
    Registry & r = registry();
    std::lock_guard<std::mutex> lock(r.mu);
    return r.get(n);
}

ThreadPool & ThreadPool::global() {
    Registry & r = registry();
    std::lock_guard<std::mutex> lock(r.mu);
    if (!r.global) {
        int n = 0;
        if (const char * env = std::getenv("LD_NUM_THREADS")) n = std::atoi(env);
        if (n > kMaxThreads) n = kMaxThreads;
        r.global = &r.get(resolve_threads(n));
    }
    return *r.global;
}

void ThreadPool::set_global_threads(int n_threads) {
    const int n = resolve_threads(n_threads);
    Registry & r = registry();
    std::lock_guard<std::mutex> lock(r.mu);
    r.global = &r.get(n);
}

}  // namespace ld::ggml
