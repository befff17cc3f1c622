// Step-at-a-time block diffusion for a server: a Sequence is one request's generation state (its
// own KV cache, canvas, self-conditioning input, noise and stop criterion) that can be advanced one
// denoising step at a time, and step_batch() advances several sequences by one step each.
//
// Generator::generate's diffusion mode is a Sequence on the model's own cache stepped to the end (one
// implementation of the canvas loop), so a sequence reproduces Generator::generate token for token for
// the same prompt and parameters (prompts up to the prefill chunk are encoded in one call, as
// generate() does; longer ones in chunks of prefill_chunk tokens, which a server interleaves with the
// other sequences' steps).
//
// A server's sequence holds a model-level ld::Sequence (Model::new_sequence: its own KV cache on the
// model's backends and the soft embedding of its last step on the head backend), so the model's own
// cache is untouched. step_batch is the batched entry point: one decoder pass over the canvases of all the
// sequences (Model::decode_steps: shared matmuls and experts, attention per sequence on its own
// cache, the vocab head per sequence on the device), then the sampler per sequence on the host. Not
// thread-safe: the caller serialises calls on one model (the Python binding holds the model's lock).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "generate/generate.h"
#include "generate/sampler.h"
#include "generate/vocab-head.h"
#include "model/model.h"

namespace ld::gen {

class Sequence {
public:
    // Where a sequence's KV cache lives: its own (a server's request) or the model's own cache, which
    // holds whatever earlier calls left there (Generator::generate, chat turns).
    enum class Cache { own, model };

    // Validates p (diffusion mode, a diffusion-gemma model) and the prompt (non-empty, in the
    // vocabulary). greedy: accepted positions take the argmax instead of a draw (temperature 0). With
    // Cache::own it reads only the model's immutable parts (hparams, weights' presence, placement) and
    // allocates nothing on its backends yet, so it may run while another thread steps other sequences
    // on m. The plain vocab head (materialised logits) runs on the model's cache only.
    Sequence(Model & m, std::vector<int32_t> prompt, const GenParams & p, bool greedy = false, Cache cache = Cache::own);

    // Optional: on_step after every step, on_commit when a canvas is committed (before its encoder
    // pass); cb must outlive the sequence's steps. cb->cancel is not read here (see cancel()).
    void set_callbacks(const GenCallbacks * cb) { cb_ = cb; }

    // Encodes up to max_tokens (<= 0: all) more prompt tokens into the sequence's cache; returns
    // the prompt tokens still to encode. The first canvas starts once the prompt is encoded.
    int64_t prefill(Model & m, int64_t max_tokens);
    int64_t prompt_remaining() const { return (int64_t)prompt_.size() - n_prefilled_; }

    bool ready() const { return prompt_remaining() == 0 && !done_; }  // can take a step
    bool done() const { return done_; }
    void cancel();                                   // done now, stop reason "cancelled"
    const std::string & error() const { return error_; }  // why step_batch stopped it ("" if it did not)

    // What the last step did (valid after a step): the argmax draft of the canvas and, when the
    // canvas was committed in that step, its tokens (padding after the first EOS included).
    const StepEvent & last_step() const { return ev_; }
    const std::vector<int32_t> & draft() const { return argmax_; }
    bool committed() const { return committed_; }
    const std::vector<int32_t> & commit_tokens() const { return commit_; }

    const GenResult & result() const { return r_; }  // tokens so far; stats complete once done()
    const GenParams & params() const { return p_; }
    int64_t prompt_tokens() const { return (int64_t)prompt_.size(); }
    int64_t canvas_length() const { return C_; }

    // One denoising step (ready() required): decoder pass and vocab head, acceptance, renoise, stop
    // check; on a finished canvas the commit and, unless generation is over, the encoder pass of
    // the committed canvas.
    void step(Model & m);

private:
    // A step in three parts (step_batch runs the middle one for several sequences at once).
    void prepare_step(Model & m);              // checks ready(), starts a canvas when needed
    Model::StepJob job();                      // the decoder pass + head's input and outputs
    void decode_plain(Model & m);              // the middle part with the plain head (model's cache)
    void finish_step(Model & m);               // sampler, commit
    void begin_canvas(Model & m);
    void finish_canvas(Model & m);
    void finish(const char * reason);
    void fail(const std::string & what);      // done, stop reason "error"
    friend void step_batch(Model &, const std::vector<Sequence *> &, bool);

    GenParams p_;
    bool greedy_;
    bool has_sc_ = false;
    int64_t C_ = 0, H_ = 0, V_ = 0;
    std::unique_ptr<ld::Sequence> seq_;  // the KV cache and soft embedding on the model's backends;
                                         // nullptr: the model's own (Cache::model)
    const GenCallbacks * cb_ = nullptr;
    std::vector<float> logits_, sc_logits_;  // [C, V] each, plain head only
    std::vector<int32_t> prompt_;
    int64_t n_prefilled_ = 0;
    int64_t n_canvas_ = 0;            // canvases allowed (max_tokens, max_canvases, context)
    bool ctx_limited_ = false;

    NoiseSource noise_;
    StopCriterion stop_;
    std::vector<int32_t> canvas_, argmax_, fresh_, commit_;
    std::vector<uint8_t> accept_;
    HeadOut out_;
    float temperature_ = 1.0f;        // of the current step
    int64_t soft_rows_ = -1;          // vocabulary rows the current step's soft embedding used (-1: none)
    int64_t soft_rows_sum_ = 0, soft_rows_all_ = 0;  // over the steps: used / vocabulary
    bool have_sc_ = false;
    uint64_t canvas_key_ = 0;
    int32_t b_ = 0, n_ = 0, steps_ = 0;  // canvas index, steps remaining, steps taken in this canvas
    bool committed_ = false, done_ = false, started_ = false;
    double gen_ms_ = 0.0;
    StepEvent ev_;
    GenResult r_;
    std::string error_;
};

// Advances every ready() sequence in seqs by one denoising step (the others are skipped).
// batched (and more than one ready sequence): one decoder pass over all the canvases
// (Model::decode_steps); otherwise one pass per sequence. The sampler then runs per sequence. An
// error in one sequence finishes that sequence (stop reason "error", error() says why) and does not
// disturb the others: if the batched pass fails, each sequence is stepped alone to find the culprit.
void step_batch(Model & m, const std::vector<Sequence *> & seqs, bool batched = true);

}  // namespace ld::gen
