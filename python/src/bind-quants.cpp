// Python bindings: the reference quantizers and dequantizers of every type (llama_diffusion.quants).
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <string>

#include "bindings.h"
#include "common/error.h"
#include "ld-ggml/types.h"

namespace ld::py {

namespace pyb = pybind11;
using namespace ld::ggml;

namespace {

const TypeTraits & traits_by_name(const std::string & name) {
    int32_t id = type_from_name(name.c_str());
    const TypeTraits * t = id >= 0 ? type_traits(id) : nullptr;
    if (!t) throw ld::Error("unknown tensor type '" + name + "'");
    return *t;
}

void check_count(const TypeTraits & t, int64_t n) {
    if (n < 0) throw ld::Error(ld::strfmt("%s: negative element count %lld", t.name, (long long)n));
    if (n % t.block_size != 0)
        throw ld::Error(ld::strfmt("%s: element count %lld is not a multiple of the block size %lld", t.name,
                           (long long)n, (long long)t.block_size));
}

}  // namespace

void register_quants(pyb::module_ & m) {
    m.def("dequantize",
          [](pyb::array_t<uint8_t, pyb::array::c_style | pyb::array::forcecast> raw, const std::string & type,
             int64_t n) {
              const TypeTraits & t = traits_by_name(type);
              check_count(t, n);
              if (!t.to_float) throw ld::Error(std::string("type ") + t.name + " is not supported for dequantization");
              const size_t need = (size_t)(n / t.block_size) * t.type_size;
              if ((size_t)raw.size() < need)
                  throw ld::Error(ld::strfmt("%s: %lld elements need %zu bytes, got %zu", t.name, (long long)n, need,
                                     (size_t)raw.size()));
              pyb::array_t<float> out(n);
              const uint8_t * src = raw.data();
              float * dst = out.mutable_data();
              {
                  pyb::gil_scoped_release nogil;
                  t.to_float(src, dst, n);
              }
              return out;
          },
          pyb::arg("raw"), pyb::arg("type"), pyb::arg("n_elements"),
          "Dequantize n_elements values of a GGUF type from raw bytes (reference kernel) -> float32[n].");
    m.def("quantize",
          [](pyb::array_t<float, pyb::array::c_style | pyb::array::forcecast> x, const std::string & type,
             bool x86_runtime) {
              const TypeTraits & t = traits_by_name(type);
              const int64_t n = (int64_t)x.size();
              check_count(t, n);
              from_float_fn fn = t.from_float_ref;
              if (x86_runtime) {
                  if (std::string(t.name) != "Q8_0") throw ld::Error("x86_runtime applies to Q8_0 only");
                  fn = &quantize_row_q8_0_x86;
              }
              if (!fn && type_needs_imatrix(type_from_name(t.name)))
                  throw ld::Error(std::string("type ") + t.name +
                                  " has no quantizer: llama-quantize makes it only with an importance matrix, which"
                                  " this engine does not have (IQ3_XXS and IQ3_S quantize without one)");
              if (!fn) throw ld::Error(std::string("type ") + t.name + " has no quantizer");
              pyb::array_t<uint8_t> out((pyb::ssize_t)((size_t)(n / t.block_size) * t.type_size));
              const float * src = x.data();
              uint8_t * dst = out.mutable_data();
              {
                  pyb::gil_scoped_release nogil;
                  fn(src, dst, n);
              }
              return out;
          },
          pyb::arg("x"), pyb::arg("type"), pyb::arg("x86_runtime") = false,
          "Quantize float32 values to a GGUF type with the reference rule -> uint8 bytes.");
    m.def("type_info", [](const std::string & type) {
        const TypeTraits & t = traits_by_name(type);
        pyb::dict d;
        d["name"] = t.name;
        d["block_size"] = t.block_size;
        d["type_size"] = t.type_size;
        d["quantized"] = t.quantized;
        d["dequantize"] = t.to_float != nullptr;
        d["quantize"] = t.from_float_ref != nullptr;
        d["vec_dot_type"] = std::string(type_name((int32_t)t.vec_dot_type));
        d["id"] = type_from_name(t.name);
        return d;
    }, "Traits of a GGUF type by name.");
    m.def("type_names", []() {
        std::vector<std::string> names;
        for (int32_t id = 0; id < (int32_t)Type::COUNT; ++id)
            if (type_traits(id)) names.push_back(type_traits(id)->name);
        return names;
    }, "Every GGUF type name this engine knows (readable or not).");
}

}  // namespace ld::py
