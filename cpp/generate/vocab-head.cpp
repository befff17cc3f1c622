// Plain (materialised logits) and fused (streamed vocabulary tiles) vocab heads; see vocab-head.h.
#include "generate/vocab-head.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

#include "common/error.h"
#include "generate/rng.h"
#include "ld-ggml/cpu-matmul.h"
#include "ld-ggml/cpu-nn.h"

namespace ld::gen {

namespace {

constexpr int64_t kPosBlock = 4;            // canvas positions per task
constexpr int64_t kDefaultTile = 512;       // vocabulary rows per fused tile
constexpr double kSoftSkip = 1e-12;         // rows below this relative weight don't move soft (fp32)

// Streaming softmax statistics of one position, relative to the running maximum m.
struct OnlineStats {
    float m = -std::numeric_limits<float>::infinity();
    double s = 0.0;  // Σ e^{l-m}
    double a = 0.0;  // Σ e^{l-m} (l-m)
    float best = -std::numeric_limits<float>::infinity();
    int32_t best_id = -1;
};

void check_finite(double s, double a, int64_t c) {
    if (!(s > 0.0) || !std::isfinite(s) || !std::isfinite(a))
        throw Error(strfmt("vocab head: the logits of canvas position %lld are not finite (NaN or inf)", (long long)c));
}

}  // namespace

void HeadOut::resize(int64_t C, int64_t H, bool soft_too) {
    argmax.assign((size_t)C, -1);
    draw.assign((size_t)C, -1);
    entropy.assign((size_t)C, 0.0f);
    if (soft_too) soft.assign((size_t)(C * H), 0.0f);
    else soft.clear();
}

void ReservoirDraw::add(int32_t v, double w, const HeadStep & st, uint64_t position) {
    W += w;
    if (W > threshold) {
        pick = v;
        const double r = rng_uniform(st.seed, RngPurpose::Sample, st.canvas_key, st.step_key,
                                     (position << 20) | (uint64_t)(n_draws & 0xFFFFF));
        ++n_draws;
        threshold = W / r;
    }
}

static void check_step(const HeadStep & st) {
    if (!(st.temperature > 0.0f) || !std::isfinite(st.temperature))
        throw Error(strfmt("vocab head: temperature must be > 0, got %g", (double)st.temperature));
}

void vocab_head_plain(const float * logits, int64_t C, int64_t V, const TransposedEmbedding * Et, const HeadStep & st,
                      HeadOut & out, float * processed, ggml::ThreadPool * pool) {
    check_step(st);
    if (C < 1 || V < 1) throw Error(strfmt("vocab head: empty input (C %lld, V %lld)", (long long)C, (long long)V));
    if (st.want_soft) {
        if (!Et || !Et->built()) throw Error("vocab head: soft requested without a built transposed embedding");
        if (Et->n_vocab() != V)
            throw Error(strfmt("vocab head: embedding has %lld rows, logits have %lld columns", (long long)Et->n_vocab(),
                               (long long)V));
    }
    const int64_t H = st.want_soft ? Et->n_embd() : 0;
    out.resize(C, H, false);
    std::vector<float> probs(st.want_soft ? (size_t)(C * V) : 0);
    if (!pool) pool = &ggml::ThreadPool::global();
    pool->parallel_for(C, [&](int64_t c, int) {
        const float * row = logits + c * V;
        std::vector<float> pl((size_t)V);
        float m = -std::numeric_limits<float>::infinity();
        int32_t am = -1;
        for (int64_t v = 0; v < V; ++v) {
            pl[(size_t)v] = row[v] / st.temperature;
            if (pl[(size_t)v] > m) { m = pl[(size_t)v]; am = (int32_t)v; }
        }
        if (processed) std::memcpy(processed + c * V, pl.data(), sizeof(float) * (size_t)V);
        double s = 0.0, a = 0.0;
        for (int64_t v = 0; v < V; ++v) {
            const double d = (double)pl[(size_t)v] - (double)m;
            const double w = std::exp(d);
            s += w;
            a += w * d;
        }
        check_finite(s, a, c);
        out.argmax[(size_t)c] = am;
        out.entropy[(size_t)c] = (float)(std::log(s) - a / s);
        if (st.sample) {
            ReservoirDraw r;
            for (int64_t v = 0; v < V; ++v) r.add((int32_t)v, std::exp((double)pl[(size_t)v] - (double)m), st, (uint64_t)c);
            out.draw[(size_t)c] = r.pick;
        } else {
            out.draw[(size_t)c] = am;
        }
        if (st.want_soft)
            for (int64_t v = 0; v < V; ++v)
                probs[(size_t)(c * V + v)] = (float)(std::exp((double)pl[(size_t)v] - (double)m) / s);
    });
    if (st.want_soft) {
        out.soft.assign((size_t)(C * H), 0.0f);
        Et->apply(probs.data(), C, out.soft.data(), pool);  // soft [C, H] = P [C, V] · E
    }
}

void vocab_head_fused(const float * hidden, int64_t C, const Mat & out_w, const Mat & E, float softcap,
                      const HeadStep & st, HeadOut & out, ggml::ThreadPool * pool, int64_t tile) {
    check_step(st);
    const int64_t H = out_w.ne[0], V = out_w.ne[1];
    if (C < 1 || V < 1 || H < 1) throw Error(strfmt("vocab head: empty input (C %lld, V %lld)", (long long)C, (long long)V));
    if (st.want_soft && (E.ne[0] != H || E.ne[1] != V))
        throw Error(strfmt("vocab head: embedding {%lld, %lld} does not match the output matrix {%lld, %lld}",
                           (long long)E.ne[0], (long long)E.ne[1], (long long)H, (long long)V));
    if (!pool) pool = &ggml::ThreadPool::global();
    if (tile <= 0) tile = kDefaultTile;
    tile = std::min(tile, V);
    out.resize(C, H, st.want_soft);

    std::vector<float> lg((size_t)(C * tile));                        // [C, nt] tile logits
    std::vector<float> rows(st.want_soft ? (size_t)(tile * H) : 0);   // [nt, H] dequantized E rows
    std::vector<OnlineStats> stats((size_t)C);
    std::vector<ReservoirDraw> draws((size_t)C);
    const size_t out_row_bytes = out_w.row_bytes();
    const bool same = out_w.data == E.data && out_w.type == E.type;
    const size_t e_row_bytes = E.row_bytes();
    const int64_t n_blocks = (C + kPosBlock - 1) / kPosBlock;

    for (int64_t v0 = 0; v0 < V; v0 += tile) {
        const int64_t nt = std::min(tile, V - v0);
        ggml::matmul(hidden, C, H, (const uint8_t *)out_w.data + (size_t)v0 * out_row_bytes, out_w.type, nt,
                     lg.data(), pool);
        if (softcap > 0.0f) ggml::softcap(lg.data(), C * nt, softcap, lg.data(), pool);
        if (st.want_soft) {
            const Mat & src = same ? out_w : E;
            (void)e_row_bytes;
            pool->parallel_for((nt + 15) / 16, [&](int64_t t, int) {
                for (int64_t r = t * 16; r < std::min(nt, t * 16 + 16); ++r) mat_get_row(src, v0 + r, rows.data() + r * H);
            });
        }
        pool->parallel_for(n_blocks, [&](int64_t blk, int) {
            for (int64_t c = blk * kPosBlock; c < std::min(C, (blk + 1) * kPosBlock); ++c) {
                float * pl = lg.data() + c * nt;
                OnlineStats & S = stats[(size_t)c];
                float tm = -std::numeric_limits<float>::infinity();
                int32_t tid = -1;
                for (int64_t j = 0; j < nt; ++j) {
                    pl[j] = pl[j] / st.temperature;
                    if (pl[j] > tm) { tm = pl[j]; tid = (int32_t)(v0 + j); }
                }
                if (tm > S.best) { S.best = tm; S.best_id = tid; }
                float * soft = st.want_soft ? out.soft.data() + c * H : nullptr;
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
                for (int64_t j = 0; j < nt; ++j) {
                    const double d = (double)pl[j] - (double)S.m;
                    const double w = std::exp(d);
                    S.s += w;
                    S.a += w * d;
                    if (st.sample) draws[(size_t)c].add((int32_t)(v0 + j), w, st, (uint64_t)c);
                    if (soft && w > kSoftSkip) {
                        const float wf = (float)w;
                        const float * e = rows.data() + j * H;
                        for (int64_t k = 0; k < H; ++k) soft[k] += wf * e[k];
                    }
                }
            }
        });
    }
    for (int64_t c = 0; c < C; ++c) {
        const OnlineStats & S = stats[(size_t)c];
        check_finite(S.s, S.a, c);
        out.argmax[(size_t)c] = S.best_id;
        out.entropy[(size_t)c] = (float)(std::log(S.s) - S.a / S.s);
        out.draw[(size_t)c] = st.sample ? draws[(size_t)c].pick : S.best_id;
        if (st.want_soft) {
            const float inv = (float)(1.0 / S.s);
            float * soft = out.soft.data() + c * H;
            for (int64_t k = 0; k < H; ++k) soft[k] *= inv;
        }
    }
}

}  // namespace ld::gen
