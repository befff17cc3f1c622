// Tests of the MSL emulator itself (ggml/src/metal/msl-emu.h): its semantics (barriers, simdgroup
// reductions / prefix sums / shuffles over the active lanes, simdgroup_matrix load / multiply-accumulate
// / store) and its strictness, proved with planted bugs that must be caught:
//   * a missing barrier: read-after-write, write-after-read and write-after-write between two barriers;
//   * the real matmul kernel (kernels-matmul.metal) compiled with its barriers removed;
//   * an out-of-bounds threadgroup index, a read of threadgroup memory nobody wrote, more than 32 KiB;
//   * a barrier some threads never reach (early return), divergent simdgroup ops, a shuffle from an
//     inactive lane, non-uniform simdgroup_load arguments.
#include <cmath>
#include <cstdio>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "test-check.h"

#include "metal/msl-emu.h"
// The planted bug: the real matmul kernel with every threadgroup_barrier removed.
#define threadgroup_barrier(flags) ((void)0)
#include "metal/kernels-matmul.metal"
#undef threadgroup_barrier

using msl_emu::ThreadIds;

namespace {

// Runs body; true when it throws msl_emu::Error whose message contains `what`. "race" accepts both ways
// a missing barrier shows up (the fibers run in thread order, so the reader may come first and find the
// element not yet written: "before any write"; or second: "missing barrier").
template <class F>
bool fails_with(const char * what, uint3 groups, uint threads, F body) {
    try {
        msl_emu::dispatch(groups, threads, body);
    } catch (const msl_emu::Error & e) {
        if (std::strstr(e.what(), what)) return true;
        if (std::strcmp(what, "race") == 0 &&
            (std::strstr(e.what(), "missing barrier") || std::strstr(e.what(), "before any write")))
            return true;
        std::fprintf(stderr, "  unexpected error: %s\n", e.what());
        return false;
    }
    std::fprintf(stderr, "  no error (expected '%s')\n", what);
    return false;
}

// A correct tree reduction of 128 values per group: out[g] = Σ in[g*128 + i].
void reduce_ok(const float * in, float * out, const ThreadIds & t, bool planted_missing_barrier) {
    LD_TG(float, buf, 128);
    buf[t.tiitg] = in[t.tgpig.x * 128 + t.tiitg];
    if (!planted_missing_barrier) threadgroup_barrier(mem_flags::mem_threadgroup);
    for (uint s = 64; s > 0; s /= 2) {
        if (t.tiitg < s) buf[t.tiitg] = buf[t.tiitg] + buf[t.tiitg + s];
        threadgroup_barrier(mem_flags::mem_threadgroup);
    }
    if (t.tiitg == 0) out[t.tgpig.x] = buf[0];
}

}  // namespace

int main() {
    std::mt19937 rng(7);
    std::uniform_real_distribution<float> U(-1.0f, 1.0f);

    // 1. barriers: a tree reduction is right, and the same kernel without its first barrier is caught.
    {
        std::vector<float> in(3 * 128), out(3, 0.0f);
        for (float & x : in) x = U(rng);
        msl_emu::dispatch(uint3(3, 1, 1), 128, [&](const ThreadIds & t) { reduce_ok(in.data(), out.data(), t, false); });
        for (int gi = 0; gi < 3; ++gi) {
            double s = 0.0;
            for (int i = 0; i < 128; ++i) s += in[(size_t)(gi * 128 + i)];
            CHECK(std::fabs(out[(size_t)gi] - s) < 1e-4);
        }
        CHECK(fails_with("race", uint3(1, 1, 1), 128,
                         [&](const ThreadIds & t) { reduce_ok(in.data(), out.data(), t, true); }));
    }
    // 2. write-after-read and write-after-write races.
    CHECK(fails_with("read by", uint3(1, 1, 1), 64, [&](const ThreadIds & t) {
        LD_TG(float, b, 64);
        b[t.tiitg] = 1.0f;
        threadgroup_barrier(mem_flags::mem_threadgroup);
        const float v = b[(t.tiitg + 1) % 64];  // a neighbour's element ...
        b[t.tiitg] = v + 1.0f;                   // ... which the neighbour overwrites: no barrier between
    }));
    CHECK(fails_with("missing barrier", uint3(1, 1, 1), 32, [&](const ThreadIds & t) {
        LD_TG(int, b, 1);
        b[0] = (int)t.tiitg;
    }));
    // 3. bounds, uninitialised reads, the 32 KiB limit.
    CHECK(fails_with("out-of-bounds", uint3(1, 1, 1), 64, [&](const ThreadIds & t) {
        LD_TG(float, b, 64);
        b[t.tiitg + 1] = 0.0f;  // off by one
    }));
    CHECK(fails_with("before any write", uint3(1, 1, 1), 32, [&](const ThreadIds & t) {
        LD_TG(float, b, 64);
        if (t.tiitg < 31) b[t.tiitg] = 0.0f;
        threadgroup_barrier(mem_flags::mem_threadgroup);
        volatile float x = b[t.tiitg];
        (void)x;
    }));
    CHECK(fails_with("32 KiB", uint3(1, 1, 1), 32, [&](const ThreadIds & t) {
        LD_TG(float, b, 8192);
        LD_TG(float, c, 16);
        c[t.tiitg % 16] = b[0];
    }));
    // 4. a barrier not reached by every thread; divergent simdgroup ops.
    CHECK(fails_with("deadlock", uint3(1, 1, 1), 64, [&](const ThreadIds & t) {
        if (t.tiitg >= 48) return;
        threadgroup_barrier(mem_flags::mem_threadgroup);
    }));
    CHECK(fails_with("divergent", uint3(1, 1, 1), 32, [&](const ThreadIds & t) {
        if (t.tiisg < 8) (void)simd_sum(1.0f);
        else (void)simd_max(1.0f);
    }));
    CHECK(fails_with("simdgroup", uint3(1, 1, 1), 64, [&](const ThreadIds & t) {
        if (t.tiisg == 3) threadgroup_barrier(mem_flags::mem_threadgroup);
        else (void)simd_sum(1.0f);
    }));
    // 5. simd reductions over the active lanes, prefix sums, shuffles (and from an inactive lane).
    {
        std::vector<float> sums(64), maxs(64);
        std::vector<uint> pre(64);
        msl_emu::dispatch(uint3(1, 1, 1), 64, [&](const ThreadIds & t) {
            if (t.tiisg >= 20) return;  // lanes 20..31 of each simdgroup are inactive
            sums[t.tiitg] = simd_sum((float)t.tiitg);
            maxs[t.tiitg] = simd_max((float)(t.tiitg % 7));
            pre[t.tiitg] = simd_prefix_exclusive_sum((uint)(t.tiisg + 1));
            sums[t.tiitg] += simd_shuffle((float)t.tiisg * 10.0f, (ushort)((t.tiisg + 1) % 20)) * 1000.0f;
        });
        for (uint sg = 0; sg < 2; ++sg)
            for (uint l = 0; l < 20; ++l) {
                float s = 0.0f, m = 0.0f;
                for (uint k = 0; k < 20; ++k) {
                    s += (float)(sg * 32 + k);
                    m = std::fmax(m, (float)((sg * 32 + k) % 7));
                }
                const uint i = sg * 32 + l;
                CHECK(sums[i] == s + (float)(((l + 1) % 20) * 10) * 1000.0f);
                CHECK(maxs[i] == m);
                CHECK(pre[i] == l * (l + 1) / 2);
            }
        CHECK(fails_with("inactive lane", uint3(1, 1, 1), 32, [&](const ThreadIds & t) {
            if (t.tiisg >= 16) return;
            (void)simd_shuffle(1.0f, (ushort)(t.tiisg + 16));
        }));
    }
    // 6. simdgroup matrices: C = A·B + C from device and threadgroup memory equals the naive product;
    //    lanes that disagree on the source are caught.
    {
        std::vector<float> a(64), b(64), c(64), out(64);
        for (int i = 0; i < 64; ++i) { a[(size_t)i] = U(rng); b[(size_t)i] = U(rng); c[(size_t)i] = U(rng); }
        msl_emu::dispatch(uint3(1, 1, 1), 32, [&](const ThreadIds & t) {
            LD_TG(float, tb, 64);
            LD_TG(float, to, 64);
            for (int i = (int)t.tiisg; i < 64; i += 32) tb[i] = b[(size_t)i];
            threadgroup_barrier(mem_flags::mem_threadgroup);
            simdgroup_float8x8 ma, mb, mc;
            simdgroup_load(ma, a.data(), 8);
            simdgroup_load(mb, tb, 8);
            simdgroup_load(mc, c.data(), 8);
            simdgroup_multiply_accumulate(mc, ma, mb, mc);
            simdgroup_store(mc, to, 8);
            threadgroup_barrier(mem_flags::mem_threadgroup);
            for (int i = (int)t.tiisg; i < 64; i += 32) out[(size_t)i] = to[i];
        });
        for (int i = 0; i < 8; ++i)
            for (int j = 0; j < 8; ++j) {
                double s = c[(size_t)(i * 8 + j)];
                for (int k = 0; k < 8; ++k) s += (double)a[(size_t)(i * 8 + k)] * b[(size_t)(k * 8 + j)];
                CHECK(std::fabs(out[(size_t)(i * 8 + j)] - s) < 1e-5);
            }
        CHECK(fails_with("differ between lanes", uint3(1, 1, 1), 32, [&](const ThreadIds & t) {
            simdgroup_float8x8 m;
            simdgroup_load(m, a.data() + (t.tiisg == 5 ? 1 : 0), 8);
        }));
        // reading a simdgroup_store result from another thread without a barrier
        CHECK(fails_with("missing barrier", uint3(1, 1, 1), 32, [&](const ThreadIds & t) {
            LD_TG(float, to, 64);
            simdgroup_float8x8 m = make_filled_simdgroup_matrix<float, 8, 8>(1.0f);
            simdgroup_store(m, to, 8);
            volatile float x = to[t.tiisg];
            (void)x;
        }));
    }
    // 7. the planted bug in a real kernel: ld_mul_mm with its barriers removed races on its tiles.
    {
        const int N = 8, K = 64, M = 32;
        std::vector<float> x((size_t)(N * K)), w((size_t)(M * K)), y((size_t)(N * M));
        for (float & v : x) v = U(rng);
        for (float & v : w) v = U(rng);
        LdMatmulArgs p{};
        p.N = N;
        p.K = K;
        p.M = M;
        p.wtype = LD_MT_F32;
        p.row_bytes = K * 4;
        CHECK(fails_with("race", uint3(1, 1, 1), 128, [&](const ThreadIds & t) {
            ld_mul_mm(p, x.data(), (const uchar *)w.data(), y.data(), t.tgpig, t.tiitg, t.tiisg, t.sgitg, uint3(t.ntg, 1, 1));
        }));
    }
    std::printf("test-metal-emu: %s\n", failures ? "FAILED" : "ok");
    return failures ? 1 : 0;
}
