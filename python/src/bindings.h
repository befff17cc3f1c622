// Registration functions of the pybind11 extension `llama_diffusion._core`, one per area
// (one binding file each: bind-quants.cpp, bind-gguf.cpp, bind-cpu.cpp, ...).
#pragma once

#include <pybind11/pybind11.h>

#include <memory>
#include <utility>

#include "model-lock.h"

namespace ld { class Model; }
namespace ld::gen { struct GenStats; struct GenParams; }

namespace ld::py {

void register_quants(pybind11::module_ & m);
void register_cpu(pybind11::module_ & m);
void register_gguf(pybind11::module_ & m);
void register_ops(pybind11::module_ & m);       // CPU matmul kernels (dense, MoE)
void register_nn(pybind11::module_ & m);        // CPU attention and elementwise ops
void register_model(pybind11::module_ & m);     // tokenizer and chat format
void register_engine(pybind11::module_ & m);    // models (DiffusionGemma, Gemma 3), KV cache
void register_generate(pybind11::module_ & m);  // block-diffusion sampler and generation loop
void register_backend(pybind11::module_ & m);   // one backend's ops on numpy inputs (op tests)
void register_batch(pybind11::module_ & m);     // step-at-a-time sequences for the server (bind-batch.cpp)

// A generation's statistics as the Python dict of Result.stats (bind-generate.cpp; also the server's
// sequences, bind-batch.cpp).
pybind11::dict stats_dict(const gen::GenStats & s);

// p with every non-None entry of d applied (the keys of _core.Engine.params()); unknown keys are
// errors naming `who`; complete: every key but 'head' and 'temperature' must be present
// (bind-generate.cpp; also the server's sequences, bind-batch.cpp).
gen::GenParams apply_params(gen::GenParams p, const pybind11::dict & d, const char * who, bool complete);

// The C++ model held by a _core.Model object and the lock that serialises calls on it (model-lock.h),
// so that a _core.Engine can wrap the same model (shared weights and KV cache). ld::Error if obj is
// not a _core.Model.
std::pair<std::shared_ptr<ld::Model>, std::shared_ptr<ModelLock>> core_model_of(pybind11::handle obj);

// Takes `lock` for a state read or change (ModelLock::state) with the GIL released while waiting;
// returns holding both the lock and the GIL.
inline ModelLock::Hold hold_state(ModelLock & lock, const char * what, bool reading) {
    pybind11::gil_scoped_release nogil;
    return lock.state(what, reading);
}

}  // namespace ld::py
