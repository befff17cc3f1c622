// TEMPORARY placeholder until the nn bindings land.
#include "bindings.h"
namespace ld::py {
void register_nn(pybind11::module_ & m) {}
}  // namespace ld::py
