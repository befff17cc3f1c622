// The Metal backend with its kernels run by the Linux emulator (msl-emu.h): the real op layer
// (ops-metal.cpp) and the real .metal kernels compiled as C++, on host memory. For tests only (it is
// slow: every GPU thread is a fiber); it checks that every buffer a kernel is given lies inside memory
// of this backend, fills fresh allocations with NaN bytes, and reports the emulator's strictness errors
// as ggml::Error.
#pragma once

#include <memory>

#include "ld-ggml/backend.h"

namespace ld::ggml::metal {

std::unique_ptr<Backend> metal_emu_backend_create();

// The environment variable that makes device "metal" the emulated backend in builds with the emulator
// (LD_METAL_EMU, on by default): LD_METAL_EMULATOR=1. For tests of the whole engine on the Metal
// kernels without a Mac; never chosen otherwise.
inline constexpr const char * kMetalEmulatorEnv = "LD_METAL_EMULATOR";
bool metal_emulator_requested();

}  // namespace ld::ggml::metal
