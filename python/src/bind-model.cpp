// Registration of the model-level bindings. For now it registers the tokenizer
// (bind-tokenizer.cpp); the model and generation bindings will be added here.
// (register_tokenizer is declared here until bindings.h gains it.)
#include "bindings.h"

namespace ld::py {

void register_tokenizer(pybind11::module_ & m);

void register_model(pybind11::module_ & m) {
    register_tokenizer(m);
}

}  // namespace ld::py
