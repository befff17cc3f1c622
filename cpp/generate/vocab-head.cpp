// The plain vocab head (from materialised logits) and the pieces both heads share; see vocab-head.h.
// The fused head is the CPU backend's op (ggml/src/cpu/vocab-head-fused.cpp); vocab_head_fused here
// adapts the engine's types to it.
#include "generate/vocab-head.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

#include "common/error.h"

namespace ld::gen {


void HeadOut::resize(int64_t C, int64_t H, bool soft_too) {
    argmax.assign((size_t)C, -1);
    draw.assign((size_t)C, -1);
    entropy.assign((size_t)C, 0.0f);
    if (soft_too) soft.assign((size_t)(C * H), 0.0f);
    else soft.clear();
}

void vocab_head_fused(const float * hidden, int64_t C, const Mat & out_w, const Mat & E, float softcap,
                      const HeadStep & st, HeadOut & out, ggml::ThreadPool * pool, int64_t tile) {
    const int64_t H = out_w.ne[0], V = out_w.ne[1];
    if (st.want_soft && (E.ne[0] != H || E.ne[1] != V))
        throw Error(strfmt("vocab head: embedding {%lld, %lld} does not match the output matrix {%lld, %lld}",
                           (long long)E.ne[0], (long long)E.ne[1], (long long)H, (long long)V));
    out.resize(C, H, st.want_soft);
    ggml::VocabHeadArgs a;
    a.hidden = hidden;
    a.C = C;
    a.H = H;
    a.V = V;
    a.out_w = out_w.data;
    a.out_type = out_w.type;
    a.embd = E.data;
    a.embd_type = E.type;
    a.softcap = softcap;
    a.temperature = st.temperature;
    a.sample = st.sample;
    a.seed = st.seed;
    a.canvas_key = st.canvas_key;
    a.step_key = st.step_key;
    a.argmax = out.argmax.data();
    a.draw = out.draw.data();
    a.entropy = out.entropy.data();
    a.soft = st.want_soft ? out.soft.data() : nullptr;
    ggml::vocab_head_fused(a, pool, tile);
}

void vocab_head_plain(const float * logits, int64_t C, int64_t V, const TransposedEmbedding * Et, const HeadStep & st,
                      HeadOut & out, float * processed, ggml::ThreadPool * pool) {
    ggml::vocab_head_check_temperature(st.temperature);
    if (C < 1 || V < 1) throw Error(strfmt("vocab head: empty input (C %lld, V %lld)", (long long)C, (long long)V));
    if (st.want_soft) {
        if (!Et || !Et->built()) throw Error("vocab head: soft requested without a built transposed embedding");
        if (Et->n_vocab() != V)
            throw Error(strfmt("vocab head: embedding has %lld rows, logits have %lld columns", (long long)Et->n_vocab(),
                               (long long)V));
    }
    const int64_t H = st.want_soft ? Et->n_embd() : 0;
    out.resize(C, H, false);
    std::vector<float> probs(st.want_soft ? (size_t)(C * V) : 0);
    if (!pool) pool = &ggml::ThreadPool::global();
    pool->parallel_for(C, [&](int64_t c, int) {
        const float * row = logits + c * V;
        std::vector<float> pl((size_t)V);
        float m = -std::numeric_limits<float>::infinity();
        int32_t am = -1;
        for (int64_t v = 0; v < V; ++v) {
            pl[(size_t)v] = row[v] / st.temperature;
            if (pl[(size_t)v] > m) { m = pl[(size_t)v]; am = (int32_t)v; }
        }
        if (processed) std::memcpy(processed + c * V, pl.data(), sizeof(float) * (size_t)V);
        double s = 0.0, a = 0.0;
        for (int64_t v = 0; v < V; ++v) {
            const double d = (double)pl[(size_t)v] - (double)m;
            const double w = std::exp(d);
            s += w;
            a += w * d;
        }
        ggml::vocab_head_check_finite(s, a, c);
        out.argmax[(size_t)c] = am;
        out.entropy[(size_t)c] = (float)(std::log(s) - a / s);
        if (st.sample) {
            ReservoirDraw r;
            for (int64_t v = 0; v < V; ++v) r.add((int32_t)v, std::exp((double)pl[(size_t)v] - (double)m), draw_key(st), (uint64_t)c);
            out.draw[(size_t)c] = r.pick;
        } else {
            out.draw[(size_t)c] = am;
        }
        if (st.want_soft)
            for (int64_t v = 0; v < V; ++v)
                probs[(size_t)(c * V + v)] = (float)(std::exp((double)pl[(size_t)v] - (double)m) / s);
    });
    if (st.want_soft) {
        out.soft.assign((size_t)(C * H), 0.0f);
        Et->apply(probs.data(), C, out.soft.data(), pool);  // soft [C, H] = P [C, V] · E
    }
}

}  // namespace ld::gen
