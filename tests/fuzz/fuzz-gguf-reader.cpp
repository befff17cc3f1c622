// libFuzzer target for the GGUF reader: parses arbitrary bytes with File::from_memory and, when
// they are accepted, walks every metadata value (every array element) and touches the first and
// last byte of every tensor, so ASan/UBSan see any read outside the input. Malformed input must
// surface as ld::Error; anything else (a crash, a sanitizer report, another exception) is a bug.
// Built by tests/fuzz/build.sh; run by tests/python/test_fuzz.py.
#include <cstddef>
#include <cstdint>
#include <string>

#include "common/error.h"
#include "gguf/gguf-reader.h"

namespace {

volatile uint64_t g_sink;  // keeps the reads from being optimised away

void walk_value(const ld::gguf::Value & v) {
    using ld::gguf::ValueType;
    uint64_t acc = 0;
    acc += v.type_string().size();
    acc += v.to_string(4).size();
    if (v.is_array()) {
        const ValueType et = v.array_type();
        for (uint64_t i = 0; i < v.array_size(); ++i) {
            if (et == ValueType::STRING) acc += v.string_at(i).size();
            else if (et == ValueType::ARRAY) walk_value(v.item(i));
            else if (ld::gguf::value_type_is_float(et)) acc += (uint64_t)(v.float_at(i) != 0.0);
            else if (et == ValueType::UINT64) acc += v.uint_at(i);
            else acc += (uint64_t)v.int_at(i);
        }
    } else if (v.is_string()) {
        for (char c : v.as_string()) acc += (unsigned char)c;
    } else if (v.type() == ValueType::BOOL) {
        acc += v.as_bool();
    } else if (ld::gguf::value_type_is_float(v.type())) {
        acc += (uint64_t)(v.as_float() != 0.0);
    } else if (v.type() == ValueType::UINT64) {
        acc += v.as_uint();
    } else {
        acc += (uint64_t)v.as_int();
    }
    g_sink = g_sink + acc;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t * data, size_t size) {
    try {
        const ld::gguf::File f = ld::gguf::File::from_memory(data, size, "fuzz-input");
        uint64_t acc = f.version() + f.alignment() + f.data_start() + f.architecture().size();
        for (size_t i = 0; i < f.n_kv(); ++i) {
            acc += f.key(i).size();
            walk_value(f.value(i));
            if (f.find(f.key(i)) != &f.value(i)) __builtin_trap();  // index must agree with the table
        }
        for (const char * k : {"general.alignment", "general.name", "general.file_type", "tokenizer.ggml.tokens"}) {
            try { acc += f.find_u32(k).value_or(0); } catch (const ld::Error &) {}
            try { acc += f.find_string(k).value_or("").size(); } catch (const ld::Error &) {}
            try { acc += f.get_string_array(k).size(); } catch (const ld::Error &) {}
        }
        for (const ld::gguf::TensorInfo & t : f.tensors()) {
            if (f.find_tensor(t.name) != &t) __builtin_trap();
            if (t.nbytes == 0 || t.data < data || t.data + t.nbytes > data + size) __builtin_trap();
            acc += t.data[0] + t.data[t.nbytes - 1] + (uint64_t)t.n_elements() + std::string(t.type_name()).size();
            try { ld::gguf::File::check_type_supported(t); } catch (const ld::Error &) {}
        }
        g_sink = g_sink + acc;
    } catch (const ld::Error &) {
        // Rejected input: the expected outcome for most mutations.
    }
    return 0;
}
