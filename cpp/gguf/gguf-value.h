// GGUF metadata values: the 13 value types of the format and a read-only view of one value
// (scalar, string or array, arrays possibly nested) that points into the file mapping.
// Values are built and validated by the reader (gguf-reader.cpp); this header only reads them.
// Strings are views (no copy); numeric arrays are read element by element from the raw
// little-endian bytes; string and nested arrays keep one child Value per element.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace ld::gguf {

// Value type ids exactly as stored in GGUF (gguf_type).
enum class ValueType : uint32_t {
    UINT8 = 0, INT8 = 1, UINT16 = 2, INT16 = 3, UINT32 = 4, INT32 = 5, FLOAT32 = 6,
    BOOL = 7, STRING = 8, ARRAY = 9, UINT64 = 10, INT64 = 11, FLOAT64 = 12,
};
constexpr uint32_t kValueTypeCount = 13;

// "UINT32", "STRING", ... or "type#<id>" for an id outside the table.
std::string value_type_name(uint32_t id);
inline std::string value_type_name(ValueType t) { return value_type_name((uint32_t)t); }

// Bytes of one scalar of this type; 0 for STRING and ARRAY (variable size).
size_t value_type_size(ValueType t);

bool value_type_is_integer(ValueType t);  // UINT8..INT64 (not BOOL)
bool value_type_is_float(ValueType t);    // FLOAT32, FLOAT64

// Reads little-endian scalars from unaligned bytes (portable, no host-endianness assumption).
uint64_t load_le(const uint8_t * p, size_t nbytes);

class Value {
public:
    ValueType type() const { return type_; }
    bool is_array() const { return type_ == ValueType::ARRAY; }
    bool is_string() const { return type_ == ValueType::STRING; }

    // Scalars. as_int: any integer type or BOOL; as_uint: any integer type with a value >= 0;
    // as_float: FLOAT32/FLOAT64 or an integer. They throw ld::Error naming the actual type.
    int64_t as_int() const;
    uint64_t as_uint() const;
    double as_float() const;
    bool as_bool() const;              // BOOL only (any non-zero byte is true, as ggml reads it)
    std::string_view as_string() const;  // STRING only; the bytes in the file (not NUL-terminated)

    // Arrays.
    ValueType array_type() const;      // element type (ARRAY only)
    uint64_t array_size() const;       // element count (ARRAY only)
    // Element i of a numeric/bool array as integer or float (range-checked).
    int64_t int_at(uint64_t i) const;
    uint64_t uint_at(uint64_t i) const;
    double float_at(uint64_t i) const;
    std::string_view string_at(uint64_t i) const;  // element i of a STRING array
    const Value & item(uint64_t i) const;          // element i of a STRING or ARRAY array
    // First byte of the elements of a numeric/bool array (little-endian, packed), else nullptr.
    const uint8_t * array_data() const;

    // Short human-readable rendering, e.g. "UINT32 7", "STRING 'gemma3'", "ARRAY[FLOAT32] (3): [1, 2, 3]".
    // Arrays longer than max_items show their first max_items elements then "...".
    std::string to_string(size_t max_items = 8) const;
    std::string type_string() const;   // "UINT32", "ARRAY[STRING]", "ARRAY[ARRAY[INT32]]"

    // Construction is the reader's job; these are public so gguf-reader.cpp can fill values.
    static Value scalar(ValueType t, const uint8_t * data);
    static Value string(const uint8_t * chars, uint64_t len);
    static Value array(ValueType elem, const uint8_t * elems, uint64_t count, std::vector<Value> items);

private:
    void require(ValueType t, const char * what) const;
    void require_array_index(uint64_t i) const;
    int64_t scalar_int(ValueType t, const uint8_t * p) const;
    double scalar_float(ValueType t, const uint8_t * p) const;

    ValueType type_ = ValueType::UINT8;
    ValueType elem_type_ = ValueType::UINT8;  // ARRAY: element type
    const uint8_t * data_ = nullptr;          // scalar bytes, string chars, or first array element
    uint64_t n_ = 0;                          // STRING: byte length; ARRAY: element count
    std::vector<Value> items_;                // ARRAY of STRING/ARRAY: one child per element
};

}  // namespace ld::gguf
