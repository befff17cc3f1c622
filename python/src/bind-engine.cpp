// Python bindings of the models (_core.Model): DiffusionGemma encoder/decoder passes (to logits or
// to final hidden states), the AR head,
// Gemma 3, and read access to the KV cache and per-layer outputs for tests. The GIL is released
// around every compute call and before waiting for the model; a ModelLock (model-lock.h, shared with
// the _core.Engine objects wrapping the same model, core_model_of) serialises calls.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <memory>
#include <string>
#include <vector>

#include "bindings.h"
#include "common/error.h"
#include "model/diffusion-gemma.h"
#include "model/model.h"

namespace ld::py {

namespace pyb = pybind11;

namespace {

using IdArray = pyb::array_t<int32_t, pyb::array::c_style | pyb::array::forcecast>;
using F32Array = pyb::array_t<float, pyb::array::c_style | pyb::array::forcecast>;

// Shared with the _core.Engine objects made from this model (core_model_of).
struct PyModel {
    std::shared_ptr<Model> m;
    std::shared_ptr<ModelLock> mu = std::make_shared<ModelLock>();
};

std::vector<int32_t> ids_from(const IdArray & a, const char * what) {
    if (a.ndim() != 1) throw Error(strfmt("%s: token ids must be a 1-D sequence, got %d dims", what, (int)a.ndim()));
    return std::vector<int32_t>(a.data(), a.data() + a.size());
}

pyb::dict hparams_dict(const HParams & hp, const Model & m) {
    pyb::dict d;
    d["architecture"] = model_arch_name(hp.arch);
    d["n_layer"] = hp.n_layer;
    d["n_embd"] = hp.n_embd;
    d["n_ff"] = hp.n_ff;
    d["n_head"] = hp.n_head;
    d["n_vocab"] = hp.n_vocab;
    d["n_ctx_train"] = hp.n_ctx_train;
    d["eps"] = hp.eps;
    d["n_kv_head"] = hp.n_kv_head;
    std::vector<bool> swa(hp.is_swa.begin(), hp.is_swa.end());
    d["is_swa"] = swa;
    d["head_dim"] = hp.head_dim;
    d["head_dim_swa"] = hp.head_dim_swa;
    d["n_rot"] = hp.n_rot;
    d["n_rot_swa"] = hp.n_rot_swa;
    d["rope_base"] = hp.rope_base;
    d["rope_base_swa"] = hp.rope_base_swa;
    d["rope_scale_linear"] = hp.rope_scale_linear;
    d["sliding_window"] = hp.sliding_window;
    d["attn_scale"] = hp.attn_scale;
    d["final_softcap"] = hp.final_softcap;
    d["n_expert"] = hp.n_expert;
    d["n_expert_used"] = hp.n_expert_used;
    d["n_ff_exp"] = hp.n_ff_exp;
    d["canvas_length"] = hp.canvas_length;
    d["eos_token_ids"] = hp.eos_token_ids;
    pyb::dict s;
    s["max_steps"] = hp.sampler.max_steps;
    s["t_min"] = hp.sampler.t_min;
    s["t_max"] = hp.sampler.t_max;
    s["entropy_bound"] = hp.sampler.entropy_bound;
    s["stability_threshold"] = hp.sampler.stability_threshold;
    s["confidence_threshold"] = hp.sampler.confidence_threshold;
    d["sampler"] = s;
    d["self_conditioning"] = m.weights().has_self_cond();
    d["experts_fused"] = !m.weights().layers.empty() && m.weights().layers[0].exp_gate_up.present();
    return d;
}

}  // namespace

std::pair<std::shared_ptr<Model>, std::shared_ptr<ModelLock>> core_model_of(pyb::handle obj) {
    if (!pyb::isinstance<PyModel>(obj))
        throw Error(strfmt("expected a llama_diffusion._core.Model, got %s",
                           std::string(pyb::str(pyb::type::handle_of(obj).attr("__name__"))).c_str()));
    PyModel & p = obj.cast<PyModel &>();
    return {p.m, p.mu};
}

void register_engine(pyb::module_ & mod) {
    mod.def("backends", []() {
        pyb::list out;
        for (const ggml::BackendInfo & i : ggml::backends_list()) {
            pyb::dict d;
            d["name"] = i.name;
            d["kind"] = std::string(ggml::backend_kind_name(i.kind));
            d["description"] = i.description;
            d["compiled"] = i.compiled;
            d["available"] = i.available;
            d["reason"] = i.reason;
            d["memory_total"] = i.memory_total;
            d["memory_free"] = i.memory_free;
            out.append(d);
        }
        return out;
    }, "The backends of this build and machine: name, kind, description, compiled, available, reason, memory.");
    mod.def("resolve_device", [](const std::string & device) {
        const auto r = resolve_device(device);
        return std::string(ggml::backend_kind_name(r.first)) +
               (r.first == ggml::BackendKind::cpu || r.first == ggml::BackendKind::sim ? std::string()
                                                                                 : ":" + std::to_string(r.second));
    }, pyb::arg("device"), "The device a name selects ('auto' -> a usable GPU, else 'cpu'); ValueError when unusable.");
    pyb::class_<PyModel>(mod, "Model", "A diffusion-gemma or gemma3 model loaded from a GGUF file.")
        .def(pyb::init([](const std::string & path, int n_threads, const std::string & kv_type, const std::string & device,
                          int n_gpu_layers, bool cpu_moe, bool repack) {
                 auto p = std::make_unique<PyModel>();
                 const ggml::Type kt = kv_type_from_name(kv_type.c_str());
                 if (n_gpu_layers < -1)
                     throw Error(strfmt("n_gpu_layers must be >= 0 (or -1 for all layers), got %d", n_gpu_layers));
                 Placement pl;
                 pl.device = device;
                 pl.n_gpu_layers = n_gpu_layers;
                 pl.cpu_moe = cpu_moe;
                 pl.repack = repack;
                 pyb::gil_scoped_release nogil;
                 p->m = Model::open(path, n_threads, kt, pl);
                 return p;
             }),
             pyb::arg("path"), pyb::arg("n_threads") = 0, pyb::arg("kv_type") = "f32", pyb::arg("device") = "cpu",
             pyb::arg("n_gpu_layers") = -1, pyb::arg("cpu_moe") = false, pyb::arg("repack") = false)
        .def_property_readonly("device", [](PyModel & p) { return p.m->placement().device; })
        .def_property_readonly("placement", [](PyModel & p) { return p.m->placement_summary(); })
        .def_property_readonly("repacked_bytes", [](PyModel & p) -> int64_t { return (int64_t)p.m->repacked_bytes(); },
                               "Bytes of the CPU weights repacked so far (Placement::repack; 0 when off).")
        .def_property_readonly("graph_replays", [](PyModel & p) -> int64_t {
            auto * dg = dynamic_cast<DiffusionGemma *>(p.m.get());
            return dg ? dg->graph_replays() : 0;
        }, "Decoder steps whose layers ran as a replayed op recording (CUDA graphs; the sim device).")
        .def_property_readonly("hparams", [](PyModel & p) { return hparams_dict(p.m->hparams(), *p.m); })
        .def_property_readonly("n_threads", [](PyModel & p) { return p.m->n_threads(); })
        .def_property_readonly("kv_type", [](PyModel & p) { return std::string(ggml::type_name((int32_t)p.m->cache().type())); })
        .def_property_readonly("kv_length", [](PyModel & p) {
            auto h = hold_state(*p.mu, "kv_length", true);
            return p.m->cache().n_tokens();
        })
        .def_property_readonly("next_pos", [](PyModel & p) {
            auto h = hold_state(*p.mu, "next_pos", true);
            return p.m->cache().next_pos();
        })
        .def_property_readonly("kv_bytes", [](PyModel & p) {
            auto h = hold_state(*p.mu, "kv_bytes", true);
            return p.m->cache().bytes_allocated();
        })
        .def_property(
            "chunk_size",
            [](PyModel & p) {
                auto h = hold_state(*p.mu, "chunk_size", true);
                return p.m->chunk_size();
            },
            [](PyModel & p, int64_t n) {
                auto h = hold_state(*p.mu, "chunk_size", false);
                p.m->set_chunk_size(n);
            })
        .def_property(
            "capture_layers",
            [](PyModel & p) {
                auto h = hold_state(*p.mu, "capture_layers", true);
                return p.m->capture();
            },
            [](PyModel & p, bool on) {
                auto h = hold_state(*p.mu, "capture_layers", false);
                p.m->set_capture(on);
            })
        .def("reset", [](PyModel & p) {
            pyb::gil_scoped_release nogil;
            auto h = p.mu->state("reset", false);
            p.m->reset();
        })
        .def("encode",
             [](PyModel & p, const IdArray & ids_in, pyb::object pos0, bool logits) -> pyb::object {
                 std::vector<int32_t> ids = ids_from(ids_in, "encode");
                 const int32_t p0 = pos0.is_none() ? -1 : pos0.cast<int32_t>();
                 if (!pos0.is_none() && p0 < 0) throw Error(strfmt("encode: pos0 must be >= 0, got %d", p0));
                 pyb::array_t<float> out(logits ? p.m->hparams().n_vocab : 0);
                 float * o = logits ? out.mutable_data() : nullptr;
                 {
                     pyb::gil_scoped_release nogil;
                     auto h = p.mu->run("encode");
                     p.m->file().check_unchanged();
                     p.m->encode(ids.data(), (int64_t)ids.size(), p0, o);
                 }
                 if (logits) return std::move(out);
                 return pyb::none();
             },
             pyb::arg("ids"), pyb::arg("pos0") = pyb::none(), pyb::arg("logits") = false)
        .def("decode_canvas",
             [](PyModel & p, const IdArray & ids_in, pyb::object sc) {
                 std::vector<int32_t> ids = ids_from(ids_in, "decode_canvas");
                 const int64_t C = (int64_t)ids.size(), V = p.m->hparams().n_vocab;
                 F32Array sca;
                 const float * scp = nullptr;
                 if (!sc.is_none()) {
                     sca = sc.cast<F32Array>();
                     if (sca.ndim() != 2 || sca.shape(0) != C || sca.shape(1) != V)
                         throw Error(strfmt("decode_canvas: sc_logits must have shape [%lld, %lld]", (long long)C,
                                            (long long)V));
                     scp = sca.data();
                 }
                 pyb::array_t<float> out({C, V});
                 float * o = out.mutable_data();
                 {
                     pyb::gil_scoped_release nogil;
                     auto h = p.mu->run("decode_canvas");
                     p.m->file().check_unchanged();
                     p.m->decode_canvas(ids.data(), C, scp, o);
                 }
                 return out;
             },
             pyb::arg("canvas_ids"), pyb::arg("sc_logits") = pyb::none())
        .def("decode_hidden",
             [](PyModel & p, const IdArray & ids_in, pyb::object soft) {
                 std::vector<int32_t> ids = ids_from(ids_in, "decode_hidden");
                 const int64_t C = (int64_t)ids.size(), H = p.m->hparams().n_embd;
                 F32Array sa;
                 const float * sp = nullptr;
                 if (!soft.is_none()) {
                     sa = soft.cast<F32Array>();
                     if (sa.ndim() != 2 || sa.shape(0) != C || sa.shape(1) != H)
                         throw Error(strfmt("decode_hidden: soft must have shape [%lld, %lld]", (long long)C,
                                            (long long)H));
                     sp = sa.data();
                 }
                 pyb::array_t<float> out({C, H});
                 float * o = out.mutable_data();
                 {
                     pyb::gil_scoped_release nogil;
                     auto h = p.mu->run("decode_hidden");
                     p.m->file().check_unchanged();
                     p.m->decode_hidden(ids.data(), C, sp, o);
                 }
                 return out;
             },
             pyb::arg("canvas_ids"), pyb::arg("soft") = pyb::none())
        .def("kv_cache",
             [](PyModel & p, int layer) {
                 auto h = hold_state(*p.mu, "kv_cache", true);
                 if (layer < 0 || layer >= p.m->cache().n_layer())
                     throw Error(strfmt("kv_cache: layer %d out of range [0, %d)", layer, p.m->cache().n_layer()));
                 const LayerKv & l = p.m->cache().layer(layer);
                 const int64_t T = l.n_cached(), nkv = l.n_kv_head(), d = l.head_dim();
                 pyb::array_t<float> k({T, nkv, d}), v({T, nkv, d});
                 pyb::array_t<int32_t> pos(T);
                 for (int64_t r = 0; r < T; ++r) {
                     l.get_k(r, k.mutable_data() + r * nkv * d);
                     l.get_v(r, v.mutable_data() + r * nkv * d);
                     pos.mutable_data()[r] = l.get_pos(r);
                 }
                 return pyb::make_tuple(k, v, pos);
             },
             pyb::arg("layer"))
        .def_property_readonly("layer_outputs", [](PyModel & p) {
            auto h = hold_state(*p.mu, "layer_outputs", true);
            pyb::list out;
            const int64_t H = p.m->hparams().n_embd;
            for (const auto & v : p.m->captured()) {
                const int64_t S = (int64_t)v.size() / H;
                pyb::array_t<float> a({S, H});
                std::copy(v.begin(), v.end(), a.mutable_data());
                out.append(a);
            }
            return out;
        });
}

}  // namespace ld::py
