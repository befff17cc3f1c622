// A strict emulator of the Metal Shading Language subset our kernels use, so the .metal sources compile as
// C++17 on Linux and run in tests (no Mac here). Include it after every standard header and before the
// kernels: it defines the MSL keywords (kernel, device, constant, threadgroup, thread) as macros.
//
// Execution: msl_emu::dispatch(groups, threads_per_group, body) runs the grid threadgroup by threadgroup;
// every thread of a group is a fiber (its own stack; a register switch on x86-64 / AArch64, else ucontext) on
// the calling OS thread, scheduled cooperatively, so
//   * threadgroup_barrier() suspends a thread until every thread of its group has reached a barrier;
//   * simd_sum / simd_max / simd_min / simd_prefix_exclusive_sum / simd_shuffle / simd_broadcast and the
//     simdgroup_matrix load / store are collectives over the 32 lanes of a simdgroup: a lane waits until
//     every active (not returned) lane of its simdgroup has reached the same operation.
// Strictness (each violation throws msl_emu::Error, which dispatch() rethrows on the caller's thread):
//   * threadgroup memory (declared with LD_TG) is checked per element: an index outside the array, a read
//     of an element never written in this threadgroup, and two threads touching one element between two
//     barriers with at least one write (a missing barrier) are errors;
//   * a barrier that some thread of the group never reaches (it returned, or it waits in a different
//     simdgroup op), simdgroup ops that differ between lanes, non-uniform simdgroup_matrix arguments, a
//     shuffle from an inactive lane, and more than 32 KiB of threadgroup memory are errors.
// Device memory is plain host memory (unchecked here; the tests use exact-size buffers).
#pragma once

#if defined(__APPLE__) && !defined(_XOPEN_SOURCE)
#define _XOPEN_SOURCE 600  // macOS: the (deprecated) ucontext routines need it
#endif
#include <ucontext.h>

#include <memory>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <exception>
#include <functional>
#include <limits>
#include <stdexcept>
#include <string>
#include <vector>

#include "ld-ggml/fp16.h"

namespace msl_emu {

struct Error : std::runtime_error {
    using std::runtime_error::runtime_error;
};

struct uint3 {
    uint32_t x = 0, y = 0, z = 0;
    uint3() = default;
    uint3(uint32_t a, uint32_t b, uint32_t c) : x(a), y(b), z(c) {}
};

// half: IEEE binary16 storage; arithmetic happens in float after conversion (round-to-nearest-even).
struct half {
    uint16_t bits = 0;
    half() = default;
    half(float f) : bits(ld::ggml::f32_to_fp16(f)) {}
    operator float() const { return ld::ggml::fp16_to_f32(bits); }
};

struct ThreadIds {
    uint3 tgpig;          // threadgroup_position_in_grid
    uint32_t tiitg = 0;   // thread_index_in_threadgroup
    uint32_t tiisg = 0;   // thread_index_in_simdgroup
    uint32_t sgitg = 0;   // simdgroup_index_in_threadgroup
    uint32_t ntg = 0;     // threads_per_threadgroup
};
using Body = std::function<void(const ThreadIds &)>;

constexpr uint32_t kMaxThreads = 1024;
constexpr size_t kMaxTgBytes = 32768;
constexpr size_t kStackBytes = 128 * 1024;
constexpr int32_t kMultiReader = -2;
constexpr int32_t kSimdAccessor = 0x10000;  // accessor id of a whole simdgroup (matrix load/store)

enum class FState { ready, at_barrier, at_simd, done };

// Context switches: on x86-64 Linux and AArch64 (Linux, macOS) a hand-written switch of the callee-saved
// registers (no signal-mask system call, unlike swapcontext); elsewhere ucontext. LD_MSL_EMU_UCONTEXT
// forces ucontext.
// Under ASan / TSan ucontext is used: the sanitizers follow swapcontext, not a bare stack switch.
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define LD_MSL_EMU_SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define LD_MSL_EMU_SANITIZED 1
#endif
#endif
#if defined(__x86_64__) && defined(__linux__) && !defined(LD_MSL_EMU_UCONTEXT) && !defined(LD_MSL_EMU_SANITIZED)
#define LD_MSL_EMU_FAST_SWITCH 1
constexpr int kSwitchFrameWords = 6;  // rbp, rbx, r12-r15 below the return address
// Saves rbp, rbx, r12-r15 and rsp of the running context into *save, resumes the one at `to`.
__attribute__((naked, noinline)) static void fast_switch(void ** save, void * to) {
    __asm__ volatile(
        "pushq %rbp\n\tpushq %rbx\n\tpushq %r12\n\tpushq %r13\n\tpushq %r14\n\tpushq %r15\n\t"
        "movq %rsp, (%rdi)\n\tmovq %rsi, %rsp\n\t"
        "popq %r15\n\tpopq %r14\n\tpopq %r13\n\tpopq %r12\n\tpopq %rbx\n\tpopq %rbp\n\tret\n\t");
}
#elif defined(__aarch64__) && (defined(__linux__) || defined(__APPLE__)) && !defined(LD_MSL_EMU_UCONTEXT) && \
    !defined(LD_MSL_EMU_SANITIZED)
#define LD_MSL_EMU_FAST_SWITCH 1
constexpr int kSwitchFrameWords = 20;  // x19-x28, x29, x30 (the return address), d8-d15: 160 bytes
// AAPCS64: saves the callee-saved registers and sp of the running context into *save, resumes `to`.
#define LD_MSL_EMU_A64_SWITCH_BODY \
    "stp x19, x20, [sp, #-160]!\n\tstp x21, x22, [sp, #16]\n\tstp x23, x24, [sp, #32]\n\t" \
    "stp x25, x26, [sp, #48]\n\tstp x27, x28, [sp, #64]\n\tstp x29, x30, [sp, #80]\n\t" \
    "stp d8, d9, [sp, #96]\n\tstp d10, d11, [sp, #112]\n\tstp d12, d13, [sp, #128]\n\tstp d14, d15, [sp, #144]\n\t" \
    "mov x9, sp\n\tstr x9, [x0]\n\tmov sp, x1\n\t" \
    "ldp x21, x22, [sp, #16]\n\tldp x23, x24, [sp, #32]\n\tldp x25, x26, [sp, #48]\n\t" \
    "ldp x27, x28, [sp, #64]\n\tldp x29, x30, [sp, #80]\n\tldp d8, d9, [sp, #96]\n\t" \
    "ldp d10, d11, [sp, #112]\n\tldp d12, d13, [sp, #128]\n\tldp d14, d15, [sp, #144]\n\t" \
    "ldp x19, x20, [sp], #160\n\tret\n\t"
#if defined(__clang__)
__attribute__((naked, noinline)) static void fast_switch(void ** save, void * to) {
    __asm__ volatile(LD_MSL_EMU_A64_SWITCH_BODY);
}
#else
// GCC has no naked functions on AArch64: one weak, hidden assembly function shared by every object.
extern "C" void ld_msl_emu_switch_a64(void ** save, void * to);
__asm__(".pushsection .text\n\t.p2align 2\n\t.weak ld_msl_emu_switch_a64\n\t.hidden ld_msl_emu_switch_a64\n\t"
        ".type ld_msl_emu_switch_a64, %function\nld_msl_emu_switch_a64:\n\t" LD_MSL_EMU_A64_SWITCH_BODY
        ".size ld_msl_emu_switch_a64, .-ld_msl_emu_switch_a64\n\t.popsection\n\t");
inline void fast_switch(void ** save, void * to) { ld_msl_emu_switch_a64(save, to); }
#endif
#endif

struct Fiber {
#if defined(LD_MSL_EMU_FAST_SWITCH)
    void * sp = nullptr;
#else
    ucontext_t ctx;
#endif
    char * stack = nullptr;  // kStackBytes from the stack pool
    FState state = FState::ready;
};

// Fiber stacks, kept for the whole process (per OS thread) and reused by every dispatch.
inline char * fiber_stack(size_t i) {
    static thread_local std::vector<std::unique_ptr<char[]>> pool;
    while (pool.size() <= i) pool.emplace_back(new char[kStackBytes]);
    return pool[i].get();
}

struct SimdState {
    const char * op = nullptr;
    int arrivals = 0;
    const void * in[32] = {};
    void * out[32] = {};
    bool present[32] = {};
    void (*complete)(SimdState &, void *) = nullptr;  // the pending op's combine, type-erased
    void * complete_ctx = nullptr;
};

// Per-element access record of threadgroup memory (epochs: barrier count + 1; 0 = never).
struct Track {
    uint32_t w_epoch = 0, r_epoch = 0;
    int32_t writer = -1, reader = -1;
};

struct Group {
    uint32_t n_threads = 0;
    std::vector<Fiber> fibers;
#if defined(LD_MSL_EMU_FAST_SWITCH)
    void * sched_sp = nullptr;
#else
    ucontext_t sched;
#endif
    uint32_t current = 0;
    uint32_t epoch = 1;
    uint64_t run_id = 0;
    size_t tg_bytes = 0;
    std::vector<SimdState> sg;
    const Body * body = nullptr;
    uint3 tgpig;
    std::exception_ptr error;
    int32_t acting_as = -1;  // != -1 while a simdgroup op touches memory on behalf of its simdgroup
};

inline Group *& cur_group() {
    static thread_local Group * g = nullptr;
    return g;
}
inline uint64_t & run_counter() {
    static uint64_t n = 0;
    return n;
}

inline int32_t accessor() {
    Group & g = *cur_group();
    return g.acting_as != -1 ? g.acting_as : (int32_t)g.current;
}

inline std::string who(int32_t id) {
    if (id >= kSimdAccessor) return "simdgroup " + std::to_string(id - kSimdAccessor);
    if (id == kMultiReader) return "several threads";
    return "thread " + std::to_string(id);
}

inline void yield_to_scheduler() {
    Group & g = *cur_group();
#if defined(LD_MSL_EMU_FAST_SWITCH)
    fast_switch(&g.fibers[g.current].sp, g.sched_sp);
#else
    swapcontext(&g.fibers[g.current].ctx, &g.sched);
#endif
}

inline uint32_t active_lanes(const Group & g, uint32_t sgi) {
    uint32_t n = 0;
    for (uint32_t l = 0; l < 32; ++l) {
        const uint32_t t = sgi * 32 + l;
        if (t < g.n_threads && g.fibers[t].state != FState::done) ++n;
    }
    return n;
}

inline void release_simdgroup(Group & g, uint32_t sgi) {
    SimdState & s = g.sg[sgi];
    s.arrivals = 0;
    s.op = nullptr;
    s.complete = nullptr;
    for (uint32_t l = 0; l < 32; ++l) {
        s.present[l] = false;
        const uint32_t t = sgi * 32 + l;
        if (t < g.n_threads && g.fibers[t].state == FState::at_simd) g.fibers[t].state = FState::ready;
    }
}

// A collective over the active lanes of the caller's simdgroup. combine(ins, outs, present) runs once,
// on the last lane to arrive, while every other lane is suspended (their In/Out live on their stacks).
template <class In, class Out, class F>
struct Completer {
    static void run(SimdState & s, void * ctx) {
        (*(F *)ctx)((const In * const *)s.in, (Out * const *)s.out, s.present);
    }
};

template <class In, class Out, class F>
Out collective(const char * op, const In & in, F combine) {
    Group & g = *cur_group();
    const uint32_t me = g.current, sgi = me / 32, lane = me % 32;
    SimdState & s = g.sg[sgi];
    Out out{};
    if (s.arrivals == 0) {
        s.op = op;
    } else if (std::strcmp(s.op, op) != 0) {
        throw Error(std::string("divergent simdgroup operations: thread ") + std::to_string(me) + " calls " + op +
                    " while other lanes of simdgroup " + std::to_string(sgi) + " wait in " + s.op);
    }
    s.in[lane] = &in;
    s.out[lane] = &out;
    s.present[lane] = true;
    s.complete = &Completer<In, Out, F>::run;
    s.complete_ctx = &combine;
    if (++s.arrivals < (int)active_lanes(g, sgi)) {
        g.fibers[me].state = FState::at_simd;
        yield_to_scheduler();
        if (g.error) throw Error("aborted");
        return out;
    }
    combine((const In * const *)s.in, (Out * const *)s.out, s.present);
    release_simdgroup(g, sgi);
    return out;
}

inline void fiber_entry() {
    Group & g = *cur_group();
    const uint32_t me = g.current;
    try {
        ThreadIds ids;
        ids.tgpig = g.tgpig;
        ids.tiitg = me;
        ids.tiisg = me % 32;
        ids.sgitg = me / 32;
        ids.ntg = g.n_threads;
        (*g.body)(ids);
        g.fibers[me].state = FState::done;
        // Returning makes this lane inactive: a collective its simdgroup waits in may now be complete.
        SimdState & s = g.sg[me / 32];
        if (s.arrivals > 0 && s.arrivals == (int)active_lanes(g, me / 32)) {
            g.acting_as = -1;
            s.complete(s, s.complete_ctx);
            release_simdgroup(g, me / 32);
        }
    } catch (...) {
        if (!g.error) g.error = std::current_exception();
        g.fibers[me].state = FState::done;
    }
    // ucontext: uc_link returns to the scheduler
}

#if defined(LD_MSL_EMU_FAST_SWITCH)
// The first frame of a fiber: runs the thread, then hands control back for good.
[[noreturn]] inline void fiber_trampoline() {
    fiber_entry();
    Group & g = *cur_group();
    void * dead = nullptr;
    fast_switch(&dead, g.sched_sp);
    __builtin_unreachable();
}
#endif

inline std::string state_list(const Group & g) {
    std::string r;
    for (uint32_t t = 0; t < g.n_threads && t < 64; ++t) {
        const FState s = g.fibers[t].state;
        r += s == FState::done ? 'R' : s == FState::at_barrier ? 'B' : s == FState::at_simd ? 'S' : '.';
    }
    return r + " (R returned, B at a barrier, S in a simdgroup op)";
}

inline void run_group(Group & g) {
    g.run_id = ++run_counter();
    g.epoch = 1;
    g.tg_bytes = 0;
    g.error = nullptr;
    g.acting_as = -1;
    for (SimdState & s : g.sg) s = SimdState{};
    for (uint32_t t = 0; t < g.n_threads; ++t) {
        Fiber & f = g.fibers[t];
#if defined(LD_MSL_EMU_FAST_SWITCH) && defined(__x86_64__)
        // [top - 8]: a null return address (the trampoline is entered as if called: rsp = 8 mod 16),
        // [top - 16]: the trampoline (fast_switch's ret), then the six callee-saved registers.
        void ** sp = (void **)(((uintptr_t)(f.stack + kStackBytes)) & ~(uintptr_t)15);
        *--sp = nullptr;
        *--sp = (void *)&fiber_trampoline;
        for (int i = 0; i < kSwitchFrameWords; ++i) *--sp = nullptr;
        f.sp = sp;
#elif defined(LD_MSL_EMU_FAST_SWITCH)
        // aarch64: a 160-byte frame of zeros at the 16-aligned top except x30 (word 11) = the trampoline,
        // where fast_switch's ret goes with sp back at the top; x29 = 0 ends the frame chain.
        void ** sp = (void **)(((uintptr_t)(f.stack + kStackBytes)) & ~(uintptr_t)15);
        sp -= kSwitchFrameWords;
        for (int i = 0; i < kSwitchFrameWords; ++i) sp[i] = nullptr;
        sp[11] = (void *)&fiber_trampoline;
        f.sp = sp;
#else
        getcontext(&f.ctx);
        f.ctx.uc_stack.ss_sp = f.stack;
        f.ctx.uc_stack.ss_size = kStackBytes;
        f.ctx.uc_link = &g.sched;
        makecontext(&f.ctx, (void (*)())fiber_entry, 0);
#endif
        f.state = FState::ready;
    }
    for (;;) {
        bool ran = false;
        for (uint32_t t = 0; t < g.n_threads; ++t) {
            if (g.fibers[t].state != FState::ready) continue;
            g.current = t;
#if defined(LD_MSL_EMU_FAST_SWITCH)
            fast_switch(&g.sched_sp, g.fibers[t].sp);
#else
            swapcontext(&g.sched, &g.fibers[t].ctx);
#endif
            ran = true;
            if (g.error) std::rethrow_exception(g.error);
        }
        if (ran) continue;
        uint32_t n_done = 0, n_bar = 0, n_simd = 0;
        for (const Fiber & f : g.fibers) {
            n_done += f.state == FState::done;
            n_bar += f.state == FState::at_barrier;
            n_simd += f.state == FState::at_simd;
        }
        if (n_done == g.n_threads) return;
        if (n_simd == 0 && n_done == 0 && n_bar == g.n_threads) {
            ++g.epoch;  // every thread reached the barrier: a new epoch of threadgroup memory accesses
            for (Fiber & f : g.fibers) f.state = FState::ready;
            continue;
        }
        throw Error("deadlock in threadgroup (" + std::to_string(g.tgpig.x) + "," + std::to_string(g.tgpig.y) + "," +
                    std::to_string(g.tgpig.z) + "): a barrier or simdgroup op is not reached by every thread: " +
                    state_list(g));
    }
}

// Runs body for every thread of groups.x * groups.y * groups.z threadgroups of `threads` threads
// (a multiple of 32, at most 1024), group after group.
inline void dispatch(uint3 groups, uint32_t threads, const Body & body) {
    if (threads == 0 || threads % 32 != 0 || threads > kMaxThreads)
        throw Error("dispatch: threads per threadgroup must be a multiple of 32 in [32, 1024], got " +
                    std::to_string(threads));
    Group g;
    g.n_threads = threads;
    g.fibers.resize(threads);
    for (uint32_t t = 0; t < threads; ++t) g.fibers[t].stack = fiber_stack(t);
    g.sg.resize(threads / 32);
    g.body = &body;
    Group * saved = cur_group();
    cur_group() = &g;
    try {
        for (uint32_t z = 0; z < groups.z; ++z)
            for (uint32_t y = 0; y < groups.y; ++y)
                for (uint32_t x = 0; x < groups.x; ++x) {
                    g.tgpig = uint3(x, y, z);
                    run_group(g);
                }
    } catch (...) {
        cur_group() = saved;
        throw;
    }
    cur_group() = saved;
}

// ---- threadgroup memory ----------------------------------------------------------------------------
template <class T>
struct TgRef {
    T * data;
    Track * tr;
    const char * name;
    size_t i;

    T load() const {
        Group & g = *cur_group();
        Track & t = tr[i];
        const int32_t me = accessor();
        if (t.w_epoch == 0)
            throw Error(std::string("threadgroup read of ") + name + "[" + std::to_string(i) + "] by " + who(me) +
                        " before any write in this threadgroup");
        if (t.w_epoch == g.epoch && t.writer != me)
            throw Error(std::string("threadgroup race (missing barrier): ") + name + "[" + std::to_string(i) +
                        "] written by " + who(t.writer) + " and read by " + who(me) + " between two barriers");
        if (t.r_epoch != g.epoch) {
            t.r_epoch = g.epoch;
            t.reader = me;
        } else if (t.reader != me) {
            t.reader = kMultiReader;
        }
        return data[i];
    }
    void store(const T & v) const {
        Group & g = *cur_group();
        Track & t = tr[i];
        const int32_t me = accessor();
        if (t.w_epoch == g.epoch && t.writer != me)
            throw Error(std::string("threadgroup race (missing barrier): ") + name + "[" + std::to_string(i) +
                        "] written by " + who(t.writer) + " and by " + who(me) + " between two barriers");
        if (t.r_epoch == g.epoch && t.reader != me)
            throw Error(std::string("threadgroup race (missing barrier): ") + name + "[" + std::to_string(i) +
                        "] read by " + who(t.reader) + " and written by " + who(me) + " between two barriers");
        t.w_epoch = g.epoch;
        t.writer = me;
        data[i] = v;
    }
    operator T() const { return load(); }
    const TgRef & operator=(const T & v) const { store(v); return *this; }
    const TgRef & operator=(const TgRef & o) const { store(o.load()); return *this; }
    const TgRef & operator+=(const T & v) const { store(load() + v); return *this; }
    const TgRef & operator-=(const T & v) const { store(load() - v); return *this; }
    const TgRef & operator*=(const T & v) const { store(load() * v); return *this; }
};

// A checked pointer into one threadgroup array (what `threadgroup T *` is in MSL).
template <class T>
struct TgPtr {
    T * data = nullptr;
    Track * tr = nullptr;
    size_t n = 0;
    int64_t off = 0;
    const char * name = "";

    TgRef<T> operator[](int64_t i) const {
        const int64_t j = off + i;
        if (j < 0 || j >= (int64_t)n)
            throw Error(std::string("out-of-bounds threadgroup access: ") + name + "[" + std::to_string(j) +
                        "] of " + std::to_string(n) + " elements (thread " + std::to_string(cur_group()->current) + ")");
        return TgRef<T>{data, tr, name, (size_t)j};
    }
    TgPtr operator+(int64_t d) const { TgPtr p = *this; p.off += d; return p; }
    TgPtr operator-(int64_t d) const { TgPtr p = *this; p.off -= d; return p; }
    TgRef<T> operator*() const { return (*this)[0]; }
    bool same(const TgPtr & o) const { return data == o.data && off == o.off; }
};

// The storage behind one `LD_TG(T, name, n)` declaration: fresh (untracked, never written) for every
// threadgroup run; shared by all the threads of the group.
template <class T>
struct TgSite {
    const char * name;
    size_t n;
    uint64_t run = 0;
    std::vector<T> data;
    std::vector<Track> tr;
    TgSite(const char * nm, size_t count) : name(nm), n(count) {}
    TgPtr<T> get() {
        Group & g = *cur_group();
        if (run != g.run_id) {
            run = g.run_id;
            g.tg_bytes += n * sizeof(T);
            if (g.tg_bytes > kMaxTgBytes)
                throw Error("threadgroup memory over 32 KiB (" + std::to_string(g.tg_bytes) + " bytes at " + name + ")");
            data.assign(n, T());
            tr.assign(n, Track{});
        }
        return TgPtr<T>{data.data(), tr.data(), n, 0, name};
    }
};

}  // namespace msl_emu

// ---- the MSL surface -------------------------------------------------------------------------------
namespace metal {

using msl_emu::half;
using msl_emu::uint3;
using uchar = unsigned char;
using ushort = unsigned short;
using uint = unsigned int;
using ulong = unsigned long;

enum class mem_flags { mem_none = 0, mem_device = 1, mem_threadgroup = 2, mem_texture = 4 };

inline void threadgroup_barrier(mem_flags) {
    msl_emu::Group & g = *msl_emu::cur_group();
    const uint32_t me = g.current;
    if (g.sg[me / 32].arrivals > 0)
        throw msl_emu::Error("threadgroup_barrier reached by thread " + std::to_string(me) +
                             " while its simdgroup waits in " + g.sg[me / 32].op);
    g.fibers[me].state = msl_emu::FState::at_barrier;
    msl_emu::yield_to_scheduler();
    if (g.error) throw msl_emu::Error("aborted");
}

// Math (MSL's metal:: and metal::precise:: functions; the emulator computes in float like the GPU).
using std::abs;
using std::ceil;
using std::cos;
using std::exp;
using std::fabs;
using std::floor;
using std::isfinite;
using std::isinf;
using std::isnan;
using std::log;
using std::round;
using std::sin;
using std::sqrt;
using std::tanh;
inline float rsqrt(float x) { return 1.0f / std::sqrt(x); }
inline float max(float a, float b) { return std::fmax(a, b); }
inline float min(float a, float b) { return std::fmin(a, b); }
inline int max(int a, int b) { return a > b ? a : b; }
inline int min(int a, int b) { return a < b ? a : b; }
inline uint max(uint a, uint b) { return a > b ? a : b; }
inline uint min(uint a, uint b) { return a < b ? a : b; }
namespace precise {
inline float exp(float x) { return std::exp(x); }
inline float log(float x) { return std::log(x); }
inline float cos(float x) { return std::cos(x); }
inline float sin(float x) { return std::sin(x); }
inline float tanh(float x) { return std::tanh(x); }
inline float sqrt(float x) { return std::sqrt(x); }
inline float divide(float a, float b) { return a / b; }
}  // namespace precise

template <class To, class From>
inline To as_type(const From & f) {
    static_assert(sizeof(To) == sizeof(From), "as_type: sizes differ");
    To t;
    std::memcpy(&t, &f, sizeof t);
    return t;
}

// ---- simdgroup functions (collectives over the active lanes) ----
template <class T>
inline T simd_sum(T v) {
    auto f = [](const T * const * in, T * const * out, const bool * present) {
        T s = T(0);
        for (int l = 0; l < 32; ++l) if (present[l]) s += *in[l];
        for (int l = 0; l < 32; ++l) if (present[l]) *out[l] = s;
    };
    return msl_emu::collective<T, T>("simd_sum", v, f);
}
template <class T>
inline T simd_max(T v) {
    auto f = [](const T * const * in, T * const * out, const bool * present) {
        bool first = true;
        T m = T(0);
        for (int l = 0; l < 32; ++l) if (present[l]) { m = first ? *in[l] : (*in[l] > m ? *in[l] : m); first = false; }
        for (int l = 0; l < 32; ++l) if (present[l]) *out[l] = m;
    };
    return msl_emu::collective<T, T>("simd_max", v, f);
}
template <class T>
inline T simd_min(T v) {
    auto f = [](const T * const * in, T * const * out, const bool * present) {
        bool first = true;
        T m = T(0);
        for (int l = 0; l < 32; ++l) if (present[l]) { m = first ? *in[l] : (*in[l] < m ? *in[l] : m); first = false; }
        for (int l = 0; l < 32; ++l) if (present[l]) *out[l] = m;
    };
    return msl_emu::collective<T, T>("simd_min", v, f);
}
template <class T>
inline T simd_prefix_exclusive_sum(T v) {
    auto f = [](const T * const * in, T * const * out, const bool * present) {
        T s = T(0);
        for (int l = 0; l < 32; ++l) if (present[l]) { *out[l] = s; s += *in[l]; }
    };
    return msl_emu::collective<T, T>("simd_prefix_exclusive_sum", v, f);
}
template <class T>
struct ShuffleIn { T v; uint lane; };
template <class T>
inline T simd_shuffle(T v, ushort src_lane) {
    auto f = [](const ShuffleIn<T> * const * in, T * const * out, const bool * present) {
        for (int l = 0; l < 32; ++l) {
            if (!present[l]) continue;
            const uint s = in[l]->lane;
            if (s >= 32 || !present[s])
                throw msl_emu::Error("simd_shuffle from inactive lane " + std::to_string(s) + " (lane " + std::to_string(l) + ")");
            *out[l] = in[s]->v;
        }
    };
    return msl_emu::collective<ShuffleIn<T>, T>("simd_shuffle", ShuffleIn<T>{v, (uint)src_lane}, f);
}
template <class T>
inline T simd_broadcast(T v, ushort src_lane) { return simd_shuffle(v, src_lane); }
inline void simdgroup_barrier(mem_flags) {
    auto f = [](const int * const *, int * const *, const bool *) {};
    msl_emu::collective<int, int>("simdgroup_barrier", 0, f);
}

// ---- simdgroup matrices: every lane holds the whole 8x8 matrix; load/store are collectives that check
// their arguments are uniform and touch memory once, on behalf of the simdgroup ----
template <class T, int R, int C>
struct simdgroup_matrix {
    T e[R * C];
};
using simdgroup_float8x8 = simdgroup_matrix<float, 8, 8>;
using simdgroup_half8x8 = simdgroup_matrix<half, 8, 8>;

template <class T, int R, int C>
inline simdgroup_matrix<T, R, C> make_filled_simdgroup_matrix(T v) {
    simdgroup_matrix<T, R, C> m;
    for (int i = 0; i < R * C; ++i) m.e[i] = v;
    return m;
}

inline void require_full_simdgroup(const bool * present, const char * op) {
    for (int l = 0; l < 32; ++l)
        if (!present[l]) throw msl_emu::Error(std::string(op) + " with inactive lane " + std::to_string(l));
}

template <class T, int R, int C>
struct MatLoadTg { msl_emu::TgPtr<T> p; ulong ld; };
template <class T, int R, int C>
inline void simdgroup_load(simdgroup_matrix<T, R, C> & m, msl_emu::TgPtr<T> src, ulong ld = C) {
    using In = MatLoadTg<T, R, C>;
    using Out = simdgroup_matrix<T, R, C>;
    auto f = [](const In * const * in, Out * const * out, const bool * present) {
        require_full_simdgroup(present, "simdgroup_load");
        for (int l = 1; l < 32; ++l)
            if (!in[l]->p.same(in[0]->p) || in[l]->ld != in[0]->ld) throw msl_emu::Error("simdgroup_load: arguments differ between lanes");
        msl_emu::Group & g = *msl_emu::cur_group();
        g.acting_as = msl_emu::kSimdAccessor + (int32_t)(g.current / 32);
        Out r;
        for (int i = 0; i < R; ++i)
            for (int j = 0; j < C; ++j) r.e[i * C + j] = in[0]->p[(int64_t)(i * in[0]->ld + j)].load();
        g.acting_as = -1;
        for (int l = 0; l < 32; ++l) *out[l] = r;
    };
    m = msl_emu::collective<In, Out>("simdgroup_load", In{src, ld}, f);
}
template <class T, int R, int C>
struct MatLoadDev { const T * p; ulong ld; };
template <class T, int R, int C>
inline void simdgroup_load(simdgroup_matrix<T, R, C> & m, const T * src, ulong ld = C) {
    using In = MatLoadDev<T, R, C>;
    using Out = simdgroup_matrix<T, R, C>;
    auto f = [](const In * const * in, Out * const * out, const bool * present) {
        require_full_simdgroup(present, "simdgroup_load");
        for (int l = 1; l < 32; ++l)
            if (in[l]->p != in[0]->p || in[l]->ld != in[0]->ld) throw msl_emu::Error("simdgroup_load: arguments differ between lanes");
        Out r;
        for (int i = 0; i < R; ++i)
            for (int j = 0; j < C; ++j) r.e[i * C + j] = in[0]->p[i * in[0]->ld + j];
        for (int l = 0; l < 32; ++l) *out[l] = r;
    };
    m = msl_emu::collective<In, Out>("simdgroup_load", In{src, ld}, f);
}
template <class T, int R, int C>
struct MatStoreTg { simdgroup_matrix<T, R, C> m; msl_emu::TgPtr<T> p; ulong ld; };
template <class T, int R, int C>
inline void simdgroup_store(const simdgroup_matrix<T, R, C> & m, msl_emu::TgPtr<T> dst, ulong ld = C) {
    using In = MatStoreTg<T, R, C>;
    auto f = [](const In * const * in, int * const *, const bool * present) {
        require_full_simdgroup(present, "simdgroup_store");
        for (int l = 1; l < 32; ++l) {
            if (!in[l]->p.same(in[0]->p) || in[l]->ld != in[0]->ld) throw msl_emu::Error("simdgroup_store: arguments differ between lanes");
            if (std::memcmp(in[l]->m.e, in[0]->m.e, sizeof in[0]->m.e) != 0)
                throw msl_emu::Error("simdgroup_store: the matrix differs between lanes");
        }
        msl_emu::Group & g = *msl_emu::cur_group();
        g.acting_as = msl_emu::kSimdAccessor + (int32_t)(g.current / 32);
        for (int i = 0; i < R; ++i)
            for (int j = 0; j < C; ++j) in[0]->p[(int64_t)(i * in[0]->ld + j)].store(in[0]->m.e[i * C + j]);
        g.acting_as = -1;
    };
    msl_emu::collective<In, int>("simdgroup_store", In{m, dst, ld}, f);
}
// d = a * b + c (register-only: every lane computes its own copy, in float, k in order).
template <class T, int N>
inline void simdgroup_multiply_accumulate(simdgroup_matrix<T, N, N> & d, const simdgroup_matrix<T, N, N> & a,
                                          const simdgroup_matrix<T, N, N> & b, const simdgroup_matrix<T, N, N> & c) {
    simdgroup_matrix<T, N, N> r;
    for (int i = 0; i < N; ++i)
        for (int j = 0; j < N; ++j) {
            float s = (float)c.e[i * N + j];
            for (int k = 0; k < N; ++k) s += (float)a.e[i * N + k] * (float)b.e[k * N + j];
            r.e[i * N + j] = T(s);
        }
    d = r;
}

}  // namespace metal

// MSL keywords and address spaces. `constant` data is read-only; the others are plain C++ here.
#define kernel
#define device
#define constant const
#define thread
#define threadgroup
// Threadgroup arrays: LD_TG(float, buf, 256) is `threadgroup float buf[256]` in MSL.
#define LD_TG(T, name, n)                                              \
    static ::msl_emu::TgSite<T> name##_site_(#name, (size_t)(n));      \
    const ::msl_emu::TgPtr<T> name = name##_site_.get()
