// The extension module llama_diffusion._core: maps ld::Error to ValueError and registers each area.
#include <pybind11/pybind11.h>

#include "bindings.h"
#include "common/error.h"

PYBIND11_MODULE(_core, m) {
    m.doc() = "llama-diffusion C++ core";
    pybind11::register_exception_translator([](std::exception_ptr p) {
        try {
            if (p) std::rethrow_exception(p);
        } catch (const ld::ggml::Error & e) {
            PyErr_SetString(PyExc_ValueError, e.what());
        }
    });
    ld::py::register_quants(m);
    ld::py::register_cpu(m);
    ld::py::register_gguf(m);
    ld::py::register_ops(m);
    ld::py::register_nn(m);
    ld::py::register_model(m);
    ld::py::register_engine(m);
    ld::py::register_generate(m);
    ld::py::register_batch(m);
}
