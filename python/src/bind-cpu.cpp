// Python bindings: CPU features and the kernel ISA (cpu_features(), cpu_isa(), set_cpu_isa()), and which
// weight types an ISA prepares (prepared_weight_supported(): what Model(repack=True) repacks).
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include "bindings.h"
#include "ld-ggml/cpu-features.h"
#include "ld-ggml/cpu-matmul.h"
#include "ld-ggml/error.h"
#include "ld-ggml/types.h"

namespace ld::py {

namespace pyb = pybind11;
using namespace ld::ggml;

void register_cpu(pyb::module_ & m) {
    m.def("cpu_features", []() {
        const CpuFeatures & f = cpu_features();
        pyb::dict d;
        d["arch"] = f.arch;
        const std::pair<const char *, bool> flags[] = {
            {"sse3", f.sse3}, {"ssse3", f.ssse3}, {"avx", f.avx}, {"avx2", f.avx2}, {"fma", f.fma},
            {"f16c", f.f16c}, {"bmi2", f.bmi2}, {"avx512f", f.avx512f}, {"avx512bw", f.avx512bw},
            {"avx512vl", f.avx512vl}, {"avx512dq", f.avx512dq}, {"avx512vnni", f.avx512vnni}, {"avx512vbmi", f.avx512vbmi},
            {"avx512bf16", f.avx512bf16}, {"avx512fp16", f.avx512fp16}, {"avx_vnni", f.avx_vnni},
            {"amx_tile", f.amx_tile}, {"amx_int8", f.amx_int8}, {"amx_bf16", f.amx_bf16},
            {"neon", f.neon}, {"dotprod", f.dotprod}, {"fp16", f.fp16}, {"i8mm", f.i8mm}, {"sve", f.sve},
            {"bf16", f.bf16}};
        for (auto & kv : flags) d[kv.first] = kv.second;
        pyb::list isas;
        for (CpuIsa isa : cpu_isas_available()) isas.append(cpu_isa_name(isa));
        d["isas"] = isas;
        d["isa"] = cpu_isa_name(cpu_isa());
        return d;
    }, "CPU features, the kernel ISAs this build can run here ('isas') and the one in effect ('isa').");
    m.def("cpu_isa", []() { return std::string(cpu_isa_name(cpu_isa())); }, "The kernel ISA in effect.");
    m.def("set_cpu_isa", [](const std::string & name) { cpu_isa_set(cpu_isa_from_name(name)); },
          "Force a kernel ISA (generic, avx2, avx2_vnni, avx512, amx, neon, neon_i8mm); ValueError if unavailable here.");
    m.def("prepared_weight_supported", [](const std::string & isa, const std::string & wtype, int64_t K) {
        const int32_t t = type_from_name(wtype.c_str());
        if (t < 0) throw ld::ggml::Error(ld::ggml::strfmt("unknown weight type '%s'", wtype.c_str()));
        return prepared_weight_supported(cpu_isa_from_name(isa), (Type)t, K);
    }, pyb::arg("isa"), pyb::arg("wtype"), pyb::arg("K"),
          "True where ISA prepares (repacks) weights of this type and row length K once, within 7% of their bytes.");
}

}  // namespace ld::py
