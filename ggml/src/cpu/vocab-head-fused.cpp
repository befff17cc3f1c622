// The CPU fused vocab head: one pass over vocabulary tiles, nothing of size [C, V] (cpu-vocab-head.h),
// and the draw and checks every vocab head shares.
//
// Per tile [v0, v0 + nt) of the vocabulary:
//   1. lg[C, nt] = hidden[C, H] · out_w[v0 : v0 + nt]ᵀ                the matmul on the tile's rows (hidden
//      quantized and packed into the kernels' tiles once per call: mm::PackedActs)
//   2. per position (tasks of kPosBlock positions), with the ISA's NnKernels (nn-kernels.h): softcap and
//      temperature with the tile's argmax (head_logits), w[C, cols] = e^{l/T - m} relative to the
//      running maximum m with Σw and Σw·d (head_exp; soft is rescaled when m grows), then the
//      reservoir draw in vocabulary order
//   3. soft[C, H] += w[C, cols] · E[v0 : v0 + nt]: with AMX-BF16 and a non-F32 embedding, bf16 tiles
//      straight from E's rows (SoftProductAmx, soft-product-amx.h); else ggml::matmul with the tile's Eᵀ
//      (EmbeddingTileT: F32 for F32 embeddings, Q8_0 otherwise, as the plain head's E)
//      Sparse mode (soft_drop_mass = eps > 0): only the tile's rows that some position needs (weight
//      above eps * S_c / V, cpu-vocab-head.h) enter the product, packed together (w's columns and Eᵀ's
//      rows); a tile that keeps every row runs the exact product.
// Every step is split into fixed tasks (matmul tiles, position blocks, 32-row groups), so the
// results do not depend on the thread count.
#include <algorithm>
#include <cmath>
#include <limits>
#include <memory>

#include "ld-ggml/cpu-matmul.h"
#include "ld-ggml/cpu-nn.h"
#include "ld-ggml/cpu-vocab-head.h"
#include "ld-ggml/error.h"
#include "ld-ggml/rng.h"
#include "matmul-impl.h"
#include "nn-kernels.h"
#if defined(LD_HAVE_AVX512) && defined(LD_HAVE_AMX)
#include "soft-product-amx.h"
#endif

namespace ld::ggml {

namespace {

constexpr int64_t kPosBlock = 4;        // canvas positions per task
constexpr int64_t kDefaultTile = 4096;  // vocabulary rows per tile

// Streaming softmax statistics of one position, relative to the running maximum m.
struct OnlineStats {
    float m = -std::numeric_limits<float>::infinity();
    double s = 0.0;  // Σ e^{l-m}
    double a = 0.0;  // Σ e^{l-m} (l-m)
    float best = -std::numeric_limits<float>::infinity();
    int32_t best_id = -1;
};

}  // namespace

void ReservoirDraw::add(int32_t v, double w, const DrawKey & key, uint64_t position) {
    W += w;
    if (W > threshold) {
        pick = v;
        const double r = rng_uniform(key.seed, RngPurpose::Sample, key.canvas_key, key.step_key,
                                     (position << 20) | (uint64_t)(n_draws & 0xFFFFF));
        ++n_draws;
        threshold = W / r;
    }
}

void ReservoirDraw::add_run(int32_t v0, const float * w, int64_t n, const DrawKey & key, uint64_t position) {
    for (int64_t j0 = 0; j0 < n;) {
        double acc = W;
        const double thr = threshold;
        int64_t j = j0;
        for (; j < n; ++j) {  // W > threshold is rare (a draw): run the sum until it happens
            const double next = acc + (double)w[j];
            if (next > thr) break;
            acc = next;
        }
        W = acc;
        if (j == n) return;
        add(v0 + (int32_t)j, (double)w[j], key, position);  // the same sum W + w[j], and the draw
        j0 = j + 1;
    }
}

void vocab_head_check_temperature(float T) {
    if (!(T > 0.0f) || !std::isfinite(T)) throw Error(strfmt("vocab head: temperature must be > 0, got %g", (double)T));
}

void vocab_head_check_finite(double s, double a, int64_t c) {
    if (!(s > 0.0) || !std::isfinite(s) || !std::isfinite(a))
        throw Error(strfmt("vocab head: the logits of canvas position %lld are not finite (NaN or inf)", (long long)c));
}

void vocab_head_fused(const VocabHeadArgs & a, ThreadPool * pool, int64_t tile, EmbeddingTCache * et_cache) {
    vocab_head_check_temperature(a.temperature);
    const int64_t C = a.C, H = a.H, V = a.V;
    if (C < 1 || V < 1 || H < 1)
        throw Error(strfmt("vocab head: empty input (C %lld, H %lld, V %lld)", (long long)C, (long long)H, (long long)V));
    if (!a.hidden || !a.out_w || !a.argmax || !a.draw || !a.entropy || (a.soft && !a.embd))
        throw Error("vocab head: null argument");
    if (!(a.soft_drop_mass >= 0.0f && a.soft_drop_mass < 1.0f))
        throw Error(strfmt("vocab head: soft_drop_mass must be in [0, 1), got %g", (double)a.soft_drop_mass));
    const bool sparse = a.soft && a.soft_drop_mass > 0.0f;
    int64_t rows_used = 0;
    const bool want_soft = a.soft != nullptr;
    const float * hidden = a.hidden;
    const float cap = a.softcap;
    const DrawKey key{a.seed, a.canvas_key, a.step_key};
    if (!pool) pool = &ThreadPool::global();
    if (tile <= 0) tile = kDefaultTile;
    tile = std::min(tile, V);
    if (want_soft) std::fill(a.soft, a.soft + C * H, 0.0f);

    const NnKernels & K = nn_kernels(cpu_isa());  // the per-position passes (softcap, max, e^x, sums)
    std::vector<float> lg((size_t)(C * tile));  // [C, nt] tile logits
    std::vector<std::vector<float>> w_row(want_soft ? 0 : (size_t)pool->n_threads(), std::vector<float>((size_t)tile));
    std::vector<OnlineStats> stats((size_t)C);
    std::vector<ReservoirDraw> draws((size_t)C);
    const size_t out_row_bytes = row_size(a.out_type, H);
    const int64_t n_blocks = (C + kPosBlock - 1) / kPosBlock;

    // Self-conditioning: the weights w [C, cols], and the AMX-BF16 product or the tile's Eᵀ with the
    // tile's product [C, H].
#if defined(LD_HAVE_AVX512) && defined(LD_HAVE_AMX)
    std::unique_ptr<SoftProductAmx> sp_amx;
    if (want_soft && SoftProductAmx::usable(a.embd_type, cpu_isa()))
        sp_amx = std::make_unique<SoftProductAmx>(a.embd, a.embd_type, H, V, C);
    const bool amx_soft = sp_amx != nullptr;
#else
    const bool amx_soft = false;
#endif
    std::unique_ptr<EmbeddingTileT> et;
    std::vector<float> w_tile, part, w_kept, tau;
    std::vector<uint8_t> keep;
    std::vector<int32_t> kept;
    if (want_soft && !amx_soft) {
        et = std::make_unique<EmbeddingTileT>(a.embd, a.embd_type, H, V, tile, pool->n_threads());
        part.assign((size_t)(C * H), 0.0f);
    }
    // the columns of w for nt vocabulary rows: padded to Eᵀ's block for the matmul
    auto w_cols = [&](int64_t rows) { return et ? et->cols(rows) : rows; };
    if (want_soft) w_tile.assign((size_t)(C * w_cols(tile)), 0.0f);
    if (sparse) {
        tau.assign((size_t)C, 0.0f);
        keep.assign((size_t)tile, 0);
        kept.reserve((size_t)tile);
    }

    // the hidden states quantized and packed once for the LM head's kernels, reused by every vocabulary tile
    mm::PackedActs hid;
    hid.pack(cpu_isa(), a.out_type, hidden, C, H, *pool);

    for (int64_t v0 = 0; v0 < V; v0 += tile) {
        const int64_t nt = std::min(tile, V - v0);
        const int64_t nc = w_cols(nt);  // columns of w
        hid.matmul((const uint8_t *)a.out_w + (size_t)v0 * out_row_bytes, nt, lg.data(), *pool);
        pool->parallel_for(n_blocks, [&](int64_t blk, int thread) {
            for (int64_t c = blk * kPosBlock; c < std::min(C, (blk + 1) * kPosBlock); ++c) {
                float * pl = lg.data() + c * nt;
                OnlineStats & S = stats[(size_t)c];
                int64_t arg = -1;
                const float tm = K.head_logits(pl, nt, cap, a.temperature, &arg);  // softcap(l) / T
                if (tm > S.best) { S.best = tm; S.best_id = (int32_t)(v0 + arg); }
                float * soft = want_soft ? a.soft + c * H : nullptr;
                if (tm > S.m) {
                    if (S.s > 0.0) {
                        const double f = std::exp((double)S.m - (double)tm);
                        S.a = f * (S.a + ((double)S.m - (double)tm) * S.s);
                        S.s *= f;
                        draws[(size_t)c].rescale(f);
                        if (soft) for (int64_t k = 0; k < H; ++k) soft[k] = (float)(soft[k] * f);
                    }
                    S.m = tm;
                }
                // w = e^{l/T - m}: into the soft product's weights, or a per-thread row when there is none
                float * wc = soft ? w_tile.data() + c * nc : w_row[(size_t)thread].data();
                K.head_exp(pl, nt, S.m, wc, &S.s, &S.a);
                if (a.sample) draws[(size_t)c].add_run((int32_t)v0, wc, nt, key, (uint64_t)c);
                if (soft) std::fill(wc + nt, wc + nc, 0.0f);
                // sparse: this position's bound (S includes the tile; the final sum is >= S)
                if (sparse) tau[(size_t)c] = (float)((double)a.soft_drop_mass * S.s / (double)V);
            }
        });
        const float * w_prod = w_tile.data();  // the product's weights [C, n_prod] and its column count
        int64_t n_prod = nc, n_used = nt;
        if (sparse) {
            // keep[j]: some position needs row v0 + j (fixed 256-row tasks; the flags depend on values only)
            const int64_t n_rt = (nt + 255) / 256;
            pool->parallel_for(n_rt, [&](int64_t t, int) {
                const int64_t j0 = t * 256, j1 = std::min(nt, j0 + 256);
                std::fill(keep.begin() + j0, keep.begin() + j1, (uint8_t)0);
                for (int64_t c = 0; c < C; ++c) {
                    const float * wc = w_tile.data() + c * nc;
                    const float tc = tau[(size_t)c];
                    for (int64_t j = j0; j < j1; ++j) keep[(size_t)j] |= (uint8_t)(wc[j] > tc);
                }
            });
            kept.clear();
            for (int64_t j = 0; j < nt; ++j)
                if (keep[(size_t)j]) kept.push_back((int32_t)(v0 + j));
            n_used = (int64_t)kept.size();
            if (n_used < nt) {  // pack the kept columns of w together (zero padded to Eᵀ's block)
                n_prod = w_cols(n_used);
                // sized by the kept rows only, on demand (no page faults for a tile that keeps every row)
                if (w_kept.size() < (size_t)(C * n_prod)) w_kept.resize((size_t)(C * n_prod));
                pool->parallel_for(n_blocks, [&](int64_t blk, int) {
                    for (int64_t c = blk * kPosBlock; c < std::min(C, (blk + 1) * kPosBlock); ++c) {
                        const float * wc = w_tile.data() + c * nc;
                        float * o = w_kept.data() + c * n_prod;
                        for (int64_t i = 0; i < n_used; ++i) o[i] = wc[kept[(size_t)i] - v0];
                        std::fill(o + n_used, o + n_prod, 0.0f);
                    }
                });
                w_prod = w_kept.data();
            }
        }
        rows_used += n_used;
        if (amx_soft && n_used > 0) {
#if defined(LD_HAVE_AVX512) && defined(LD_HAVE_AMX)
            sp_amx->run(w_prod, n_prod, n_used, v0, n_used == nt ? nullptr : kept.data(), a.soft, *pool);
#endif
        } else if (want_soft && n_used > 0) {
            // the tile's Eᵀ panels: kept from an earlier call (et_cache), or built now (and kept)
            const PreparedWeight * pw = et_cache && n_used == nt ? et_cache->find(a, tile, v0, nt) : nullptr;
            if (!pw) {
                if (n_used == nt) et->build(v0, nt, pool);
                else et->build_rows(kept.data(), n_used, pool);
                pw = et->prepared();
                if (pw && et_cache && n_used == nt) et_cache->keep(*et, v0, tile);
            }
            if (pw) matmul_prepared(w_prod, C, *pw, part.data(), pool);  // [C, H]
            else matmul(w_prod, C, n_prod, et->data(), et->type(), H, part.data(), pool);
            pool->parallel_for(n_blocks, [&](int64_t blk, int) {
                for (int64_t c = blk * kPosBlock; c < std::min(C, (blk + 1) * kPosBlock); ++c) {
                    float * soft = a.soft + c * H;
                    const float * p = part.data() + c * H;
                    for (int64_t k = 0; k < H; ++k) soft[k] += p[k];
                }
            });
        }
    }
    if (a.soft_rows_used) *a.soft_rows_used = want_soft ? rows_used : 0;
    for (int64_t c = 0; c < C; ++c) {
        const OnlineStats & S = stats[(size_t)c];
        vocab_head_check_finite(S.s, S.a, c);
        a.argmax[c] = S.best_id;
        a.entropy[c] = (float)(std::log(S.s) - S.a / S.s);
        a.draw[c] = a.sample ? draws[(size_t)c].pick : S.best_id;
        if (want_soft) {
            const float inv = (float)(1.0 / S.s);
            float * soft = a.soft + c * H;
            for (int64_t k = 0; k < H; ++k) soft[k] *= inv;
        }
    }
}

}  // namespace ld::ggml
