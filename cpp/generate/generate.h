// Generation on a loaded model: the multi-canvas block-diffusion loop (docs/algorithm.md §8.2-§8.5) and an
// autoregressive mode on the same weights, with streaming callbacks, cancellation and statistics.
//
// Diffusion (per canvas b, positions continue after the model's KV cache; the loop is gen::Sequence's,
// batch.h, on the model's own cache):
//   canvas = noise; for n = N … 1: decoder pass (self-conditioning from the previous step),
//   vocab head (fused or plain), entropy-bound acceptance, renoise, stop check; then commit the
//   ARGMAX canvas of the last executed step; pad every token after its first EOS; stop on EOS, after
//   ceil(max_tokens / C) canvases (whole canvases: the output is never truncated), at the canvas cap
//   or the context limit; otherwise encode the committed canvas at the positions the decoder used.
// AR: encoder prefill, then one token at a time from the AR head (greedy or temperature sampling).
//
// After generate() the cache holds the prompt and every committed token except Result::pending (the
// last canvas up to its first EOS, or the last AR token), which a chat session encodes with the
// next turn. One Generator per Model; not thread-safe.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "generate/sampler.h"
#include "generate/vocab-head.h"
#include "ld-ggml/thread-pool.h"
#include "model/model.h"
#include "tokenizer/chat.h"
#include "tokenizer/tokenizer.h"

namespace ld::gen {

enum class GenMode { diffusion, ar };
enum class HeadKind { fused, plain };

GenMode gen_mode_from_name(const std::string & s);  // "diffusion" / "ar"; ld::Error otherwise
const char * gen_mode_name(GenMode m);

struct GenParams {
    GenMode mode = GenMode::diffusion;
    int32_t max_tokens = 256;     // diffusion: rounded up to whole canvases; AR: exact
    int32_t max_canvases = 0;     // cap on canvases (0: none besides max_tokens)
    int64_t n_ctx = 0;            // limit on cached + generated tokens (0: none)
    SamplerParams sampler;
    uint64_t seed = 0;
    bool deterministic = false;   // reference-deterministic mode: argmax draws + formula noise
    std::vector<int32_t> eos_ids; // stop set
    int32_t pad_id = 0;
    HeadKind head = HeadKind::fused;  // as fast as plain at real size, half the memory (bench/results/generate-2layer.md)
    float ar_temperature = 0.0f;  // AR mode: 0 = greedy
    // Sparse self-conditioning (diffusion, fused head on the CPU): the soft embedding skips the vocabulary rows
    // whose probability is provably negligible, at most this much dropped mass per position (e.g. 1e-6;
    // VocabHeadArgs::soft_drop_mass). 0: exact, every row (the default; deterministic mode is always exact).
    float soft_drop_mass = 0.0f;

    void validate(const Model & m) const;
};

// Defaults of a model: sampler from the GGUF's diffusion.* keys; stop set from
// HParams::eos_token_ids (diffusion.eos_token_ids), else the tokenizer's EOS plus <turn|>, <|tool_response>, <end_of_turn>
// found by their text; pad from the tokenizer (0 without one).
GenParams default_gen_params(const Model & m, const Tokenizer * tok);

struct GenStats {
    int64_t prompt_tokens = 0;            // tokens encoded before generation
    int32_t n_canvases = 0;
    std::vector<int32_t> steps_per_canvas;
    int64_t n_steps = 0;                  // decoder steps (diffusion) / tokens (AR)
    double prefill_ms = 0.0;
    double generate_ms = 0.0;             // everything after the prefill
    double ms_per_step = 0.0;
    int64_t generated_tokens = 0;         // tokens returned (padding included)
    int64_t delivered_tokens = 0;         // tokens before the first EOS
    double tokens_per_s = 0.0;            // delivered tokens / generate time
    int64_t peak_rss_bytes = 0;
    double soft_rows_fraction = 1.0;      // vocabulary rows the soft embeddings used / all rows (sparse mode)
    std::string stop_reason;              // "eos", "length", "context", "cancelled"
};

struct GenResult {
    std::vector<int32_t> tokens;   // generated ids, padding included (HF's output after the prompt)
    std::vector<int32_t> pending;  // committed tokens not in the cache (without padding)
    GenStats stats;
};

struct StepEvent {
    int32_t canvas = 0, step = 0, steps_remaining = 0, max_steps = 0;
    const int32_t * draft = nullptr;   // [C] the current argmax canvas
    int64_t C = 0;
    int64_t n_accepted = 0;
    float mean_entropy = 0.0f, temperature = 0.0f;
};

struct CommitEvent {
    int32_t canvas = 0;
    const int32_t * tokens = nullptr;  // the committed tokens (padding included)
    int64_t n = 0;
    bool finished = false;
};

struct GenCallbacks {
    std::function<void(const StepEvent &)> on_step;
    std::function<void(const CommitEvent &)> on_commit;
    const std::atomic<bool> * cancel = nullptr;  // checked before every step / token
};

class Generator {
public:
    explicit Generator(Model & m) : m_(m) {}
    Model & model() { return m_; }

    // Appends prompt (non-empty) after the model's cache and generates.
    GenResult generate(const std::vector<int32_t> & prompt, const GenParams & p, const GenCallbacks & cb = {});

private:
    GenResult run_diffusion(const std::vector<int32_t> & prompt, const GenParams & p, const GenCallbacks & cb);
    GenResult run_ar(const std::vector<int32_t> & prompt, const GenParams & p, const GenCallbacks & cb);

    Model & m_;
};

// Peak resident set size of the process in bytes (0 when unknown).
int64_t peak_rss_bytes();

// The end-of-generation statistics of r: generate_ms, token counts (delivered: before the first EOS),
// ms per step, tokens/s, peak RSS.
void finish_stats(GenResult & r, double generate_ms, const std::vector<int32_t> & eos);

// A multi-turn chat that keeps the model's KV cache across turns: each turn encodes only the
// previous reply's pending tokens, the turn separators and the new user message.
class ChatSession {
public:
    ChatSession(Generator & g, std::shared_ptr<const Tokenizer> tok, ChatOptions opts = {}, std::string system = "");

    struct Reply {
        std::string text;      // decoded reply (up to the first EOS, special tokens skipped)
        GenResult result;
        int64_t new_tokens = 0;  // prompt tokens encoded for this turn
    };
    Reply send(const std::string & message, const GenParams & p, const GenCallbacks & cb = {});
    void clear();              // forgets the history and empties the cache
    int32_t turns() const { return turns_; }
    // The ids of the next turn's prompt for `message` (what send() would encode).
    std::vector<int32_t> turn_ids(const std::string & message) const;

private:
    Generator & g_;
    std::shared_ptr<const Tokenizer> tok_;
    ChatOptions opts_;
    std::string system_;
    std::vector<int32_t> pending_;
    int32_t turns_ = 0;
};

}  // namespace ld::gen
