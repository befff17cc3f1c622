// Split (sharded) GGUF models, spec/gguf.md §1.5: the first shard `NAME-00001-of-0000N.gguf`
// names the others by the same pattern. File::attach_shards maps shards 2..N, checks every
// shard's split.no / split.count / split.tensors.count, and appends their tensor tables to the
// first shard's, so the model reads as one File (each tensor still points into its own shard).
#include <cctype>
#include <cstring>
#include <optional>
#include <cstdio>

#include "gguf/gguf-reader.h"

namespace ld::gguf {

namespace {

using ull = unsigned long long;

constexpr const char * kSplitNo = "split.no";
constexpr const char * kSplitCount = "split.count";
constexpr const char * kSplitTensors = "split.tensors.count";

// "-00001-of-00003.gguf": the shard suffix llama.cpp's gguf-split and gguf-py write (1-based).
constexpr size_t kSuffixLen = 20;

bool all_digits(const std::string & s, size_t at, size_t n) {
    for (size_t i = at; i < at + n; ++i)
        if (!std::isdigit((unsigned char)s[i])) return false;
    return true;
}

// Parses the shard suffix of `path`; returns false when the name does not end in one.
bool parse_shard_name(const std::string & path, std::string & prefix, unsigned & number, unsigned & count) {
    if (path.size() < kSuffixLen) return false;
    const size_t at = path.size() - kSuffixLen;
    if (path[at] != '-' || path.compare(at + 6, 4, "-of-") != 0 || path.compare(at + 15, 5, ".gguf") != 0) return false;
    if (!all_digits(path, at + 1, 5) || !all_digits(path, at + 10, 5)) return false;
    prefix = path.substr(0, at);
    number = (unsigned)std::stoul(path.substr(at + 1, 5));
    count = (unsigned)std::stoul(path.substr(at + 10, 5));
    return true;
}

std::string shard_name(const std::string & prefix, unsigned number, unsigned count) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "-%05u-of-%05u.gguf", number, count);
    return prefix + buf;
}

}  // namespace

uint64_t File::total_size() const {
    uint64_t n = size_;
    for (const File & s : shards_) n += s.size_;
    return n;
}

void File::attach_shards() {
    const bool has_no = has(kSplitNo), has_count = has(kSplitCount);
    if (!has_no && !has_count) return;  // an ordinary single file
    if (!has_no || !has_count)
        fail(strfmt("has %s but not %s (a split model needs both)", has_no ? kSplitNo : kSplitCount,
                    has_no ? kSplitCount : kSplitNo));
    const uint64_t count = get_u64(kSplitCount);
    const uint64_t no = get_u64(kSplitNo);
    if (count == 0 || count > 65535) fail(strfmt("%s = %llu is out of range [1, 65535]", kSplitCount, (ull)count));
    if (no >= count) fail(strfmt("%s = %llu is not below %s = %llu", kSplitNo, (ull)no, kSplitCount, (ull)count));

    std::string prefix;
    unsigned name_no = 0, name_count = 0;
    const bool named = parse_shard_name(name_, prefix, name_no, name_count);
    if (no != 0) {
        const std::string first = named ? shard_name(prefix, 1, (unsigned)count) : std::string("...-00001-of-...gguf");
        fail(strfmt("this is shard %llu of %llu of a split model; open the first shard '%s'", (ull)(no + 1),
                    (ull)count, first.c_str()));
    }
    const std::optional<uint64_t> total = find_u64(kSplitTensors);
    if (count == 1) {
        if (total && *total != tensors_.size())
            fail(strfmt("%s = %llu but the file has %llu tensors", kSplitTensors, (ull)*total, (ull)tensors_.size()));
        return;
    }
    if (!total) fail(strfmt("split model (%s = %llu) without %s", kSplitCount, (ull)count, kSplitTensors));
    if (!named || name_no != 1 || name_count != count)
        fail(strfmt("split model with %llu shards, but the file name does not end in '-00001-of-%05llu.gguf', so "
                    "the other shards cannot be found (keep the names the model was published with)",
                    (ull)count, (ull)count));
    const std::string arch = architecture();

    shards_.reserve((size_t)count - 1);
    for (unsigned i = 1; i < (unsigned)count; ++i) {
        const std::string path = shard_name(prefix, i + 1, (unsigned)count);
        try {
            shards_.push_back(open_single(path));
        } catch (const IoError & e) {
            fail(strfmt("shard %u of %llu '%s' is missing or unreadable: %s", i + 1, (ull)count, path.c_str(),
                        std::strerror(e.error_number())));
        } catch (const FormatError & e) {
            fail(strfmt("shard %u of %llu is malformed: %s", i + 1, (ull)count, e.what()));
        }
        const File & s = shards_.back();
        auto mismatch = [&](const std::string & what) {
            fail(strfmt("shard %u of %llu '%s' does not belong to this model: %s", i + 1, (ull)count, path.c_str(),
                        what.c_str()));
        };
        if (!s.has(kSplitNo) || !s.has(kSplitCount)) mismatch("it has no split.no / split.count keys");
        if (s.get_u64(kSplitNo) != i)
            mismatch(strfmt("its %s is %llu, expected %u", kSplitNo, (ull)s.get_u64(kSplitNo), i));
        if (s.get_u64(kSplitCount) != count)
            mismatch(strfmt("its %s is %llu, expected %llu", kSplitCount, (ull)s.get_u64(kSplitCount), (ull)count));
        if (const std::optional<uint64_t> t = s.find_u64(kSplitTensors); t && *t != *total)
            mismatch(strfmt("its %s is %llu, expected %llu", kSplitTensors, (ull)*t, (ull)*total));
        if (const std::string a = s.architecture(); !a.empty() && !arch.empty() && a != arch)
            mismatch("its general.architecture is '" + a + "', expected '" + arch + "'");

        // The index keys view the shard's own bytes, which stay mapped as long as this File lives.
        std::vector<std::string_view> views(s.tensors_.size());
        for (const auto & [view, idx] : s.tensor_index_) views[idx] = view;
        for (size_t k = 0; k < s.tensors_.size(); ++k) {
            if (const TensorInfo * prev = find_tensor(views[k]))
                fail(strfmt("tensor '%s' is in shard %u and again in shard %u", prev->name.c_str(), prev->shard + 1,
                            i + 1));
            TensorInfo t = s.tensors_[k];
            t.shard = i;
            tensor_index_.emplace(views[k], tensors_.size());
            tensors_.push_back(std::move(t));
        }
    }
    if (tensors_.size() != *total)
        fail(strfmt("%s = %llu but the %llu shards hold %llu tensors", kSplitTensors, (ull)*total, (ull)count,
                    (ull)tensors_.size()));
}

}  // namespace ld::gguf
