// The plain vocab head (from materialised logits) and the pieces both heads share; see vocab-head.h.
// The fused head is in vocab-head-fused.cpp.
#include "generate/vocab-head.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

#include "common/error.h"
#include "generate/rng.h"
#include "generate/vocab-head-detail.h"

namespace ld::gen {

using detail::check_finite;
using detail::check_step;

void HeadOut::resize(int64_t C, int64_t H, bool soft_too) {
    argmax.assign((size_t)C, -1);
    draw.assign((size_t)C, -1);
    entropy.assign((size_t)C, 0.0f);
    if (soft_too) soft.assign((size_t)(C * H), 0.0f);
    else soft.clear();
}

void ReservoirDraw::add(int32_t v, double w, const HeadStep & st, uint64_t position) {
    W += w;
    if (W > threshold) {
        pick = v;
        const double r = rng_uniform(st.seed, RngPurpose::Sample, st.canvas_key, st.step_key,
                                     (position << 20) | (uint64_t)(n_draws & 0xFFFFF));
        ++n_draws;
        threshold = W / r;
    }
}

namespace detail {

void check_step(const HeadStep & st) {
    if (!(st.temperature > 0.0f) || !std::isfinite(st.temperature))
        throw Error(strfmt("vocab head: temperature must be > 0, got %g", (double)st.temperature));
}

void check_finite(double s, double a, int64_t c) {
    if (!(s > 0.0) || !std::isfinite(s) || !std::isfinite(a))
        throw Error(strfmt("vocab head: the logits of canvas position %lld are not finite (NaN or inf)", (long long)c));
}

}  // namespace detail

void vocab_head_plain(const float * logits, int64_t C, int64_t V, const TransposedEmbedding * Et, const HeadStep & st,
                      HeadOut & out, float * processed, ggml::ThreadPool * pool) {
    check_step(st);
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
        check_finite(s, a, c);
        out.argmax[(size_t)c] = am;
        out.entropy[(size_t)c] = (float)(std::log(s) - a / s);
        if (st.sample) {
            ReservoirDraw r;
            for (int64_t v = 0; v < V; ++v) r.add((int32_t)v, std::exp((double)pl[(size_t)v] - (double)m), st, (uint64_t)c);
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
