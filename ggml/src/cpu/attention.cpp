// Tiled attention (cpu-nn.h): one task per (KV head, query tile) holding every query head of the KV
// group (the K/V tile work is shared by group * BQ rows, about rows_target()). Each visible key tile of
// ATTN_BK keys is converted to f32 into per-thread scratch: K transposed to [d][ATTN_BK] for the scores
// kernel, V in contiguous column chunks for the PV kernel (attention-pack.h: vectorised on AVX2 / AVX-512,
// the scalar pack_tile below elsewhere; all give the same bits). (Packing once per call for all tasks was
// measured no faster here and needs memory proportional to the context, so each task packs its own
// tiles.) Online softmax with f32 running max / sum / output per row. Tiles are classified against the
// task's query positions (hidden: skipped; fully visible: no per-element mask).
// A task's result depends only on its index, never on the thread that runs it; the rows of a task never
// change a row's result (each row's arithmetic is independent of the rows around it).
#include <algorithm>
#include <cstring>
#include <limits>
#include <vector>

#include "attention-amx.h"
#include "attention-mask.h"
#include "attention-pack.h"
#include "ld-ggml/error.h"
#include "ld-ggml/cpu-nn.h"
#include "nn-kernels.h"

namespace ld::ggml {

namespace {

constexpr float kNegInf = -std::numeric_limits<float>::infinity();
// Query rows (queries x heads of a group) per task: on AVX-512 256 halves the packing per FMA of 128
// (measured faster); the narrower tables keep 128 (256 was measured slower on AVX2, the bigger q / o
// blocks are streamed through L2 once per 16-key column pass). bench/results/ops-attention.md.
int rows_target(CpuIsa isa) { return cpu_isa_base(isa) == CpuIsa::avx512 ? 256 : 128; }

// Packs key tile t of KV head g: K -> kt [d][ATTN_BK] (transposed, zero columns past nk, in blocks of 32
// dims so the written lines stay in L1); V -> vt in column chunks (nn-kernels.h). kconv / vconv: scratch
// of ATTN_BK * d floats for converted rows.
void pack_tile(const AttnArgs & a, int64_t g, int64_t t, float * kt, float * vt, float * kconv, float * vconv) {
    const int64_t d = a.head_dim;
    size_t offs[ATTN_BK];
    const int nk = attn_tile_row_offsets(a, g, t, ATTN_BK, offs);
    const TypeTraits * tt = type_traits(a.kv_type);
    const float * krow[ATTN_BK];
    const float * vrow[ATTN_BK];
    for (int jj = 0; jj < nk; ++jj) {
        const size_t off = offs[jj];
        if (a.kv_type == Type::F32 && off % sizeof(float) == 0) {
            krow[jj] = (const float *)((const char *)a.k + off);
            vrow[jj] = (const float *)((const char *)a.v + off);
        } else {
            float * kr = kconv + jj * d;
            float * vr = vconv + jj * d;
            if (a.kv_type == Type::F32) {
                std::memcpy(kr, (const char *)a.k + off, (size_t)d * sizeof(float));
                std::memcpy(vr, (const char *)a.v + off, (size_t)d * sizeof(float));
            } else {
                tt->to_float((const char *)a.k + off, kr, d);
                tt->to_float((const char *)a.v + off, vr, d);
            }
            krow[jj] = kr;
            vrow[jj] = vr;
        }
    }
    for (int64_t c0 = 0; c0 < d; c0 += 32) {
        const int64_t c1 = std::min<int64_t>(d, c0 + 32);
        for (int jj = 0; jj < ATTN_BK; ++jj) {
            if (jj < nk) {
                const float * kr = krow[jj];
                for (int64_t c = c0; c < c1; ++c) kt[c * ATTN_BK + jj] = kr[c];
            } else {
                for (int64_t c = c0; c < c1; ++c) kt[c * ATTN_BK + jj] = 0.0f;
            }
        }
    }
    for (int64_t c0 = 0; c0 < d; c0 += ATTN_VC) {
        const int64_t w = std::min<int64_t>(ATTN_VC, d - c0);
        for (int jj = 0; jj < nk; ++jj) std::memcpy(vt + c0 * ATTN_BK + jj * w, vrow[jj] + c0, (size_t)w * sizeof(float));
    }
}

struct Scratch {
    std::vector<float> q, o, s, kt, vt, kconv, vconv, m, l, alpha;
};

}  // namespace

void attention(const AttnArgs & a, ThreadPool * pool) { attention(a, pool, cpu_isa()); }

void attention(const AttnArgs & a, ThreadPool * pool, CpuIsa isa) {
    attention_validate(a);
    if (a.n_q == 0) return;
    const int64_t d = a.head_dim, group = a.n_head / a.n_kv_head, qs = attn_q_stride(a);
    if (a.n_kv == 0) {
        for (int64_t i = 0; i < a.n_q * a.n_head * d; ++i) a.out[i] = 0.0f;
        return;
    }
    const NnKernels & K = nn_kernels(isa);
    ThreadPool & tp = pool ? *pool : ThreadPool::global();
#if defined(LD_HAVE_AVX512) && defined(LD_HAVE_AMX)
    // F16 / Q8_0 K/V on the amx ISA with LD_ATTN_BF16=split|fast: bf16 operands on AMX tiles (attention-amx.h)
    if (isa == CpuIsa::amx) {
        const AttnBf16 mode = attention_amx_bf16_mode(a);
        if (mode != AttnBf16::off) return attention_amx_bf16(a, tp, mode);
    }
#endif
    // the vectorised packers (attention-pack.h) for the x86 tables; the scalar pack_tile elsewhere
    void (*pack_simd)(const AttnArgs &, int64_t, int64_t, float *, float *) = nullptr;
#if defined(LD_HAVE_AVX2)
    if (cpu_isa_base(isa) == CpuIsa::avx2) pack_simd = attn_pack_tile_avx2;
#endif
#if defined(LD_HAVE_AVX512)
    if (cpu_isa_base(isa) == CpuIsa::avx512) pack_simd = attn_pack_tile_avx512;
#endif

    const int64_t bq = std::min(a.n_q, std::max<int64_t>(1, rows_target(isa) / group));  // queries per task
    const int64_t max_rows = bq * group;
    const int64_t n_qt = (a.n_q + bq - 1) / bq;
    const int64_t n_kt = (a.n_kv + ATTN_BK - 1) / ATTN_BK;

    const std::vector<AttnKeyTile> tiles = attn_key_tiles(a, ATTN_BK);

    std::vector<Scratch> scratch((size_t)tp.n_threads());
    for (Scratch & sc : scratch) {
        sc.q.resize((size_t)(max_rows * d));
        sc.o.resize((size_t)(max_rows * d));
        sc.s.resize((size_t)(max_rows * ATTN_BK));
        sc.kt.resize((size_t)(d * ATTN_BK));
        sc.vt.resize((size_t)(ATTN_BK * d));
        if (!pack_simd) {  // the vectorised packers convert in registers
            sc.kconv.resize((size_t)(ATTN_BK * d));
            sc.vconv.resize((size_t)(ATTN_BK * d));
        }
        sc.m.resize((size_t)max_rows);
        sc.l.resize((size_t)max_rows);
        sc.alpha.resize((size_t)max_rows);
    }

    tp.parallel_for(a.n_kv_head * n_qt, [&](int64_t task, int thread) {
        Scratch & sc = scratch[(size_t)thread];
        const int64_t g = task % a.n_kv_head, qt = task / a.n_kv_head;
        const int64_t i0 = qt * bq, nq = std::min(bq, a.n_q - i0);
        const int rows = (int)(nq * group);
        // row r = qi * group + hg: query i0 + qi, head g * group + hg
        int32_t qmin = std::numeric_limits<int32_t>::max(), qmax = std::numeric_limits<int32_t>::min();
        for (int64_t qi = 0; qi < nq; ++qi) {
            qmin = std::min(qmin, a.q_pos[i0 + qi]);
            qmax = std::max(qmax, a.q_pos[i0 + qi]);
            for (int64_t hg = 0; hg < group; ++hg) {
                const float * src = a.q + (i0 + qi) * qs + (g * group + hg) * d;
                float * dst = sc.q.data() + (qi * group + hg) * d;
                for (int64_t c = 0; c < d; ++c) dst[c] = src[c] * a.scale;
            }
        }
        std::fill(sc.o.begin(), sc.o.begin() + rows * d, 0.0f);
        std::fill(sc.m.begin(), sc.m.begin() + rows, kNegInf);
        std::fill(sc.l.begin(), sc.l.begin() + rows, 0.0f);

        for (int64_t t = 0; t < n_kt; ++t) {
            const int64_t j0 = t * ATTN_BK;
            const int nk = (int)std::min<int64_t>(ATTN_BK, a.n_kv - j0);
            const AttnTileVis vis = attn_classify(a, tiles[(size_t)t], nk, qmin, qmax);
            if (vis == AttnTileVis::hidden) continue;

            float * kt = sc.kt.data();
            float * vt = sc.vt.data();
            if (pack_simd)
                pack_simd(a, g, t, kt, vt);
            else
                pack_tile(a, g, t, kt, vt, sc.kconv.data(), sc.vconv.data());

            float * s = sc.s.data();
            K.attn_scores(sc.q.data(), d, rows, kt, d, s);
            if (vis == AttnTileVis::partial || nk < ATTN_BK) {
                for (int r = 0; r < rows; ++r) {
                    const int32_t qp = a.q_pos[i0 + r / group];
                    float * sr = s + r * ATTN_BK;
                    for (int jj = 0; jj < ATTN_BK; ++jj)
                        if (jj >= nk || !attn_visible(a, qp, a.k_pos[j0 + jj])) sr[jj] = kNegInf;
                }
            }
            K.attn_softmax(s, rows, sc.m.data(), sc.l.data(), sc.alpha.data());
            K.attn_pv(s, rows, vt, nk, d, sc.alpha.data(), sc.o.data());
        }

        for (int r = 0; r < rows; ++r) {
            const int64_t qi = r / group, hg = r % group;
            float * dst = a.out + ((i0 + qi) * a.n_head + g * group + hg) * d;
            const float * o = sc.o.data() + (int64_t)r * d;
            const float l = sc.l[(size_t)r];
            const float inv = l > 0.0f ? 1.0f / l : 0.0f;
            for (int64_t c = 0; c < d; ++c) dst[c] = o[c] * inv;
        }
    });
}

}  // namespace ld::ggml
