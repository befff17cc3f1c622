// The Metal backend's host (LD_METAL builds on macOS): one MTLDevice, its command queue, a compute
// pipeline per kernel, and MTLBuffers in shared (unified) memory. The op layer (ops-metal.cpp) decides
// every dispatch; this file only executes them:
//   * kernels: the .metallib built with the library (ld-kernels.metallib next to the loaded module, or
//     $LD_METALLIB), else the embedded source (ld-metal-source.cpp) compiled at run time (MSL 3.0,
//     fast math off);
//   * memory: alloc() is a shared MTLBuffer (its contents pointer is the device pointer); weights are
//     wrapped in place with newBufferWithBytesNoCopy over the page-aligned region of the mmapped file;
//     a pointer given to a kernel is mapped back to (buffer, offset) through these two tables;
//   * order: dispatches go to one serial compute encoder of the current command buffer, committed every
//     kMaxPending dispatches (Metal orders command buffers of one queue and tracks buffer hazards);
//     synchronize() commits and waits, and reports a failed command buffer as ggml::Error. upload,
//     download and copy synchronize, then memcpy on the shared memory.
// LD_METAL_EMULATOR=1 (builds with LD_METAL_EMU) swaps in the emulated backend, for tests.
// Not run on a Mac yet: it compiles in the macOS workflow; the kernels' logic is tested on Linux under
// the emulator (tests/cpp/test-metal-kernels.cpp).
#import <Foundation/Foundation.h>
#import <Metal/Metal.h>

#include <dlfcn.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <map>
#include <string>

#include "backend-metal.h"
#include "ld-ggml/error.h"
#include "metal/ops-metal.h"
#if defined(LD_HAVE_METAL_EMU)
#include "metal/backend-emu-metal.h"
#endif

namespace ld::ggml::metal {
extern const char * const kEmbeddedSource;
}

namespace ld::ggml::detail {

namespace {

using metal::Kernel;
using metal::Launch;

constexpr int kMaxPending = 256;

std::string ns_error(NSError * e) {
    return e ? std::string([[e localizedDescription] UTF8String]) : std::string("unknown error");
}

// The directory of the module (executable or Python extension) this code was loaded from.
std::string module_dir() {
    Dl_info info;
    if (dladdr((const void *)&module_dir, &info) && info.dli_fname) {
        std::string p = info.dli_fname;
        const size_t s = p.rfind('/');
        if (s != std::string::npos) return p.substr(0, s);
    }
    return ".";
}

NSArray<id<MTLDevice>> * all_devices() {
    NSArray<id<MTLDevice>> * devs = MTLCopyAllDevices();
    if (devs.count == 0) {
        id<MTLDevice> d = MTLCreateSystemDefaultDevice();
        if (d) devs = @[ d ];
    }
    return devs;
}

// simdgroup_matrix needs an Apple7+ (M1 / A14 and later) or Mac2 GPU.
bool device_supported(id<MTLDevice> d) {
    return [d supportsFamily:MTLGPUFamilyApple7] || [d supportsFamily:MTLGPUFamilyMac2];
}

class MetalBackend final : public metal::OpsBackend {
public:
    explicit MetalBackend(int index) {
        @autoreleasepool {
            NSArray<id<MTLDevice>> * devs = all_devices();
            if ((NSUInteger)index >= devs.count)
                throw Error(strfmt("device 'metal:%d': this Mac has %d Metal device(s)", index, (int)devs.count));
            dev_ = devs[(NSUInteger)index];
            if (!device_supported(dev_))
                throw Error(strfmt("device 'metal:%d' (%s): simdgroup matrices need an Apple7 (M1) or newer GPU", index,
                                   [[dev_ name] UTF8String]));
            index_ = index;
            queue_ = [dev_ newCommandQueue];
            if (!queue_) throw Error("metal: cannot create a command queue");
            load_pipelines();
        }
    }
    ~MetalBackend() override {
        try {
            synchronize();
        } catch (...) {
        }
        release_all();
        allocs_.clear();
        wraps_.clear();
    }

    BackendKind kind() const override { return BackendKind::metal; }
    std::string name() const override { return strfmt("metal:%d", index_); }
    std::string description() const override {
        return strfmt("%s (%.1f GiB working set, kernels from %s)", [[dev_ name] UTF8String],
                      (double)[dev_ recommendedMaxWorkingSetSize] / (1024.0 * 1024.0 * 1024.0), lib_from_.c_str());
    }

    void * alloc(size_t bytes) override {
        if (bytes < 1) throw Error("metal alloc: zero bytes");
        id<MTLBuffer> b = [dev_ newBufferWithLength:bytes options:MTLResourceStorageModeShared];
        if (!b)
            throw Error(strfmt("metal alloc: cannot allocate %zu bytes (%zu bytes free of the working set)", bytes,
                               memory_free()));
        void * p = [b contents];
        allocs_[(const char *)p] = Region{b, bytes};
        return p;
    }
    void free(void * p) noexcept override {
        if (!p) return;
        allocs_.erase((const char *)p);  // command buffers in flight keep their own reference
    }
    void upload(void * dst, const void * src, size_t bytes) override {
        synchronize();
        std::memcpy(dst, src, bytes);
    }
    void download(void * dst, const void * src, size_t bytes) override {
        synchronize();
        std::memcpy(dst, src, bytes);
    }
    void copy(void * dst, const void * src, size_t bytes) override {
        synchronize();
        std::memmove(dst, src, bytes);
    }
    void synchronize() override {
        if (!cb_) return;
        [enc_ endEncoding];
        [cb_ commit];
        [cb_ waitUntilCompleted];
        const MTLCommandBufferStatus st = [cb_ status];
        NSError * err = [cb_ error];
        enc_ = nil;
        cb_ = nil;
        pending_ = 0;
        if (st == MTLCommandBufferStatusError) throw Error("metal: a command buffer failed: " + ns_error(err));
    }
    size_t memory_free() const override {
        const uint64_t total = [dev_ recommendedMaxWorkingSetSize], used = [dev_ currentAllocatedSize];
        return used < total ? (size_t)(total - used) : 0;
    }

protected:
    void wrap_host(const void * host, size_t bytes) override {
        const uintptr_t page = (uintptr_t)getpagesize();
        const uintptr_t base = (uintptr_t)host & ~(page - 1);
        const uintptr_t end = ((uintptr_t)host + bytes + page - 1) & ~(page - 1);
        if (find((const char *)host, bytes).buf) return;
        if (end - base > [dev_ maxBufferLength])
            throw Error(strfmt("metal: a weight of %zu bytes exceeds the device's largest buffer (%llu bytes)", bytes,
                               (unsigned long long)[dev_ maxBufferLength]));
        id<MTLBuffer> b = [dev_ newBufferWithBytesNoCopy:(void *)base
                                                  length:(NSUInteger)(end - base)
                                                 options:MTLResourceStorageModeShared
                                             deallocator:nil];
        if (!b) throw Error(strfmt("metal: cannot wrap %zu bytes of weights at %p without a copy", bytes, host));
        wraps_[(const char *)base] = Region{b, (size_t)(end - base)};
    }

    void launch(const Launch & l) override {
        if (!cb_) {
            cb_ = [queue_ commandBuffer];
            enc_ = [cb_ computeCommandEncoder];
            if (!cb_ || !enc_) throw Error("metal: cannot create a command buffer");
        }
        [enc_ setComputePipelineState:pipes_[(int)l.fn]];
        [enc_ setBytes:l.args length:l.args_size atIndex:0];
        for (int i = 0; i < l.n_bufs; ++i) {
            const Found f = find((const char *)l.bufs[i].p, l.bufs[i].bytes);
            if (!f.buf)
                throw Error(strfmt("metal: kernel %s, buffer %d (%zu bytes at %p) is not memory of this backend",
                                   metal::kernel_name(l.fn), i + 1, l.bufs[i].bytes, l.bufs[i].p));
            [enc_ setBuffer:f.buf offset:f.offset atIndex:(NSUInteger)(i + 1)];
        }
        [enc_ dispatchThreadgroups:MTLSizeMake(l.gx, l.gy, l.gz) threadsPerThreadgroup:MTLSizeMake(l.threads, 1, 1)];
        if (++pending_ >= kMaxPending) {
            [enc_ endEncoding];
            [cb_ commit];
            enc_ = nil;
            cb_ = nil;
            pending_ = 0;
        }
    }

private:
    struct Region {
        id<MTLBuffer> buf;
        size_t size;
    };
    struct Found {
        id<MTLBuffer> buf;
        NSUInteger offset;
    };
    static Found find_in(const std::map<const char *, Region> & m, const char * p, size_t n) {
        auto it = m.upper_bound(p);
        if (it == m.begin()) return Found{nil, 0};
        --it;
        if (p >= it->first && p + n <= it->first + it->second.size) return Found{it->second.buf, (NSUInteger)(p - it->first)};
        return Found{nil, 0};
    }
    Found find(const char * p, size_t n) const {
        Found f = find_in(allocs_, p, n);
        return f.buf ? f : find_in(wraps_, p, n);
    }

    void load_pipelines() {
        NSError * err = nil;
        id<MTLLibrary> lib = nil;
        const char * env = std::getenv("LD_METALLIB");
        const std::string path = env && *env ? std::string(env) : module_dir() + "/ld-kernels.metallib";
        if ([[NSFileManager defaultManager] fileExistsAtPath:@(path.c_str())]) {
            lib = [dev_ newLibraryWithURL:[NSURL fileURLWithPath:@(path.c_str())] error:&err];
            if (!lib) throw Error("metal: cannot load " + path + ": " + ns_error(err));
            lib_from_ = path;
        } else {
            MTLCompileOptions * opt = [MTLCompileOptions new];
            opt.fastMathEnabled = NO;
            opt.languageVersion = MTLLanguageVersion3_0;
            lib = [dev_ newLibraryWithSource:@(metal::kEmbeddedSource) options:opt error:&err];
            if (!lib) throw Error("metal: compiling the embedded kernel source failed: " + ns_error(err));
            lib_from_ = "the embedded source";
        }
        for (int k = 0; k < (int)Kernel::count; ++k) {
            const char * name = metal::kernel_name((Kernel)k);
            id<MTLFunction> fn = [lib newFunctionWithName:@(name)];
            if (!fn) throw Error(strfmt("metal: kernel %s is missing from %s", name, lib_from_.c_str()));
            pipes_[k] = [dev_ newComputePipelineStateWithFunction:fn error:&err];
            if (!pipes_[k]) throw Error(strfmt("metal: pipeline %s: %s", name, ns_error(err).c_str()));
            if ([pipes_[k] maxTotalThreadsPerThreadgroup] < 256)
                throw Error(strfmt("metal: pipeline %s allows only %d threads per threadgroup (256 needed)", name,
                                   (int)[pipes_[k] maxTotalThreadsPerThreadgroup]));
        }
    }

    id<MTLDevice> dev_ = nil;
    id<MTLCommandQueue> queue_ = nil;
    id<MTLComputePipelineState> pipes_[(int)Kernel::count];
    id<MTLCommandBuffer> cb_ = nil;
    id<MTLComputeCommandEncoder> enc_ = nil;
    int pending_ = 0;
    int index_ = 0;
    std::string lib_from_;
    std::map<const char *, Region> allocs_, wraps_;
};

}  // namespace

std::vector<BackendInfo> metal_backend_infos() {
    std::vector<BackendInfo> out;
#if defined(LD_HAVE_METAL_EMU)
    if (metal::metal_emulator_requested()) {  // tests: the kernels under the emulator instead of the GPU
        BackendInfo b;
        b.kind = BackendKind::metal;
        b.name = "metal:0";
        b.description = "the Metal kernels under the emulator (LD_METAL_EMULATOR=1; tests only, slow)";
        b.compiled = b.available = true;
        out.push_back(b);
        return out;
    }
#endif
    @autoreleasepool {
        NSArray<id<MTLDevice>> * devs = all_devices();
        for (NSUInteger i = 0; i < devs.count; ++i) {
            id<MTLDevice> d = devs[i];
            BackendInfo b;
            b.kind = BackendKind::metal;
            b.name = strfmt("metal:%d", (int)i);
            b.description = strfmt("%s (%s memory)", [[d name] UTF8String], [d hasUnifiedMemory] ? "unified" : "discrete");
            b.compiled = true;
            b.available = device_supported(d);
            if (!b.available) b.reason = "simdgroup matrices need an Apple7 (M1) or newer GPU";
            b.memory_total = (size_t)[d recommendedMaxWorkingSetSize];
            const uint64_t used = [d currentAllocatedSize];
            b.memory_free = used < b.memory_total ? b.memory_total - (size_t)used : 0;
            out.push_back(b);
        }
    }
    if (out.empty()) {
        BackendInfo b;
        b.kind = BackendKind::metal;
        b.name = "metal";
        b.description = "Apple GPUs";
        b.compiled = true;
        b.available = false;
        b.reason = "no Metal device on this machine";
        out.push_back(b);
    }
    return out;
}

std::unique_ptr<Backend> metal_backend_create(int device) {
#if defined(LD_HAVE_METAL_EMU)
    if (metal::metal_emulator_requested()) return metal::metal_emu_backend_create();
#endif
    return std::make_unique<MetalBackend>(device);
}

}  // namespace ld::ggml::detail
