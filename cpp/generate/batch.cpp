// Step-at-a-time block diffusion (Sequence) and the batched step (see batch.h).
#include "generate/batch.h"

#include <algorithm>
#include <chrono>
#include <utility>

#include "common/error.h"

namespace ld::gen {

namespace {

using Clock = std::chrono::steady_clock;

double ms_since(Clock::time_point t0) { return std::chrono::duration<double, std::milli>(Clock::now() - t0).count(); }

bool is_eos(const std::vector<int32_t> & eos, int32_t id) { return std::find(eos.begin(), eos.end(), id) != eos.end(); }

}  // namespace

Sequence::Sequence(Model & m, std::vector<int32_t> prompt, const GenParams & p, bool greedy, Cache cache)
    : p_(p), greedy_(greedy), seq_(cache == Cache::own ? m.new_sequence() : nullptr), prompt_(std::move(prompt)),
      noise_(p.deterministic, p.seed, m.hparams().n_vocab) {
    if (p_.mode != GenMode::diffusion) throw Error("generate: only the diffusion mode runs step by step (mode 'ar' cannot be batched)");
    p_.validate(m);
    const HParams & hp = m.hparams();
    if (prompt_.empty()) throw Error("generate: the prompt is empty (no tokens)");
    for (size_t i = 0; i < prompt_.size(); ++i)
        if (prompt_[i] < 0 || prompt_[i] >= hp.n_vocab)
            throw Error(strfmt("generate: prompt token %d at index %zu is outside the vocabulary [0, %d)", prompt_[i], i,
                               hp.n_vocab));
    C_ = hp.canvas_length;
    H_ = hp.n_embd;
    V_ = hp.n_vocab;
    has_sc_ = m.weights().has_self_cond();
    if (p_.head == HeadKind::plain && seq_)
        throw Error("sequence: the plain vocab head runs on the model's own cache only (use the fused head)");
    const int64_t P = (seq_ ? 0 : m.cache().n_tokens()) + (int64_t)prompt_.size();
    n_canvas_ = (p_.max_tokens + C_ - 1) / C_;
    if (p_.max_canvases > 0) n_canvas_ = std::min<int64_t>(n_canvas_, p_.max_canvases);
    if (p_.n_ctx > 0) {
        const int64_t fit = (p_.n_ctx - P) / C_;
        if (fit < 1)
            throw Error(strfmt("generate: %lld prompt tokens leave no room for a canvas of %lld in a context of %lld",
                               (long long)P, (long long)C_, (long long)p_.n_ctx));
        if (fit < n_canvas_) { n_canvas_ = fit; ctx_limited_ = true; }
    }
    canvas_.resize((size_t)C_);
    argmax_.resize((size_t)C_);
    fresh_.resize((size_t)C_);
    accept_.resize((size_t)C_);
    out_.resize(C_, H_, false);
    if (p_.head == HeadKind::plain) {
        logits_.resize((size_t)(C_ * hp.n_vocab));
        sc_logits_.resize((size_t)(C_ * hp.n_vocab));
    }
    r_.stats.prompt_tokens = (int64_t)prompt_.size();
}

int64_t Sequence::prefill(Model & m, int64_t max_tokens) {
    if (done_) return prompt_remaining();
    int64_t n = prompt_remaining();
    if (max_tokens > 0) n = std::min(n, max_tokens);
    if (n > 0) {
        const auto t0 = Clock::now();
        if (seq_) m.encode(*seq_, prompt_.data() + n_prefilled_, n, -1, nullptr);
        else m.encode(prompt_.data() + n_prefilled_, n, -1, nullptr);
        n_prefilled_ += n;
        r_.stats.prefill_ms += ms_since(t0);
    }
    return prompt_remaining();
}

void Sequence::cancel() {
    if (!done_) finish("cancelled");
}

void Sequence::finish(const char * reason) {
    done_ = true;
    if (r_.stats.stop_reason.empty()) r_.stats.stop_reason = reason;
    finish_stats(r_, gen_ms_, p_.eos_ids);
}

void Sequence::begin_canvas(Model & m) {
    canvas_key_ = (uint64_t)(seq_ ? seq_->cache() : m.cache()).next_pos();
    noise_.fill(canvas_.data(), C_, canvas_key_, 0);
    argmax_ = canvas_;
    have_sc_ = false;
    stop_.reset(p_.sampler.stability, p_.sampler.confidence, C_);
    n_ = p_.sampler.max_steps;
    steps_ = 0;
    started_ = true;
}

void Sequence::prepare_step(Model & m) {
    if (!ready()) throw Error(done_ ? "sequence: step after the end of generation" : "sequence: step before the prompt is encoded");
    committed_ = false;
    if (!started_) begin_canvas(m);
}

Model::StepJob Sequence::job() {
    const int32_t N = p_.sampler.max_steps;
    temperature_ = step_temperature(p_.sampler, n_);
    Model::StepJob j;
    j.seq = seq_.get();
    j.canvas = canvas_.data();
    j.C = C_;
    j.use_soft = have_sc_;
    j.head.temperature = temperature_;
    j.head.sample = !p_.deterministic && !greedy_;
    j.head.want_soft = has_sc_;
    j.head.seed = p_.seed;
    j.head.canvas_key = canvas_key_;
    j.head.step_key = (uint64_t)(N - n_ + 1);
    j.head.soft_drop_mass = p_.deterministic ? 0.0f : p_.soft_drop_mass;
    soft_rows_ = -1;
    j.soft_rows = &soft_rows_;
    j.argmax = out_.argmax.data();
    j.draw = out_.draw.data();
    j.entropy = out_.entropy.data();
    return j;
}

void Sequence::decode_plain(Model & m) {
    // The decoder's logits downloaded, the head on the host; the self-conditioning input is the
    // previous step's processed logits.
    Model::StepJob j = job();
    HeadStep st;
    st.temperature = j.head.temperature;
    st.sample = j.head.sample;
    st.want_soft = false;
    st.seed = j.head.seed;
    st.canvas_key = j.head.canvas_key;
    st.step_key = j.head.step_key;
    m.decode_canvas(canvas_.data(), C_, have_sc_ ? sc_logits_.data() : nullptr, logits_.data());
    vocab_head_plain(logits_.data(), C_, V_, nullptr, st, out_, sc_logits_.data(), m.pool());
}

void Sequence::step(Model & m) {
    const auto t0 = Clock::now();
    prepare_step(m);
    if (p_.head == HeadKind::plain) decode_plain(m);
    else m.decode_steps({job()});
    finish_step(m);
    gen_ms_ += ms_since(t0);
    if (done_) finish("");  // finish_canvas ended generation and set the stop reason; the stats
}

void Sequence::finish_step(Model & m) {
    const int32_t N = p_.sampler.max_steps;
    const uint64_t step_key = (uint64_t)(N - n_ + 1);
    have_sc_ = has_sc_;  // the head left this step's soft embedding in seq_ for the next step
    const int64_t n_acc = entropy_bound_accept(out_.entropy.data(), C_, p_.sampler.entropy_bound, accept_.data());
    noise_.fill(fresh_.data(), C_, canvas_key_, step_key);
    for (int64_t i = 0; i < C_; ++i) canvas_[(size_t)i] = accept_[(size_t)i] ? out_.draw[(size_t)i] : fresh_[(size_t)i];
    argmax_ = out_.argmax;
    const bool stop = stop_.update(argmax_.data(), out_.entropy.data());
    ++steps_;
    ++r_.stats.n_steps;
    if (soft_rows_ > 0) {  // the fused head's soft embedding of this step (sparse mode: fewer rows)
        soft_rows_sum_ += soft_rows_;
        soft_rows_all_ += m.hparams().n_vocab;
        r_.stats.soft_rows_fraction = (double)soft_rows_sum_ / (double)soft_rows_all_;
    }
    ev_ = StepEvent{};
    ev_.canvas = b_;
    ev_.step = steps_;
    ev_.steps_remaining = n_;
    ev_.max_steps = N;
    ev_.draft = argmax_.data();
    ev_.C = C_;
    ev_.n_accepted = n_acc;
    ev_.mean_entropy = stop_.last_mean_entropy();
    ev_.temperature = temperature_;
    if (cb_ && cb_->on_step) cb_->on_step(ev_);
    --n_;
    if (stop || n_ < 1) finish_canvas(m);
}

void Sequence::finish_canvas(Model & m) {
    r_.stats.steps_per_canvas.push_back(steps_);
    ++r_.stats.n_canvases;
    commit_ = argmax_;
    // Pad after the first EOS (docs/algorithm.md §8.5).
    int64_t first_eos = -1;
    for (int64_t i = 0; i < C_; ++i)
        if (is_eos(p_.eos_ids, commit_[(size_t)i])) { first_eos = i; break; }
    bool over = false;
    if (first_eos >= 0) {
        for (int64_t i = first_eos + 1; i < C_; ++i) commit_[(size_t)i] = p_.pad_id;
        over = true;
        r_.stats.stop_reason = "eos";
    }
    r_.tokens.insert(r_.tokens.end(), commit_.begin(), commit_.end());
    committed_ = true;
    const bool last = over || b_ + 1 >= n_canvas_;
    if (cb_ && cb_->on_commit) {
        CommitEvent ev;
        ev.canvas = b_;
        ev.tokens = commit_.data();
        ev.n = C_;
        ev.finished = last;
        cb_->on_commit(ev);
    }
    ++b_;
    started_ = false;
    if (last) {
        const int64_t keep = first_eos >= 0 ? first_eos + 1 : C_;
        r_.pending.assign(commit_.begin(), commit_.begin() + keep);
        if (!over) r_.stats.stop_reason = ctx_limited_ ? "context" : "length";
        done_ = true;
        return;
    }
    // Encode only the committed canvas, at the positions the decoder used for it.
    if (seq_) m.encode(*seq_, commit_.data(), C_, -1, nullptr);
    else m.encode(commit_.data(), C_, -1, nullptr);
}

void step_batch(Model & m, const std::vector<Sequence *> & seqs, bool batched) {
    std::vector<Sequence *> live;
    for (Sequence * s : seqs) {
        if (!s || !s->ready()) continue;
        try {
            if (s->p_.head == HeadKind::plain) {  // no batched pass for the plain head: the whole step alone
                s->step(m);
                continue;
            }
            s->prepare_step(m);
            live.push_back(s);
        } catch (const std::exception & e) {
            s->fail(e.what());
        }
    }
    if (live.empty()) return;
    const auto t0 = Clock::now();
    bool decoded = false;
    if (batched && live.size() > 1) {
        std::vector<Model::StepJob> jobs;
        for (Sequence * s : live) jobs.push_back(s->job());
        try {
            m.decode_steps(jobs);
            decoded = true;
        } catch (const std::exception &) {
            decoded = false;  // find the culprit below: each sequence alone
        }
    }
    std::vector<Sequence *> ok;
    if (decoded) {
        ok = live;
    } else {
        for (Sequence * s : live) {
            try {
                m.decode_steps({s->job()});
                ok.push_back(s);
            } catch (const std::exception & e) {
                s->fail(e.what());
            }
        }
    }
    const double decode_ms = ms_since(t0);
    for (Sequence * s : ok) {
        const auto t1 = Clock::now();
        try {
            s->finish_step(m);
            s->gen_ms_ += decode_ms + ms_since(t1);
            if (s->done_) s->finish("");
        } catch (const std::exception & e) {
            s->fail(e.what());
        }
    }
}

void Sequence::fail(const std::string & what) {
    error_ = what;
    finish("error");
}

}  // namespace ld::gen
