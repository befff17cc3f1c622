// The entropy-bound sampler of DiffusionGemma (docs/algorithm.md §8.3-§8.4), per denoising step of one canvas:
//   T(n)      = t_min + (t_max − t_min)·n/N            n = steps remaining (N … 1)
//   accept    : sort entropies ascending; position at rank k is accepted when the sum of the
//               entropies ranked before it is ≤ entropy_bound (the lowest one always is)
//   next      = draw at accepted positions, fresh uniform noise elsewhere (recomputed every step)
//   stop      = stable (argmax canvas equal to each of the last `stability` argmax canvases of this
//               block; always true for stability 0) and confident (mean entropy < confidence)
// Noise: the counter RNG for seeded runs, or the reference formula of the deterministic mode
//   (1 + 7919·i + 104729·k + 15485863·b) mod V, k = call counter over the whole generate call, b = 0.
#pragma once

#include <cstdint>
#include <deque>
#include <vector>

namespace ld::gen {

struct SamplerParams {
    int32_t max_steps = 48;            // N
    float t_min = 0.4f, t_max = 0.8f;
    float entropy_bound = 0.1f;
    int32_t stability = 1;             // stability_threshold
    float confidence = 0.005f;         // confidence_threshold

    // ld::Error naming the parameter for values HF rejects (steps < 1, t_min < 0, t_max <= t_min,
    // entropy_bound <= 0, stability < 0, confidence <= 0, non-finite values).
    void validate() const;
};

// Temperature with n steps remaining (1 <= n <= N).
float step_temperature(const SamplerParams & p, int32_t n);

// accept[C] (0/1) from entropy[C]; returns the number of accepted positions.
int64_t entropy_bound_accept(const float * entropy, int64_t C, float bound, uint8_t * accept);

// Stable-and-confident stopping over one canvas.
class StopCriterion {
public:
    void reset(int32_t stability, float confidence, int64_t C);
    // Feeds this step's argmax canvas and entropies; true when the canvas is done.
    bool update(const int32_t * argmax, const float * entropy);
    float last_mean_entropy() const { return mean_; }

private:
    int32_t stability_ = 1;
    float confidence_ = 0.005f;
    int64_t C_ = 0;
    std::deque<std::vector<int32_t>> history_;  // the last `stability` argmax canvases (-1 filled)
    float mean_ = 0.0f;
};

// Initial canvases and renoise.
class NoiseSource {
public:
    NoiseSource(bool formula, uint64_t seed, int64_t vocab) : formula_(formula), seed_(seed), V_(vocab) {}
    // out[C]; canvas_key / step identify the draw in seeded mode (step 0 = initial canvas).
    void fill(int32_t * out, int64_t C, uint64_t canvas_key, uint64_t step);
    int64_t calls() const { return k_; }

private:
    bool formula_;
    uint64_t seed_;
    int64_t V_;
    int64_t k_ = 0;
};

}  // namespace ld::gen
