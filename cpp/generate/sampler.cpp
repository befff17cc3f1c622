// Entropy-bound acceptance, temperature schedule, stopping and noise (see sampler.h).
#include "generate/sampler.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "common/error.h"
#include "generate/rng.h"

namespace ld::gen {

void SamplerParams::validate() const {
    if (max_steps < 1) throw Error(strfmt("sampler: max_steps must be >= 1, got %d", max_steps));
    if (!std::isfinite(t_min) || !std::isfinite(t_max)) throw Error(strfmt("sampler: t_min / t_max must be finite (got %g, %g)", (double)t_min, (double)t_max));
    if (t_min < 0.0f) throw Error(strfmt("sampler: t_min must be >= 0, got %g", (double)t_min));
    if (!(t_max > t_min)) throw Error(strfmt("sampler: t_max must be > t_min, got t_min %g, t_max %g", (double)t_min, (double)t_max));
    if (!(entropy_bound > 0.0f) || !std::isfinite(entropy_bound))
        throw Error(strfmt("sampler: entropy_bound must be > 0, got %g", (double)entropy_bound));
    if (stability < 0) throw Error(strfmt("sampler: stability threshold must be >= 0, got %d", stability));
    if (!(confidence > 0.0f) || !std::isfinite(confidence))
        throw Error(strfmt("sampler: confidence threshold must be > 0, got %g", (double)confidence));
}

float step_temperature(const SamplerParams & p, int32_t n) {
    // HF: t_min + (t_max - t_min) * (cur_step / N) in Python doubles, then the fp32 logits are divided.
    const double t = (double)p.t_min + ((double)p.t_max - (double)p.t_min) * ((double)n / (double)p.max_steps);
    return (float)t;
}

int64_t entropy_bound_accept(const float * entropy, int64_t C, float bound, uint8_t * accept) {
    std::vector<int64_t> order((size_t)C);
    std::iota(order.begin(), order.end(), 0);
    std::stable_sort(order.begin(), order.end(), [&](int64_t a, int64_t b) { return entropy[a] < entropy[b]; });
    float cs = 0.0f;  // fp32 cumulative sum, as torch.cumsum on the fp32 entropies
    int64_t n = 0;
    for (int64_t k = 0; k < C; ++k) {
        const float e = entropy[order[(size_t)k]];
        cs += e;
        const bool ok = (cs - e) <= bound;
        accept[order[(size_t)k]] = ok ? 1 : 0;
        n += ok;
    }
    return n;
}

void StopCriterion::reset(int32_t stability, float confidence, int64_t C) {
    stability_ = stability;
    confidence_ = confidence;
    C_ = C;
    history_.assign((size_t)std::max(stability, 0), std::vector<int32_t>((size_t)C, -1));
    mean_ = 0.0f;
}

bool StopCriterion::update(const int32_t * argmax, const float * entropy) {
    bool stable = true;
    if (stability_ > 0) {
        for (const auto & h : history_)
            if (!std::equal(h.begin(), h.end(), argmax)) { stable = false; break; }
        history_.pop_front();
        history_.emplace_back(argmax, argmax + C_);
    }
    float sum = 0.0f;
    for (int64_t i = 0; i < C_; ++i) sum += entropy[i];
    mean_ = sum / (float)C_;
    const bool confident = mean_ < confidence_;
    return stable && confident;
}

void NoiseSource::fill(int32_t * out, int64_t C, uint64_t canvas_key, uint64_t step) {
    if (formula_) {
        for (int64_t i = 0; i < C; ++i) {
            const int64_t x = (1 + 7919 * i + 104729 * k_) % V_;  // b = 0 (one sequence)
            out[i] = (int32_t)x;
        }
    } else {
        for (int64_t i = 0; i < C; ++i)
            out[i] = (int32_t)rng_below(seed_, RngPurpose::Noise, canvas_key, step, (uint64_t)i, V_);
    }
    ++k_;
}

}  // namespace ld::gen
