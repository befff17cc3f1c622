// The lock of one C++ model as the Python bindings use it. A model (weights, KV cache, scratch) runs
// one call at a time; its _core.Model and every _core.Engine wrapping it share one ModelLock.
//
// The rules, so that nothing done from Python can hang the process:
//   * The GIL is never held while waiting for a model's mutex (a running generation holds the mutex
//     and takes the GIL in its callbacks): callers release the GIL first (acquire_*).
//   * Passes and generations (encode, decode, generate, chat send) wait their turn.
//   * Calls that read or change the model's state (reset, kv_cache, layer_outputs, kv_length, the
//     chunk_size / capture_layers setters, chat creation and clear) raise ModelBusyError while a
//     generation runs on the model in another thread: the state is moving (or in use) and waiting
//     could take minutes.
//   * A call made from inside a generation's own callback (same thread) reads the state directly (the
//     generation is paused there); anything that would run or change the model raises ModelBusyError
//     (it would otherwise wait for itself forever).
#pragma once

#include <atomic>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>

namespace ld::py {

// Raised (as llama_diffusion.ModelBusyError, a RuntimeError) for a call the model cannot take now.
class BusyError : public std::runtime_error {
public:
    explicit BusyError(const std::string & msg) : std::runtime_error(msg) {}
};

class ModelLock {
public:
    // Held access: unlocks on destruction (a no-op for a read from inside the running generation).
    class Hold {
    public:
        Hold() = default;
        Hold(Hold && o) noexcept : lock_(o.lock_) { o.lock_ = nullptr; }
        Hold & operator=(Hold && o) noexcept {
            release();
            lock_ = o.lock_;
            o.lock_ = nullptr;
            return *this;
        }
        ~Hold() { release(); }
        void release() {
            if (lock_) lock_->unlock();
            lock_ = nullptr;
        }

    private:
        friend class ModelLock;
        explicit Hold(ModelLock * l) : lock_(l) {}
        ModelLock * lock_ = nullptr;
    };

    // A pass or generation: waits for the model. Call with the GIL released. generating marks the
    // model as running a generation until the Hold is released (state calls then raise).
    Hold run(const char * what, bool generating = false) {
        if (owned_here()) throw BusyError(std::string(what) + reentry_msg());
        mu_.lock();
        owner_.store(std::this_thread::get_id());
        generating_.store(generating);
        return Hold(this);
    }

    // A read or change of the model's state: raises while a generation runs in another thread, else
    // waits for the (short) running pass. Call with the GIL released. reading: a read from inside the
    // generation's own callback proceeds without locking.
    Hold state(const char * what, bool reading) {
        if (owned_here()) {
            if (reading) return Hold();
            throw BusyError(std::string(what) + reentry_msg());
        }
        std::unique_lock<std::mutex> lk(mu_, std::try_to_lock);
        if (!lk.owns_lock()) {
            if (generating_.load())
                throw BusyError(std::string(what) +
                                ": a generation is running on this model in another thread (one generation per "
                                "model at a time); call it after the generation has finished or been cancelled");
            lk.lock();
        }
        lk.release();
        owner_.store(std::this_thread::get_id());
        generating_.store(false);
        return Hold(this);
    }

    // Whether a generation is running (for messages and tests).
    bool generating() const { return generating_.load(); }

private:
    bool owned_here() const { return owner_.load() == std::this_thread::get_id(); }
    static const char * reentry_msg() {
        return ": called from inside a generation or pass running on this model (e.g. from its on_step / "
               "on_commit callback); one model runs one call at a time, so call it after the generation returns";
    }
    void unlock() {
        generating_.store(false);
        owner_.store(std::thread::id());
        mu_.unlock();
    }

    std::mutex mu_;
    std::atomic<std::thread::id> owner_{std::thread::id()};
    std::atomic<bool> generating_{false};
};

}  // namespace ld::py
