// Accessors and rendering of GGUF metadata values (see gguf-value.h). Every element access is
// range-checked; type mismatches throw ld::Error naming the expected and actual types.
#include "gguf/gguf-value.h"

#include <cmath>
#include <cstring>
#include <limits>

#include "common/error.h"

namespace ld::gguf {

namespace {

const char * const kTypeNames[kValueTypeCount] = {
    "UINT8", "INT8", "UINT16", "INT16", "UINT32", "INT32", "FLOAT32",
    "BOOL", "STRING", "ARRAY", "UINT64", "INT64", "FLOAT64",
};

double f32_from_bits(uint32_t bits) {
    float f;
    std::memcpy(&f, &bits, sizeof(f));
    return (double)f;
}

double f64_from_bits(uint64_t bits) {
    double d;
    std::memcpy(&d, &bits, sizeof(d));
    return d;
}

// Renders a string value for humans: printable ASCII as is, everything else escaped, cut at 80 bytes.
std::string quote(std::string_view s) {
    std::string out = "'";
    size_t shown = 0;
    for (unsigned char c : s) {
        if (shown++ == 80) { out += "..."; break; }
        if (c == '\'' || c == '\\') { out += '\\'; out += (char)c; }
        else if (c >= 0x20 && c < 0x7f) out += (char)c;
        else if (c == '\n') out += "\\n";
        else if (c >= 0x80) out += (char)c;  // UTF-8 bytes pass through
        else out += strfmt("\\x%02x", c);
    }
    return out + "'";
}

std::string format_double(double v) {
    std::string s = strfmt("%.9g", v);
    return s;
}

}  // namespace

std::string value_type_name(uint32_t id) {
    if (id < kValueTypeCount) return kTypeNames[id];
    return strfmt("type#%u", id);
}

size_t value_type_size(ValueType t) {
    switch (t) {
        case ValueType::UINT8: case ValueType::INT8: case ValueType::BOOL: return 1;
        case ValueType::UINT16: case ValueType::INT16: return 2;
        case ValueType::UINT32: case ValueType::INT32: case ValueType::FLOAT32: return 4;
        case ValueType::UINT64: case ValueType::INT64: case ValueType::FLOAT64: return 8;
        case ValueType::STRING: case ValueType::ARRAY: return 0;
    }
    return 0;
}

bool value_type_is_integer(ValueType t) {
    switch (t) {
        case ValueType::UINT8: case ValueType::INT8: case ValueType::UINT16: case ValueType::INT16:
        case ValueType::UINT32: case ValueType::INT32: case ValueType::UINT64: case ValueType::INT64:
            return true;
        default: return false;
    }
}

bool value_type_is_float(ValueType t) { return t == ValueType::FLOAT32 || t == ValueType::FLOAT64; }

uint64_t load_le(const uint8_t * p, size_t nbytes) {
    uint64_t v = 0;
    for (size_t i = 0; i < nbytes; ++i) v |= (uint64_t)p[i] << (8 * i);
    return v;
}

Value Value::scalar(ValueType t, const uint8_t * data) {
    Value v;
    v.type_ = t;
    v.data_ = data;
    return v;
}

Value Value::string(const uint8_t * chars, uint64_t len) {
    Value v;
    v.type_ = ValueType::STRING;
    v.data_ = chars;
    v.n_ = len;
    return v;
}

Value Value::array(ValueType elem, const uint8_t * elems, uint64_t count, std::vector<Value> items) {
    Value v;
    v.type_ = ValueType::ARRAY;
    v.elem_type_ = elem;
    v.data_ = elems;
    v.n_ = count;
    v.items_ = std::move(items);
    return v;
}

void Value::require(ValueType t, const char * what) const {
    if (type_ != t)
        throw Error(strfmt("GGUF value: %s needs type %s, the value has type %s", what,
                           value_type_name(t).c_str(), type_string().c_str()));
}

void Value::require_array_index(uint64_t i) const {
    require(ValueType::ARRAY, "array access");
    if (i >= n_)
        throw Error(strfmt("GGUF value: array index %llu out of range (size %llu)", (unsigned long long)i,
                           (unsigned long long)n_));
}

int64_t Value::scalar_int(ValueType t, const uint8_t * p) const {
    const size_t sz = value_type_size(t);
    const uint64_t raw = load_le(p, sz);
    switch (t) {
        case ValueType::UINT8: case ValueType::UINT16: case ValueType::UINT32: case ValueType::BOOL:
            return (int64_t)raw;
        case ValueType::INT8: return (int8_t)raw;
        case ValueType::INT16: return (int16_t)raw;
        case ValueType::INT32: return (int32_t)raw;
        case ValueType::INT64: return (int64_t)raw;
        case ValueType::UINT64:
            if (raw > (uint64_t)std::numeric_limits<int64_t>::max())
                throw Error(strfmt("GGUF value: UINT64 %llu does not fit a signed 64-bit integer",
                                   (unsigned long long)raw));
            return (int64_t)raw;
        default:
            throw Error("GGUF value: an integer was requested from a " + value_type_name(t) + " value");
    }
}

double Value::scalar_float(ValueType t, const uint8_t * p) const {
    if (t == ValueType::FLOAT32) return f32_from_bits((uint32_t)load_le(p, 4));
    if (t == ValueType::FLOAT64) return f64_from_bits(load_le(p, 8));
    if (t == ValueType::UINT64) return (double)load_le(p, 8);
    if (value_type_is_integer(t)) return (double)scalar_int(t, p);
    throw Error("GGUF value: a number was requested from a " + value_type_name(t) + " value");
}

int64_t Value::as_int() const {
    if (!value_type_is_integer(type_) && type_ != ValueType::BOOL)
        throw Error("GGUF value: an integer was requested from a " + type_string() + " value");
    return scalar_int(type_, data_);
}

uint64_t Value::as_uint() const {
    if (type_ == ValueType::UINT64) return load_le(data_, 8);
    const int64_t v = as_int();
    if (v < 0) throw Error(strfmt("GGUF value: %lld is negative, an unsigned value was requested", (long long)v));
    return (uint64_t)v;
}

double Value::as_float() const {
    if (!value_type_is_integer(type_) && !value_type_is_float(type_))
        throw Error("GGUF value: a number was requested from a " + type_string() + " value");
    return scalar_float(type_, data_);
}

bool Value::as_bool() const {
    require(ValueType::BOOL, "as_bool");
    return data_[0] != 0;
}

std::string_view Value::as_string() const {
    require(ValueType::STRING, "as_string");
    return std::string_view(reinterpret_cast<const char *>(data_), (size_t)n_);
}

ValueType Value::array_type() const {
    require(ValueType::ARRAY, "array_type");
    return elem_type_;
}

uint64_t Value::array_size() const {
    require(ValueType::ARRAY, "array_size");
    return n_;
}

int64_t Value::int_at(uint64_t i) const {
    require_array_index(i);
    if (!value_type_is_integer(elem_type_) && elem_type_ != ValueType::BOOL)
        throw Error("GGUF value: an integer element was requested from a " + type_string());
    return scalar_int(elem_type_, data_ + i * value_type_size(elem_type_));
}

uint64_t Value::uint_at(uint64_t i) const {
    require_array_index(i);
    if (elem_type_ == ValueType::UINT64) return load_le(data_ + i * 8, 8);
    const int64_t v = int_at(i);
    if (v < 0) throw Error(strfmt("GGUF value: element %llu is negative (%lld)", (unsigned long long)i, (long long)v));
    return (uint64_t)v;
}

double Value::float_at(uint64_t i) const {
    require_array_index(i);
    if (!value_type_is_integer(elem_type_) && !value_type_is_float(elem_type_))
        throw Error("GGUF value: a numeric element was requested from a " + type_string());
    return scalar_float(elem_type_, data_ + i * value_type_size(elem_type_));
}

std::string_view Value::string_at(uint64_t i) const { return item(i).as_string(); }

const Value & Value::item(uint64_t i) const {
    require_array_index(i);
    if (elem_type_ != ValueType::STRING && elem_type_ != ValueType::ARRAY)
        throw Error("GGUF value: item() needs an array of strings or arrays, the value is a " + type_string());
    return items_[(size_t)i];
}

const uint8_t * Value::array_data() const {
    if (type_ != ValueType::ARRAY || elem_type_ == ValueType::STRING || elem_type_ == ValueType::ARRAY) return nullptr;
    return data_;
}

std::string Value::type_string() const {
    if (type_ != ValueType::ARRAY) return value_type_name(type_);
    if (elem_type_ == ValueType::ARRAY) {
        // Nested: describe by the first element when there is one.
        if (!items_.empty()) return "ARRAY[" + items_[0].type_string() + "]";
        return "ARRAY[ARRAY]";
    }
    return "ARRAY[" + value_type_name(elem_type_) + "]";
}

std::string Value::to_string(size_t max_items) const {
    switch (type_) {
        case ValueType::STRING: return quote(as_string());
        case ValueType::BOOL: return as_bool() ? "true" : "false";
        case ValueType::FLOAT32: case ValueType::FLOAT64: return format_double(as_float());
        case ValueType::UINT64: return strfmt("%llu", (unsigned long long)as_uint());
        case ValueType::ARRAY: {
            std::string out = "[";
            const uint64_t shown = n_ < max_items ? n_ : max_items;
            for (uint64_t i = 0; i < shown; ++i) {
                if (i) out += ", ";
                if (elem_type_ == ValueType::STRING || elem_type_ == ValueType::ARRAY) out += items_[(size_t)i].to_string(max_items);
                else if (elem_type_ == ValueType::BOOL) out += int_at(i) ? "true" : "false";
                else if (value_type_is_float(elem_type_)) out += format_double(float_at(i));
                else if (elem_type_ == ValueType::UINT64) out += strfmt("%llu", (unsigned long long)uint_at(i));
                else out += strfmt("%lld", (long long)int_at(i));
            }
            if (shown < n_) out += strfmt(", ... (%llu total)", (unsigned long long)n_);
            return out + "]";
        }
        default: return strfmt("%lld", (long long)as_int());
    }
}

}  // namespace ld::gguf
