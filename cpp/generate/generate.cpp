// The block-diffusion generation loop, AR mode and chat sessions (see generate.h).
#include "generate/generate.h"

#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <limits>

#include "common/error.h"
#include "generate/batch.h"
#include "generate/rng.h"

namespace ld::gen {

namespace {

using Clock = std::chrono::steady_clock;

double ms_since(Clock::time_point t0) {
    return std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
}

bool is_eos(const std::vector<int32_t> & eos, int32_t id) {
    return std::find(eos.begin(), eos.end(), id) != eos.end();
}

bool cancelled(const GenCallbacks & cb) { return cb.cancel && cb.cancel->load(std::memory_order_relaxed); }

}  // namespace

void finish_stats(GenResult & r, double generate_ms, const std::vector<int32_t> & eos) {
    GenStats & s = r.stats;
    s.generate_ms = generate_ms;
    s.generated_tokens = (int64_t)r.tokens.size();
    s.delivered_tokens = 0;
    for (int32_t t : r.tokens) {
        if (is_eos(eos, t)) break;
        ++s.delivered_tokens;
    }
    s.ms_per_step = s.n_steps > 0 ? s.generate_ms / (double)s.n_steps : 0.0;
    s.tokens_per_s = s.generate_ms > 0.0 ? 1000.0 * (double)s.delivered_tokens / s.generate_ms : 0.0;
    s.peak_rss_bytes = peak_rss_bytes();
}

int64_t peak_rss_bytes() {
    struct rusage ru {};
    if (getrusage(RUSAGE_SELF, &ru) != 0) return 0;
#if defined(__APPLE__)
    return (int64_t)ru.ru_maxrss;
#else
    return (int64_t)ru.ru_maxrss * 1024;
#endif
}

GenMode gen_mode_from_name(const std::string & s) {
    if (s == "diffusion") return GenMode::diffusion;
    if (s == "ar") return GenMode::ar;
    throw Error(strfmt("unknown generation mode '%s' (expected 'diffusion' or 'ar')", s.c_str()));
}

const char * gen_mode_name(GenMode m) { return m == GenMode::ar ? "ar" : "diffusion"; }

void GenParams::validate(const Model & m) const {
    const HParams & hp = m.hparams();
    if (max_tokens < 1) throw Error(strfmt("max_tokens must be >= 1, got %d", max_tokens));
    if (max_canvases < 0) throw Error(strfmt("max_canvases must be >= 0, got %d", max_canvases));
    if (n_ctx < 0) throw Error(strfmt("context size must be >= 0, got %lld", (long long)n_ctx));
    if (!(soft_drop_mass >= 0.0f && soft_drop_mass < 1.0f))
        throw Error(strfmt("soft_drop_mass must be in [0, 1), got %g", (double)soft_drop_mass));
    if (!std::isfinite(ar_temperature) || ar_temperature < 0.0f)
        throw Error(strfmt("AR temperature must be >= 0, got %g", (double)ar_temperature));
    for (int32_t e : eos_ids)
        if (e < 0 || e >= hp.n_vocab) throw Error(strfmt("EOS id %d is outside the vocabulary [0, %d)", e, hp.n_vocab));
    if (pad_id < 0 || pad_id >= hp.n_vocab) throw Error(strfmt("pad id %d is outside the vocabulary [0, %d)", pad_id, hp.n_vocab));
    if (mode == GenMode::diffusion) {
        if (!hp.is_diffusion())
            throw Error(strfmt("%s: diffusion mode needs a diffusion-gemma model, this file is %s (use mode 'ar')",
                               m.file().name().c_str(), model_arch_name(hp.arch)));
        sampler.validate();
    }
}

GenParams default_gen_params(const Model & m, const Tokenizer * tok) {
    GenParams p;
    const HParams & hp = m.hparams();
    if (hp.is_diffusion()) {
        p.sampler.max_steps = hp.sampler.max_steps;
        p.sampler.t_min = hp.sampler.t_min;
        p.sampler.t_max = hp.sampler.t_max;
        p.sampler.entropy_bound = hp.sampler.entropy_bound;
        p.sampler.stability = hp.sampler.stability_threshold;
        p.sampler.confidence = hp.sampler.confidence_threshold;
    } else {
        p.mode = GenMode::ar;
    }
    p.eos_ids = hp.eos_token_ids;  // validated against the vocabulary at load time
    if (p.eos_ids.empty() && tok) {
        auto add = [&](int32_t id) {
            if (id >= 0 && id < hp.n_vocab && !is_eos(p.eos_ids, id)) p.eos_ids.push_back(id);
        };
        add(tok->eos_id());
        for (const char * t : {"<turn|>", "<|tool_response>", "<end_of_turn>"}) add(tok->token_id(t));
    }
    if (tok && tok->pad_id() >= 0 && tok->pad_id() < hp.n_vocab) p.pad_id = tok->pad_id();
    return p;
}

GenResult Generator::generate(const std::vector<int32_t> & prompt, const GenParams & p, const GenCallbacks & cb) {
    p.validate(m_);
    if (prompt.empty()) throw Error("generate: the prompt is empty (no tokens)");
    return p.mode == GenMode::ar ? run_ar(prompt, p, cb) : run_diffusion(prompt, p, cb);
}

GenResult Generator::run_diffusion(const std::vector<int32_t> & prompt, const GenParams & p, const GenCallbacks & cb) {
    // One canvas loop for every caller: a sequence on the model's own cache, stepped to the end.
    Sequence s(m_, prompt, p, /*greedy=*/false, Sequence::Cache::model);
    s.set_callbacks(&cb);
    s.prefill(m_, 0);
    while (!s.done()) {
        if (cancelled(cb)) {
            s.cancel();
            break;
        }
        s.step(m_);
    }
    return s.result();
}

GenResult Generator::run_ar(const std::vector<int32_t> & prompt, const GenParams & p, const GenCallbacks & cb) {
    const HParams & hp = m_.hparams();
    const int64_t V = hp.n_vocab;
    int64_t n_max = p.max_tokens;
    bool ctx_limited = false;
    const int64_t P = m_.cache().n_tokens() + (int64_t)prompt.size();
    if (p.n_ctx > 0) {
        if (P >= p.n_ctx)
            throw Error(strfmt("generate: %lld prompt tokens fill the context of %lld", (long long)P, (long long)p.n_ctx));
        if (p.n_ctx - P < n_max) { n_max = p.n_ctx - P; ctx_limited = true; }
    }
    GenResult r;
    r.stats.prompt_tokens = (int64_t)prompt.size();
    std::vector<float> logits((size_t)V);
    const auto t0 = Clock::now();
    m_.encode(prompt.data(), (int64_t)prompt.size(), -1, logits.data());
    r.stats.prefill_ms = ms_since(t0);
    const auto t_gen = Clock::now();
    const bool greedy = p.deterministic || p.ar_temperature <= 0.0f;
    for (int64_t t = 0; t < n_max; ++t) {
        if (cancelled(cb)) { r.stats.stop_reason = "cancelled"; break; }
        const int32_t pos = m_.cache().next_pos();
        int32_t tok = 0;
        float mx = -std::numeric_limits<float>::infinity();
        for (int64_t v = 0; v < V; ++v)
            if (logits[(size_t)v] > mx) { mx = logits[(size_t)v]; tok = (int32_t)v; }
        if (!std::isfinite(mx)) throw Error("generate: the AR logits are not finite");
        if (!greedy) {
            // Weighted reservoir draw over softmax(logits / T) (see vocab-head.h).
            double W = 0.0, thr = 0.0;
            uint64_t k = 0;
            for (int64_t v = 0; v < V; ++v) {
                W += std::exp(((double)logits[(size_t)v] - (double)mx) / (double)p.ar_temperature);
                if (W > thr) {
                    tok = (int32_t)v;
                    thr = W / rng_uniform(p.seed, RngPurpose::ArSample, (uint64_t)pos, k++, 0);
                }
            }
        }
        r.tokens.push_back(tok);
        ++r.stats.n_steps;
        if (cb.on_step) {
            StepEvent ev;
            ev.step = (int32_t)t + 1;
            ev.draft = &r.tokens.back();
            ev.C = 1;
            ev.n_accepted = 1;
            cb.on_step(ev);
        }
        const bool eos = is_eos(p.eos_ids, tok);
        const bool last = eos || t + 1 == n_max;
        if (cb.on_commit) {
            CommitEvent ev;
            ev.canvas = (int32_t)t;
            ev.tokens = &r.tokens.back();
            ev.n = 1;
            ev.finished = last;
            cb.on_commit(ev);
        }
        if (last) {
            r.pending.assign(1, tok);
            r.stats.stop_reason = eos ? "eos" : (ctx_limited ? "context" : "length");
            break;
        }
        m_.encode(&tok, 1, -1, logits.data());
    }
    finish_stats(r, ms_since(t_gen), p.eos_ids);
    return r;
}

// ---- chat ------------------------------------------------------------------------------------

ChatSession::ChatSession(Generator & g, std::shared_ptr<const Tokenizer> tok, ChatOptions opts, std::string system)
    : g_(g), tok_(std::move(tok)), opts_(opts), system_(std::move(system)) {
    if (!tok_) throw Error("chat: the model has no tokenizer");
    chat_style(*tok_);  // throws for a vocabulary without turn tokens
    clear();
}

void ChatSession::clear() {
    g_.model().reset();
    pending_.clear();
    turns_ = 0;
}

std::vector<int32_t> ChatSession::turn_ids(const std::string & message) const {
    if (message.empty()) throw Error("chat: empty message");
    const ChatStyle style = chat_style(*tok_);
    if (turns_ == 0) {
        std::vector<ChatMessage> msgs;
        if (!system_.empty()) msgs.push_back({"system", system_});
        msgs.push_back({"user", message});
        return chat_tokenize(*tok_, msgs, opts_);
    }
    // Close the previous model turn (its reply is in pending_), then the new user turn.
    const int32_t end_id = tok_->token_id(style == ChatStyle::Gemma4 ? "<turn|>" : "<end_of_turn>");
    std::string text = (!pending_.empty() && pending_.back() == end_id) ? "\n"
                       : (style == ChatStyle::Gemma4 ? "<turn|>\n" : "<end_of_turn>\n");
    ChatOptions o = opts_;
    o.add_bos = false;
    o.thinking = false;
    std::string turn = chat_format({{"user", message}}, o, style);
    const std::string off = "<|channel>thought\n<channel|>";
    if (style == ChatStyle::Gemma4 && opts_.thinking && turn.size() >= off.size() &&
        turn.compare(turn.size() - off.size(), off.size(), off) == 0)
        turn.resize(turn.size() - off.size());
    text += turn;
    std::vector<int32_t> ids = pending_;
    // Pending reply tokens: drop a trailing stop token that is not the turn end (e.g. <eos>).
    if (!ids.empty() && ids.back() != end_id && (ids.back() == tok_->eos_id())) ids.pop_back();
    const std::vector<int32_t> more = tok_->encode(text, false, true);
    ids.insert(ids.end(), more.begin(), more.end());
    return ids;
}

ChatSession::Reply ChatSession::send(const std::string & message, const GenParams & p, const GenCallbacks & cb) {
    Reply rep;
    const std::vector<int32_t> ids = turn_ids(message);
    rep.new_tokens = (int64_t)ids.size();
    rep.result = g_.generate(ids, p, cb);
    pending_ = rep.result.pending;
    ++turns_;
    std::vector<int32_t> text_ids;
    for (int32_t t : rep.result.tokens) {
        if (is_eos(p.eos_ids, t)) break;
        text_ids.push_back(t);
    }
    rep.text = tok_->decode(text_ids, /*skip_special=*/true);
    return rep;
}

}  // namespace ld::gen
