// Optimized elementwise and small ops of cpu-nn.h: argument checks, a fixed split of the work into
// pieces (independent of the thread count) run on a ThreadPool, and the per-ISA row kernels.
#include <algorithm>
#include <cmath>
#include <vector>

#include "ld-ggml/error.h"
#include "ld-ggml/cpu-nn.h"
#include "nn-common.h"
#include "nn-kernels.h"

namespace ld::ggml {

namespace {

constexpr int64_t kChunk = 16384;  // elements per task of the elementwise ops (a multiple of 64)

ThreadPool & pool_or_global(ThreadPool * pool) { return pool ? *pool : ThreadPool::global(); }

// Rows per task so that a task holds about kChunk elements.
int64_t rows_per_task(int64_t n) { return std::max<int64_t>(1, kChunk / std::max<int64_t>(1, n)); }

template <typename Fn>
void for_row_blocks(ThreadPool & tp, int64_t n_rows, int64_t n, Fn && fn) {
    const int64_t rpt = rows_per_task(n);
    tp.parallel_for((n_rows + rpt - 1) / rpt, [&](int64_t task, int) {
        const int64_t r0 = task * rpt, r1 = std::min(n_rows, r0 + rpt);
        for (int64_t r = r0; r < r1; ++r) fn(r);
    });
}

}  // namespace

void rms_norm(const float * x, int64_t n_rows, int64_t n, const float * weight, float eps, float * out,
              ThreadPool * pool) {
    rms_norm(x, n_rows, n, weight, eps, out, pool, cpu_isa());
}

void rms_norm(const float * x, int64_t n_rows, int64_t n, const float * weight, float eps, float * out,
              ThreadPool * pool, CpuIsa isa) {
    nn_check_rows("rms_norm", x, out, n_rows, n);
    if (!(eps >= 0.0f)) throw Error(strfmt("rms_norm: eps must be >= 0, got %g", (double)eps));
    if (n_rows == 0 || n == 0) return;
    const NnKernels & K = nn_kernels(isa);
    for_row_blocks(pool_or_global(pool), n_rows, n,
                   [&](int64_t r) { K.rms_norm_row(x + r * n, n, weight, eps, out + r * n); });
}

void rope_neox(float * x, int64_t n_tok, int64_t n_head, int64_t head_dim, const int32_t * pos,
               const RopeParams & p, ThreadPool * pool) {
    const int64_t n_rot = rope_check("rope_neox", x, n_tok, n_head, head_dim, pos, p);
    const int64_t half = n_rot / 2;
    if (n_tok == 0 || n_head == 0 || half == 0) return;
    std::vector<float> inv((size_t)half);
    for (int64_t i = 0; i < half; ++i) inv[(size_t)i] = rope_inv_freq(i, n_rot, p);
    // one task per token: cos/sin once, then every head
    ThreadPool & tp = pool_or_global(pool);
    std::vector<std::vector<float>> cs((size_t)tp.n_threads(), std::vector<float>((size_t)(2 * half)));
    tp.parallel_for(n_tok, [&](int64_t t, int thread) {
        float * c = cs[(size_t)thread].data();
        float * s = c + half;
        for (int64_t i = 0; i < half; ++i) {
            const float angle = (float)pos[t] * inv[(size_t)i];
            c[i] = (float)std::cos((double)angle);
            s[i] = (float)std::sin((double)angle);
        }
        for (int64_t h = 0; h < n_head; ++h) {
            float * xh = x + (t * n_head + h) * head_dim;
            for (int64_t i = 0; i < half; ++i) {
                const float a = xh[i], b = xh[i + half];
                xh[i] = a * c[i] - b * s[i];
                xh[i + half] = b * c[i] + a * s[i];
            }
        }
    });
}

void gelu_tanh(const float * x, int64_t n, float * out, ThreadPool * pool) { gelu_tanh(x, n, out, pool, cpu_isa()); }

void gelu_tanh(const float * x, int64_t n, float * out, ThreadPool * pool, CpuIsa isa) {
    nn_check_rows("gelu_tanh", x, out, 1, n);
    if (n == 0) return;
    const NnKernels & K = nn_kernels(isa);
    pool_or_global(pool).parallel_for((n + kChunk - 1) / kChunk, [&](int64_t task, int) {
        const int64_t i0 = task * kChunk;
        K.gelu(x + i0, std::min(kChunk, n - i0), out + i0);
    });
}

void geglu(const float * gate, const float * up, int64_t n_rows, int64_t n, int64_t ld_in, float * out,
           ThreadPool * pool) {
    geglu(gate, up, n_rows, n, ld_in, out, pool, cpu_isa());
}

void geglu(const float * gate, const float * up, int64_t n_rows, int64_t n, int64_t ld_in, float * out,
           ThreadPool * pool, CpuIsa isa) {
    geglu_check("geglu", gate, up, n_rows, n, ld_in, out);
    if (n_rows == 0 || n == 0) return;
    const NnKernels & K = nn_kernels(isa);
    for_row_blocks(pool_or_global(pool), n_rows, n,
                   [&](int64_t r) { K.geglu(gate + r * ld_in, up + r * ld_in, n, out + r * n); });
}

void softcap(const float * x, int64_t n, float cap, float * out, ThreadPool * pool) {
    nn_check_rows("softcap", x, out, 1, n);
    if (!(cap > 0.0f)) throw Error(strfmt("softcap: cap must be > 0, got %g", (double)cap));
    if (n == 0) return;
    const NnKernels & K = nn_kernels(cpu_isa());
    pool_or_global(pool).parallel_for((n + kChunk - 1) / kChunk, [&](int64_t task, int) {
        const int64_t i0 = task * kChunk;
        K.softcap(x + i0, std::min(kChunk, n - i0), cap, out + i0);
    });
}

void softmax(const float * x, int64_t n_rows, int64_t n, float * out, ThreadPool * pool) {
    softmax(x, n_rows, n, out, pool, cpu_isa());
}

void softmax(const float * x, int64_t n_rows, int64_t n, float * out, ThreadPool * pool, CpuIsa isa) {
    nn_check_rows("softmax", x, out, n_rows, n);
    if (n_rows == 0 || n == 0) return;
    const NnKernels & K = nn_kernels(isa);
    for_row_blocks(pool_or_global(pool), n_rows, n, [&](int64_t r) { K.softmax_row(x + r * n, n, out + r * n); });
}

void router_topk(const float * logits, int64_t n_tok, int64_t n_expert, int64_t k, const float * per_expert_scale,
                 int32_t * ids_out, float * weights_out, ThreadPool * pool) {
    router_check("router_topk", logits, n_tok, n_expert, k, ids_out, weights_out);
    if (n_tok == 0) return;
    ThreadPool & tp = pool_or_global(pool);
    std::vector<std::vector<float>> p((size_t)tp.n_threads(), std::vector<float>((size_t)n_expert));
    std::vector<std::vector<uint8_t>> taken((size_t)tp.n_threads(), std::vector<uint8_t>((size_t)n_expert));
    const int64_t tpt = 16;  // tokens per task
    tp.parallel_for((n_tok + tpt - 1) / tpt, [&](int64_t task, int thread) {
        for (int64_t t = task * tpt; t < std::min(n_tok, (task + 1) * tpt); ++t)
            router_token(logits + t * n_expert, n_expert, k, per_expert_scale, p[(size_t)thread].data(),
                         taken[(size_t)thread].data(), ids_out + t * k, weights_out + t * k);
    });
}

}  // namespace ld::ggml
