// The CPU backend's constructors, for the backend registry (backend.cpp).
#pragma once

#include <memory>

#include "ld-ggml/backend.h"

namespace ld::ggml {

// pool: the thread pool the ops run on (nullptr: ThreadPool::global()); must outlive the backend.
std::unique_ptr<Backend> cpu_backend_create(ThreadPool * pool);
// The simulated discrete device (BackendKind::sim): CPU kernels, separate memory, weights copied.
std::unique_ptr<Backend> sim_backend_create(ThreadPool * pool);

}  // namespace ld::ggml
