// cpu_peak_gops: the dispatch of the peak-throughput micro-benchmarks to the loop of each ISA (built
// with that ISA's flags in its own file), each only where its ISA runs here; 0 elsewhere.
#include <cstring>

#include "ld-ggml/cpu-features.h"
#include "ld-ggml/cpu-matmul.h"
#include "peak.h"

namespace ld::ggml {

namespace {

[[maybe_unused]] bool isa_available(CpuIsa isa) {  // (unused in builds without x86 kernels)
    for (CpuIsa a : cpu_isas_available())
        if (a == isa) return true;
    return false;
}

}  // namespace

double cpu_peak_gops(const char * what, double seconds) {
    (void)seconds;  // (unused in builds without x86 kernels)
    if (std::strcmp(what, "amx_int8") == 0) {
#if defined(LD_HAVE_AMX)
        // the same test as the amx matmul ISA: CPU flags, OS tile state and the kernel's permission
        if (isa_available(CpuIsa::amx)) return peak::amx_int8_gops(seconds);
#endif
        return 0.0;
    }
    if (std::strcmp(what, "amx_bf16") == 0) {
#if defined(LD_HAVE_AMX)
        if (cpu_features().amx_bf16 && isa_available(CpuIsa::amx)) return peak::amx_bf16_gops(seconds);
#endif
        return 0.0;
    }
    if (std::strcmp(what, "avx2_int8") == 0) {
#if defined(LD_HAVE_AVX2)
        if (isa_available(CpuIsa::avx2)) return peak::avx2_int8_gops(seconds);
#endif
        return 0.0;
    }
    if (std::strcmp(what, "avx_vnni") == 0) {
#if defined(LD_HAVE_AVXVNNI)
        if (isa_available(CpuIsa::avx2_vnni)) return peak::avx_vnni_gops(seconds);
#endif
        return 0.0;
    }
#if defined(LD_HAVE_AVX512)
    if (isa_available(CpuIsa::avx512)) return peak::avx512_gops(what, seconds);
#endif
    return 0.0;
}

}  // namespace ld::ggml
