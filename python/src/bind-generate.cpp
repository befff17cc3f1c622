// TEMPORARY placeholder until the generate bindings land.
#include "bindings.h"
namespace ld::py {
void register_generate(pybind11::module_ & m) {}
}  // namespace ld::py
