// TEMPORARY placeholder until the engine bindings land.
#include "bindings.h"
namespace ld::py {
void register_engine(pybind11::module_ & m) {}
}  // namespace ld::py
