// TEMPORARY placeholder: GGUFError only, until the GGUF reader bindings land.
#include <pybind11/pybind11.h>
#include "bindings.h"
namespace ld::py {
void register_gguf(pybind11::module_ & m) {
    static pybind11::exception<std::runtime_error> exc(m, "GGUFError", PyExc_ValueError);
}
}  // namespace ld::py
