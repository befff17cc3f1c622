// TEMPORARY placeholder until the model bindings land.
#include "bindings.h"
namespace ld::py {
void register_model(pybind11::module_ & m) {}
}  // namespace ld::py
