// Python bindings of the CPU nn ops (ld-ggml/cpu-nn.h): nn_rms_norm, nn_rope, nn_gelu_tanh, nn_geglu,
// nn_softcap, nn_softmax, nn_router_topk, nn_attention. Each takes float32 numpy arrays, returns new arrays,
// and has `reference` (the scalar *_ref op), `isa` (force a kernel ISA) and `n_threads` (a private pool of
// that size; None = the global pool) switches for tests and benchmarks. The GIL is released while the op runs.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <chrono>
#include <ctime>
#include <cstring>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "bindings.h"
#include "common/error.h"
#include "ld-ggml/cpu-nn.h"
#include "ld-ggml/types.h"

namespace ld::py {

namespace pyb = pybind11;
using namespace ld::ggml;
using F32 = pyb::array_t<float, pyb::array::c_style | pyb::array::forcecast>;
using I32 = pyb::array_t<int32_t, pyb::array::c_style | pyb::array::forcecast>;

namespace {

ThreadPool * pool_for(std::optional<int> n_threads) {
    if (!n_threads) return nullptr;
    if (*n_threads < 1) throw ld::Error(ld::strfmt("n_threads must be >= 1, got %d", *n_threads));
    return &ThreadPool::shared(*n_threads);
}

CpuIsa isa_for(const std::optional<std::string> & isa) { return isa ? cpu_isa_from_name(*isa) : cpu_isa(); }

std::vector<pyb::ssize_t> shape_of(const pyb::array & a) { return std::vector<pyb::ssize_t>(a.shape(), a.shape() + a.ndim()); }

void need_ndim(const char * op, const char * name, const pyb::array & a, int ndim) {
    if (a.ndim() != ndim) throw ld::Error(ld::strfmt("%s: %s must have %d dims, got %d", op, name, ndim, (int)a.ndim()));
}

// Converts f32 values to a K/V type (F32, F16, Q8_0) with the reference quantizer.
std::vector<uint8_t> to_kv_type(const F32 & x, Type t) {
    const TypeTraits * tt = type_traits(t);
    const int64_t n = (int64_t)x.size();
    std::vector<uint8_t> out((size_t)(n / tt->block_size) * tt->type_size);
    if (t == Type::F32)
        std::memcpy(out.data(), x.data(), (size_t)n * 4);
    else
        tt->from_float_ref(x.data(), out.data(), n);
    return out;
}


// Arguments of one attention call; K/V converted to the storage type up front.
struct AttnCall {
    AttnArgs a;
    std::vector<uint8_t> kb, vb;
    AttnCall(const F32 & q, const F32 & k, const F32 & v, const I32 & q_pos, const I32 & k_pos, const std::string & mask,
             int window, int canvas_begin, float scale, const std::string & kv_type) {
        need_ndim("attention", "q", q, 3);
        need_ndim("attention", "k", k, 3);
        need_ndim("attention", "v", v, 3);
        if (k.shape(0) != v.shape(0) || k.shape(1) != v.shape(1) || k.shape(2) != v.shape(2))
            throw ld::Error("attention: k and v shapes differ");
        if (k.shape(2) != q.shape(2))
            throw ld::Error(ld::strfmt("attention: head_dim of q (%lld) and k (%lld) differ", (long long)q.shape(2),
                               (long long)k.shape(2)));
        if (q_pos.ndim() != 1 || q_pos.shape(0) != q.shape(0)) throw ld::Error("attention: q_pos must have shape [n_q]");
        if (k_pos.ndim() != 1 || k_pos.shape(0) != k.shape(0)) throw ld::Error("attention: k_pos must have shape [n_kv]");
        if (mask == "causal") a.mask = AttnMask::causal;
        else if (mask == "sliding") a.mask = AttnMask::sliding;
        else if (mask == "canvas") a.mask = AttnMask::canvas;
        else throw ld::Error(ld::strfmt("attention: unknown mask '%s' (causal, sliding, canvas)", mask.c_str()));
        const int32_t t = type_from_name(kv_type.c_str());
        if (t != (int32_t)Type::F32 && t != (int32_t)Type::F16 && t != (int32_t)Type::Q8_0)
            throw ld::Error(ld::strfmt("attention: kv_type '%s' not supported (F32, F16, Q8_0)", kv_type.c_str()));
        a.kv_type = (Type)t;
        a.q = q.data();
        a.q_pos = q_pos.data();
        a.n_q = q.shape(0);
        a.n_head = q.shape(1);
        a.head_dim = q.shape(2);
        a.k_pos = k_pos.data();
        a.n_kv = k.shape(0);
        a.n_kv_head = k.shape(1);
        a.window = window;
        a.canvas_begin = canvas_begin;
        a.scale = scale;
        a.out = nullptr;
        // shape checks before converting (Q8_0 needs whole blocks)
        AttnArgs probe = a;
        probe.n_q = 0;
        probe.n_kv = 0;
        attention_validate(probe);
        kb = to_kv_type(k, a.kv_type);
        vb = to_kv_type(v, a.kv_type);
        a.k = kb.data();
        a.v = vb.data();
    }
};

}  // namespace

void register_nn(pyb::module_ & m) {
    m.def("nn_rms_norm", [](F32 x, std::optional<F32> w, float eps, bool reference, std::optional<std::string> isa,
                            std::optional<int> n_threads) {
        if (x.ndim() < 1) throw ld::Error("rms_norm: x must have at least 1 dim");
        const int64_t n = x.shape(x.ndim() - 1), rows = n ? (int64_t)x.size() / n : 0;
        if (w && (w->ndim() != 1 || w->shape(0) != n))
            throw ld::Error(ld::strfmt("rms_norm: weight must have shape [%lld]", (long long)n));
        F32 out(shape_of(x));
        const float * wp = w ? w->data() : nullptr;
        const CpuIsa i = isa_for(isa);
        ThreadPool * pool = pool_for(n_threads);
        pyb::gil_scoped_release nogil;
        if (reference) rms_norm_ref(x.data(), rows, n, wp, eps, out.mutable_data());
        else rms_norm(x.data(), rows, n, wp, eps, out.mutable_data(), pool, i);
        return out;
    }, pyb::arg("x"), pyb::arg("weight") = pyb::none(), pyb::arg("eps") = 1e-6f, pyb::arg("reference") = false,
       pyb::arg("isa") = pyb::none(), pyb::arg("n_threads") = pyb::none(),
       "RMSNorm over the last axis (weight [n] or None).");

    m.def("nn_rope", [](F32 x, I32 pos, float theta_base, int64_t n_rot, std::optional<F32> freq_factors, bool reference,
                        std::optional<int> n_threads, std::optional<F32> inv_freq) {
        need_ndim("rope", "x", x, 3);
        need_ndim("rope", "pos", pos, 1);
        const int64_t n_tok = x.shape(0), n_head = x.shape(1), d = x.shape(2);
        if (pos.shape(0) != n_tok) throw ld::Error(ld::strfmt("rope: pos has %lld entries for %lld tokens", (long long)pos.shape(0), (long long)n_tok));
        RopeParams p;
        p.n_rot = n_rot;
        p.theta_base = theta_base;
        const int64_t nr = n_rot ? n_rot : d;
        if (freq_factors) {
            if (freq_factors->ndim() != 1 || freq_factors->shape(0) != nr / 2)
                throw ld::Error(ld::strfmt("rope: freq_factors must have shape [%lld]", (long long)(nr / 2)));
            p.freq_factors = freq_factors->data();
        }
        if (inv_freq) {
            if (inv_freq->ndim() != 1 || inv_freq->shape(0) != nr / 2)
                throw ld::Error(ld::strfmt("rope: inv_freq must have shape [%lld]", (long long)(nr / 2)));
            p.inv_freq = inv_freq->data();
        }
        F32 out(shape_of(x));
        std::memcpy(out.mutable_data(), x.data(), (size_t)x.size() * 4);
        ThreadPool * pool = pool_for(n_threads);
        pyb::gil_scoped_release nogil;
        if (reference) rope_neox_ref(out.mutable_data(), n_tok, n_head, d, pos.data(), p);
        else rope_neox(out.mutable_data(), n_tok, n_head, d, pos.data(), p, pool);
        return out;
    }, pyb::arg("x"), pyb::arg("pos"), pyb::arg("theta_base"), pyb::arg("n_rot") = 0,
       pyb::arg("freq_factors") = pyb::none(), pyb::arg("reference") = false, pyb::arg("n_threads") = pyb::none(),
       pyb::arg("inv_freq") = pyb::none(),
       "Rotate-half RoPE of x [n_tok, n_head, head_dim] at positions pos [n_tok] (returns a new array).");

    m.def("nn_gelu_tanh", [](F32 x, bool reference, std::optional<std::string> isa, std::optional<int> n_threads) {
        F32 out(shape_of(x));
        const CpuIsa i = isa_for(isa);
        ThreadPool * pool = pool_for(n_threads);
        pyb::gil_scoped_release nogil;
        if (reference) gelu_tanh_ref(x.data(), (int64_t)x.size(), out.mutable_data());
        else gelu_tanh(x.data(), (int64_t)x.size(), out.mutable_data(), pool, i);
        return out;
    }, pyb::arg("x"), pyb::arg("reference") = false, pyb::arg("isa") = pyb::none(), pyb::arg("n_threads") = pyb::none());

    m.def("nn_geglu", [](F32 gate, std::optional<F32> up, bool reference, std::optional<std::string> isa,
                         std::optional<int> n_threads) {
        need_ndim("geglu", "gate", gate, 2);
        const int64_t rows = gate.shape(0);
        int64_t n = gate.shape(1), ld_in = n;
        const float * g = gate.data();
        const float * u = nullptr;
        if (up) {
            need_ndim("geglu", "up", *up, 2);
            if (up->shape(0) != rows || up->shape(1) != n) throw ld::Error("geglu: gate and up shapes differ");
            u = up->data();
        } else {  // fused [rows, 2n]: gate first
            if (n % 2 != 0) throw ld::Error(ld::strfmt("geglu: fused gate_up width %lld is odd", (long long)n));
            n /= 2;
            u = g + n;
        }
        F32 out({(pyb::ssize_t)rows, (pyb::ssize_t)n});
        const CpuIsa i = isa_for(isa);
        ThreadPool * pool = pool_for(n_threads);
        pyb::gil_scoped_release nogil;
        if (reference) geglu_ref(g, u, rows, n, ld_in, out.mutable_data());
        else geglu(g, u, rows, n, ld_in, out.mutable_data(), pool, i);
        return out;
    }, pyb::arg("gate"), pyb::arg("up") = pyb::none(), pyb::arg("reference") = false, pyb::arg("isa") = pyb::none(),
       pyb::arg("n_threads") = pyb::none(),
       "gelu_tanh(gate) * up for gate, up [rows, n]; with up None, gate is the fused [rows, 2n] gate_up.");

    m.def("nn_softcap", [](F32 x, float cap, bool reference, std::optional<int> n_threads) {
        F32 out(shape_of(x));
        ThreadPool * pool = pool_for(n_threads);
        pyb::gil_scoped_release nogil;
        if (reference) softcap_ref(x.data(), (int64_t)x.size(), cap, out.mutable_data());
        else softcap(x.data(), (int64_t)x.size(), cap, out.mutable_data(), pool);
        return out;
    }, pyb::arg("x"), pyb::arg("cap"), pyb::arg("reference") = false, pyb::arg("n_threads") = pyb::none());

    m.def("nn_softmax", [](F32 x, bool reference, std::optional<std::string> isa, std::optional<int> n_threads) {
        if (x.ndim() < 1) throw ld::Error("softmax: x must have at least 1 dim");
        const int64_t n = x.shape(x.ndim() - 1), rows = n ? (int64_t)x.size() / n : 0;
        F32 out(shape_of(x));
        const CpuIsa i = isa_for(isa);
        ThreadPool * pool = pool_for(n_threads);
        pyb::gil_scoped_release nogil;
        if (reference) softmax_ref(x.data(), rows, n, out.mutable_data());
        else softmax(x.data(), rows, n, out.mutable_data(), pool, i);
        return out;
    }, pyb::arg("x"), pyb::arg("reference") = false, pyb::arg("isa") = pyb::none(), pyb::arg("n_threads") = pyb::none(),
       "Softmax over the last axis.");

    m.def("nn_router_topk", [](F32 logits, int64_t k, std::optional<F32> per_expert_scale, bool reference,
                               std::optional<int> n_threads) {
        need_ndim("router_topk", "logits", logits, 2);
        const int64_t n_tok = logits.shape(0), n_exp = logits.shape(1);
        if (per_expert_scale && (per_expert_scale->ndim() != 1 || per_expert_scale->shape(0) != n_exp))
            throw ld::Error(ld::strfmt("router_topk: per_expert_scale must have shape [%lld]", (long long)n_exp));
        if (k < 1 || k > n_exp) throw ld::Error(ld::strfmt("router_topk: k = %lld must be in [1, %lld]", (long long)k, (long long)n_exp));
        I32 ids({(pyb::ssize_t)n_tok, (pyb::ssize_t)k});
        F32 w({(pyb::ssize_t)n_tok, (pyb::ssize_t)k});
        const float * s = per_expert_scale ? per_expert_scale->data() : nullptr;
        ThreadPool * pool = pool_for(n_threads);
        {
            pyb::gil_scoped_release nogil;
            if (reference) router_topk_ref(logits.data(), n_tok, n_exp, k, s, ids.mutable_data(), w.mutable_data());
            else router_topk(logits.data(), n_tok, n_exp, k, s, ids.mutable_data(), w.mutable_data(), pool);
        }
        return pyb::make_tuple(ids, w);
    }, pyb::arg("logits"), pyb::arg("k"), pyb::arg("per_expert_scale") = pyb::none(), pyb::arg("reference") = false,
       pyb::arg("n_threads") = pyb::none(), "Router: softmax, top-k (descending), renormalise, per-expert scale -> (ids, weights).");

    m.def("nn_attention", [](F32 q, F32 k, F32 v, I32 q_pos, I32 k_pos, const std::string & mask, int window,
                             int canvas_begin, float scale, const std::string & kv_type, bool reference,
                             std::optional<std::string> isa, std::optional<int> n_threads, int repeats) {
        AttnCall c(q, k, v, q_pos, k_pos, mask, window, canvas_begin, scale, kv_type);
        F32 out(shape_of(q));
        c.a.out = out.mutable_data();
        const CpuIsa i = isa_for(isa);
        ThreadPool * pool = pool_for(n_threads);
        if (repeats < 1) throw ld::Error(ld::strfmt("attention: repeats must be >= 1, got %d", repeats));
        std::vector<double> seconds, cpu_seconds;
        {
            pyb::gil_scoped_release nogil;
            for (int r = 0; r < repeats; ++r) {
                const auto t0 = std::chrono::steady_clock::now();
                const std::clock_t c0 = std::clock();
                if (reference) attention_ref(c.a);
                else attention(c.a, pool, i);
                cpu_seconds.push_back((double)(std::clock() - c0) / CLOCKS_PER_SEC);
                seconds.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
            }
        }
        if (repeats == 1) return pyb::object(out);
        return pyb::object(pyb::make_tuple(out, seconds, cpu_seconds));
    }, pyb::arg("q"), pyb::arg("k"), pyb::arg("v"), pyb::arg("q_pos"), pyb::arg("k_pos"), pyb::arg("mask") = "causal",
       pyb::arg("window") = 0, pyb::arg("canvas_begin") = 0, pyb::arg("scale") = 1.0f, pyb::arg("kv_type") = "F32",
       pyb::arg("reference") = false, pyb::arg("isa") = pyb::none(), pyb::arg("n_threads") = pyb::none(),
       pyb::arg("repeats") = 1,
       "Attention of q [n_q, n_head, d] over k, v [n_kv, n_kv_head, d] (stored as kv_type) with a position mask.\n"
       "repeats > 1 (benchmarks) returns (out, [wall seconds per run], [process CPU seconds per run]), timing only\n"
       "the op.");
}

}  // namespace ld::py
