// Python bindings of the CPU matmul kernels (llama_diffusion.ops): dense matmul, grouped expert
// matmul, their references, the generic dot product, thread count and the peak micro-benchmark.
// Weights are passed as the raw GGUF bytes (uint8) plus the type name; all checks raise ValueError.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <memory>
#include <optional>
#include <string>

#include "bindings.h"
#include "common/error.h"
#include "ld-ggml/cpu-features.h"
#include "ld-ggml/cpu-matmul.h"
#include "ld-ggml/vec-dot.h"

namespace ld::py {

namespace pyb = pybind11;
using namespace ld::ggml;

namespace {

using f32arr = pyb::array_t<float, pyb::array::c_style | pyb::array::forcecast>;
using u8arr = pyb::array_t<uint8_t, pyb::array::c_style | pyb::array::forcecast>;
using i32arr = pyb::array_t<int32_t, pyb::array::c_style | pyb::array::forcecast>;

Type weight_type(const std::string & name) {
    const int32_t id = type_from_name(name.c_str());
    if (id < 0 || !matmul_supports((Type)id)) throw ld::Error("matmul: unsupported weight type '" + name + "'");
    return (Type)id;
}

void check_weight_bytes(const char * op, const u8arr & w, Type t, int64_t K, int64_t rows) {
    const size_t need = row_size(t, K) * (size_t)rows;
    if ((size_t)w.size() < need)
        throw ld::Error(ld::strfmt("%s: %lld rows of %lld %s values need %zu bytes, got %zu", op, (long long)rows,
                           (long long)K, type_name((int32_t)t), need, (size_t)w.size()));
}

CpuIsa resolve_isa(const std::optional<std::string> & isa) {
    if (!isa) return cpu_isa();
    const CpuIsa i = cpu_isa_from_name(*isa);
    for (CpuIsa a : cpu_isas_available())
        if (a == i) return i;
    throw ld::Error("matmul: ISA '" + *isa + "' is not available on this CPU/build");
}

ThreadPool * resolve_pool(const std::optional<int> & n) {
    if (!n) return &ThreadPool::global();
    if (*n <= 0 || *n > 1024) throw ld::Error(ld::strfmt("matmul: n_threads = %d must be in [1, 1024]", *n));
    return &ThreadPool::shared(*n);
}

// x as [N, K] (2-D) -> (N, K)
std::pair<int64_t, int64_t> shape2(const f32arr & x, const char * op) {
    if (x.ndim() != 2) throw ld::Error(ld::strfmt("%s: x must be 2-D [N, K], got %d dims", op, (int)x.ndim()));
    return {x.shape(0), x.shape(1)};
}

MoeArgs moe_args(const f32arr & x, const u8arr & w, Type t, int64_t M, int64_t E, const i32arr & ids,
                 const std::optional<f32arr> & rw) {
    if (ids.ndim() != 2) throw ld::Error("moe_matmul: ids must be 2-D [N, top_k]");
    MoeArgs a;
    a.N = ids.shape(0);
    a.top_k = ids.shape(1);
    if (x.ndim() == 2) {
        if (x.shape(0) != a.N) throw ld::Error(ld::strfmt("moe_matmul: x has %lld rows, ids %lld", (long long)x.shape(0), (long long)a.N));
        a.K = x.shape(1);
    } else if (x.ndim() == 3) {
        if (x.shape(0) != a.N || x.shape(1) != a.top_k)
            throw ld::Error("moe_matmul: x [N, top_k, K] does not match ids [N, top_k]");
        a.K = x.shape(2);
        a.x_per_slot = true;
    } else {
        throw ld::Error("moe_matmul: x must be [N, K] or [N, top_k, K]");
    }
    if (rw) {
        if (rw->ndim() != 2 || rw->shape(0) != a.N || rw->shape(1) != a.top_k)
            throw ld::Error("moe_matmul: weights must have the shape of ids [N, top_k]");
        a.rw = rw->data();
    }
    check_weight_bytes("moe_matmul", w, t, a.K, M * E);
    a.x = x.data();
    a.w = w.data();
    a.wtype = t;
    a.M = M;
    a.E = E;
    a.ids = ids.data();
    return a;
}

pyb::array_t<float> moe_out(const MoeArgs & a) {
    if (a.rw) return pyb::array_t<float>({a.N, a.M});
    return pyb::array_t<float>({a.N, a.top_k, a.M});
}

}  // namespace

void register_ops(pyb::module_ & m) {
    m.def("matmul",
          [](f32arr x, u8arr w, const std::string & wtype, int64_t M, std::optional<std::string> isa,
             std::optional<int> n_threads) {
              const Type t = weight_type(wtype);
              auto [N, K] = shape2(x, "matmul");
              check_weight_bytes("matmul", w, t, K, M);
              const CpuIsa i = resolve_isa(isa);
              ThreadPool * pool = resolve_pool(n_threads);
              pyb::array_t<float> y({N, M});
              const float * xp = x.data();
              const uint8_t * wp = w.data();
              float * yp = y.mutable_data();
              {
                  pyb::gil_scoped_release nogil;
                  matmul_isa(i, xp, N, K, wp, t, M, yp, pool);
              }
              return y;
          },
          pyb::arg("x"), pyb::arg("w_raw"), pyb::arg("wtype"), pyb::arg("M"), pyb::arg("isa") = pyb::none(),
          pyb::arg("n_threads") = pyb::none(),
          "y[N, M] = x[N, K] . W^T for W given as M raw GGUF rows of K values of type wtype.");
    m.def("matmul_ref",
          [](f32arr x, u8arr w, const std::string & wtype, int64_t M) {
              const Type t = weight_type(wtype);
              auto [N, K] = shape2(x, "matmul_ref");
              check_weight_bytes("matmul_ref", w, t, K, M);
              pyb::array_t<float> y({N, M});
              const float * xp = x.data();
              const uint8_t * wp = w.data();
              float * yp = y.mutable_data();
              {
                  pyb::gil_scoped_release nogil;
                  matmul_ref(xp, N, K, wp, t, M, yp);
              }
              return y;
          },
          pyb::arg("x"), pyb::arg("w_raw"), pyb::arg("wtype"), pyb::arg("M"),
          "Reference matmul: reference activation quantizer + generic dot product per element.");
    m.def("moe_matmul",
          [](f32arr x, u8arr w, const std::string & wtype, int64_t M, int64_t E, i32arr ids,
             std::optional<f32arr> weights, std::optional<std::string> isa, std::optional<int> n_threads) {
              const MoeArgs a0 = moe_args(x, w, weight_type(wtype), M, E, ids, weights);
              const CpuIsa i = resolve_isa(isa);
              ThreadPool * pool = resolve_pool(n_threads);
              auto y = moe_out(a0);
              MoeArgs a = a0;
              a.y = y.mutable_data();
              {
                  pyb::gil_scoped_release nogil;
                  moe_matmul_isa(i, a, pool);
              }
              return y;
          },
          pyb::arg("x"), pyb::arg("w_raw"), pyb::arg("wtype"), pyb::arg("M"), pyb::arg("E"), pyb::arg("ids"),
          pyb::arg("weights") = pyb::none(), pyb::arg("isa") = pyb::none(), pyb::arg("n_threads") = pyb::none(),
          "Grouped expert matmul; see ld.ops.moe_matmul.");
    m.def("moe_matmul_ref",
          [](f32arr x, u8arr w, const std::string & wtype, int64_t M, int64_t E, i32arr ids,
             std::optional<f32arr> weights) {
              const MoeArgs a0 = moe_args(x, w, weight_type(wtype), M, E, ids, weights);
              auto y = moe_out(a0);
              MoeArgs a = a0;
              a.y = y.mutable_data();
              {
                  pyb::gil_scoped_release nogil;
                  moe_matmul_ref(a);
              }
              return y;
          },
          pyb::arg("x"), pyb::arg("w_raw"), pyb::arg("wtype"), pyb::arg("M"), pyb::arg("E"), pyb::arg("ids"),
          pyb::arg("weights") = pyb::none(), "Reference grouped expert matmul (loop over tokens and slots).");
    m.def("vec_dot",
          [](u8arr w, f32arr a, const std::string & wtype) {
              const Type t = weight_type(wtype);
              if (a.ndim() != 1) throw ld::Error("vec_dot: a must be 1-D");
              const int64_t K = a.shape(0);
              const TypeTraits * tr = type_traits(t);
              if (K % tr->block_size != 0 || K % type_traits(tr->vec_dot_type)->block_size != 0)
                  throw ld::Error(ld::strfmt("vec_dot: K = %lld is not a multiple of the %s block size", (long long)K, tr->name));
              check_weight_bytes("vec_dot", w, t, K, 1);
              std::vector<uint8_t> q(row_size(tr->vec_dot_type, K));
              quantize_activation_row(t, a.data(), q.data(), K);
              return vec_dot_generic(t)(K, w.data(), q.data());
          },
          pyb::arg("w_raw"), pyb::arg("a"), pyb::arg("wtype"),
          "Generic dot product of one weight row with f32 activations (quantized by the reference rule).");
    m.def("set_num_threads", [](int n) { ThreadPool::set_global_threads(n); }, pyb::arg("n"),
          "Make the global thread pool n threads (n <= 0: all hardware threads) for what starts from now on;\n"
          "a model keeps the pool it was loaded with. Safe while other threads generate.");
    m.def("num_threads", []() { return ThreadPool::global().n_threads(); });
    m.def("cpu_peak_gops",
          [](const std::string & what, double seconds) {
              if (what != "vnni" && what != "fma" && what != "bf16" && what != "avx_vnni" && what != "avx2_int8" &&
                  what != "amx_int8" && what != "amx_bf16")
                  throw ld::Error("cpu_peak_gops: what must be 'vnni', 'fma', 'bf16', 'avx_vnni', 'avx2_int8', "
                                  "'amx_int8' or 'amx_bf16', got '" + what + "'");
              pyb::gil_scoped_release nogil;
              return cpu_peak_gops(what.c_str(), seconds);  // 0 where that loop's ISA is not available
          },
          pyb::arg("what"), pyb::arg("seconds") = 0.3,
          "Peak G ops/s of one core for 'vnni' (512-bit int8), 'fma' (f32), 'bf16' (0 without AVX-512), "
          "'avx_vnni' (256-bit int8; 0 without AVX-VNNI), 'avx2_int8' (vpmaddubsw + vpmaddwd; 0 without AVX2), "
          "'amx_int8' or 'amx_bf16' (0 where the amx ISA is not available).");
}

}  // namespace ld::py
