// CPU feature detection (cpuid + xgetbv on x86, hwcaps on ARM) and the choice of kernel ISA.
// The ISA is picked once from what the CPU and OS support, or forced with the environment
// variable LD_CPU_ISA=generic|avx2|avx512|amx|neon|neon_i8mm (an ISA the CPU lacks is an error, not a crash).
#pragma once

#include <string>
#include <vector>

namespace ld::ggml {

struct CpuFeatures {
    std::string arch;  // "x86_64", "aarch64" or "other"
    // x86 (each already checked against the OS's saved register state)
    bool sse3 = false, ssse3 = false, avx = false, avx2 = false, fma = false, f16c = false, bmi2 = false;
    bool avx512f = false, avx512bw = false, avx512vl = false, avx512dq = false;
    bool avx512vnni = false, avx512vbmi = false, avx512bf16 = false, avx512fp16 = false, avx_vnni = false;
    bool amx_tile = false, amx_int8 = false, amx_bf16 = false;
    // ARM
    bool neon = false, dotprod = false, fp16 = false, i8mm = false, sve = false, bf16 = false;
};

// The kernel families. Every ISA file implements the same entry points. amx is avx512 plus Intel AMX
// tiles for the quantized matmul (every other kernel uses the avx512 table); it needs amx_tile,
// amx_int8, avx512vbmi (the byte permutes of the K-quant packing; every AMX CPU has it) and the kernel's permission to use the tile state (requested once, Linux). neon_i8mm is
// neon plus the Armv8.6 int8 matrix multiply (SMMLA) for the quantized matmul; it needs i8mm.
// avx2_vnni is avx2 plus AVX-VNNI (256-bit vpdpbusd: Intel Alder Lake and later cores without AVX-512)
// for the quantized matmul; every other kernel uses the avx2 table.
enum class CpuIsa { generic = 0, avx2 = 1, avx512 = 2, neon = 3, amx = 4, neon_i8mm = 5, avx2_vnni = 6 };

// The ISA whose kernel tables isa uses outside the quantized matmul (amx -> avx512, neon_i8mm -> neon,
// avx2_vnni -> avx2, else isa).
inline CpuIsa cpu_isa_base(CpuIsa isa) {
    return isa == CpuIsa::amx         ? CpuIsa::avx512
           : isa == CpuIsa::neon_i8mm ? CpuIsa::neon
           : isa == CpuIsa::avx2_vnni ? CpuIsa::avx2
                                      : isa;
}

const CpuFeatures & cpu_features();
const char * cpu_isa_name(CpuIsa isa);

// ISAs this binary was built with and this CPU can run, generic first, best last.
std::vector<CpuIsa> cpu_isas_available();

// The ISA in effect: LD_CPU_ISA when set (throws ld::ggml::Error if unknown or unsupported here),
// else the best available. Read once and cached; cpu_isa_set() overrides it (tests, benchmarks).
CpuIsa cpu_isa();
void cpu_isa_set(CpuIsa isa);  // throws ld::ggml::Error if this CPU/binary cannot run it
CpuIsa cpu_isa_from_name(const std::string & name);  // throws ld::ggml::Error on an unknown name

}  // namespace ld::ggml
