// CPU feature detection and ISA selection (see cpu-features.h).
#include "ld-ggml/cpu-features.h"

#include <atomic>
#include <cstdlib>
#include <cstdint>

#include "ld-ggml/error.h"

#if defined(__x86_64__) || defined(_M_X64) || defined(__i386__)
#define LD_X86 1
#include <cpuid.h>
#endif
#if defined(LD_X86) && defined(__linux__)
#include <sys/syscall.h>
#include <unistd.h>
#endif
#if defined(__aarch64__) && defined(__linux__)
#define LD_ARM_LINUX 1
#include <sys/auxv.h>
#endif
#if defined(__aarch64__) && defined(__APPLE__)
#include <sys/sysctl.h>
#endif

namespace ld::ggml {

namespace {

#if defined(__aarch64__) && defined(__APPLE__)
// An hw.optional.* flag of macOS (1 when the CPU has the feature; false where the key is unknown).
bool apple_sysctl_flag(const char * name) {
    int v = 0;
    size_t n = sizeof v;
    return sysctlbyname(name, &v, &n, nullptr, 0) == 0 && v != 0;
}
#endif

#ifdef LD_X86
void cpuid(uint32_t leaf, uint32_t sub, uint32_t r[4]) { __cpuid_count(leaf, sub, r[0], r[1], r[2], r[3]); }
uint64_t xgetbv0() {
    uint32_t eax, edx;
    __asm__ volatile("xgetbv" : "=a"(eax), "=d"(edx) : "c"(0));
    return ((uint64_t)edx << 32) | eax;
}
#endif

CpuFeatures detect() {
    CpuFeatures f;
#ifdef LD_X86
    f.arch = "x86_64";
    uint32_t r[4];
    cpuid(0, 0, r);
    const uint32_t max_leaf = r[0];
    cpuid(1, 0, r);
    const uint32_t ecx1 = r[2];
    f.sse3 = ecx1 & (1u << 0);
    f.ssse3 = ecx1 & (1u << 9);
    const bool fma = ecx1 & (1u << 12);
    const bool osxsave = ecx1 & (1u << 27);
    const bool avx = ecx1 & (1u << 28);
    const bool f16c = ecx1 & (1u << 29);
    uint64_t xcr0 = osxsave ? xgetbv0() : 0;
    const bool os_ymm = (xcr0 & 0x6) == 0x6;            // SSE + AVX state
    const bool os_zmm = (xcr0 & 0xE6) == 0xE6;          // + opmask, ZMM_Hi256, Hi16_ZMM
    const bool os_amx = (xcr0 & (3ull << 17)) == (3ull << 17);  // XTILECFG + XTILEDATA
    f.avx = avx && os_ymm;
    f.fma = fma && os_ymm;
    f.f16c = f16c && os_ymm;
    if (max_leaf >= 7) {
        cpuid(7, 0, r);
        const uint32_t ebx = r[1], ecx = r[2], edx = r[3];
        f.avx2 = (ebx & (1u << 5)) && os_ymm;
        f.bmi2 = ebx & (1u << 8);
        f.avx512f = (ebx & (1u << 16)) && os_zmm;
        f.avx512dq = (ebx & (1u << 17)) && os_zmm;
        f.avx512bw = (ebx & (1u << 30)) && os_zmm;
        f.avx512vl = (ebx & (1u << 31)) && os_zmm;
        f.avx512vnni = (ecx & (1u << 11)) && os_zmm;
        f.avx512vbmi = (ecx & (1u << 1)) && os_zmm;
        f.avx512fp16 = (edx & (1u << 23)) && os_zmm;
        f.amx_bf16 = (edx & (1u << 22)) && os_amx;
        f.amx_tile = (edx & (1u << 24)) && os_amx;
        f.amx_int8 = (edx & (1u << 25)) && os_amx;
        cpuid(7, 1, r);
        f.avx_vnni = (r[0] & (1u << 4)) && os_ymm;
        f.avx512bf16 = (r[0] & (1u << 5)) && os_zmm;
    }
#elif defined(__aarch64__)
    f.arch = "aarch64";
    f.neon = true;  // mandatory in AArch64
#ifdef LD_ARM_LINUX
    const unsigned long hw = getauxval(AT_HWCAP);
    const unsigned long hw2 = getauxval(AT_HWCAP2);
    f.fp16 = hw & (1ul << 10);     // HWCAP_ASIMDHP
    f.dotprod = hw & (1ul << 20);  // HWCAP_ASIMDDP
    f.sve = hw & (1ul << 22);      // HWCAP_SVE
    f.i8mm = hw2 & (1ul << 13);    // HWCAP2_I8MM
    f.bf16 = hw2 & (1ul << 14);    // HWCAP2_BF16
#elif defined(__APPLE__)
    f.fp16 = f.dotprod = true;     // every Apple silicon core has them
    f.i8mm = apple_sysctl_flag("hw.optional.arm.FEAT_I8MM");  // M2 and later
#endif
#else
    f.arch = "other";
#endif
    return f;
}

// Linux hands out the AMX tile data state only on request (arch_prctl ARCH_REQ_XCOMP_PERM for
// XFEATURE_XTILEDATA); asked once per process, false where it refuses or the OS is not Linux.
bool amx_permitted() {
#if defined(LD_X86) && defined(__linux__) && defined(SYS_arch_prctl)
    static const bool ok = syscall(SYS_arch_prctl, 0x1023 /* ARCH_REQ_XCOMP_PERM */, 18 /* XTILEDATA */) == 0;
    return ok;
#else
    return false;
#endif
}

// in order of preference: the last one available is the default
constexpr CpuIsa kAllIsas[] = {CpuIsa::generic, CpuIsa::avx2, CpuIsa::avx2_vnni, CpuIsa::avx512,
                               CpuIsa::amx,     CpuIsa::neon, CpuIsa::neon_i8mm};

bool isa_built(CpuIsa isa) {
    switch (isa) {
        case CpuIsa::generic: return true;
#ifdef LD_HAVE_AVX2
        case CpuIsa::avx2: return true;
#endif
#if defined(LD_HAVE_AVX2) && defined(LD_HAVE_AVXVNNI)
        case CpuIsa::avx2_vnni: return true;
#endif
#ifdef LD_HAVE_AVX512
        case CpuIsa::avx512: return true;
#endif
#if defined(LD_HAVE_AVX512) && defined(LD_HAVE_AMX)
        case CpuIsa::amx: return true;
#endif
#ifdef LD_HAVE_NEON
        case CpuIsa::neon: return true;
#endif
#if defined(LD_HAVE_NEON) && defined(LD_HAVE_NEON_I8MM)
        case CpuIsa::neon_i8mm: return true;
#endif
        default: return false;
    }
}

bool isa_runs(CpuIsa isa) {
    const CpuFeatures & f = cpu_features();
    switch (isa) {
        case CpuIsa::generic: return true;
        case CpuIsa::avx2: return f.avx2 && f.fma && f.f16c && f.bmi2;
        case CpuIsa::avx2_vnni: return isa_runs(CpuIsa::avx2) && f.avx_vnni;
        case CpuIsa::avx512:
            return f.avx2 && f.fma && f.f16c && f.bmi2 && f.avx512f && f.avx512bw && f.avx512vl && f.avx512dq &&
                   f.avx512vnni && f.avx512bf16;
        case CpuIsa::amx: return isa_runs(CpuIsa::avx512) && f.avx512vbmi && f.amx_tile && f.amx_int8 && amx_permitted();
        case CpuIsa::neon: return f.neon && f.dotprod && f.fp16;
        case CpuIsa::neon_i8mm: return isa_runs(CpuIsa::neon) && f.i8mm;
    }
    return false;
}

std::atomic<int> g_isa{-1};

}  // namespace

const CpuFeatures & cpu_features() {
    static const CpuFeatures f = detect();
    return f;
}

const char * cpu_isa_name(CpuIsa isa) {
    switch (isa) {
        case CpuIsa::generic: return "generic";
        case CpuIsa::avx2: return "avx2";
        case CpuIsa::avx2_vnni: return "avx2_vnni";
        case CpuIsa::avx512: return "avx512";
        case CpuIsa::amx: return "amx";
        case CpuIsa::neon: return "neon";
        case CpuIsa::neon_i8mm: return "neon_i8mm";
    }
    return "unknown";
}

std::vector<CpuIsa> cpu_isas_available() {
    std::vector<CpuIsa> out;
    for (CpuIsa isa : kAllIsas) {
        if (isa_built(isa) && isa_runs(isa)) out.push_back(isa);
    }
    return out;
}

CpuIsa cpu_isa_from_name(const std::string & name) {
    for (CpuIsa isa : kAllIsas) {
        if (name == cpu_isa_name(isa)) return isa;
    }
    throw Error("unknown CPU ISA '" + name + "' (expected generic, avx2, avx2_vnni, avx512, amx, neon or neon_i8mm)");
}

void cpu_isa_set(CpuIsa isa) {
    if (!isa_built(isa)) throw Error(std::string("CPU ISA '") + cpu_isa_name(isa) + "' is not built into this binary");
    if (!isa_runs(isa)) throw Error(std::string("CPU ISA '") + cpu_isa_name(isa) + "' is not supported by this CPU");
    g_isa.store((int)isa);
}

CpuIsa cpu_isa() {
    int v = g_isa.load();
    if (v >= 0) return (CpuIsa)v;
    const char * env = std::getenv("LD_CPU_ISA");
    if (env && *env) {
        CpuIsa isa = cpu_isa_from_name(env);
        cpu_isa_set(isa);
        return isa;
    }
    CpuIsa best = cpu_isas_available().back();
    g_isa.store((int)best);
    return best;
}

}  // namespace ld::ggml
