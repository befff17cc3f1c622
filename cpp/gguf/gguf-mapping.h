// A read-only view of a whole file's bytes: memory-mapped on POSIX systems (zero copy, pages
// loaded on first touch), read into a heap buffer elsewhere. Opening failures throw IoError,
// which carries the errno so Python can raise the matching OSError (FileNotFoundError, ...).
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

private:
    const uint8_t * data_ = nullptr;
    size_t size_ = 0;
    bool mapped_ = false;          // true: munmap on destruction
    std::vector<uint8_t> buffer_;  // fallback storage when not mapped
};

}  // namespace ld::gguf
