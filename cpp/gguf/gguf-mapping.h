// A read-only view of a whole file's bytes: memory-mapped on POSIX systems (zero copy, pages
// loaded on first touch), read into a heap buffer elsewhere. Opening failures throw IoError,
// which carries the errno so Python can raise the matching OSError (FileNotFoundError, ...).
//
// A mapped file that is truncated while in use makes the next read of a lost page raise SIGBUS, and
// one rewritten in place changes under the reader; replacing it by rename (how downloads and pip
// install files) is harmless, the mapping keeps the old inode. So the mapping keeps the descriptor
// and changed() compares the inode's size and modification time with those seen at open: callers
// check it before each pass/generation and report a clear error (docs/format.md, "Files in use").
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "common/error.h"

namespace ld::gguf {

// The file could not be opened, sized or mapped (not a format problem).
class IoError : public Error {
public:
    IoError(const std::string & msg, int err, std::string path) : Error(msg), errno_(err), path_(std::move(path)) {}
    int error_number() const { return errno_; }
    const std::string & path() const { return path_; }

private:
    int errno_;
    std::string path_;
};

class Mapping {
public:
    explicit Mapping(const std::string & path);  // throws IoError
    ~Mapping();
    Mapping(const Mapping &) = delete;
    Mapping & operator=(const Mapping &) = delete;

    const uint8_t * data() const { return data_; }
    size_t size() const { return size_; }

    // "" while the mapped file is as it was at open; else what changed (size, modification time).
    std::string changed() const;

    // Drops this process's pages of the whole pages inside [p, p + n) (a copy of those bytes is kept
    // elsewhere) and advises the page cache to let them go too: a later read faults them back from the
    // file, so the bytes stay valid. Only for a real file mapping; a no-op for the read-into-memory
    // fallback and for ranges outside the mapping.
    void release(const void * p, size_t n) const;

private:
    int fd_ = -1;                  // POSIX: kept open for changed()
    int64_t mtime_ns_ = 0;
    const uint8_t * data_ = nullptr;
    size_t size_ = 0;
    bool mapped_ = false;          // true: munmap on destruction
    std::vector<uint8_t> buffer_;  // fallback storage when not mapped
};

}  // namespace ld::gguf
