// Python bindings of the backend interface for op tests: _core.BackendOps(name) creates a backend
// ("cpu", "sim", "cuda", "cuda:1", ...) and runs ONE op on numpy inputs: upload the inputs to the
// backend's memory, run the op, download the outputs. Weights are given as raw GGUF bytes (uint8) plus the
// type name and go through weight() (the arrays are kept alive by the object, so a host pointer is never
// reused for different bytes). tests/python/test_backend_ops.py runs every op on every available backend
// against the CPU references. Errors raise ValueError.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <cstring>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "bindings.h"
#include "ld-ggml/backend.h"
#include "ld-ggml/error.h"

namespace ld::py {

namespace pyb = pybind11;
using namespace ld::ggml;

namespace {

using F32 = pyb::array_t<float, pyb::array::c_style | pyb::array::forcecast>;
using I32 = pyb::array_t<int32_t, pyb::array::c_style | pyb::array::forcecast>;
using U8 = pyb::array_t<uint8_t, pyb::array::c_style | pyb::array::forcecast>;

Type type_named(const std::string & name) {
    const int32_t id = type_from_name(name.c_str());
    if (id < 0) throw Error("backend ops: unknown type '" + name + "'");
    return (Type)id;
}

// One device buffer (RAII).
struct Buf {
    Backend * b = nullptr;
    void * p = nullptr;
    size_t bytes = 0;
    Buf(Backend * be, size_t n) : b(be), p(be->alloc(n ? n : 1)), bytes(n) {}
    ~Buf() { b->free(p); }
    Buf(const Buf &) = delete;
    Buf & operator=(const Buf &) = delete;
    template <typename T> T * as() const { return (T *)p; }
};

class BackendOps {
public:
    explicit BackendOps(const std::string & name) {
        std::string kind = name;
        int dev = 0;
        const size_t colon = name.find(':');
        if (colon != std::string::npos) {
            kind = name.substr(0, colon);
            dev = std::stoi(name.substr(colon + 1));
        }
        b_ = backend_create(backend_kind_from_name(kind), nullptr, dev);
    }

    std::string name() const { return b_->name(); }
    std::string kind() const { return backend_kind_name(b_->kind()); }
    std::string description() const { return b_->description(); }
    size_t weight_bytes() const { return b_->weight_bytes(); }
    size_t memory_free() const { return b_->memory_free(); }
    bool supports_matmul(const std::string & t) const { return b_->supports_matmul(type_named(t)); }

    // y[N, M] = x[N, K] · W[M, K]ᵀ
    F32 matmul(const F32 & x, const U8 & w, const std::string & wtype, int64_t M) {
        if (x.ndim() != 2) throw Error("backend matmul: x must be [N, K]");
        const int64_t N = x.shape(0), K = x.shape(1);
        const Type t = type_named(wtype);
        const void * wd = weight(w, t, K, M);
        auto xd = up(x);
        Buf y(b_.get(), sizeof(float) * (size_t)(N * M));
        b_->matmul(xd->as<float>(), N, K, wd, t, M, y.as<float>());
        return down_f32(y, {N, M});
    }

    // x [N, K] (shared) or [N, top_k, K] (per slot); ids [N, top_k]; rw [N, top_k] or None.
    F32 moe_matmul(const F32 & x, const U8 & w, const std::string & wtype, int64_t M, int64_t E, const I32 & ids,
                   std::optional<F32> rw) {
        if (ids.ndim() != 2) throw Error("backend moe_matmul: ids must be [N, top_k]");
        MoeArgs a;
        a.N = ids.shape(0);
        a.top_k = ids.shape(1);
        a.x_per_slot = x.ndim() == 3;
        a.K = x.shape(x.ndim() - 1);
        a.M = M;
        a.E = E;
        a.wtype = type_named(wtype);
        a.w = weight(w, a.wtype, a.K, M * E);
        auto xd = up(x);
        auto idd = up(ids);
        std::unique_ptr<Buf> rwd;
        if (rw) rwd = up(*rw);
        a.x = xd->as<float>();
        a.ids = idd->as<int32_t>();
        a.rw = rwd ? rwd->as<float>() : nullptr;
        const int64_t rows = rw ? a.N : a.N * a.top_k;
        Buf y(b_.get(), sizeof(float) * (size_t)(rows * M));
        a.y = y.as<float>();
        b_->moe_matmul(a);
        if (rw) return down_f32(y, {a.N, M});
        return down_f32(y, {a.N, a.top_k, M});
    }

    F32 rms_norm(const F32 & x, std::optional<F32> w, float eps) {
        const int64_t n = x.shape(x.ndim() - 1), rows = (int64_t)x.size() / std::max<int64_t>(n, 1);
        auto xd = up(x);
        std::unique_ptr<Buf> wd;
        if (w) wd = up(*w);
        Buf o(b_.get(), sizeof(float) * (size_t)x.size());
        b_->rms_norm(xd->as<float>(), rows, n, wd ? wd->as<float>() : nullptr, eps, o.as<float>());
        return down_f32(o, shape(x));
    }

    F32 rope_neox(const F32 & x, const I32 & pos, float theta, int64_t n_rot, std::optional<F32> ff,
                  std::optional<F32> inv_freq) {
        if (x.ndim() != 3) throw Error("backend rope_neox: x must be [n_tok, n_head, head_dim]");
        auto xd = up(x);
        auto pd = up(pos);
        std::unique_ptr<Buf> fd, id;
        if (ff) fd = up(*ff);
        if (inv_freq) id = up(*inv_freq);
        RopeParams p;
        p.n_rot = n_rot;
        p.theta_base = theta;
        p.freq_factors = fd ? fd->as<float>() : nullptr;
        p.inv_freq = id ? id->as<float>() : nullptr;
        b_->rope_neox(xd->as<float>(), x.shape(0), x.shape(1), x.shape(2), pd->as<int32_t>(), p);
        return down_f32(*xd, shape(x));
    }

    // gate [R, n] and up [R, n]; or up None: gate is the fused [R, 2n] (gate half first).
    F32 geglu(const F32 & gate, std::optional<F32> upa) {
        if (gate.ndim() != 2) throw Error("backend geglu: gate must be 2-D");
        const int64_t R = gate.shape(0);
        const int64_t n = upa ? gate.shape(1) : gate.shape(1) / 2, ld_in = gate.shape(1);
        auto gd = up(gate);
        std::unique_ptr<Buf> ud;
        if (upa) ud = up(*upa);
        Buf o(b_.get(), sizeof(float) * (size_t)(R * n));
        const float * g = gd->as<float>();
        b_->geglu(g, ud ? ud->as<float>() : g + n, R, n, ld_in, o.as<float>());
        return down_f32(o, {R, n});
    }

    F32 softcap(const F32 & x, float cap) {
        auto xd = up(x);
        Buf o(b_.get(), sizeof(float) * (size_t)x.size());
        b_->softcap(xd->as<float>(), (int64_t)x.size(), cap, o.as<float>());
        return down_f32(o, shape(x));
    }

    F32 softmax(const F32 & x) {
        const int64_t n = x.shape(x.ndim() - 1), rows = (int64_t)x.size() / std::max<int64_t>(n, 1);
        auto xd = up(x);
        Buf o(b_.get(), sizeof(float) * (size_t)x.size());
        b_->softmax(xd->as<float>(), rows, n, o.as<float>());
        return down_f32(o, shape(x));
    }

    std::pair<I32, F32> router_topk(const F32 & logits, int64_t k, std::optional<F32> scale) {
        if (logits.ndim() != 2) throw Error("backend router_topk: logits must be [n_tok, n_expert]");
        const int64_t T = logits.shape(0), E = logits.shape(1);
        auto ld = up(logits);
        std::unique_ptr<Buf> sd;
        if (scale) sd = up(*scale);
        Buf ids(b_.get(), sizeof(int32_t) * (size_t)(T * k)), w(b_.get(), sizeof(float) * (size_t)(T * k));
        b_->router_topk(ld->as<float>(), T, E, k, sd ? sd->as<float>() : nullptr, ids.as<int32_t>(), w.as<float>());
        I32 io({T, k});
        b_->download(io.mutable_data(), ids.p, ids.bytes);
        return {io, down_f32(w, {T, k})};
    }

    // q [n_q, n_head, D]; k, v [n_kv, n_kv_head, D] f32, stored as kv_type with the reference rounding;
    // q_pad / kv_pad: extra floats / bytes per token (strided layouts).
    F32 attention(const F32 & q, const F32 & k, const F32 & v, const I32 & q_pos, const I32 & k_pos,
                  const std::string & mask, int window, int canvas_begin, float scale, const std::string & kv_type,
                  int64_t q_pad, int64_t kv_pad) {
        if (q.ndim() != 3 || k.ndim() != 3 || v.ndim() != 3) throw Error("backend attention: q, k, v must be 3-D");
        AttnArgs a;
        a.n_q = q.shape(0);
        a.n_head = q.shape(1);
        a.head_dim = q.shape(2);
        a.n_kv = k.shape(0);
        a.n_kv_head = k.shape(1);
        a.kv_type = type_named(kv_type);
        a.mask = mask == "causal" ? AttnMask::causal : mask == "sliding" ? AttnMask::sliding : AttnMask::canvas;
        if (mask != "causal" && mask != "sliding" && mask != "canvas") throw Error("backend attention: unknown mask " + mask);
        a.window = window;
        a.canvas_begin = canvas_begin;
        a.scale = scale;
        // q with a token stride of n_head * D + q_pad floats
        const int64_t qrow = a.n_head * a.head_dim, qs = qrow + q_pad;
        std::vector<float> qh((size_t)(a.n_q * qs), 0.0f);
        for (int64_t i = 0; i < a.n_q; ++i) std::memcpy(&qh[(size_t)(i * qs)], q.data() + i * qrow, (size_t)qrow * 4);
        // k / v rows of the storage type, kv_pad bytes apart more than dense
        const size_t tok_bytes = row_size(a.kv_type, a.head_dim) * (size_t)a.n_kv_head, ks = tok_bytes + (size_t)kv_pad;
        std::vector<uint8_t> kh(ks * (size_t)a.n_kv, 0), vh(ks * (size_t)a.n_kv, 0);
        const int64_t kvrow = a.n_kv_head * a.head_dim;
        const TypeTraits * tr = type_traits(a.kv_type);
        for (int64_t j = 0; j < a.n_kv; ++j) {
            if (a.kv_type == Type::F32) {
                std::memcpy(&kh[j * ks], k.data() + j * kvrow, tok_bytes);
                std::memcpy(&vh[j * ks], v.data() + j * kvrow, tok_bytes);
            } else {
                if (kvrow % tr->block_size != 0) throw Error("backend attention: head_dim must be whole blocks");
                tr->from_float_ref(k.data() + j * kvrow, &kh[j * ks], kvrow);
                tr->from_float_ref(v.data() + j * kvrow, &vh[j * ks], kvrow);
            }
        }
        Buf qd(b_.get(), qh.size() * 4), kd(b_.get(), kh.size()), vd(b_.get(), vh.size());
        b_->upload(qd.p, qh.data(), qh.size() * 4);
        if (!kh.empty()) {
            b_->upload(kd.p, kh.data(), kh.size());
            b_->upload(vd.p, vh.data(), vh.size());
        }
        auto qp = up(q_pos);
        auto kp = up(k_pos);
        Buf o(b_.get(), sizeof(float) * (size_t)(a.n_q * qrow));
        a.q = qd.as<float>();
        a.q_stride = q_pad ? qs : 0;
        a.q_pos = qp->as<int32_t>();
        a.k = kd.p;
        a.v = vd.p;
        a.k_pos = kp->as<int32_t>();
        a.kv_stride = kv_pad ? ks : 0;
        a.out = o.as<float>();
        b_->attention(a);
        return down_f32(o, {a.n_q, a.n_head, a.head_dim});
    }

    F32 add(const F32 & x, const F32 & y) {
        if (x.size() != y.size()) throw Error("backend add: sizes differ");
        auto xd = up(x);
        auto yd = up(y);
        b_->add(xd->as<float>(), yd->as<float>(), (int64_t)x.size(), xd->as<float>());  // in place (out aliases a)
        return down_f32(*xd, shape(x));
    }

    F32 scale(const F32 & x, float s) {
        auto xd = up(x);
        b_->scale(xd->as<float>(), (int64_t)x.size(), s, xd->as<float>());
        return down_f32(*xd, shape(x));
    }

    F32 get_rows(const U8 & w, const std::string & wtype, int64_t ne0, int64_t n_rows, const I32 & ids, float s) {
        const Type t = type_named(wtype);
        for (int64_t i = 0; i < (int64_t)ids.size(); ++i)
            if (ids.data()[i] < 0 || ids.data()[i] >= n_rows) throw Error("backend get_rows: id out of range");
        const void * wd = weight(w, t, ne0, n_rows);
        auto idd = up(ids);
        const int64_t n = (int64_t)ids.size();
        Buf o(b_.get(), sizeof(float) * (size_t)(n * ne0));
        b_->get_rows(wd, t, ne0, n_rows, idd->as<int32_t>(), n, s, o.as<float>());
        return down_f32(o, {n, ne0});
    }

    U8 store_rows(const F32 & src, const std::string & type) {
        if (src.ndim() != 2) throw Error("backend store_rows: src must be [n, width]");
        const Type t = type_named(type);
        const int64_t n = src.shape(0), width = src.shape(1);
        if (t != Type::F32 && t != Type::F16 && t != Type::Q8_0)
            throw Error("backend store_rows: type must be F32, F16 or Q8_0");
        if (t == Type::Q8_0 && width % 32 != 0) throw Error("backend store_rows: Q8_0 width must be a multiple of 32");
        const size_t rb = row_size(t, width);
        auto sd = up(src);
        Buf o(b_.get(), rb * (size_t)n);
        b_->store_rows(sd->as<float>(), n, width, t, o.p);
        U8 out({(int64_t)(rb * (size_t)n)});
        b_->download(out.mutable_data(), o.p, o.bytes);
        return out;
    }

    // memmove within one device buffer holding `data`: copies n bytes from src_off to dst_off.
    U8 copy(const U8 & data, int64_t dst_off, int64_t src_off, int64_t n) {
        const int64_t size = (int64_t)data.size();
        if (n < 0 || dst_off < 0 || src_off < 0 || dst_off + n > size || src_off + n > size)
            throw Error("backend copy: range outside the buffer");
        Buf d(b_.get(), (size_t)size);
        b_->upload(d.p, data.data(), (size_t)size);
        b_->copy(d.as<uint8_t>() + dst_off, d.as<uint8_t>() + src_off, (size_t)n);
        U8 out({size});
        b_->download(out.mutable_data(), d.p, (size_t)size);
        return out;
    }

    // hidden [C, H]; out_w: V rows of H values of out_type (bytes); embd (bytes, embd_type) or None: = out_w.
    pyb::dict vocab_head(const F32 & hidden, const U8 & out_w, const std::string & out_type, int64_t V,
                         std::optional<U8> embd, std::optional<std::string> embd_type, float softcap,
                         float temperature, bool sample, uint64_t seed, uint64_t canvas_key, uint64_t step_key,
                         bool want_soft) {
        if (hidden.ndim() != 2) throw Error("backend vocab_head: hidden must be [C, H]");
        VocabHeadArgs a;
        a.C = hidden.shape(0);
        a.H = hidden.shape(1);
        a.V = V;
        a.out_type = type_named(out_type);
        a.out_w = weight(out_w, a.out_type, a.H, V);
        if (embd) {
            a.embd_type = type_named(embd_type ? *embd_type : out_type);
            a.embd = weight(*embd, a.embd_type, a.H, V);
        } else {
            a.embd_type = a.out_type;
            a.embd = a.out_w;
        }
        a.softcap = softcap;
        a.temperature = temperature;
        a.sample = sample;
        a.seed = seed;
        a.canvas_key = canvas_key;
        a.step_key = step_key;
        auto hd = up(hidden);
        a.hidden = hd->as<float>();
        Buf am(b_.get(), 4 * (size_t)a.C), dr(b_.get(), 4 * (size_t)a.C), en(b_.get(), 4 * (size_t)a.C);
        std::unique_ptr<Buf> so;
        if (want_soft) so = std::make_unique<Buf>(b_.get(), 4 * (size_t)(a.C * a.H));
        a.argmax = am.as<int32_t>();
        a.draw = dr.as<int32_t>();
        a.entropy = en.as<float>();
        a.soft = so ? so->as<float>() : nullptr;
        b_->vocab_head(a);
        I32 argmax({a.C}), draw({a.C});
        b_->download(argmax.mutable_data(), am.p, am.bytes);
        b_->download(draw.mutable_data(), dr.p, dr.bytes);
        pyb::dict d;
        d["argmax"] = argmax;
        d["draw"] = draw;
        d["entropy"] = down_f32(en, {a.C});
        if (so) d["soft"] = down_f32(*so, {a.C, a.H});
        return d;
    }

    bool supports_capture() const { return b_->supports_capture(); }

    // Records x = 2·(x·s) (scale then add, in place) as one captured sequence, then replays it `replays`
    // times: returns x after the capture (unchanged: recording runs nothing) and after the replays.
    std::pair<F32, F32> capture_check(const F32 & x, float s, int replays) {
        auto xd = up(x);
        float * p = xd->as<float>();
        const int64_t n = (int64_t)x.size();
        b_->capture_begin();
        try {
            b_->scale(p, n, s, p);
            b_->add(p, p, n, p);
        } catch (...) {
            try { b_->capture_end(); } catch (...) {}
            throw;
        }
        const int id = b_->capture_end();
        F32 before = down_f32(*xd, shape(x));
        for (int r = 0; r < replays; ++r) b_->replay(id);
        F32 after = down_f32(*xd, shape(x));
        b_->capture_release(id);
        return {before, after};
    }

private:
    const void * weight(const U8 & w, Type t, int64_t ne0, int64_t n_rows) {
        const TypeTraits * tr = type_traits(t);
        if (!tr || ne0 % tr->block_size != 0) throw Error("backend ops: bad weight type or width");
        if ((size_t)w.size() < row_size(t, ne0) * (size_t)n_rows)
            throw Error(strfmt("backend ops: %lld rows of %lld %s values need %zu bytes, got %zu", (long long)n_rows,
                               (long long)ne0, tr->name, row_size(t, ne0) * (size_t)n_rows, (size_t)w.size()));
        keep_.push_back(w);  // the host pointer stays valid (and unique) for the backend's lifetime
        return b_->weight(w.data(), t, ne0, n_rows);
    }
    template <typename A> std::unique_ptr<Buf> up(const A & x) {
        const size_t bytes = (size_t)x.size() * sizeof(typename A::value_type);
        auto d = std::make_unique<Buf>(b_.get(), bytes);
        if (bytes) b_->upload(d->p, x.data(), bytes);
        return d;
    }
    F32 down_f32(const Buf & d, std::vector<int64_t> shp) {
        F32 out(shp);
        if (out.size()) b_->download(out.mutable_data(), d.p, (size_t)out.size() * 4);
        return out;
    }
    static std::vector<int64_t> shape(const pyb::array & a) {
        std::vector<int64_t> s;
        for (int i = 0; i < a.ndim(); ++i) s.push_back(a.shape(i));
        return s;
    }

    std::unique_ptr<Backend> b_;
    std::vector<U8> keep_;
};

}  // namespace

void register_backend(pyb::module_ & m) {
    pyb::class_<BackendOps>(m, "BackendOps",
                            "One backend (cpu, sim, cuda[:N]) running single ops on numpy inputs, for op tests.")
        .def(pyb::init<const std::string &>(), pyb::arg("name"))
        .def_property_readonly("name", &BackendOps::name)
        .def_property_readonly("kind", &BackendOps::kind)
        .def_property_readonly("description", &BackendOps::description)
        .def("weight_bytes", &BackendOps::weight_bytes)
        .def("memory_free", &BackendOps::memory_free)
        .def("supports_matmul", &BackendOps::supports_matmul, pyb::arg("wtype"))
        .def("matmul", &BackendOps::matmul, pyb::arg("x"), pyb::arg("w"), pyb::arg("wtype"), pyb::arg("M"))
        .def("moe_matmul", &BackendOps::moe_matmul, pyb::arg("x"), pyb::arg("w"), pyb::arg("wtype"), pyb::arg("M"),
             pyb::arg("E"), pyb::arg("ids"), pyb::arg("rw") = pyb::none())
        .def("rms_norm", &BackendOps::rms_norm, pyb::arg("x"), pyb::arg("weight") = pyb::none(), pyb::arg("eps") = 1e-6f)
        .def("rope_neox", &BackendOps::rope_neox, pyb::arg("x"), pyb::arg("pos"), pyb::arg("theta_base"),
             pyb::arg("n_rot") = 0, pyb::arg("freq_factors") = pyb::none(), pyb::arg("inv_freq") = pyb::none())
        .def("geglu", &BackendOps::geglu, pyb::arg("gate"), pyb::arg("up") = pyb::none())
        .def("softcap", &BackendOps::softcap, pyb::arg("x"), pyb::arg("cap"))
        .def("softmax", &BackendOps::softmax, pyb::arg("x"))
        .def("router_topk", &BackendOps::router_topk, pyb::arg("logits"), pyb::arg("k"),
             pyb::arg("per_expert_scale") = pyb::none())
        .def("attention", &BackendOps::attention, pyb::arg("q"), pyb::arg("k"), pyb::arg("v"), pyb::arg("q_pos"),
             pyb::arg("k_pos"), pyb::arg("mask") = "causal", pyb::arg("window") = 0, pyb::arg("canvas_begin") = 0,
             pyb::arg("scale") = 1.0f, pyb::arg("kv_type") = "F32", pyb::arg("q_pad") = 0, pyb::arg("kv_pad") = 0)
        .def("add", &BackendOps::add, pyb::arg("a"), pyb::arg("b"))
        .def("scale", &BackendOps::scale, pyb::arg("x"), pyb::arg("s"))
        .def("get_rows", &BackendOps::get_rows, pyb::arg("w"), pyb::arg("wtype"), pyb::arg("ne0"), pyb::arg("n_rows"),
             pyb::arg("ids"), pyb::arg("s") = 1.0f)
        .def("store_rows", &BackendOps::store_rows, pyb::arg("src"), pyb::arg("type"))
        .def("supports_capture", &BackendOps::supports_capture)
        .def("capture_check", &BackendOps::capture_check, pyb::arg("x"), pyb::arg("s"), pyb::arg("replays"))
        .def("copy", &BackendOps::copy, pyb::arg("data"), pyb::arg("dst_off"), pyb::arg("src_off"), pyb::arg("n"))
        .def("vocab_head", &BackendOps::vocab_head, pyb::arg("hidden"), pyb::arg("out_w"), pyb::arg("out_type"),
             pyb::arg("V"), pyb::arg("embd") = pyb::none(), pyb::arg("embd_type") = pyb::none(),
             pyb::arg("softcap") = 0.0f, pyb::arg("temperature") = 1.0f, pyb::arg("sample") = true,
             pyb::arg("seed") = 0, pyb::arg("canvas_key") = 0, pyb::arg("step_key") = 0, pyb::arg("want_soft") = true);
}

}  // namespace ld::py
