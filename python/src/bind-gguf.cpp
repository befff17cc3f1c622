// Python bindings of the GGUF reader: the exception GGUFError (a ValueError) for malformed files,
// OSError (FileNotFoundError, ...) for I/O failures, the class _core.GGUFReader that the
// pure-Python wrapper llama_diffusion.gguf.GGUFFile builds on, and the optional tensor data check
// (GGUFReader.check_tensors, _core.check_tensor_data; cpp/gguf/gguf-check.h).
//
// Lifetime: a reader owns a shared handle to the mapping; every numpy view returned by raw()
// holds another, so views stay valid after close() or after the reader is garbage collected.
#include <pybind11/gil_safe_call_once.h>
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "bindings.h"
#include "gguf/gguf-check.h"
#include "gguf/gguf-reader.h"
#include "ld-ggml/types.h"

namespace ld::py {

namespace pyb = pybind11;
using ld::gguf::File;
using ld::gguf::TensorInfo;
using ld::gguf::Value;
using ld::gguf::ValueType;

namespace {

// Owns the parsed file and, for from_bytes, the buffer it points into.
struct Holder {
    std::vector<uint8_t> bytes;
    std::unique_ptr<File> file;
};

pyb::object decode(std::string_view s) {
    PyObject * o = PyUnicode_DecodeUTF8(s.data(), (Py_ssize_t)s.size(), "surrogateescape");
    if (!o) throw pyb::error_already_set();
    return pyb::reinterpret_steal<pyb::object>(o);
}

pyb::object to_python(const Value & v) {
    switch (v.type()) {
        case ValueType::STRING: return decode(v.as_string());
        case ValueType::BOOL: return pyb::bool_(v.as_bool());
        case ValueType::FLOAT32: case ValueType::FLOAT64: return pyb::float_(v.as_float());
        case ValueType::UINT64: return pyb::int_(v.as_uint());
        case ValueType::ARRAY: {
            const uint64_t n = v.array_size();
            pyb::list out((size_t)n);
            const ValueType et = v.array_type();
            for (uint64_t i = 0; i < n; ++i) {
                pyb::object item;
                if (et == ValueType::STRING || et == ValueType::ARRAY) item = to_python(v.item(i));
                else if (et == ValueType::BOOL) item = pyb::bool_(v.int_at(i) != 0);
                else if (ld::gguf::value_type_is_float(et)) item = pyb::float_(v.float_at(i));
                else if (et == ValueType::UINT64) item = pyb::int_(v.uint_at(i));
                else item = pyb::int_(v.int_at(i));
                PyList_SET_ITEM(out.ptr(), (Py_ssize_t)i, item.release().ptr());
            }
            return std::move(out);
        }
        default: return pyb::int_(v.as_int());
    }
}

class Reader {
public:
    static Reader open(const std::string & path) {
        auto h = std::make_shared<Holder>();
        {
            pyb::gil_scoped_release nogil;
            h->file = std::make_unique<File>(File::open(path));
        }
        return Reader(std::move(h));
    }

    static Reader from_bytes(pyb::bytes data, const std::string & name) {
        auto h = std::make_shared<Holder>();
        std::string_view sv = data;
        h->bytes.assign(sv.begin(), sv.end());
        h->file = std::make_unique<File>(File::from_memory(h->bytes.data(), h->bytes.size(), name));
        return Reader(std::move(h));
    }

    const File & file() const {
        if (!h_) throw ld::Error("GGUF file is closed");
        return *h_->file;
    }

    void close() { h_.reset(); }
    bool closed() const { return !h_; }

    pyb::dict metadata() const {
        const File & f = file();
        pyb::dict d;
        for (size_t i = 0; i < f.n_kv(); ++i) d[decode(f.key(i))] = to_python(f.value(i));
        return d;
    }

    pyb::dict metadata_types() const {
        const File & f = file();
        pyb::dict d;
        for (size_t i = 0; i < f.n_kv(); ++i) d[decode(f.key(i))] = f.value(i).type_string();
        return d;
    }

    // One tuple per tensor: (name, type name, type id, shape ne0-first, offset, nbytes, file offset,
    // shard index); offsets are within the tensor's own shard file.
    pyb::list tensors() const {
        const File & f = file();
        pyb::list out;
        for (const TensorInfo & t : f.tensors()) {
            pyb::tuple shape(t.n_dims);
            for (uint32_t d = 0; d < t.n_dims; ++d) shape[d] = pyb::int_(t.ne[d]);
            out.append(pyb::make_tuple(t.name, std::string(t.type_name()), t.type, shape, t.offset, t.nbytes,
                                       f.shard_data_start(t.shard) + t.offset, t.shard));
        }
        return out;
    }

    // Zero-copy read-only uint8 view of a tensor's bytes; the view keeps the mapping alive.
    pyb::array raw(const std::string & name) const {
        const TensorInfo & t = file().tensor(name);
        auto * keep = new std::shared_ptr<Holder>(h_);
        pyb::capsule owner(keep, [](void * p) { delete static_cast<std::shared_ptr<Holder> *>(p); });
        pyb::array_t<uint8_t> a({(pyb::ssize_t)t.nbytes}, {(pyb::ssize_t)1}, t.data, owner);
        a.attr("flags").attr("writeable") = false;
        return std::move(a);
    }

    // Dequantized float32 copy with numpy shape = reversed GGUF shape.
    pyb::array tensor(const std::string & name) const {
        const TensorInfo & t = file().tensor(name);
        File::check_type_supported(t);
        const ld::ggml::TypeTraits * tr = ld::ggml::type_traits(t.type);
        std::vector<pyb::ssize_t> shape;
        for (int d = (int)t.n_dims - 1; d >= 0; --d) shape.push_back((pyb::ssize_t)t.ne[d]);
        pyb::array_t<float> out(shape);
        float * dst = out.mutable_data();
        const uint8_t * src = t.data;
        const int64_t n = t.n_elements();
        {
            pyb::gil_scoped_release nogil;
            tr->to_float(src, dst, n);
        }
        return std::move(out);
    }

    // NaN/Inf (and MXFP4 e = 0xFF) check of every tensor's data; GGUFError for the first bad value.
    size_t check_tensors(int n_threads) const {
        const File & f = file();
        std::shared_ptr<Holder> keep = h_;  // the data stays mapped even if close() runs meanwhile
        pyb::gil_scoped_release nogil;
        return ld::gguf::check_tensors(f, n_threads);
    }

    // Exposes the C++ typed getters (the model loader's API) so tests can check them.
    pyb::object get_typed(const std::string & key, const std::string & kind, bool optional) const {
        const File & f = file();
        auto opt = [&](auto o) -> pyb::object { return o ? pyb::cast(*o) : pyb::none(); };
        if (optional) {
            if (kind == "u32") return opt(f.find_u32(key));
            if (kind == "i32") return opt(f.find_i32(key));
            if (kind == "u64") return opt(f.find_u64(key));
            if (kind == "i64") return opt(f.find_i64(key));
            if (kind == "f32") return opt(f.find_f32(key));
            if (kind == "f64") return opt(f.find_f64(key));
            if (kind == "bool") return opt(f.find_bool(key));
            if (kind == "string") return opt(f.find_string(key));
        } else {
            if (kind == "u32") return pyb::cast(f.get_u32(key));
            if (kind == "i32") return pyb::cast(f.get_i32(key));
            if (kind == "u64") return pyb::cast(f.get_u64(key));
            if (kind == "i64") return pyb::cast(f.get_i64(key));
            if (kind == "f32") return pyb::cast(f.get_f32(key));
            if (kind == "f64") return pyb::cast(f.get_f64(key));
            if (kind == "bool") return pyb::cast(f.get_bool(key));
            if (kind == "string") return decode(f.get_string(key));
            if (kind == "int_array") return pyb::cast(f.get_int_array(key));
            if (kind == "f32_array") return pyb::cast(f.get_f32_array(key));
            if (kind == "string_array") {
                pyb::list out;
                for (std::string_view s : f.get_string_array(key)) out.append(decode(s));
                return std::move(out);
            }
        }
        throw ld::Error("get_typed: unknown kind '" + kind + "'");
    }

private:
    explicit Reader(std::shared_ptr<Holder> h) : h_(std::move(h)) {}
    std::shared_ptr<Holder> h_;
};

}  // namespace

void register_gguf(pyb::module_ & m) {
    // The exception type lives in a GIL-safe once-store (not a plain static py::object, which
    // would be destroyed after the interpreter is gone).
    PYBIND11_CONSTINIT static pyb::gil_safe_call_once_and_store<pyb::object> gguf_error;
    gguf_error.call_once_and_store_result([&]() -> pyb::object {
        return pyb::exception<ld::gguf::FormatError>(m, "GGUFError", PyExc_ValueError);
    });
    // Tried before module.cpp's generic ld::Error -> ValueError translator (pybind11 runs the most
    // recently registered translator first).
    pyb::register_exception_translator([](std::exception_ptr p) {
        try {
            if (p) std::rethrow_exception(p);
        } catch (const ld::gguf::FormatError & e) {
            PyErr_SetString(gguf_error.get_stored().ptr(), e.what());
        } catch (const ld::gguf::IoError & e) {
            // OSError(errno, strerror, filename) becomes FileNotFoundError, PermissionError, ...
            PyObject * args = Py_BuildValue("(iss)", e.error_number(), std::strerror(e.error_number()), e.path().c_str());
            PyErr_SetObject(PyExc_OSError, args);
            Py_XDECREF(args);
        }
    });

    pyb::class_<Reader>(m, "GGUFReader", "Validated, memory-mapped GGUF file (use llama_diffusion.GGUFFile).")
        .def(pyb::init(&Reader::open), pyb::arg("path"))
        .def_static("from_bytes", &Reader::from_bytes, pyb::arg("data"), pyb::arg("name") = "<memory>",
                    "Parse a GGUF image held in a bytes object (copied).")
        .def_property_readonly("path", [](const Reader & r) { return r.file().name(); })
        .def_property_readonly("version", [](const Reader & r) { return r.file().version(); })
        .def_property_readonly("architecture", [](const Reader & r) { return r.file().architecture(); })
        .def_property_readonly("alignment", [](const Reader & r) { return r.file().alignment(); })
        .def_property_readonly("data_start", [](const Reader & r) { return r.file().data_start(); })
        .def_property_readonly("size", [](const Reader & r) { return r.file().size(); })
        .def_property_readonly("total_size", [](const Reader & r) { return r.file().total_size(); })
        .def_property_readonly("shard_paths", [](const Reader & r) {
            std::vector<std::string> out;
            for (size_t i = 0; i < r.file().n_shards(); ++i) out.push_back(r.file().shard_path(i));
            return out;
        }, "the files of the model: [path] or every shard of a split model, in order")
        .def_property_readonly("closed", &Reader::closed)
        .def("metadata", &Reader::metadata, "dict key -> Python value (arrays as lists)")
        .def("metadata_types", &Reader::metadata_types, "dict key -> GGUF type string, e.g. 'ARRAY[STRING]'")
        .def("value_string", [](const Reader & r, const std::string & key, size_t max_items) {
                 return r.file().get(key).to_string(max_items);
             }, pyb::arg("key"), pyb::arg("max_items") = 8, "Short rendering of one value (long arrays summarised)")
        .def("get_typed", &Reader::get_typed, pyb::arg("key"), pyb::arg("kind"), pyb::arg("optional") = false,
             "The C++ typed getter File::get_<kind> (or find_<kind> when optional): kind is u32, i32, u64, "
             "i64, f32, f64, bool, string, int_array, f32_array or string_array")
        .def("tensors", &Reader::tensors,
             "list of (name, type, type_id, shape ne0-first, offset, nbytes, file_offset, shard)")
        .def("raw", &Reader::raw, pyb::arg("name"), "zero-copy read-only uint8 view of a tensor's bytes")
        .def("tensor", &Reader::tensor, pyb::arg("name"), "dequantized float32 array, numpy shape = reversed GGUF shape")
        .def("check_tensors", &Reader::check_tensors, pyb::arg("n_threads") = 0,
             "Check every tensor's data for NaN/Inf values and scales (MXFP4: e = 0xFF); GGUFError names the "
             "first bad tensor, block and field. Returns the number of tensors whose values were checked.")
        .def("close", &Reader::close);

    m.def("check_tensor_data",
          [](const std::string & name, const std::string & type_name, pyb::array_t<uint8_t, pyb::array::c_style> raw,
             int64_t n_elements) {
              const int32_t id = ld::ggml::type_from_name(type_name.c_str());
              if (id < 0) throw ld::Error("check_tensor_data: unknown type '" + type_name + "'");
              const uint8_t * data = raw.data();
              const size_t nbytes = (size_t)raw.size();
              pyb::gil_scoped_release nogil;
              return ld::gguf::check_tensor_data(name, (ld::ggml::Type)id, data, nbytes, n_elements);
          },
          pyb::arg("name"), pyb::arg("type"), pyb::arg("raw"), pyb::arg("n_elements"),
          "Check one tensor's bytes (uint8) of a GGUF type: '' when valid, else the first bad value.");
}

}  // namespace ld::py
