// The GGUF reader: opens a GGUF v2/v3 file (memory-mapped, read-only, zero copy) or a caller's
// buffer, validates every field against the bytes that remain (docs/format.md §1.7), and exposes
// the metadata (typed getters) and the tensor table (views into the mapping).
//
// Guarantees: malformed input throws FormatError naming the key or tensor, the file offset and
// the values involved; it never aborts, never reads outside the bytes it was given, and bounds
// the memory it allocates (counts are checked against the remaining bytes before allocation and
// the metadata index is capped at kMaxMetadataIndexBytes).
//
// Accepted layout: any tensor order, any gaps, as long as every tensor is aligned, inside the
// data section and overlaps no other tensor (a superset of what ggml writes).
//
// Split (sharded) models (docs/format.md §1.5): File::open of the first shard
// `NAME-00001-of-0000N.gguf` also maps the other N-1 shards and presents one model: metadata from
// the first shard, the tensor table of all shards (each TensorInfo points into its own shard's
// mapping; TensorInfo::shard says which). Every shard's split.no / split.count /
// split.tensors.count is checked (gguf-split.cpp); a missing or mismatched shard is an error.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "common/error.h"
#include "gguf/gguf-mapping.h"
#include "gguf/gguf-value.h"

namespace ld::gguf {

// A malformed or unsupported GGUF file (Python: llama_diffusion.GGUFError, a ValueError).
class FormatError : public Error {
public:
    explicit FormatError(const std::string & msg) : Error(msg) {}
};

constexpr uint32_t kMagic = 0x46554747;               // "GGUF" read as a little-endian u32
constexpr uint32_t kDefaultAlignment = 32;
constexpr uint64_t kMaxStringLength = 1ull << 30;     // any string value (ggml's limit)
constexpr uint64_t kMaxKeyLength = 65535;             // keys and tensor names (spec)
constexpr uint64_t kMaxArrayElements = 1ull << 30;    // per array (ggml's limit)
constexpr int kMaxArrayDepth = 8;                     // nested arrays
constexpr uint64_t kMaxMetadataIndexBytes = 256ull << 20;  // child Values of string/nested arrays
constexpr int kMaxDims = 4;

// One entry of the tensor table. Shape is GGUF order: ne[0] is the contiguous dimension (row
// length); numpy's shape is the reverse. Dimensions beyond n_dims are 1.
struct TensorInfo {
    std::string name;
    int32_t type = 0;          // ggml type id (ld::ggml::Type); may be a type the engine cannot read
    uint32_t n_dims = 0;       // 0..4 as stored (0 means a single element)
    int64_t ne[kMaxDims] = {1, 1, 1, 1};
    uint64_t offset = 0;       // relative to the start of the data section
    uint64_t nbytes = 0;       // ne0/block * type_size * ne1 * ne2 * ne3
    const uint8_t * data = nullptr;  // points into the mapping (data_start + offset)
    uint64_t info_offset = 0;  // file offset of this tensor's info record (for messages)
    uint32_t shard = 0;        // index of the shard file holding it (0 unless the model is split)

    int64_t n_elements() const { return ne[0] * ne[1] * ne[2] * ne[3]; }
    const char * type_name() const;  // "Q4_K", "IQ2_XXS", ...
};

class File {
public:
    // Maps the file read-only. IoError when it cannot be opened, FormatError when it is malformed.
    // The first shard of a split model opens the whole model (see the top of this file).
    static File open(const std::string & path);
    // Maps exactly one file, never following split.* keys (one shard on its own).
    static File open_single(const std::string & path);
    // Parses a caller-owned buffer without copying it; the buffer must outlive the File.
    // `name` is used in error messages.
    static File from_memory(const void * data, size_t size, const std::string & name = "<memory>");

    File(File &&) noexcept = default;
    File & operator=(File &&) noexcept = default;
    File(const File &) = delete;
    File & operator=(const File &) = delete;

    const std::string & name() const { return name_; }      // path or "<memory>"
    uint32_t version() const { return version_; }
    uint32_t alignment() const { return alignment_; }
    const uint8_t * bytes() const { return base_; }
    size_t size() const { return size_; }
    uint64_t data_start() const { return data_start_; }     // absolute file offset of the data section

    // ld::Error when the mapped file was truncated or rewritten in place since it was opened (reading
    // it could then raise SIGBUS or see other bytes); checked before every pass and generation.
    void check_unchanged() const;
    // Mapping::release for the shard holding [p, p + n) (a no-op where none does).
    void release_pages(const void * p, size_t n) const;

    // ---- shards (1 for an unsplit file; shard 0 is this file itself) ----
    size_t n_shards() const { return 1 + shards_.size(); }
    const std::string & shard_path(size_t i) const { return i == 0 ? name_ : shards_.at(i - 1).name_; }
    uint64_t shard_data_start(size_t i) const { return i == 0 ? data_start_ : shards_.at(i - 1).data_start_; }
    size_t shard_size(size_t i) const { return i == 0 ? size_ : shards_.at(i - 1).size_; }
    uint64_t total_size() const;  // bytes of all shards together

    // general.architecture, or "" when absent.
    std::string architecture() const;

    // ---- metadata (keys in file order) ----
    size_t n_kv() const { return keys_.size(); }
    std::string_view key(size_t i) const { return keys_.at(i); }
    const Value & value(size_t i) const { return values_.at(i); }
    bool has(std::string_view key) const { return find(key) != nullptr; }
    const Value * find(std::string_view key) const;  // nullptr when absent
    const Value & get(std::string_view key) const;   // throws FormatError when absent

    // Typed getters: throw FormatError naming the key when it is missing, has the wrong type or
    // a value out of range for the requested C++ type. Integers accept any integer GGUF type whose
    // value fits; floats accept FLOAT32/FLOAT64 and integers.
    uint32_t get_u32(std::string_view key) const;
    int32_t get_i32(std::string_view key) const;
    uint64_t get_u64(std::string_view key) const;
    int64_t get_i64(std::string_view key) const;
    float get_f32(std::string_view key) const;
    double get_f64(std::string_view key) const;
    bool get_bool(std::string_view key) const;
    std::string get_string(std::string_view key) const;
    const Value & get_array(std::string_view key) const;  // any ARRAY
    std::vector<int64_t> get_int_array(std::string_view key) const;
    std::vector<float> get_f32_array(std::string_view key) const;
    std::vector<std::string_view> get_string_array(std::string_view key) const;

    // Optional variants: std::nullopt when the key is absent; still throw on a wrong type.
    std::optional<uint32_t> find_u32(std::string_view key) const;
    std::optional<int32_t> find_i32(std::string_view key) const;
    std::optional<uint64_t> find_u64(std::string_view key) const;
    std::optional<int64_t> find_i64(std::string_view key) const;
    std::optional<float> find_f32(std::string_view key) const;
    std::optional<double> find_f64(std::string_view key) const;
    std::optional<bool> find_bool(std::string_view key) const;
    std::optional<std::string> find_string(std::string_view key) const;

    // ---- tensors (file order) ----
    const std::vector<TensorInfo> & tensors() const { return tensors_; }
    const TensorInfo * find_tensor(std::string_view name) const;  // nullptr when absent
    const TensorInfo & tensor(std::string_view name) const;       // throws FormatError when absent

    // Throws FormatError "tensor 'X' has type IQ2_XXS which this engine cannot read" when the
    // engine has no kernel for the tensor's type.
    static void check_type_supported(const TensorInfo & t);

private:
    File() = default;
    void parse();
    void attach_shards();  // gguf-split.cpp
    [[noreturn]] void fail(const std::string & msg) const;
    template <typename T> T int_in_range(std::string_view key, int64_t lo, int64_t hi) const;

    std::string name_;
    std::unique_ptr<Mapping> mapping_;  // null for from_memory
    const uint8_t * base_ = nullptr;
    size_t size_ = 0;
    uint32_t version_ = 0;
    uint32_t alignment_ = kDefaultAlignment;
    uint64_t data_start_ = 0;
    // Keys and index keys are views into the file bytes, which never move (even when File moves).
    std::vector<std::string_view> keys_;
    std::vector<Value> values_;
    std::unordered_map<std::string_view, size_t> key_index_;
    std::vector<TensorInfo> tensors_;
    std::unordered_map<std::string_view, size_t> tensor_index_;
    std::vector<File> shards_;  // shards 1..N-1 of a split model (their mappings own the tensor data)

    friend class Parser;
};

}  // namespace ld::gguf
