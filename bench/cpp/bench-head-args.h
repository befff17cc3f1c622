// The fused vocab head's arguments for a model file's own output and embedding matrices, shared by the
// head benchmarks (bench-vocab-head.cpp, bench-sparse-sc.cpp): hidden [C, H] and the output arrays are the
// caller's (argmax, draw, entropy [C]; soft [C, H] or nullptr); temperature 1, no sampling, exact mode.
#pragma once

#include <vector>

#include "ld-ggml/cpu-vocab-head.h"
#include "model/model.h"

namespace ld::bench {

struct HeadOutputs {
    std::vector<int32_t> argmax, draw;
    std::vector<float> entropy;
    explicit HeadOutputs(int64_t C) : argmax((size_t)C), draw((size_t)C), entropy((size_t)C) {}
};

inline ggml::VocabHeadArgs head_args(const Model & m, const float * hidden, int64_t C, HeadOutputs & o, float * soft) {
    const Weights & w = m.weights();
    ggml::VocabHeadArgs a;
    a.hidden = hidden;
    a.C = C;
    a.H = m.hparams().n_embd;
    a.V = m.hparams().n_vocab;
    a.out_w = w.output.data;
    a.out_type = w.output.type;
    a.embd = w.tok_embd.data;
    a.embd_type = w.tok_embd.type;
    a.softcap = m.hparams().final_softcap;
    a.temperature = 1.0f;
    a.argmax = o.argmax.data();
    a.draw = o.draw.data();
    a.entropy = o.entropy.data();
    a.soft = soft;
    return a;
}

}  // namespace ld::bench
