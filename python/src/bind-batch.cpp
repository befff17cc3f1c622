// Python bindings of step-at-a-time generation for the server (_core.Batch, _core.Sequence): a
// Batch wraps a _core.Model (same weights and lock, core_model_of) and makes Sequences (one
// request each, with its own KV cache) that it prefills in chunks and advances one denoising step
// at a time with step() (one decoder pass over all their canvases unless batched=False). The GIL is released and the model's lock (model-lock.h) held while C++ runs.
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "bindings.h"
#include "common/error.h"
#include "generate/batch.h"
#include "generate/generate.h"
#include "model/model.h"

namespace ld::py {

namespace pyb = pybind11;
using namespace ld::gen;

namespace {

struct PyBatch {
    std::shared_ptr<Model> model;
    std::shared_ptr<ModelLock> mu;
    bool batched = true;  // one decoder pass over all canvases (false: one per sequence)
};

struct PySequence {
    std::shared_ptr<Model> model;  // keeps the model alive as long as the sequence
    std::unique_ptr<gen::Sequence> seq;
};

}  // namespace

void register_batch(pyb::module_ & mod) {
    pyb::class_<PySequence>(mod, "Sequence", "One request's step-at-a-time generation state (made by Batch.sequence).")
        .def_property_readonly("ready", [](const PySequence & s) { return s.seq->ready(); })
        .def_property_readonly("done", [](const PySequence & s) { return s.seq->done(); })
        .def_property_readonly("prompt_remaining", [](const PySequence & s) { return s.seq->prompt_remaining(); })
        .def_property_readonly("prompt_tokens", [](const PySequence & s) { return s.seq->prompt_tokens(); })
        .def_property_readonly("canvas_length", [](const PySequence & s) { return s.seq->canvas_length(); })
        .def_property_readonly("error", [](const PySequence & s) { return s.seq->error(); })
        .def("cancel", [](PySequence & s) { s.seq->cancel(); })
        .def_property_readonly("last_step",
                               [](const PySequence & s) {
                                   const StepEvent & e = s.seq->last_step();
                                   pyb::dict d;
                                   d["canvas"] = e.canvas;
                                   d["step"] = e.step;
                                   d["steps_remaining"] = e.steps_remaining;
                                   d["max_steps"] = e.max_steps;
                                   d["n_accepted"] = e.n_accepted;
                                   d["mean_entropy"] = e.mean_entropy;
                                   d["temperature"] = e.temperature;
                                   return d;
                               })
        .def_property_readonly("draft", [](const PySequence & s) { return s.seq->draft(); })
        .def_property_readonly("committed", [](const PySequence & s) { return s.seq->committed(); })
        .def_property_readonly("commit_tokens", [](const PySequence & s) { return s.seq->commit_tokens(); })
        .def_property_readonly("tokens", [](const PySequence & s) { return s.seq->result().tokens; })
        .def_property_readonly("stats", [](const PySequence & s) { return stats_dict(s.seq->result().stats); });

    pyb::class_<PyBatch>(mod, "Batch",
                         "Step-at-a-time generation on a _core.Model (shared weights and lock): sequence() makes a "
                         "request's state, prefill() encodes its prompt in chunks, step() advances several "
                         "sequences by one denoising step each. sequence() may run on any thread while another steps.")
        .def(pyb::init([](pyb::object core_model, bool batched) {
                 auto b = std::make_unique<PyBatch>();
                 b->batched = batched;
                 auto mm = core_model_of(core_model);
                 b->model = mm.first;
                 b->mu = mm.second;
                 if (!b->model->hparams().is_diffusion())
                     throw Error(strfmt("%s: batched generation needs a diffusion-gemma model, this file is %s",
                                        b->model->file().name().c_str(), model_arch_name(b->model->hparams().arch)));
                 return b;
             }),
             pyb::arg("model"), pyb::arg("batched") = true)
        .def_readwrite("batched", &PyBatch::batched)
        .def(
            "sequence",
            [](PyBatch & b, const std::vector<int32_t> & prompt, const pyb::dict & params, bool greedy) {
                GenParams p = apply_params(GenParams{}, params, "sequence", true);
                auto s = std::make_unique<PySequence>();
                s->model = b.model;
                // No lock: the constructor reads only the model's immutable parts (batch.h).
                s->seq = std::make_unique<gen::Sequence>(*b.model, prompt, p, greedy);
                return s;
            },
            pyb::arg("prompt"), pyb::arg("params"), pyb::arg("greedy") = false)
        .def(
            "prefill",
            [](PyBatch & b, PySequence & s, int64_t max_tokens) {
                if (s.model != b.model) throw Error("prefill: the sequence belongs to another model");
                pyb::gil_scoped_release nogil;
                auto hold = b.mu->run("prefill");
                return s.seq->prefill(*b.model, max_tokens);
            },
            pyb::arg("seq"), pyb::arg("max_tokens") = 0)
        .def(
            "step",
            [](PyBatch & b, const std::vector<PySequence *> & seqs) {
                std::vector<gen::Sequence *> raw;
                raw.reserve(seqs.size());
                for (PySequence * s : seqs) {
                    if (!s) throw Error("step: None in the sequence list");
                    if (s->model != b.model) throw Error("step: a sequence belongs to another model");
                    raw.push_back(s->seq.get());
                }
                pyb::gil_scoped_release nogil;
                auto hold = b.mu->run("step");
                step_batch(*b.model, raw, b.batched);
            },
            pyb::arg("seqs"));
}

}  // namespace ld::py
