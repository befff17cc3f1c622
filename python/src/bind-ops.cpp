// TEMPORARY placeholder until the ops bindings land.
#include "bindings.h"
namespace ld::py {
void register_ops(pybind11::module_ & m) {}
}  // namespace ld::py
