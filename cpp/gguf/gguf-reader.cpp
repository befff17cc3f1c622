// GGUF parsing and validation (see gguf-reader.h and docs/format.md §1). Every read goes through
// Parser::need(), which checks the byte count against what remains; every size computation
// uses checked 64-bit arithmetic; every count is bounded before anything is allocated.
#include "gguf/gguf-reader.h"

#include <algorithm>
#include <limits>

#include "gguf/gguf-utf8.h"
#include "ld-ggml/types.h"

namespace ld::gguf {

namespace {

constexpr uint64_t kMinKvRecord = 8 + 1 + 4 + 1;          // key len, 1-byte key, type, 1-byte scalar
constexpr uint64_t kMinTensorRecord = 8 + 1 + 4 + 4 + 8;  // name len, 1-byte name, n_dims, type, offset

using ull = unsigned long long;

// Minimum encoded size of one element of an array of this type.
uint64_t min_element_size(ValueType t) {
    if (t == ValueType::STRING) return 8;
    if (t == ValueType::ARRAY) return 4 + 8;
    return value_type_size(t);
}

// Names of the retired type ids, which the format reserves but no reader accepts.
const char * retired_type_name(int32_t id) {
    switch (id) {
        case 4: return "Q4_2";
        case 5: return "Q4_3";
        case 31: return "Q4_0_4_4";
        case 32: return "Q4_0_4_8";
        case 33: return "Q4_0_8_8";
        case 36: return "IQ4_NL_4_4";
        case 37: return "IQ4_NL_4_8";
        case 38: return "IQ4_NL_8_8";
        default: return nullptr;
    }
}

std::string printable(std::string_view s) {
    std::string out;
    for (unsigned char c : s.substr(0, 200)) {
        if (c >= 0x20 && c < 0x7f) out += (char)c;
        else out += strfmt("\\x%02x", c);
    }
    if (s.size() > 200) out += "...";
    return out;
}

}  // namespace

// Walks the bytes once, front to back, filling the File.
class Parser {
public:
    explicit Parser(File & f) : f_(f), p_(f.base_), size_(f.size_) {}

    void run() {
        parse_header();
        parse_metadata();
        check_well_known_keys();
        parse_tensor_infos();
        place_tensors();
    }

private:
    [[noreturn]] void fail(const std::string & msg) const { f_.fail(msg); }

    uint64_t remaining() const { return size_ - pos_; }

    void need(uint64_t n, const char * what) const {
        if (n > remaining())
            fail(strfmt("truncated: %s%s at offset %llu needs %llu bytes but only %llu remain (file size %llu)",
                        ctx_.c_str(), what, (ull)pos_, (ull)n, (ull)remaining(), (ull)size_));
    }

    uint32_t read_u32(const char * what) {
        need(4, what);
        const uint32_t v = (uint32_t)load_le(p_ + pos_, 4);
        pos_ += 4;
        return v;
    }

    uint64_t read_u64(const char * what) {
        need(8, what);
        const uint64_t v = load_le(p_ + pos_, 8);
        pos_ += 8;
        return v;
    }

    // A string's bytes (u64 length + bytes), length bounded by max_len and the remaining bytes.
    std::string_view read_string(const char * what, uint64_t max_len) {
        const uint64_t at = pos_;
        const uint64_t len = read_u64(what);
        if (len > max_len)
            fail(strfmt("%s%s length %llu at offset %llu exceeds the limit %llu", ctx_.c_str(), what, (ull)len,
                        (ull)at, (ull)max_len));
        if (len > remaining())
            fail(strfmt("truncated: %s%s length %llu at offset %llu exceeds the %llu bytes that remain", ctx_.c_str(),
                        what, (ull)len, (ull)at, (ull)remaining()));
        std::string_view s(reinterpret_cast<const char *>(p_ + pos_), (size_t)len);
        pos_ += len;
        return s;
    }

    // Charges `bytes` of bookkeeping memory against the metadata budget before allocating it.
    void charge(uint64_t count, uint64_t each, const char * what) {
        const uint64_t limit = kMaxMetadataIndexBytes;
        if (count > limit / each || used_ + count * each > limit)
            fail(strfmt("%s%s: %llu entries would need more than the %llu MiB metadata memory limit", ctx_.c_str(),
                        what, (ull)count, (ull)(limit >> 20)));
        used_ += count * each;
    }

    void parse_header() {
        if (size_ < 4)
            fail(strfmt("truncated: file is %llu bytes, too short for the GGUF magic (the header needs 24 bytes)",
                        (ull)size_));
        const uint32_t magic = read_u32("magic");
        if (magic != kMagic)
            fail(strfmt("bad magic '%s' (0x%08x) at offset 0, expected 'GGUF': not a GGUF file",
                        printable(std::string_view(reinterpret_cast<const char *>(p_), 4)).c_str(), magic));
        const uint32_t version = read_u32("version");
        if (version == 0) fail("unsupported GGUF version 0 (supported: 2, 3)");
        if ((version & 0xFFFFu) == 0)
            fail(strfmt("big-endian GGUF not supported (version word 0x%08x is a byte-swapped small number)",
                        version));
        if (version == 1) fail("unsupported GGUF version 1 (the old v1 layout with 32-bit counts; supported: 2, 3)");
        if (version > 3) fail(strfmt("unsupported GGUF version %u (supported: 2, 3)", version));
        f_.version_ = version;

        n_tensors_ = read_u64("tensor count");
        n_kv_ = read_u64("key-value count");
        if ((int64_t)n_tensors_ < 0) fail(strfmt("tensor count %lld is negative", (long long)n_tensors_));
        if ((int64_t)n_kv_ < 0) fail(strfmt("key-value count %lld is negative", (long long)n_kv_));
        const uint64_t rem = remaining();
        if (n_kv_ > rem / kMinKvRecord)
            fail(strfmt("truncated or corrupt: key-value count %llu is impossible: %llu bytes remain after the header and each "
                        "key-value record needs at least %llu", (ull)n_kv_, (ull)rem, (ull)kMinKvRecord));
        if (n_tensors_ > rem / kMinTensorRecord)
            fail(strfmt("truncated or corrupt: tensor count %llu is impossible: %llu bytes remain after the header and each "
                        "tensor info needs at least %llu", (ull)n_tensors_, (ull)rem, (ull)kMinTensorRecord));
        if (n_kv_ * kMinKvRecord + n_tensors_ * kMinTensorRecord > rem)
            fail(strfmt("truncated or corrupt: counts are impossible: %llu key-value records and %llu tensor infos need at least %llu "
                        "bytes, only %llu remain after the header", (ull)n_kv_, (ull)n_tensors_,
                        (ull)(n_kv_ * kMinKvRecord + n_tensors_ * kMinTensorRecord), (ull)rem));
    }

    Value parse_value(ValueType t, int depth) {
        switch (t) {
            case ValueType::STRING: {
                const std::string_view s = read_string("string value", kMaxStringLength);
                return Value::string(reinterpret_cast<const uint8_t *>(s.data()), s.size());
            }
            case ValueType::ARRAY: {
                if (depth >= kMaxArrayDepth)
                    fail(strfmt("%sarrays nested deeper than %d levels at offset %llu", ctx_.c_str(), kMaxArrayDepth,
                                (ull)pos_));
                const uint64_t at = pos_;
                const uint32_t et = read_u32("array element type");
                if (et >= kValueTypeCount)
                    fail(strfmt("%sinvalid array element type %u at offset %llu (valid: 0..12)", ctx_.c_str(), et,
                                (ull)at));
                const ValueType elem = (ValueType)et;
                const uint64_t count_at = pos_;
                const uint64_t count = read_u64("array length");
                if (count > kMaxArrayElements)
                    fail(strfmt("%sarray length %llu at offset %llu exceeds the limit %llu", ctx_.c_str(), (ull)count,
                                (ull)count_at, (ull)kMaxArrayElements));
                const uint64_t min = min_element_size(elem);
                if (count > remaining() / min)
                    fail(strfmt("truncated: %sarray of %llu %s elements at offset %llu needs at least %llu bytes, "
                                "only %llu remain", ctx_.c_str(), (ull)count, value_type_name(elem).c_str(),
                                (ull)count_at, (ull)(count * min), (ull)remaining()));
                const uint8_t * first = p_ + pos_;
                if (elem != ValueType::STRING && elem != ValueType::ARRAY) {
                    pos_ += count * min;  // fits: checked against remaining() above
                    return Value::array(elem, first, count, {});
                }
                charge(count, sizeof(Value), "array elements");
                std::vector<Value> items;
                items.reserve((size_t)count);
                for (uint64_t i = 0; i < count; ++i) items.push_back(parse_value(elem, depth + 1));
                return Value::array(elem, first, count, std::move(items));
            }
            default: {
                const size_t sz = value_type_size(t);
                need(sz, "value");
                const Value v = Value::scalar(t, p_ + pos_);
                pos_ += sz;
                return v;
            }
        }
    }

    void parse_metadata() {
        charge(n_kv_, sizeof(Value) + sizeof(std::string_view) + 64, "key-value records");
        f_.keys_.reserve((size_t)n_kv_);
        f_.values_.reserve((size_t)n_kv_);
        f_.key_index_.reserve((size_t)n_kv_);
        std::vector<uint64_t> key_offsets;
        key_offsets.reserve((size_t)n_kv_);
        for (uint64_t i = 0; i < n_kv_; ++i) {
            const uint64_t at = pos_;
            ctx_ = strfmt("key-value %llu: ", (ull)i);
            const std::string_view key = read_string("key", kMaxKeyLength);
            if (key.empty()) fail(strfmt("key-value %llu at offset %llu: empty key", (ull)i, (ull)at));
            if (!utf8_valid(key))
                fail(strfmt("key-value %llu at offset %llu: key '%s' is not valid UTF-8", (ull)i, (ull)at,
                            printable(key).c_str()));
            auto dup = f_.key_index_.find(key);
            if (dup != f_.key_index_.end())
                fail(strfmt("duplicate key '%s' at offset %llu (first defined at offset %llu)",
                            printable(key).c_str(), (ull)at, (ull)key_offsets[dup->second]));
            ctx_ = "key '" + printable(key) + "': ";
            const uint64_t type_at = pos_;
            const uint32_t type = read_u32("value type");
            if (type >= kValueTypeCount)
                fail(strfmt("key '%s': invalid value type %u at offset %llu (valid: 0..12)", printable(key).c_str(),
                            type, (ull)type_at));
            f_.values_.push_back(parse_value((ValueType)type, 0));
            f_.keys_.push_back(key);
            f_.key_index_.emplace(key, (size_t)i);
            key_offsets.push_back(at);
        }
        ctx_.clear();
    }

    void check_well_known_keys() {
        if (const Value * a = f_.find("general.alignment")) {
            if (a->type() != ValueType::UINT32)
                fail("general.alignment has type " + a->type_string() + ", it must be UINT32");
            const uint64_t v = a->as_uint();
            if (v == 0 || (v & (v - 1)) != 0)
                fail(strfmt("general.alignment = %llu is not a non-zero power of two", (ull)v));
            f_.alignment_ = (uint32_t)v;
        }
        if (const Value * a = f_.find("general.architecture")) {
            if (a->type() != ValueType::STRING)
                fail("general.architecture has type " + a->type_string() + ", it must be STRING");
        }
        for (const char * k : {"general.quantization_version", "general.file_type"}) {
            const Value * v = f_.find(k);
            if (v && !value_type_is_integer(v->type()))
                fail(std::string(k) + " has type " + v->type_string() + ", it must be an integer");
        }
    }

    void parse_tensor_infos() {
        charge(n_tensors_, sizeof(TensorInfo) + 64, "tensor infos");
        f_.tensors_.reserve((size_t)n_tensors_);
        f_.tensor_index_.reserve((size_t)n_tensors_);
        for (uint64_t i = 0; i < n_tensors_; ++i) {
            TensorInfo t;
            t.info_offset = pos_;
            ctx_ = strfmt("tensor info %llu: ", (ull)i);
            const std::string_view name = read_string("tensor name", kMaxKeyLength);
            if (name.empty()) fail(strfmt("tensor info %llu at offset %llu: empty tensor name", (ull)i, (ull)t.info_offset));
            if (!utf8_valid(name))
                fail(strfmt("tensor info %llu at offset %llu: tensor name '%s' is not valid UTF-8", (ull)i,
                            (ull)t.info_offset, printable(name).c_str()));
            const std::string pname = printable(name);
            auto dup = f_.tensor_index_.find(name);
            if (dup != f_.tensor_index_.end())
                fail(strfmt("duplicate tensor name '%s' at offset %llu (first at offset %llu)", pname.c_str(),
                            (ull)t.info_offset, (ull)f_.tensors_[dup->second].info_offset));
            t.name = std::string(name);
            ctx_ = "tensor '" + pname + "': ";
            const uint64_t dims_at = pos_;
            t.n_dims = read_u32("n_dims");
            if (t.n_dims > (uint32_t)kMaxDims)
                fail(strfmt("tensor '%s': n_dims %u at offset %llu exceeds %d", pname.c_str(), t.n_dims,
                            (ull)dims_at, kMaxDims));
            int64_t n_elements = 1;
            for (uint32_t d = 0; d < t.n_dims; ++d) {
                const int64_t ne = (int64_t)read_u64("dimension");
                if (ne < 0) fail(strfmt("tensor '%s': dimension ne[%u] = %lld is negative", pname.c_str(), d, (long long)ne));
                if (ne == 0) fail(strfmt("tensor '%s': dimension ne[%u] is 0 (empty tensors are not supported)", pname.c_str(), d));
                if (__builtin_mul_overflow(n_elements, ne, &n_elements))
                    fail(strfmt("tensor '%s': element count overflows 64 bits (ne[%u] = %lld)", pname.c_str(), d,
                                (long long)ne));
                t.ne[d] = ne;
            }
            const uint64_t type_at = pos_;
            t.type = (int32_t)read_u32("tensor type");
            const ld::ggml::TypeTraits * tr = ld::ggml::type_traits(t.type);
            if (!tr) {
                if (const char * old = retired_type_name(t.type))
                    fail(strfmt("tensor '%s': type id %d at offset %llu is the retired type %s", pname.c_str(), t.type,
                                (ull)type_at, old));
                fail(strfmt("tensor '%s': invalid type id %d at offset %llu (valid ids: 0..%d)", pname.c_str(), t.type,
                            (ull)type_at, (int)ld::ggml::Type::COUNT - 1));
            }
            if (t.ne[0] % tr->block_size != 0)
                fail(strfmt("tensor '%s': ne0 = %lld is not a multiple of the %s block size %lld", pname.c_str(),
                            (long long)t.ne[0], tr->name, (long long)tr->block_size));
            uint64_t nbytes = (uint64_t)(t.ne[0] / tr->block_size);
            bool over = __builtin_mul_overflow(nbytes, (uint64_t)tr->type_size, &nbytes);
            for (int d = 1; d < kMaxDims; ++d) over = over || __builtin_mul_overflow(nbytes, (uint64_t)t.ne[d], &nbytes);
            if (over || nbytes > (uint64_t)std::numeric_limits<int64_t>::max())
                fail(strfmt("tensor '%s': byte size overflows 64 bits (%s, ne = [%lld, %lld, %lld, %lld])", pname.c_str(),
                            tr->name, (long long)t.ne[0], (long long)t.ne[1], (long long)t.ne[2], (long long)t.ne[3]));
            t.nbytes = nbytes;
            t.offset = read_u64("tensor data offset");
            f_.tensor_index_.emplace(name, f_.tensors_.size());
            f_.tensors_.push_back(std::move(t));
        }
        ctx_.clear();
    }

    void place_tensors() {
        const uint64_t a = f_.alignment_;
        const uint64_t end_of_infos = pos_;  // <= size_, so adding a - 1 cannot overflow
        const uint64_t data_start = (end_of_infos + a - 1) / a * a;
        f_.data_start_ = data_start;
        if (n_tensors_ == 0) return;
        if (data_start > size_)
            fail(strfmt("truncated: the data section starts at offset %llu (tensor infos end at %llu, alignment %llu) "
                        "but the file is only %llu bytes", (ull)data_start, (ull)end_of_infos, (ull)a, (ull)size_));
        const uint64_t data_size = size_ - data_start;
        for (TensorInfo & t : f_.tensors_) {
            const std::string pname = printable(t.name);
            if (t.offset % a != 0)
                fail(strfmt("tensor '%s': data offset %llu is not a multiple of the alignment %llu", pname.c_str(),
                            (ull)t.offset, (ull)a));
            uint64_t end = 0;
            if (__builtin_add_overflow(t.offset, t.nbytes, &end) || end > data_size)
                fail(strfmt("tensor '%s': data [%llu, +%llu bytes) extends past the end of the data section "
                            "(%llu bytes from offset %llu; file size %llu): truncated or bad offset",
                            pname.c_str(), (ull)t.offset, (ull)t.nbytes, (ull)data_size, (ull)data_start, (ull)size_));
            t.data = p_ + data_start + t.offset;
        }
        std::vector<size_t> order(f_.tensors_.size());
        for (size_t i = 0; i < order.size(); ++i) order[i] = i;
        const auto & ts = f_.tensors_;
        std::sort(order.begin(), order.end(), [&](size_t x, size_t y) {
            return ts[x].offset != ts[y].offset ? ts[x].offset < ts[y].offset : x < y;
        });
        for (size_t k = 1; k < order.size(); ++k) {
            const TensorInfo & prev = ts[order[k - 1]];
            const TensorInfo & cur = ts[order[k]];
            if (cur.offset < prev.offset + prev.nbytes)
                fail(strfmt("tensors '%s' [%llu, %llu) and '%s' [%llu, %llu) overlap in the data section",
                            printable(prev.name).c_str(), (ull)prev.offset, (ull)(prev.offset + prev.nbytes),
                            printable(cur.name).c_str(), (ull)cur.offset, (ull)(cur.offset + cur.nbytes)));
        }
    }

    File & f_;
    const uint8_t * p_;
    uint64_t size_;
    uint64_t pos_ = 0;
    uint64_t n_tensors_ = 0;
    uint64_t n_kv_ = 0;
    uint64_t used_ = 0;  // bookkeeping bytes charged against kMaxMetadataIndexBytes
    std::string ctx_;    // "key 'x': " / "tensor 'y': " prefix for truncation messages
};

// ---- File ---------------------------------------------------------------------------------------

const char * TensorInfo::type_name() const { return ld::ggml::type_name(type); }

File File::open(const std::string & path) {
    File f = open_single(path);
    f.attach_shards();
    return f;
}

File File::open_single(const std::string & path) {
    File f;
    f.name_ = path;
    f.mapping_ = std::make_unique<Mapping>(path);
    f.base_ = f.mapping_->data();
    f.size_ = f.mapping_->size();
    f.parse();
    return f;
}

File File::from_memory(const void * data, size_t size, const std::string & name) {
    File f;
    f.name_ = name;
    if (!data && size > 0) throw FormatError("GGUF " + name + ": null buffer with non-zero size");
    f.base_ = static_cast<const uint8_t *>(data);
    f.size_ = data ? size : 0;
    f.parse();
    return f;
}

void File::parse() { Parser(*this).run(); }

void File::fail(const std::string & msg) const { throw FormatError("invalid GGUF file '" + name_ + "': " + msg); }

void File::check_unchanged() const {
    if (!mapping_) return;
    const std::string what = mapping_->changed();
    if (!what.empty())
        throw Error(strfmt("model file '%s' changed on disk while in use (%s): it was truncated or rewritten in place, "
                           "so its mapped weights are no longer reliable; load the model again (to update a model "
                           "file that is in use, write a new file and rename it over the old one)",
                           name_.c_str(), what.c_str()));
}

void File::release_pages(const void * p, size_t n) const {
    if (mapping_) mapping_->release(p, n);
    for (const File & s : shards_) s.release_pages(p, n);
}

std::string File::architecture() const {
    const Value * v = find("general.architecture");
    if (!v) return std::string();
    const std::string_view a = v->as_string();
    if (!utf8_valid(a)) fail("metadata 'general.architecture' is not valid UTF-8");
    return std::string(a);
}

const Value * File::find(std::string_view key) const {
    auto it = key_index_.find(key);
    return it == key_index_.end() ? nullptr : &values_[it->second];
}

const Value & File::get(std::string_view key) const {
    const Value * v = find(key);
    if (!v) fail("key '" + std::string(key) + "' not found");
    return *v;
}

template <typename T>
T File::int_in_range(std::string_view key, int64_t lo, int64_t hi) const {
    const Value & v = get(key);
    if (!value_type_is_integer(v.type()))
        fail("key '" + std::string(key) + "' has type " + v.type_string() + ", expected an integer");
    if (v.type() == ValueType::UINT64 && v.as_uint() > (uint64_t)hi)
        fail(strfmt("key '%s' = %llu is out of range [%lld, %lld]", std::string(key).c_str(), (ull)v.as_uint(),
                    (long long)lo, (long long)hi));
    const int64_t x = v.as_int();
    if (x < lo || x > hi)
        fail(strfmt("key '%s' = %lld is out of range [%lld, %lld]", std::string(key).c_str(), (long long)x,
                    (long long)lo, (long long)hi));
    return (T)x;
}

uint32_t File::get_u32(std::string_view key) const { return int_in_range<uint32_t>(key, 0, UINT32_MAX); }
int32_t File::get_i32(std::string_view key) const { return int_in_range<int32_t>(key, INT32_MIN, INT32_MAX); }
int64_t File::get_i64(std::string_view key) const { return int_in_range<int64_t>(key, INT64_MIN, INT64_MAX); }

uint64_t File::get_u64(std::string_view key) const {
    const Value & v = get(key);
    if (!value_type_is_integer(v.type()))
        fail("key '" + std::string(key) + "' has type " + v.type_string() + ", expected an integer");
    if (v.type() == ValueType::UINT64) return v.as_uint();
    const int64_t x = v.as_int();
    if (x < 0) fail(strfmt("key '%s' = %lld is negative, expected an unsigned value", std::string(key).c_str(), (long long)x));
    return (uint64_t)x;
}

double File::get_f64(std::string_view key) const {
    const Value & v = get(key);
    if (!value_type_is_float(v.type()) && !value_type_is_integer(v.type()))
        fail("key '" + std::string(key) + "' has type " + v.type_string() + ", expected a number");
    return v.as_float();
}

float File::get_f32(std::string_view key) const { return (float)get_f64(key); }

bool File::get_bool(std::string_view key) const {
    const Value & v = get(key);
    if (v.type() != ValueType::BOOL) fail("key '" + std::string(key) + "' has type " + v.type_string() + ", expected BOOL");
    return v.as_bool();
}

std::string File::get_string(std::string_view key) const {
    const Value & v = get(key);
    if (v.type() != ValueType::STRING)
        fail("key '" + std::string(key) + "' has type " + v.type_string() + ", expected STRING");
    return std::string(v.as_string());
}

const Value & File::get_array(std::string_view key) const {
    const Value & v = get(key);
    if (v.type() != ValueType::ARRAY)
        fail("key '" + std::string(key) + "' has type " + v.type_string() + ", expected ARRAY");
    return v;
}

std::vector<int64_t> File::get_int_array(std::string_view key) const {
    const Value & v = get_array(key);
    if (!value_type_is_integer(v.array_type()) && v.array_type() != ValueType::BOOL)
        fail("key '" + std::string(key) + "' has type " + v.type_string() + ", expected an array of integers");
    std::vector<int64_t> out((size_t)v.array_size());
    for (uint64_t i = 0; i < v.array_size(); ++i) out[(size_t)i] = v.int_at(i);
    return out;
}

std::vector<float> File::get_f32_array(std::string_view key) const {
    const Value & v = get_array(key);
    if (!value_type_is_float(v.array_type()) && !value_type_is_integer(v.array_type()))
        fail("key '" + std::string(key) + "' has type " + v.type_string() + ", expected an array of numbers");
    std::vector<float> out((size_t)v.array_size());
    for (uint64_t i = 0; i < v.array_size(); ++i) out[(size_t)i] = (float)v.float_at(i);
    return out;
}

std::vector<std::string_view> File::get_string_array(std::string_view key) const {
    const Value & v = get_array(key);
    if (v.array_type() != ValueType::STRING)
        fail("key '" + std::string(key) + "' has type " + v.type_string() + ", expected ARRAY[STRING]");
    std::vector<std::string_view> out((size_t)v.array_size());
    for (uint64_t i = 0; i < v.array_size(); ++i) out[(size_t)i] = v.string_at(i);
    return out;
}

#define LD_GGUF_FIND(T, name, getter)                                         \
    std::optional<T> File::name(std::string_view key) const {                \
        if (!has(key)) return std::nullopt;                                  \
        return getter(key);                                                  \
    }
LD_GGUF_FIND(uint32_t, find_u32, get_u32)
LD_GGUF_FIND(int32_t, find_i32, get_i32)
LD_GGUF_FIND(uint64_t, find_u64, get_u64)
LD_GGUF_FIND(int64_t, find_i64, get_i64)
LD_GGUF_FIND(float, find_f32, get_f32)
LD_GGUF_FIND(double, find_f64, get_f64)
LD_GGUF_FIND(bool, find_bool, get_bool)
LD_GGUF_FIND(std::string, find_string, get_string)
#undef LD_GGUF_FIND

const TensorInfo * File::find_tensor(std::string_view name) const {
    auto it = tensor_index_.find(name);
    return it == tensor_index_.end() ? nullptr : &tensors_[it->second];
}

const TensorInfo & File::tensor(std::string_view name) const {
    const TensorInfo * t = find_tensor(name);
    if (!t) fail("tensor '" + std::string(name) + "' not found");
    return *t;
}

void File::check_type_supported(const TensorInfo & t) {
    if (!ld::ggml::type_is_supported(t.type))
        throw FormatError(strfmt("tensor '%s' has type %s which this engine cannot read", t.name.c_str(),
                                 ld::ggml::type_name(t.type)));
}

}  // namespace ld::gguf
