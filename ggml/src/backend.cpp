// The backend registry: names, what this build and machine offer, and construction (backend.h).
#include "ld-ggml/backend.h"

#include "backend-cuda.h"
#include "backend-metal.h"
#include "cpu/backend-cpu.h"
#include "ld-ggml/cpu-features.h"
#include "ld-ggml/error.h"

namespace ld::ggml {

const char * backend_kind_name(BackendKind k) {
    switch (k) {
        case BackendKind::cpu: return "cpu";
        case BackendKind::cuda: return "cuda";
        case BackendKind::metal: return "metal";
        case BackendKind::sim: return "sim";
    }
    return "?";
}

BackendKind backend_kind_from_name(const std::string & name) {
    if (name == "cpu") return BackendKind::cpu;
    if (name == "cuda") return BackendKind::cuda;
    if (name == "metal") return BackendKind::metal;
    if (name == "sim") return BackendKind::sim;
    throw Error(strfmt("unknown device '%s' (expected auto, cpu, cuda, metal or sim)", name.c_str()));
}

std::vector<BackendInfo> backends_list() {
    std::vector<BackendInfo> out;
    BackendInfo cpu;
    cpu.kind = BackendKind::cpu;
    cpu.name = "cpu";
    cpu.description = strfmt("%s kernels, %d threads", cpu_isa_name(cpu_isa()), ThreadPool::global().n_threads());
    cpu.compiled = cpu.available = true;
    out.push_back(cpu);
    for (BackendInfo & i : detail::cuda_backend_infos()) out.push_back(std::move(i));
    for (BackendInfo & i : detail::metal_backend_infos()) out.push_back(std::move(i));
    BackendInfo sim;
    sim.kind = BackendKind::sim;
    sim.name = "sim";
    sim.description = "simulated discrete device (CPU kernels, separate memory; for tests)";
    sim.compiled = sim.available = true;
    out.push_back(sim);
    return out;
}

std::unique_ptr<Backend> backend_create(BackendKind kind, ThreadPool * pool, int device) {
    switch (kind) {
        case BackendKind::cpu: return cpu_backend_create(pool);
        case BackendKind::cuda:
            if (device < 0) throw Error(strfmt("device 'cuda:%d': the device index must be >= 0", device));
            return detail::cuda_backend_create(device);
        case BackendKind::metal:
            if (device < 0) throw Error(strfmt("device 'metal:%d': the device index must be >= 0", device));
            return detail::metal_backend_create(device);
        case BackendKind::sim: return sim_backend_create(pool);
    }
    throw Error("backend_create: unknown backend kind");
}

}  // namespace ld::ggml
