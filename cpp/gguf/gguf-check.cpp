// Tensor data validation (see gguf-check.h; docs/format.md §1.7 item 12). Each checked block type is
// described by the byte offsets of its float fields, taken from the packed structs of
// ld-ggml/blocks.h with offsetof, so a layout is written down once. Plain F32/F16/BF16 arrays are
// scanned in chunks with a branch-free OR of "exponent all ones", then the chunk with a hit is
// searched for the first bad element.
#include "gguf/gguf-check.h"

#include <algorithm>
#include <atomic>
#include <cstring>
#include <limits>
#include <memory>
#include <vector>

#include "ld-ggml/blocks.h"
#include "ld-ggml/fp16.h"
#include "ld-ggml/thread-pool.h"

namespace ld::gguf {

namespace {

using ggml::Type;
using ll = long long;
using ull = unsigned long long;

enum class FieldKind : uint8_t { fp16, f32, e8m0 };

struct Field {
    size_t offset;      // byte offset inside the block
    FieldKind kind;
    const char * role;  // "scale", "min", "sum"
    const char * name;  // struct member name: "d", "dmin", "m", "s", "e"
};

struct Layout {
    int n_fields;
    Field fields[2];
};

#define LD_FP16(block, member, role) Field{offsetof(ggml::block, member), FieldKind::fp16, role, #member}

// The float fields of a block type, in struct order; nullptr for types without a checked layout.
const Layout * block_layout(Type t) {
    static const Layout q4_0{1, {LD_FP16(block_q4_0, d, "scale")}};
    static const Layout q4_1{2, {LD_FP16(block_q4_1, d, "scale"), LD_FP16(block_q4_1, m, "min")}};
    static const Layout q5_0{1, {LD_FP16(block_q5_0, d, "scale")}};
    static const Layout q5_1{2, {LD_FP16(block_q5_1, d, "scale"), LD_FP16(block_q5_1, m, "min")}};
    static const Layout q8_0{1, {LD_FP16(block_q8_0, d, "scale")}};
    static const Layout q8_1{2, {LD_FP16(block_q8_1, d, "scale"), LD_FP16(block_q8_1, s, "sum")}};
    static const Layout q2_K{2, {LD_FP16(block_q2_K, d, "scale"), LD_FP16(block_q2_K, dmin, "scale")}};
    static const Layout q3_K{1, {LD_FP16(block_q3_K, d, "scale")}};
    static const Layout q4_K{2, {LD_FP16(block_q4_K, d, "scale"), LD_FP16(block_q4_K, dmin, "scale")}};
    static const Layout q5_K{2, {LD_FP16(block_q5_K, d, "scale"), LD_FP16(block_q5_K, dmin, "scale")}};
    static const Layout q6_K{1, {LD_FP16(block_q6_K, d, "scale")}};
    static const Layout q8_K{1, {Field{offsetof(ggml::block_q8_K, d), FieldKind::f32, "scale", "d"}}};
    static const Layout iq4_nl{1, {LD_FP16(block_iq4_nl, d, "scale")}};
    static const Layout iq4_xs{1, {LD_FP16(block_iq4_xs, d, "scale")}};
    static const Layout mxfp4{1, {Field{offsetof(ggml::block_mxfp4, e), FieldKind::e8m0, "scale", "e"}}};
    switch (t) {
        case Type::Q4_0: return &q4_0;
        case Type::Q4_1: return &q4_1;
        case Type::Q5_0: return &q5_0;
        case Type::Q5_1: return &q5_1;
        case Type::Q8_0: return &q8_0;
        case Type::Q8_1: return &q8_1;
        case Type::Q2_K: return &q2_K;
        case Type::Q3_K: return &q3_K;
        case Type::Q4_K: return &q4_K;
        case Type::Q5_K: return &q5_K;
        case Type::Q6_K: return &q6_K;
        case Type::Q8_K: return &q8_K;
        case Type::IQ4_NL: return &iq4_nl;
        case Type::IQ4_XS: return &iq4_xs;
        case Type::MXFP4: return &mxfp4;
        default: return nullptr;
    }
}

#undef LD_FP16

bool is_plain_float(Type t) { return t == Type::F32 || t == Type::F16 || t == Type::BF16; }

uint16_t load_u16(const uint8_t * p) { uint16_t v; std::memcpy(&v, p, 2); return v; }
uint32_t load_u32(const uint8_t * p) { uint32_t v; std::memcpy(&v, p, 4); return v; }

bool bad_bits(FieldKind k, const uint8_t * p) {
    switch (k) {
        case FieldKind::fp16: return (load_u16(p) & 0x7C00u) == 0x7C00u;
        case FieldKind::f32: return (load_u32(p) & 0x7F800000u) == 0x7F800000u;
        case FieldKind::e8m0: return *p == 0xFF;
    }
    return false;
}

// Index of the first non-finite element of a plain float array in [i0, i1), or -1.
template <typename U, U kExpMask>
int64_t scan_plain(const uint8_t * base, int64_t i0, int64_t i1) {
    constexpr int64_t kChunk = 1024;
    for (int64_t c = i0; c < i1; c += kChunk) {
        const int64_t e = std::min(i1, c + kChunk);
        unsigned any = 0;
        for (int64_t i = c; i < e; ++i) {
            U u;
            std::memcpy(&u, base + i * (int64_t)sizeof(U), sizeof(U));
            any |= (unsigned)((u & kExpMask) == kExpMask);
        }
        if (!any) continue;
        for (int64_t i = c; i < e; ++i) {
            U u;
            std::memcpy(&u, base + i * (int64_t)sizeof(U), sizeof(U));
            if ((u & kExpMask) == kExpMask) return i;
        }
    }
    return -1;
}

const char * nan_or_inf(bool nan, bool neg) { return nan ? "NaN" : (neg ? "-Inf" : "+Inf"); }

std::string describe_plain(const std::string & name, Type t, const uint8_t * base, int64_t i) {
    const char * tn = ggml::type_name((int32_t)t);
    const uint8_t * p = base + i * (int64_t)ggml::type_traits(t)->type_size;
    if (t == Type::F32) {
        const uint32_t u = load_u32(p);
        return strfmt("tensor '%s' (%s): element %lld is %s (0x%08x)", name.c_str(), tn, (ll)i,
                      nan_or_inf((u & 0x7FFFFFu) != 0, (u >> 31) != 0), u);
    }
    const uint16_t u = load_u16(p);
    const bool nan = t == Type::F16 ? (u & 0x3FFu) != 0 : (u & 0x7Fu) != 0;
    return strfmt("tensor '%s' (%s): element %lld is %s (0x%04x)", name.c_str(), tn, (ll)i, nan_or_inf(nan, (u >> 15) != 0),
                  (unsigned)u);
}

std::string describe_field(const std::string & name, Type t, int64_t block, const Field & f, const uint8_t * p) {
    const char * tn = ggml::type_name((int32_t)t);
    switch (f.kind) {
        case FieldKind::fp16:
            return strfmt("tensor '%s' (%s): block %lld has a NaN/Inf fp16 %s %s (0x%04x = %s)", name.c_str(), tn, (ll)block,
                          f.role, f.name, (unsigned)load_u16(p), nan_or_inf((load_u16(p) & 0x3FFu) != 0, (load_u16(p) >> 15) != 0));
        case FieldKind::f32:
            return strfmt("tensor '%s' (%s): block %lld has a NaN/Inf f32 %s %s (0x%08x = %s)", name.c_str(), tn, (ll)block,
                          f.role, f.name, load_u32(p), nan_or_inf((load_u32(p) & 0x7FFFFFu) != 0, (load_u32(p) >> 31) != 0));
        case FieldKind::e8m0:
            return strfmt("tensor '%s' (%s): block %lld has the reserved E8M0 %s %s = 0xFF (NaN)", name.c_str(), tn,
                          (ll)block, f.role, f.name);
    }
    return std::string();
}

// Checks blocks (elements, for plain types) [b0, b1) of a tensor whose size is already known to
// be consistent. Returns "" or the description of the first bad value.
std::string check_range(const std::string & name, Type t, const uint8_t * base, int64_t b0, int64_t b1) {
    if (t == Type::F32) {
        const int64_t i = scan_plain<uint32_t, 0x7F800000u>(base, b0, b1);
        return i < 0 ? std::string() : describe_plain(name, t, base, i);
    }
    if (t == Type::F16 || t == Type::BF16) {
        const int64_t i = t == Type::F16 ? scan_plain<uint16_t, 0x7C00u>(base, b0, b1) : scan_plain<uint16_t, 0x7F80u>(base, b0, b1);
        return i < 0 ? std::string() : describe_plain(name, t, base, i);
    }
    const Layout * L = block_layout(t);
    if (!L) return std::string();
    const int64_t ts = (int64_t)ggml::type_traits(t)->type_size;
    for (int64_t b = b0; b < b1; ++b) {
        const uint8_t * blk = base + b * ts;
        for (int k = 0; k < L->n_fields; ++k)
            if (bad_bits(L->fields[k].kind, blk + L->fields[k].offset))
                return describe_field(name, t, b, L->fields[k], blk + L->fields[k].offset);
    }
    return std::string();
}

// "" when nbytes is exactly the size of n_elements values of type t, else the problem. On success
// *n_units is the number of blocks (elements, for plain types).
std::string size_problem(const std::string & name, int32_t type_id, size_t nbytes, int64_t n_elements, int64_t * n_units) {
    const ggml::TypeTraits * tr = ggml::type_traits(type_id);
    if (!tr) return strfmt("tensor '%s' has unknown or retired type id %d", name.c_str(), (int)type_id);
    if (n_elements < 0 || n_elements % tr->block_size != 0)
        return strfmt("tensor '%s' (%s): %lld elements is not a whole number of blocks of %lld", name.c_str(), tr->name,
                      (ll)n_elements, (ll)tr->block_size);
    const int64_t blocks = n_elements / tr->block_size;
    if ((uint64_t)blocks > std::numeric_limits<uint64_t>::max() / tr->type_size || (uint64_t)blocks * tr->type_size != nbytes)
        return strfmt("tensor '%s' (%s): %llu bytes do not hold %lld elements (%lld blocks of %llu bytes)", name.c_str(),
                      tr->name, (ull)nbytes, (ll)n_elements, (ll)blocks, (ull)tr->type_size);
    *n_units = blocks;
    return std::string();
}

}  // namespace

bool tensor_data_checked(Type type) { return is_plain_float(type) || block_layout(type) != nullptr; }

std::string check_tensor_data(const std::string & name, Type type, const void * data, size_t nbytes, int64_t n_elements) {
    int64_t n_units = 0;
    std::string err = size_problem(name, (int32_t)type, nbytes, n_elements, &n_units);
    if (!err.empty() || n_units == 0) return err;
    if (!data) return strfmt("tensor '%s': no data", name.c_str());
    return check_range(name, type, static_cast<const uint8_t *>(data), 0, n_units);
}

size_t check_tensors(const File & file, int n_threads) {
    struct Task {
        size_t tensor;
        int64_t b0, b1;
    };
    const std::vector<TensorInfo> & ts = file.tensors();
    std::vector<Task> tasks;
    size_t n_checked = 0;
    for (size_t i = 0; i < ts.size(); ++i) {
        const TensorInfo & t = ts[i];
        int64_t n_units = 0;
        const std::string err = size_problem(t.name, t.type, t.nbytes, t.n_elements(), &n_units);
        if (!err.empty()) throw FormatError("invalid tensor data in '" + file.name() + "': " + err);
        if (!tensor_data_checked((Type)t.type)) continue;
        ++n_checked;
        // about 4 MiB of tensor bytes per task
        const int64_t unit_bytes = (int64_t)ggml::type_traits(t.type)->type_size;
        const int64_t per_task = std::max<int64_t>(1, (4 << 20) / unit_bytes);
        for (int64_t b = 0; b < n_units; b += per_task) tasks.push_back({i, b, std::min(n_units, b + per_task)});
    }
    if (tasks.empty()) return n_checked;

    std::vector<std::string> results(tasks.size());
    std::atomic<int64_t> first_bad{std::numeric_limits<int64_t>::max()};
    auto run = [&](int64_t k, int) {
        if (k > first_bad.load(std::memory_order_relaxed)) return;  // an earlier task already failed
        const Task & task = tasks[(size_t)k];
        const TensorInfo & t = ts[task.tensor];
        results[(size_t)k] = check_range(t.name, (Type)t.type, t.data, task.b0, task.b1);
        if (!results[(size_t)k].empty()) {
            int64_t cur = first_bad.load();
            while (k < cur && !first_bad.compare_exchange_weak(cur, k)) {
            }
        }
    };
    const int n = n_threads > 0 ? n_threads : ggml::ThreadPool::global().n_threads();
    const int n_pool = (int)std::min<int64_t>(n, (int64_t)tasks.size());
    if (n_pool <= 1) {
        for (int64_t k = 0; k < (int64_t)tasks.size(); ++k) run(k, 0);
    } else {
        ggml::ThreadPool pool(n_pool);
        pool.parallel_for((int64_t)tasks.size(), run);
    }
    // Tasks are in tensor-table order, then block order: the lowest failing task has the first bad value.
    for (const std::string & r : results)
        if (!r.empty()) throw FormatError("invalid tensor data in '" + file.name() + "': " + r);
    return n_checked;
}

}  // namespace ld::gguf
