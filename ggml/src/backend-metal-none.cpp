// The Metal hook of a build without the Metal backend (LD_METAL off, every non-Apple build): it reports
// itself as not compiled.
#include "backend-metal.h"

#include "ld-ggml/error.h"
#if defined(LD_HAVE_METAL_EMU)
#include "metal/backend-emu-metal.h"
#endif

namespace ld::ggml::detail {

std::vector<BackendInfo> metal_backend_infos() {
    BackendInfo i;
#if defined(LD_HAVE_METAL_EMU)
    if (metal::metal_emulator_requested()) {
        i.kind = BackendKind::metal;
        i.name = "metal:0";
        i.description = "the Metal kernels under the Linux emulator (LD_METAL_EMULATOR=1; tests only, slow)";
        i.compiled = i.available = true;
        return {i};
    }
#endif
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

std::unique_ptr<Backend> metal_backend_create(int device) {
#if defined(LD_HAVE_METAL_EMU)
    if (metal::metal_emulator_requested()) {
        if (device != 0) throw Error(strfmt("device 'metal:%d': the emulated Metal backend has only device 0", device));
        return metal::metal_emu_backend_create();
    }
#endif
    (void)device;
    throw Error("device 'metal': " + metal_backend_infos()[0].reason);
}

}  // namespace ld::ggml::detail
