// Read-only file mapping (see gguf-mapping.h): mmap on POSIX, a plain read elsewhere.
#include "gguf/gguf-mapping.h"

#include <cerrno>
#include <cstdio>
#include <cstring>

#if defined(__unix__) || defined(__APPLE__)
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#define LD_GGUF_MMAP 1
#endif

namespace ld::gguf {

namespace {

[[noreturn]] void fail(const char * what, const std::string & path, int err) {
    throw IoError(strfmt("cannot %s '%s': %s", what, path.c_str(), std::strerror(err)), err, path);
}

#ifdef LD_GGUF_MMAP
int64_t mtime_ns(const struct stat & st) {
#if defined(__APPLE__)
    return (int64_t)st.st_mtimespec.tv_sec * 1000000000 + st.st_mtimespec.tv_nsec;
#else
    return (int64_t)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec;
#endif
}
#endif

}  // namespace

#ifdef LD_GGUF_MMAP

Mapping::Mapping(const std::string & path) {
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) fail("open", path, errno);
    struct stat st;
    if (::fstat(fd, &st) != 0) {
        const int err = errno;
        ::close(fd);
        fail("stat", path, err);
    }
    if (S_ISDIR(st.st_mode)) {
        ::close(fd);
        fail("open", path, EISDIR);
    }
    size_ = (size_t)st.st_size;
    if (size_ > 0) {
        void * p = ::mmap(nullptr, size_, PROT_READ, MAP_SHARED, fd, 0);
        if (p == MAP_FAILED) {
            const int err = errno;
            ::close(fd);
            fail("map", path, err);
        }
        data_ = static_cast<const uint8_t *>(p);
        mapped_ = true;
    }
    fd_ = fd;  // kept for changed(); the mapping itself does not need it
    mtime_ns_ = mtime_ns(st);
}

Mapping::~Mapping() {
    if (mapped_) ::munmap(const_cast<uint8_t *>(data_), size_);
    if (fd_ >= 0) ::close(fd_);
}

void Mapping::release(const void * p, size_t n) const {
    const uint8_t * b = static_cast<const uint8_t *>(p);
    if (!mapped_ || n == 0 || b < data_ || b + n > data_ + size_ || b + n < b) return;
    const uintptr_t page = (uintptr_t)::sysconf(_SC_PAGESIZE);
    const uintptr_t lo = ((uintptr_t)b + page - 1) / page * page, hi = ((uintptr_t)b + n) / page * page;
    if (hi <= lo) return;
    // a read-only shared mapping: this mapping's entries go, then the page cache is told the file range is
    // not needed (clean pages, dropped unless another process maps them; a later read faults them back from
    // the file): the repacked copy does not have to share the memory with a cached copy of the same bytes
    ::madvise(reinterpret_cast<void *>(lo), hi - lo, MADV_DONTNEED);
#if defined(POSIX_FADV_DONTNEED)
    if (fd_ >= 0) ::posix_fadvise(fd_, (off_t)(lo - (uintptr_t)data_), (off_t)(hi - lo), POSIX_FADV_DONTNEED);
#endif
}

std::string Mapping::changed() const {
    struct stat st;
    if (fd_ < 0 || ::fstat(fd_, &st) != 0) return std::string();
    if ((size_t)st.st_size != size_)
        return strfmt("its size changed from %zu to %lld bytes", size_, (long long)st.st_size);
    if (mtime_ns(st) != mtime_ns_) return "it was modified in place";
    return std::string();
}

#else

Mapping::Mapping(const std::string & path) {
    std::FILE * f = std::fopen(path.c_str(), "rb");
    if (!f) fail("open", path, errno);
    std::vector<uint8_t> buf;
    uint8_t chunk[1 << 16];
    size_t n;
    while ((n = std::fread(chunk, 1, sizeof(chunk), f)) > 0) buf.insert(buf.end(), chunk, chunk + n);
    const bool err = std::ferror(f) != 0;
    std::fclose(f);
    if (err) fail("read", path, EIO);
    buffer_ = std::move(buf);
    data_ = buffer_.data();
    size_ = buffer_.size();
}

Mapping::~Mapping() = default;

void Mapping::release(const void *, size_t) const {}  // a private copy: nothing to give back

std::string Mapping::changed() const { return std::string(); }  // a private copy: never changes

#endif

}  // namespace ld::gguf
