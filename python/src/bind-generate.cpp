// Python bindings of generation (_core.Engine, _core.ChatSession, _core.CancelFlag): a model with
// its Generator and tokenizer, the block-diffusion / AR generate call with streaming callbacks and
// cancellation, chat sessions that keep the KV cache, and a test hook comparing the fused vocab
// head with the plain one. The GIL is released while the engine works and before waiting for the
// model (ModelLock, model-lock.h: one generation per model at a time); callbacks re-acquire it, and
// Ctrl-C (a pending signal seen from the main thread) cancels generation cleanly.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <atomic>
#include <memory>
#include <string>
#include <vector>

#include "bindings.h"
#include "common/error.h"
#include "generate/generate.h"
#include "generate/vocab-head.h"
#include "gguf/gguf-reader.h"
#include "ld-ggml/cpu-matmul.h"
#include "ld-ggml/cpu-nn.h"
#include "model/diffusion-gemma.h"
#include "model/model.h"
#include "tokenizer/chat.h"
#include "tokenizer/tokenizer.h"
#include "tokenizer/vocab.h"

namespace ld::py {

namespace pyb = pybind11;
using namespace ld::gen;

namespace {

using IdArray = pyb::array_t<int32_t, pyb::array::c_style | pyb::array::forcecast>;
using F32Array = pyb::array_t<float, pyb::array::c_style | pyb::array::forcecast>;

struct CancelFlag {
    std::atomic<bool> flag{false};
};

// A generator on a model that is either opened here or shared with a _core.Model (same weights,
// KV cache and lock). The Generator and the tokenizer are made from the model's immutable parts
// (file, hyperparameters, pool), so attaching needs no lock.
struct Engine {
    std::shared_ptr<Model> model;
    std::shared_ptr<ModelLock> mu;
    std::unique_ptr<Generator> gen;
    std::shared_ptr<const Tokenizer> tok;
    std::string tok_error;

    void attach(std::shared_ptr<Model> m, std::shared_ptr<ModelLock> lock) {
        model = std::move(m);
        mu = std::move(lock);
        gen = std::make_unique<Generator>(*model);
        try {
            tok = Tokenizer::create(vocab_from_gguf(model->file()));
        } catch (const Error & err) {
            tok_error = err.what();
        }
    }

    const Tokenizer & tokenizer() const {
        if (!tok) throw Error("this model file has no usable tokenizer: " + tok_error);
        return *tok;
    }
};

std::vector<int32_t> to_ids(const IdArray & a, const char * what) {
    if (a.ndim() != 1) throw Error(strfmt("%s: token ids must be a 1-D sequence, got %d dims", what, (int)a.ndim()));
    return std::vector<int32_t>(a.data(), a.data() + a.size());
}

template <typename T>
bool take(pyb::dict & d, const char * key, T & out) {
    if (!d.contains(key)) return false;
    pyb::object v = d[key];
    PyDict_DelItemString(d.ptr(), key);
    if (v.is_none()) return false;
    out = v.cast<T>();
    return true;
}

}  // namespace

GenParams apply_params(GenParams p, const pyb::dict & over_in, const char * who, bool complete) {
    pyb::dict d;  // a copy we can consume
    for (auto kv : over_in) d[kv.first] = kv.second;
    if (complete)
        for (const char * k : {"mode", "max_tokens", "max_canvases", "n_ctx", "max_steps", "t_min", "t_max", "entropy_bound",
                               "stability", "confidence", "seed", "deterministic", "eos_ids", "pad_id"})
            if (!d.contains(k) || d[k].is_none()) throw Error(strfmt("%s: parameter '%s' is missing", who, k));
    std::string s;
    if (take(d, "mode", s)) p.mode = gen_mode_from_name(s);
    take(d, "max_tokens", p.max_tokens);
    take(d, "max_canvases", p.max_canvases);
    take(d, "n_ctx", p.n_ctx);
    take(d, "max_steps", p.sampler.max_steps);
    take(d, "t_min", p.sampler.t_min);
    take(d, "t_max", p.sampler.t_max);
    take(d, "entropy_bound", p.sampler.entropy_bound);
    take(d, "stability", p.sampler.stability);
    take(d, "confidence", p.sampler.confidence);
    int64_t seed = 0;
    if (take(d, "seed", seed)) p.seed = (uint64_t)seed;
    take(d, "deterministic", p.deterministic);
    take(d, "eos_ids", p.eos_ids);
    take(d, "pad_id", p.pad_id);
    if (take(d, "head", s)) {
        if (s == "fused") p.head = HeadKind::fused;
        else if (s == "plain") p.head = HeadKind::plain;
        else throw Error(strfmt("unknown vocab head '%s' (expected 'fused' or 'plain')", s.c_str()));
    }
    take(d, "temperature", p.ar_temperature);
    take(d, "soft_drop_mass", p.soft_drop_mass);
    if (d.size() > 0) {
        std::string keys;
        for (auto kv : d) keys += (keys.empty() ? "" : ", ") + kv.first.cast<std::string>();
        throw Error(strfmt("%s: unknown parameter(s): %s", who, keys.c_str()));
    }
    return p;
}

namespace {

// Defaults of the model, overridden by the non-None entries of `over`.
GenParams params_from(Engine & e, const pyb::dict & over) {
    return apply_params(default_gen_params(*e.model, e.tok.get()), over, "generate", false);
}

pyb::dict params_dict(const GenParams & p) {
    pyb::dict d;
    d["mode"] = gen_mode_name(p.mode);
    d["max_tokens"] = p.max_tokens;
    d["max_canvases"] = p.max_canvases;
    d["n_ctx"] = p.n_ctx;
    d["max_steps"] = p.sampler.max_steps;
    d["t_min"] = p.sampler.t_min;
    d["t_max"] = p.sampler.t_max;
    d["entropy_bound"] = p.sampler.entropy_bound;
    d["stability"] = p.sampler.stability;
    d["confidence"] = p.sampler.confidence;
    d["seed"] = p.seed;
    d["deterministic"] = p.deterministic;
    d["eos_ids"] = p.eos_ids;
    d["pad_id"] = p.pad_id;
    d["head"] = p.head == HeadKind::fused ? "fused" : "plain";
    d["temperature"] = p.ar_temperature;
    d["soft_drop_mass"] = p.soft_drop_mass;
    return d;
}


// Callbacks that call Python (with the GIL) and turn Python errors / Ctrl-C into cancellation.
struct PyCallbacks {
    pyb::object on_step, on_commit;
    CancelFlag * user_cancel = nullptr;
    std::atomic<bool> cancel{false};
    std::unique_ptr<pyb::error_already_set> error;

    void check_python() {
        if (user_cancel && user_cancel->flag.load()) cancel = true;
        if (PyErr_CheckSignals() != 0) {
            error = std::make_unique<pyb::error_already_set>();
            cancel = true;
        }
    }
    GenCallbacks make() {
        GenCallbacks cb;
        cb.cancel = &cancel;
        cb.on_step = [this](const StepEvent & ev) {
            pyb::gil_scoped_acquire gil;
            if (error) return;
            try {
                if (!on_step.is_none()) {
                    std::vector<int32_t> draft(ev.draft, ev.draft + ev.C);
                    on_step(ev.canvas, ev.step, ev.steps_remaining, draft, ev.n_accepted, ev.mean_entropy);
                }
                check_python();
            } catch (pyb::error_already_set & e) {
                error = std::make_unique<pyb::error_already_set>(std::move(e));
                cancel = true;
            }
        };
        cb.on_commit = [this](const CommitEvent & ev) {
            pyb::gil_scoped_acquire gil;
            if (error) return;
            try {
                if (!on_commit.is_none()) {
                    std::vector<int32_t> toks(ev.tokens, ev.tokens + ev.n);
                    on_commit(ev.canvas, toks, ev.finished);
                }
                check_python();
            } catch (pyb::error_already_set & e) {
                error = std::make_unique<pyb::error_already_set>(std::move(e));
                cancel = true;
            }
        };
        return cb;
    }
    void rethrow() {
        if (error) {
            pyb::error_already_set e = std::move(*error);
            error.reset();
            throw e;
        }
    }
};

pyb::tuple result_tuple(const GenResult & r) {
    return pyb::make_tuple(r.tokens, r.pending, stats_dict(r.stats));
}

pyb::dict head_dict(const HeadOut & o, int64_t C, int64_t H) {
    pyb::dict d;
    d["argmax"] = o.argmax;
    d["draw"] = o.draw;
    d["entropy"] = pyb::array_t<float>(C, o.entropy.data());
    if (!o.soft.empty()) d["soft"] = pyb::array_t<float>({C, H}, o.soft.data());
    return d;
}

struct PyChat {
    Engine * e = nullptr;
    pyb::object owner;  // keeps the Engine alive
    std::unique_ptr<ChatSession> chat;
};

}  // namespace

pyb::dict stats_dict(const gen::GenStats & s) {
    pyb::dict d;
    d["prompt_tokens"] = s.prompt_tokens;
    d["canvases"] = s.n_canvases;
    d["steps_per_canvas"] = s.steps_per_canvas;
    d["steps"] = s.n_steps;
    d["prefill_ms"] = s.prefill_ms;
    d["generate_ms"] = s.generate_ms;
    d["ms_per_step"] = s.ms_per_step;
    d["generated_tokens"] = s.generated_tokens;
    d["delivered_tokens"] = s.delivered_tokens;
    d["tokens_per_s"] = s.tokens_per_s;
    d["peak_rss_bytes"] = s.peak_rss_bytes;
    d["stop_reason"] = s.stop_reason;
    d["soft_rows_fraction"] = s.soft_rows_fraction;
    return d;
}

void register_generate(pyb::module_ & mod) {
    pyb::class_<CancelFlag>(mod, "CancelFlag", "A flag that stops a running generation at the next step.")
        .def(pyb::init<>())
        .def("set", [](CancelFlag & c) { c.flag = true; })
        .def("clear", [](CancelFlag & c) { c.flag = false; })
        .def_property_readonly("is_set", [](CancelFlag & c) { return c.flag.load(); });

    pyb::class_<Engine>(mod, "Engine", "A model with its generator and tokenizer (generation API).")
        .def(pyb::init([](const std::string & path, int n_threads, const std::string & kv_type) {
                 auto e = std::make_unique<Engine>();
                 const ggml::Type kt = kv_type_from_name(kv_type.c_str());
                 pyb::gil_scoped_release nogil;
                 e->attach(Model::open(path, n_threads, kt), std::make_shared<ModelLock>());
                 return e;
             }),
             pyb::arg("path"), pyb::arg("n_threads") = 0, pyb::arg("kv_type") = "f32")
        .def(pyb::init([](pyb::object core_model) {
                 // Wraps the C++ model of a _core.Model: generation sees (and changes) its KV cache.
                 auto [m, mu] = core_model_of(core_model);
                 auto e = std::make_unique<Engine>();
                 pyb::gil_scoped_release nogil;
                 e->attach(std::move(m), std::move(mu));
                 return e;
             }),
             pyb::arg("model"))
        .def("shares_model_with",
             [](Engine & e, pyb::object core_model) { return core_model_of(core_model).first == e.model; },
             pyb::arg("model"), "True when this engine wraps the C++ model of the given _core.Model.")
        .def_property_readonly("has_tokenizer", [](Engine & e) { return (bool)e.tok; })
        .def_property_readonly("architecture", [](Engine & e) { return std::string(model_arch_name(e.model->hparams().arch)); })
        .def_property_readonly("canvas_length", [](Engine & e) { return e.model->hparams().canvas_length; })
        .def_property_readonly("n_vocab", [](Engine & e) { return e.model->hparams().n_vocab; })
        .def_property_readonly("n_ctx_train", [](Engine & e) { return e.model->hparams().n_ctx_train; })
        .def_property_readonly("kv_length",
                               [](Engine & e) {
                                   auto h = hold_state(*e.mu, "kv_length", true);
                                   return e.model->cache().n_tokens();
                               })
        .def_property_readonly("busy", [](Engine & e) { return e.mu->generating(); },
                               "True while a generation runs on this engine's model.")
        .def_property_readonly("n_threads", [](Engine & e) { return e.model->n_threads(); })
        .def("reset", [](Engine & e) {
            pyb::gil_scoped_release nogil;
            auto h = e.mu->state("reset", false);
            e.model->reset();
        })
        .def("default_params", [](Engine & e) { return params_dict(default_gen_params(*e.model, e.tok.get())); })
        .def("params", [](Engine & e, const pyb::dict & over) { return params_dict(params_from(e, over)); },
             pyb::arg("overrides"))
        .def("tokenize",
             [](Engine & e, const std::string & text, bool add_special, bool parse_special) {
                 return e.tokenizer().encode(text, add_special, parse_special);
             },
             pyb::arg("text"), pyb::arg("add_special") = true, pyb::arg("parse_special") = false)
        .def("detokenize",
             [](Engine & e, const IdArray & ids, bool skip_special) {
                 return pyb::bytes(e.tokenizer().decode(to_ids(ids, "detokenize"), skip_special));
             },
             pyb::arg("ids"), pyb::arg("skip_special") = false)
        .def("chat_ids",
             [](Engine & e, const std::vector<std::pair<std::string, std::string>> & msgs, bool thinking) {
                 std::vector<ChatMessage> m;
                 for (const auto & kv : msgs) m.push_back({kv.first, kv.second});
                 if (m.empty()) throw Error("chat: no messages");
                 ChatOptions o;
                 o.thinking = thinking;
                 return chat_tokenize(e.tokenizer(), m, o);
             },
             pyb::arg("messages"), pyb::arg("thinking") = false)
        .def("generate",
             [](Engine & e, const IdArray & prompt, const pyb::dict & over, bool reset, pyb::object on_step,
                pyb::object on_commit, CancelFlag * cancel) {
                 std::vector<int32_t> ids = to_ids(prompt, "generate");
                 GenParams p = params_from(e, over);
                 PyCallbacks pc;
                 pc.on_step = on_step;
                 pc.on_commit = on_commit;
                 pc.user_cancel = cancel;
                 GenCallbacks cb = pc.make();
                 GenResult r;
                 {
                     pyb::gil_scoped_release nogil;
                     auto h = e.mu->run("generate", true);
                     e.model->file().check_unchanged();
                     if (reset) e.model->reset();
                     r = e.gen->generate(ids, p, cb);
                 }
                 pc.rethrow();
                 return result_tuple(r);
             },
             pyb::arg("prompt"), pyb::arg("params") = pyb::dict(), pyb::arg("reset") = true,
             pyb::arg("on_step") = pyb::none(), pyb::arg("on_commit") = pyb::none(),
             pyb::arg("cancel") = static_cast<CancelFlag *>(nullptr))
        .def("head_compare",
             [](Engine & e, const IdArray & canvas_in, pyb::object sc, float temperature, bool sample, int64_t seed,
                int64_t tile) {
                 // Plain: decode_canvas logits -> vocab_head_plain. Fused: decode_hidden -> vocab_head_fused.
                 std::vector<int32_t> canvas = to_ids(canvas_in, "head_compare");
                 Model & m = *e.model;
                 auto * dg = dynamic_cast<DiffusionGemma *>(&m);
                 if (!dg) throw Error("head_compare: needs a diffusion-gemma model");
                 const int64_t C = (int64_t)canvas.size(), V = m.hparams().n_vocab, H = m.hparams().n_embd;
                 std::vector<float> scl;
                 if (!sc.is_none()) {
                     F32Array a = sc.cast<F32Array>();
                     if (a.ndim() != 2 || a.shape(0) != C || a.shape(1) != V)
                         throw Error(strfmt("head_compare: sc_logits must have shape [%lld, %lld]", (long long)C, (long long)V));
                     scl.assign(a.data(), a.data() + C * V);
                 }
                 HeadStep st;
                 st.temperature = temperature;
                 st.sample = sample;
                 st.seed = (uint64_t)seed;
                 HeadOut plain, fused, sc_soft;
                 std::vector<float> logits((size_t)(C * V)), hidden((size_t)(C * H));
                 {
                     pyb::gil_scoped_release nogil;
                     auto h = e.mu->run("head_compare");
                     e.model->file().check_unchanged();
                     ggml::ThreadPool * pool = &ggml::ThreadPool::global();
                     m.decode_canvas(canvas.data(), C, scl.empty() ? nullptr : scl.data(), logits.data());
                     const TransposedEmbedding & et = dg->embedding_t();
                     vocab_head_plain(logits.data(), C, V, &et, st, plain, nullptr, pool);
                     const float * soft_in = nullptr;
                     if (!scl.empty()) {
                         HeadStep s1;
                         s1.sample = false;
                         vocab_head_plain(scl.data(), C, V, &et, s1, sc_soft, nullptr, pool);
                         soft_in = sc_soft.soft.data();
                     }
                     m.decode_hidden(canvas.data(), C, soft_in, hidden.data());
                     vocab_head_fused(hidden.data(), C, m.weights().output, m.weights().tok_embd,
                                      m.hparams().final_softcap, st, fused, pool, tile);
                 }
                 pyb::dict d;
                 d["plain"] = head_dict(plain, C, H);
                 d["fused"] = head_dict(fused, C, H);
                 d["logits"] = pyb::array_t<float>({C, V}, logits.data());
                 return d;
             },
             pyb::arg("canvas"), pyb::arg("sc_logits") = pyb::none(), pyb::arg("temperature") = 1.0f,
             pyb::arg("sample") = true, pyb::arg("seed") = 0, pyb::arg("tile") = 0);

    // ---- sampler pieces, for tests ----------------------------------------------------------
    mod.def("gen_temperature", [](float t_min, float t_max, int32_t N, int32_t n) {
        SamplerParams p;
        p.t_min = t_min;
        p.t_max = t_max;
        p.max_steps = N;
        p.validate();
        if (n < 1 || n > N) throw Error(strfmt("steps remaining %d outside [1, %d]", n, N));
        return step_temperature(p, n);
    });
    mod.def("gen_accept", [](const F32Array & ent, float bound) {
        std::vector<uint8_t> acc((size_t)ent.size());
        entropy_bound_accept(ent.data(), (int64_t)ent.size(), bound, acc.data());
        return std::vector<bool>(acc.begin(), acc.end());
    });
    mod.def("gen_stop", [](const std::vector<std::vector<int32_t>> & argmaxes, const std::vector<std::vector<float>> & ents,
                           int32_t stability, float confidence) {
        // The step (1-based) at which the stop criterion fires, or 0.
        if (argmaxes.size() != ents.size() || argmaxes.empty()) throw Error("gen_stop: need equally many steps");
        StopCriterion sc;
        sc.reset(stability, confidence, (int64_t)argmaxes[0].size());
        for (size_t i = 0; i < argmaxes.size(); ++i) {
            if (argmaxes[i].size() != argmaxes[0].size() || ents[i].size() != argmaxes[0].size())
                throw Error("gen_stop: ragged input");
            if (sc.update(argmaxes[i].data(), ents[i].data())) return (int)i + 1;
        }
        return 0;
    });
    mod.def("gen_noise", [](bool formula, uint64_t seed, int64_t V, int64_t C, int64_t calls, uint64_t canvas_key) {
        // `calls` successive fills (step = call index); returns [calls][C].
        if (V < 1 || C < 1 || calls < 1) throw Error("gen_noise: V, C and calls must be >= 1");
        NoiseSource ns(formula, seed, V);
        std::vector<std::vector<int32_t>> out((size_t)calls, std::vector<int32_t>((size_t)C));
        for (int64_t k = 0; k < calls; ++k) ns.fill(out[(size_t)k].data(), C, canvas_key, (uint64_t)k);
        return out;
    });
    mod.def("gen_vocab_head",
            [](const F32Array & hidden, const F32Array & emb, float softcap, float temperature, bool sample,
               uint64_t seed, int64_t tile, bool fused) {
                // hidden [C, H], emb [V, H] (f32). Plain: logits = softcap(hidden · embᵀ) materialised.
                if (hidden.ndim() != 2 || emb.ndim() != 2 || hidden.shape(1) != emb.shape(1))
                    throw Error("gen_vocab_head: hidden [C, H] and emb [V, H] expected");
                const int64_t C = hidden.shape(0), H = hidden.shape(1), V = emb.shape(0);
                Mat E;
                E.data = emb.data();
                E.type = ggml::Type::F32;
                E.ne[0] = H;
                E.ne[1] = V;
                E.ne[2] = 1;
                HeadStep st;
                st.temperature = temperature;
                st.sample = sample;
                st.seed = seed;
                HeadOut o;
                {
                    pyb::gil_scoped_release nogil;
                    if (fused) {
                        vocab_head_fused(hidden.data(), C, E, E, softcap, st, o, nullptr, tile);
                    } else {
                        std::vector<float> lg((size_t)(C * V));
                        ggml::matmul(hidden.data(), C, H, E.data, E.type, V, lg.data(), nullptr);
                        if (softcap > 0) ggml::softcap(lg.data(), C * V, softcap, lg.data(), nullptr);
                        TransposedEmbedding et;
                        et.build(E, &ggml::ThreadPool::global());
                        vocab_head_plain(lg.data(), C, V, &et, st, o, nullptr, nullptr);
                    }
                }
                return head_dict(o, C, H);
            },
            pyb::arg("hidden"), pyb::arg("emb"), pyb::arg("softcap") = 0.0f, pyb::arg("temperature") = 1.0f,
            pyb::arg("sample") = true, pyb::arg("seed") = 0, pyb::arg("tile") = 0, pyb::arg("fused") = true);

    pyb::class_<PyChat>(mod, "ChatSession", "A chat that keeps the model's KV cache across turns.")
        .def(pyb::init([](pyb::object engine, const std::string & system, bool thinking) {
                 auto c = std::make_unique<PyChat>();
                 c->e = engine.cast<Engine *>();
                 c->owner = engine;
                 ChatOptions o;
                 o.thinking = thinking;
                 if (!c->e->tok) throw Error("chat: this model file has no usable tokenizer: " + c->e->tok_error);
                 auto h = hold_state(*c->e->mu, "ChatSession", false);
                 c->chat = std::make_unique<ChatSession>(*c->e->gen, c->e->tok, o, system);
                 return c;
             }),
             pyb::arg("engine"), pyb::arg("system") = "", pyb::arg("thinking") = false)
        .def_property_readonly("turns",
                               [](PyChat & c) {
                                   auto h = hold_state(*c.e->mu, "turns", true);
                                   return c.chat->turns();
                               })
        .def("clear", [](PyChat & c) {
            pyb::gil_scoped_release nogil;
            auto h = c.e->mu->state("clear", false);
            c.chat->clear();
        })
        .def(
            "turn_ids",
            [](PyChat & c, const std::string & msg) {
                auto h = hold_state(*c.e->mu, "turn_ids", true);
                return c.chat->turn_ids(msg);
            },
            pyb::arg("message"))
        .def("send",
             [](PyChat & c, const std::string & msg, const pyb::dict & over, pyb::object on_step, pyb::object on_commit,
                CancelFlag * cancel) {
                 GenParams p = params_from(*c.e, over);
                 PyCallbacks pc;
                 pc.on_step = on_step;
                 pc.on_commit = on_commit;
                 pc.user_cancel = cancel;
                 GenCallbacks cb = pc.make();
                 ChatSession::Reply rep;
                 {
                     pyb::gil_scoped_release nogil;
                     auto h = c.e->mu->run("send", true);
                     c.e->model->file().check_unchanged();
                     rep = c.chat->send(msg, p, cb);
                 }
                 pc.rethrow();
                 return pyb::make_tuple(pyb::bytes(rep.text), rep.result.tokens, rep.result.pending,
                                        stats_dict(rep.result.stats), rep.new_tokens);
             },
             pyb::arg("message"), pyb::arg("params") = pyb::dict(), pyb::arg("on_step") = pyb::none(),
             pyb::arg("on_commit") = pyb::none(), pyb::arg("cancel") = static_cast<CancelFlag *>(nullptr));
}

}  // namespace ld::py
