// ld-cuda-probe: prints what backends_list() reports, one backend per line
// ("name kind compiled=0|1 available=0|1 reason=..."), for the CUDA build test. Exit status 0.
#include <cstdio>

#include "ld-ggml/backend.h"

int main() {
    for (const ld::ggml::BackendInfo & i : ld::ggml::backends_list())
        std::printf("%s %s compiled=%d available=%d description=%s reason=%s\n", i.name.c_str(),
                    ld::ggml::backend_kind_name(i.kind), i.compiled ? 1 : 0, i.available ? 1 : 0,
                    i.description.c_str(), i.reason.c_str());
    return 0;
}
