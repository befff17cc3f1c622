// The Metal hook of a build without the Metal backend (LD_METAL off, every non-Apple build): it reports
// itself as not compiled.
#include "backend-metal.h"

#include "ld-ggml/error.h"

namespace ld::ggml::detail {

std::vector<BackendInfo> metal_backend_infos() {
    BackendInfo i;
    i.kind = BackendKind::metal;
    i.name = "metal";
    i.description = "Apple GPUs";
    i.compiled = false;
    i.available = false;
#if defined(__APPLE__)
    i.reason = "this build has no Metal backend (rebuild with -DLD_METAL=ON, e.g. pip install . -Ccmake.define.LD_METAL=ON)";
#else
    i.reason = "Metal needs macOS (this build has no Metal backend)";
#endif
    return {i};
}

std::unique_ptr<Backend> metal_backend_create(int) {
    throw Error("device 'metal': " + metal_backend_infos()[0].reason);
}

}  // namespace ld::ggml::detail
