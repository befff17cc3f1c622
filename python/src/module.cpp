// The extension module llama_diffusion._core: maps ld::Error to ValueError, ld::py::BusyError to
// ModelBusyError (a RuntimeError: the model is running a generation) and registers each area.
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
    PYBIND11_CONSTINIT static pybind11::gil_safe_call_once_and_store<pybind11::object> busy_error;
    busy_error.call_once_and_store_result([&]() -> pybind11::object {
        return pybind11::exception<ld::py::BusyError>(m, "ModelBusyError", PyExc_RuntimeError);
    });
    pybind11::register_exception_translator([](std::exception_ptr p) {
        try {
            if (p) std::rethrow_exception(p);
        } catch (const ld::py::BusyError & e) {
            PyErr_SetString(busy_error.get_stored().ptr(), e.what());
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
    ld::py::register_backend(m);
}
