// Reference dequantization of the K-quants (Q2_K..Q6_K, Q8_K), our own error-minimising quantizers
// for the K-quant weight types, and the exact Q8_K activation quantizer.
// Layouts and dequant formulas: docs/format.md §2.3 (multiplication order as written there, so the
// output is bit-identical to gguf-py); Q8_K rule: docs/format.md §2.5.
//
// Weight quantizers (not bit-matched to anything: gguf cannot quantize these types).
//  1. Each super-block is scaled by a power of two so its largest |x| lies in [0.5, 1); all fitting
//     runs on these values (exact scaling: no overflow or underflow in any sum, whatever the input;
//     NaN and inf are fitted as 0).
//  2. Per sub-block, a small fixed set of candidate scales (the sub-block's extent mapped onto about
//     nmax-4 .. nmax+1 levels, per-type sets below) each gets one rounding pass; the least-squares
//     refit on those levels is scored in closed form from the pass's sums (no division). The best
//     one is snapped (extent onto a whole number of levels) and polished (re-rounded with itself).
//  3. The super-block scale d (and dmin) make the largest sub-block scale (min) map onto the top
//     integer scale or up to 3 below it (so quantize(dequantize(q)) reproduces q); each choice is
//     scored with the quadratic error model of step 2 (levels fixed: exact for those levels, an upper
//     bound of the error after re-rounding), with no pass over the data; d first, then dmin.
//  4. Each sub-block's integer scale (and min) is refined by the same model: scale +-1, and for the
//     affine types every min that a shift of the levels by t (S*(q+t) - M = S*q - (M - S*t)) allows.
//     Q2_K and Q3_K (few levels: re-rounding matters) then judge the best few on the exact error.
//  5. Levels are finally chosen per value, nearest to x under the stored scales as the dequantizer
//     computes them.
// All of it is plain scalar C++ (the rounding loops auto-vectorise) with fixed 4-lane partial sums:
// results do not depend on the ISA or the compiler's vector width. About 40-45 M values/s per
// thread for Q4_K..Q6_K, 20-30 for Q2_K/Q3_K (the first, dense-search version ran at ~1).
#include <algorithm>
#include <cfloat>
#include <cmath>
#include <cstring>

#include "ld-ggml/quants-ref.h"
#include "cpu/quant-decode.h"
#include "quants-ref-fit.h"

namespace ld::ggml {

namespace {

using namespace qfit;

// ------------------------------------------------------------------------------ small helpers


// Nearest level of v in [lo, hi] (float, vectorisable; NaN gives lo): clamp, then round half up.
inline float level_of(float v, float lo, float hi) {
    v = v > lo ? v : lo;
    v = v < hi ? v : hi;
    return (float)(int)(v - lo + 0.5f) + lo;
}


// Q8_K's rounding: ggml's magic-number trick (round half to even, valid for |v| < 2^22).
inline int nearest_int_magic(float v) {
    const float val = v + 12582912.0f;
    int32_t i;
    std::memcpy(&i, &val, 4);
    return (i & 0x007fffff) - 0x00400000;
}


// The rounding loops vectorise only as loops of their own: inlined (or specialised on constant
// arguments) into the unrolled callers, the compiler no longer if-converts their selects.
#if defined(__GNUC__) && !defined(__clang__)
#define LD_OUT_OF_LINE __attribute__((noipa))
#elif defined(__GNUC__)
#define LD_OUT_OF_LINE __attribute__((noinline))
#else
#define LD_OUT_OF_LINE
#endif



// fp16 scale stored for a fitted scale s of the normalised data; s_norm: that stored value back in
// normalised units.
inline fp16_t stored_scale(double s, float p, double & s_norm) {
    const fp16_t h = fp16_sat(s / p);
    s_norm = (double)fp16_to_f32(h) * p;
    return h;
}

// Sum, sum of squares, min and max of LEN values.
template <int LEN>
void value_stats(const float * x, double & sx, double & sxx, float & lo, float & hi) {
    float x2[LEN];
    for (int j = 0; j < LEN; ++j) x2[j] = x[j] * x[j];
    sx = lane_sum<LEN>(x);
    sxx = lane_sum<LEN>(x2);
    lo = hi = x[0];
    for (int j = 1; j < LEN; ++j) {
        lo = x[j] < lo ? x[j] : lo;
        hi = x[j] > hi ? x[j] : hi;
    }
}

// Candidate scales of the sub-block fit: the sub-block's extent maps onto den = top + off[k] levels
// (k < count <= 16), top being the largest level magnitude. Few candidates, then polishing.
// exact: refine the integer scales (and mins) on the exact error after re-rounding rather than on
// the fixed-level model alone: 0 never, 1 for each scale's model-best min, 2 also for that min +-1
// (1 to 3 passes per candidate scale; worth it for the few-level types).
struct Candidates { double off[16]; int count; int exact; };

// ------------------------------------------------------------------------------ affine sub-blocks

// y = s*q + b with q in 0..nmax, s >= 0, b <= 0 (the K-quant "scale and min" form). The levels q are
// those of one rounding; the sums over them give the squared error of any (S, B) on those same
// levels in closed form (model()).
struct AffineFit {
    double n = 0, sx = 0, sxx = 0;     // level-independent sums
    double sq = 0, sqq = 0, sxq = 0;   // sums over the levels
    double s = 0, b = 0, err = 0;      // least-squares (constrained) fit on the levels, its error
    int qlo = 0, qhi = 0;              // smallest and largest level used

    double model(double S, double B) const {
        return sxx - 2.0 * S * sxq - 2.0 * B * sx + S * S * sqq + 2.0 * S * B * sq + n * B * B;
    }
};

struct LevelSums { double sq, sqq, sxq; };

constexpr int kMaxCand = 16;

// A candidate replaces the best fit only when its gain is larger by this factor: values already on
// a grid also fit a coarser grid exactly when they use only every k-th level, and float sums cannot
// tell the two apart; the finer scale (tried first) then wins, as it did when the block was made.
constexpr double kTieTol = 1.0 + 1e-6;  // most candidates of one fit (per side for the symmetric fit)

// One rounding pass over LEN values: levels of (x - rb) * rinv in 0..nmax and their sums. The
// rounding loop vectorises as a loop (its selects need if-conversion, which fails once the loop is
// unrolled into a caller: hence out of line, one candidate per call); the sums are lane sums.
template <int LEN>
LD_OUT_OF_LINE LevelSums affine_pass(const float * x, float rb, float rinv, float nmax) {
    float q[LEN], qq[LEN], xq[LEN];
    for (int j = 0; j < LEN; ++j) {
        q[j] = level_of((x[j] - rb) * rinv, 0.0f, nmax);
        qq[j] = q[j] * q[j];
        xq[j] = x[j] * q[j];
    }
    return {lane_sum<LEN>(q), lane_sum<LEN>(qq), lane_sum<LEN>(xq)};
}

// Final levels: nearest to x under the stored scale S > 0 and min M, as the dequantizer computes
// S*q - M (out of line so that the loop vectorises, as affine_pass).
template <int LEN>
LD_OUT_OF_LINE void affine_levels(const float * x, float S, float M, float nmax, uint8_t * q) {
    for (int j = 0; j < LEN; ++j) q[j] = (uint8_t)level_of((x[j] + M) / S, 0.0f, nmax);
}

// Squared error of LEN values under scale S and min M, each value at its nearest level.
template <int LEN>
LD_OUT_OF_LINE double affine_sq_error(const float * x, float S, float M, float nmax) {
    float e2[LEN];
    for (int j = 0; j < LEN; ++j) {
        const float e = S * level_of((x[j] + M) / S, 0.0f, nmax) - M - x[j];
        e2[j] = e * e;
    }
    return lane_sum<LEN>(e2);
}

// Least-squares fit on given level sums with s > 0, b <= 0: its error is sxx minus the gain
// num/den (den > 0), returned as a fraction so candidates compare without a division. False when
// no fit has s > 0.
inline bool affine_gain(const AffineFit & f, const LevelSums & ls, double & num, double & den) {
    const double det = f.n * ls.sqq - ls.sq * ls.sq;  // exact: integer sums
    const double bnum = ls.sqq * f.sx - ls.sq * ls.sxq;
    if (det > 0.0 && bnum <= 0.0) {
        const double snum = f.n * ls.sxq - ls.sq * f.sx;
        if (!(snum > 0.0)) return false;
        num = snum * ls.sxq + bnum * f.sx;  // (s*sxq + b*sx) * det
        den = det;
    } else {  // the optimum has b > 0 (the best b <= 0 is 0), or a single level: y = s*q
        if (!(ls.sxq > 0.0) || !(ls.sqq > 0.0)) return false;
        num = ls.sxq * ls.sxq;
        den = ls.sqq;
    }
    return std::isfinite(num) && std::isfinite(den);
}

// The (s, b) whose gain affine_gain() measured.
inline void affine_solve(const AffineFit & f, const LevelSums & ls, double & s, double & b) {
    const double det = f.n * ls.sqq - ls.sq * ls.sq;
    const double bnum = ls.sqq * f.sx - ls.sq * ls.sxq;
    if (det > 0.0 && bnum <= 0.0) {
        s = (f.n * ls.sxq - ls.sq * f.sx) / det;
        b = bnum / det;
    } else {
        s = ls.sxq / ls.sqq;
        b = 0.0;
    }
}

template <int LEN>
AffineFit fit_affine(const float * x, int nmax, const Candidates & cand) {
    AffineFit f;
    float lo, hi;
    value_stats<LEN>(x, f.sx, f.sxx, lo, hi);
    f.n = LEN;
    const float xmin = lo < 0.0f ? lo : 0.0f;
    f.b = xmin;  // fallback: every value at level 0
    f.err = f.model(0.0, xmin);
    if (!(hi > xmin) || !std::isfinite(f.err)) return f;

    const float fn = (float)nmax;
    double gnum = f.sxx - f.err, gden = 1.0;  // best gain so far
    float best_rb = 0.0f, best_rinv = 0.0f;
    LevelSums best_ls{0, 0, 0};
    bool found = false;
    auto consider = [&](const LevelSums & ls, float rb, float rinv) {
        double num, den;
        if (!affine_gain(f, ls, num, den) || !(num * gden > gnum * den * kTieTol)) return false;
        gnum = num; gden = den; best_ls = ls; best_rb = rb; best_rinv = rinv;
        return found = true;
    };
    const int nc = std::min(cand.count, kMaxCand);
    float rinv[kMaxCand] = {};
    LevelSums ls[kMaxCand] = {};
    const double irange = 1.0 / ((double)hi - xmin);
    for (int c = 0; c < nc; ++c) rinv[c] = (float)(std::max(1.0, nmax + cand.off[c]) * irange);
    for (int c = 0; c < nc; ++c) ls[c] = affine_pass<LEN>(x, xmin, rinv[c], fn);
    for (int c = nc - 1; c >= 0; --c) consider(ls[c], xmin, rinv[c]);  // finest scale first (ties)
    if (!found) return f;
    affine_solve(f, best_ls, f.s, f.b);
    {  // snap: the extent onto the whole number of levels the best fit gives it (values already on
       // a grid that does not use every level fit exactly this way)
        const int den = round_clamp(((double)hi - xmin) / f.s, 1, nmax);
        const float ri = (float)(den * irange);
        ls[0] = affine_pass<LEN>(x, xmin, ri, fn);
        if (consider(ls[0], xmin, ri)) affine_solve(f, best_ls, f.s, f.b);
    }
    for (int it = 0; it < 2 && f.s > 0.0; ++it) {  // polish: the levels of the best refit itself
        const float rb = (float)f.b, ri = (float)(1.0 / f.s);
        ls[0] = affine_pass<LEN>(x, rb, ri, fn);
        if (!consider(ls[0], rb, ri)) break;
        affine_solve(f, best_ls, f.s, f.b);
    }
    f.sq = best_ls.sq; f.sqq = best_ls.sqq; f.sxq = best_ls.sxq;
    f.err = f.model(f.s, f.b);
    // rounding is monotone in x: the extreme values give the extreme levels
    f.qlo = (int)level_of((lo - best_rb) * best_rinv, 0.0f, fn);
    f.qhi = (int)level_of((hi - best_rb) * best_rinv, 0.0f, fn);
    return f;
}

// A sub-block's candidate scale S with what affine_best_min() needs of it: the best offset
// Bopt = S*t - M for the fit's levels, its error E0 (any other offset B adds n*(B - Bopt)^2), 1/S.
struct ScaleTry {
    double S = 0, Bopt = 0, E0 = 0, iS = 0;
    ScaleTry() = default;
    ScaleTry(const AffineFit & fk, double s)
        : S(s), Bopt((fk.sx - s * fk.sq) / fk.n), E0(fk.model(s, Bopt)), iS(s > 0.0 ? 1.0 / s : 0.0) {}
};

// Smallest modelled error of a sub-block under the scale st.S over its integer min (dmin ms, 1/ms in
// ims): the levels may shift by t (q + t must stay in 0..nmax; S*(q+t) - M is S*q - (M - S*t)), and
// for each shift the two integer mins around the optimal one are tried. A dequantized sub-block
// whose lowest level is not 0 is matched exactly this way. Returns the error; the min in m_out.
inline double affine_best_min(const AffineFit & fk, const ScaleTry & st, double ms, double ims, int nmax, int smax,
                              int & m_out) {
    int tlo = 0, thi = 0;
    if (st.S > 0.0) {  // only shifts whose optimal min lies in 0 .. smax*dmin (+- one level)
        tlo = std::max(-fk.qlo, round_clamp(st.Bopt * st.iS, -nmax - 1, nmax + 1) - 1);
        thi = std::min(nmax - fk.qhi, round_clamp((st.Bopt + ms * smax) * st.iS, -nmax - 1, nmax + 1) + 1);
    }
    double best = INFINITY;  // smallest |B - Bopt|
    m_out = 0;
    for (int t = tlo; t <= thi; ++t) {
        const double Mopt = st.S * t - st.Bopt;
        const int mf = round_clamp(Mopt * ims - 0.5, 0, smax);  // floor
        for (int mv = mf; mv <= std::min(mf + 1, smax); ++mv) {
            const double dist = std::fabs(Mopt - ms * mv);
            if (dist < best) { best = dist; m_out = mv; }
        }
    }
    if (!(best < INFINITY)) {  // no admissible shift: the min nearest to the fit's own
        m_out = round_clamp(-fk.b * ims, 0, smax);
        return fk.model(st.S, -ms * m_out);
    }
    return st.E0 + fk.n * best * best;
}

// Affine super-block: NSUB sub-blocks of LEN values, levels 0..nmax, integer scales and mins in
// 0..smax. Outputs the fp16 d and dmin, the integer scales/mins and every level q.
template <int NSUB, int LEN>
void encode_affine(const float * x, int nmax, int smax, const Candidates & cand, fp16_t & d_out,
                   fp16_t & dmin_out, uint8_t * sc, uint8_t * mn, uint8_t * q) {
    float xs[NSUB * LEN];
    const float p = normalize_block(x, NSUB * LEN, xs);
    d_out = dmin_out = f32_to_fp16(0.0f);
    if (p == 0.0f) {
        std::memset(sc, 0, NSUB); std::memset(mn, 0, NSUB); std::memset(q, 0, NSUB * LEN);
        return;
    }
    AffineFit f[NSUB];
    double maxs = 0.0, maxm = 0.0;
    for (int k = 0; k < NSUB; ++k) {
        f[k] = fit_affine<LEN>(xs + k * LEN, nmax, cand);
        maxs = std::max(maxs, f[k].s);
        maxm = std::max(maxm, -f[k].b);
    }
    // d and dmin: the largest sub-block scale (min) maps onto smax, smax-1, .. smax-3 (a dequantized
    // block is reproduced exactly this way). d is chosen first on the modelled error with every
    // sub-block at its best offset, then dmin with the offsets on its grid.
    constexpr int kC = 4;
    double dc[kC], mc[kC];
    fp16_t dh[kC], mh[kC];
    int scs[kC][NSUB];
    ScaleTry tries[kC][NSUB];
    for (int c = 0; c < kC; ++c) {
        dh[c] = stored_scale(maxs / (smax - c), p, dc[c]);
        mh[c] = stored_scale(maxm / (smax - c), p, mc[c]);
        const double id = dc[c] > 0.0 ? 1.0 / dc[c] : 0.0;
        for (int k = 0; k < NSUB; ++k) {
            scs[c][k] = round_clamp(f[k].s * id, 0, smax);
            tries[c][k] = ScaleTry(f[k], dc[c] * scs[c][k]);
        }
    }
    double best = INFINITY, ds = 0.0, ms = 0.0;
    int bkd = 0, bkm = 0, mtmp;
    for (int kd = 0; kd < kC; ++kd) {  // d first, each sub-block with its best offset (any dmin)
        double e = 0.0;
        for (int k = 0; k < NSUB; ++k) e += tries[kd][k].E0;
        if (e < best) { best = e; bkd = kd; }
    }
    best = INFINITY;
    for (int km = 0; km < kC; ++km) {  // then dmin, the offsets now on its grid
        const double imc = mc[km] > 0.0 ? 1.0 / mc[km] : 0.0;
        double e = 0.0;
        for (int k = 0; k < NSUB; ++k) e += affine_best_min(f[k], tries[bkd][k], mc[km], imc, nmax, smax, mtmp);
        if (e < best) { best = e; bkm = km; }
    }
    d_out = dh[bkd]; dmin_out = mh[bkm]; ds = dc[bkd]; ms = mc[bkm];
    const double ims = ms > 0.0 ? 1.0 / ms : 0.0;
    const float d = fp16_to_f32(d_out), dmin = fp16_to_f32(dmin_out);
    for (int k = 0; k < NSUB; ++k) {
        // integer scale: the rounded one and its neighbours, each with its best min
        const int sc0 = scs[bkd][k];
        double bestk = INFINITY;
        for (int scv = std::max(sc0 - 1, 0); scv <= std::min(sc0 + 1, smax); ++scv) {
            int mv;
            const double e = affine_best_min(f[k], scv == sc0 ? tries[bkd][k] : ScaleTry(f[k], ds * scv), ms, ims,
                                             nmax, smax, mv);
            if (!cand.exact) {
                if (e < bestk) { bestk = e; sc[k] = (uint8_t)scv; mn[k] = (uint8_t)mv; }
                continue;
            }
            const int mspan = cand.exact > 1 ? 1 : 0;
            for (int mx = std::max(mv - mspan, 0); mx <= std::min(mv + mspan, smax); ++mx) {
                const double ex = affine_sq_error<LEN>(xs + k * LEN, (float)(ds * scv), (float)(ms * mx), (float)nmax);
                if (ex < bestk) { bestk = ex; sc[k] = (uint8_t)scv; mn[k] = (uint8_t)mx; }
            }
        }
        // levels, nearest under the stored scale and min as the dequantizer computes them
        const float S = d * (float)sc[k], M = dmin * (float)mn[k];
        const float * xk = x + k * LEN;
        uint8_t * qk = q + k * LEN;
        if (S > 0.0f) affine_levels<LEN>(xk, S, M, (float)nmax, qk);
        else std::memset(qk, 0, LEN);
    }
}

// ------------------------------------------------------------------------------ symmetric sub-blocks

// y = s*q with q in qmin..qmax (s may be negative); sums over the levels of one rounding.
struct SymFit {
    double sxx = 0, sxq = 0, sqq = 0, s = 0, err = 0;
    double model(double S) const { return sxx - 2.0 * S * sxq + S * S * sqq; }
};

// One rounding pass: levels of x * rinv in qmin..qmax and their sums sxq, sqq (see affine_pass).
template <int LEN>
LD_OUT_OF_LINE void sym_pass(const float * x, float rinv, float qmin, float qmax, double & sxq, double & sqq) {
    float qq[LEN], xq[LEN];
    for (int j = 0; j < LEN; ++j) {
        const float q = level_of(x[j] * rinv, qmin, qmax);
        qq[j] = q * q;
        xq[j] = x[j] * q;
    }
    sxq = lane_sum<LEN>(xq);
    sqq = lane_sum<LEN>(qq);
}

// Final levels under the stored scale S != 0 (see affine_levels).
template <int LEN>
LD_OUT_OF_LINE void sym_levels(const float * x, float S, float qmin, float qmax, int * q) {
    for (int j = 0; j < LEN; ++j) q[j] = (int)level_of(x[j] / S, qmin, qmax);
}

// Squared error of LEN values under scale S, each value at its nearest level.
template <int LEN>
LD_OUT_OF_LINE double sym_sq_error(const float * x, float S, float qmin, float qmax) {
    float e2[LEN];
    for (int j = 0; j < LEN; ++j) {
        const float e = S * level_of(x[j] / S, qmin, qmax) - x[j];
        e2[j] = e * e;
    }
    return lane_sum<LEN>(e2);
}

template <int LEN>
SymFit fit_symmetric(const float * x, int qmin, int qmax, const Candidates & cand) {
    SymFit f;
    float xm = 0.0f, x2[LEN];
    for (int j = 0; j < LEN; ++j) x2[j] = x[j] * x[j];
    for (int j = 0; j < LEN; ++j) xm = std::fabs(x[j]) > std::fabs(xm) ? x[j] : xm;
    f.sxx = lane_sum<LEN>(x2);
    f.err = f.sxx;
    if (xm == 0.0f || !std::isfinite(f.sxx)) return f;
    // The least-squares s = sxq/sqq has error sxx - sxq^2/sqq: compare the gains as fractions.
    double gnum = 0.0, gden = 1.0;
    bool found = false;
    auto consider = [&](double sxq, double sqq) {
        if (!(sqq > 0.0) || sxq == 0.0 || !std::isfinite(sxq)) return false;
        const double num = sxq * sxq;
        if (!(num * gden > gnum * sqq * kTieTol)) return false;
        gnum = num; gden = sqq; f.sxq = sxq; f.sqq = sqq;
        return found = true;
    };
    // the extreme value maps to level +-den, den near the end level of either side
    const int nc = std::min(cand.count, kMaxCand);
    float rinv[2 * kMaxCand];
    double sxq[2 * kMaxCand], sqq[2 * kMaxCand];
    const double ixm = 1.0 / xm;
    for (int c = 0; c < nc; ++c) {
        rinv[c] = (float)(-std::max(1.0, -qmin + cand.off[c]) * ixm);
        rinv[nc + c] = (float)(std::max(1.0, qmax + cand.off[c]) * ixm);
    }
    for (int c = 0; c < 2 * nc; ++c) sym_pass<LEN>(x, rinv[c], (float)qmin, (float)qmax, sxq[c], sqq[c]);
    for (int c = nc - 1; c >= 0; --c) consider(sxq[c], sqq[c]);  // finest scales first (ties)
    for (int c = 2 * nc - 1; c >= nc; --c) consider(sxq[c], sqq[c]);
    if (!found) return f;
    f.s = f.sxq / f.sqq;
    {  // snap: the extreme value onto the level nearest to where the best fit puts it (values
       // already on a grid whose extreme is not at an end level fit exactly this way)
        const int lv = round_clamp(xm / f.s, qmin, qmax);
        if (lv != 0) {
            sym_pass<LEN>(x, (float)(lv * ixm), (float)qmin, (float)qmax, sxq[0], sqq[0]);
            if (consider(sxq[0], sqq[0])) f.s = f.sxq / f.sqq;
        }
    }
    for (int it = 0; it < 2; ++it) {  // polish: the levels of the best refit itself
        const float ri = (float)(1.0 / f.s);
        sym_pass<LEN>(x, ri, (float)qmin, (float)qmax, sxq[0], sqq[0]);
        if (!consider(sxq[0], sqq[0])) break;
        f.s = f.sxq / f.sqq;
    }
    f.err = f.model(f.s);
    return f;
}

// Symmetric super-block: levels qmin..qmax, signed integer scales in smin..smax (smin < 0 is the
// level the largest-magnitude sub-block scale maps to). Outputs fp16 d, scales and levels.
template <int NSUB, int LEN>
void encode_symmetric(const float * x, int qmin, int qmax, int smin, int smax, const Candidates & cand,
                      fp16_t & d_out, int * sc, int * q) {
    float xs[NSUB * LEN];
    const float p = normalize_block(x, NSUB * LEN, xs);
    d_out = f32_to_fp16(0.0f);
    if (p == 0.0f) {
        for (int k = 0; k < NSUB; ++k) sc[k] = 0;
        for (int j = 0; j < NSUB * LEN; ++j) q[j] = 0;
        return;
    }
    SymFit f[NSUB];
    double sm = 0.0;
    for (int k = 0; k < NSUB; ++k) {
        f[k] = fit_symmetric<LEN>(xs + k * LEN, qmin, qmax, cand);
        if (std::fabs(f[k].s) > std::fabs(sm)) sm = f[k].s;
    }
    // d: the largest sub-block scale maps onto smin, smin+1, .. smin+3 or smax, .. smax-3; keep the best.
    double best = INFINITY, ds = 0.0;
    for (int kd = 0; kd <= 7; ++kd) {
        double dc;
        const fp16_t dh = stored_scale(sm / (kd < 4 ? smin + kd : smax - (kd - 4)), p, dc);
        const double id = dc != 0.0 ? 1.0 / dc : 0.0;
        double e = 0.0;
        for (int k = 0; k < NSUB; ++k) e += f[k].model(dc * round_clamp(f[k].s * id, smin, smax));
        if (e < best) { best = e; d_out = dh; ds = dc; }
    }
    const float d = fp16_to_f32(d_out);
    const double ids = ds != 0.0 ? 1.0 / ds : 0.0;
    for (int k = 0; k < NSUB; ++k) {
        const int sc0 = round_clamp(f[k].s * ids, smin, smax);
        double bestk = INFINITY;
        for (int scv = std::max(sc0 - 1, smin); scv <= std::min(sc0 + 1, smax); ++scv) {
            const double e = cand.exact ? sym_sq_error<LEN>(xs + k * LEN, (float)(ds * scv), (float)qmin, (float)qmax)
                                        : f[k].model(ds * scv);
            if (e < bestk) { bestk = e; sc[k] = scv; }
        }
        const float S = d * (float)sc[k];
        const float * xk = x + k * LEN;
        int * qk = q + k * LEN;
        if (S != 0.0f) {
            sym_levels<LEN>(xk, S, (float)qmin, (float)qmax, qk);
        } else {
            for (int j = 0; j < LEN; ++j) qk[j] = 0;
        }
    }
}

// Candidate sets per type, chosen on Gaussian data: close to the error of a dense search, with the
// integer offsets down to -3/-4 so that dequantized sub-blocks whose extreme level is not the end
// level are refit exactly (re-quantization stability).
#ifndef CAND_Q2K  // (overridable for tuning experiments)
#define CAND_Q2K {{-2, -1.75, -1.5, -1.25, -1, -0.75, -0.5, -0.25, 0, 0.25, 0.5, 0.75, 1}, 13, 2}
#define CAND_Q3K {{-3, -2.5, -2, -1.5, -1, -0.75, -0.5, -0.25, 0, 0.5, 1}, 11, 2}
#define CAND_Q4K {{-4, -3, -2, -1.5, -1, -0.5, 0, 0.5, 1}, 9, 0}
#define CAND_Q5K {{-4, -3, -2, -1, -0.5, 0, 0.5, 1}, 8, 0}
#define CAND_Q6K {{-3, -2, -1, -0.5, 0, 0.5}, 6, 0}
#endif
constexpr Candidates kCandQ2K = CAND_Q2K, kCandQ3K = CAND_Q3K, kCandQ4K = CAND_Q4K, kCandQ5K = CAND_Q5K,
                     kCandQ6K = CAND_Q6K;

// Q4_K/Q5_K packing of eight 6-bit scales and mins into 12 bytes (inverse of the spec's unpacking).
void pack_scales_k4(const uint8_t * sc, const uint8_t * mn, uint8_t * s) {
    for (int j = 0; j < 4; ++j) {
        s[j] = (uint8_t)((sc[j] & 63) | ((sc[j + 4] >> 4) << 6));
        s[j + 4] = (uint8_t)((mn[j] & 63) | ((mn[j + 4] >> 4) << 6));
        s[j + 8] = (uint8_t)((sc[j + 4] & 15) | ((mn[j + 4] & 15) << 4));
    }
}

}  // namespace

// ============================================================================ dequantization

void dequantize_row_q2_K(const block_q2_K * x, float * y, int64_t n) {
    const int64_t nb = n / QK_K;
    for (int64_t b = 0; b < nb; ++b, y += QK_K) {
        const float d = fp16_to_f32(x[b].d), dmin = fp16_to_f32(x[b].dmin);
        for (int i = 0; i < QK_K; ++i) {
            const int s = i / 16, h = i / 128, k = (i % 128) / 32, l = i % 32;
            const float dl = d * (float)(x[b].scales[s] & 15);
            const float ml = dmin * (float)(x[b].scales[s] >> 4);
            const int q = (x[b].qs[32 * h + l] >> (2 * k)) & 3;
            y[i] = dl * (float)q - ml;
        }
    }
}

void dequantize_row_q3_K(const block_q3_K * x, float * y, int64_t n) {
    const int64_t nb = n / QK_K;
    for (int64_t b = 0; b < nb; ++b, y += QK_K) {
        const float d = fp16_to_f32(x[b].d);
        const uint8_t * sb = x[b].scales;
        float dl[16];
        for (int s = 0; s < 16; ++s) {
            const int lo4 = s < 8 ? (sb[s] & 15) : (sb[s - 8] >> 4);
            const int hi2 = (sb[8 + s % 4] >> (2 * (s / 4))) & 3;
            dl[s] = d * (float)((lo4 | (hi2 << 4)) - 32);
        }
        for (int i = 0; i < QK_K; ++i) {
            const int h = i / 128, k = (i % 128) / 32, l = i % 32;
            const int low = (x[b].qs[32 * h + l] >> (2 * k)) & 3;
            const int hb = (x[b].hmask[l] >> (4 * h + k)) & 1;
            y[i] = dl[i / 16] * (float)(low - (hb ? 0 : 4));
        }
    }
}

void dequantize_row_q4_K(const block_q4_K * x, float * y, int64_t n) {
    const int64_t nb = n / QK_K;
    for (int64_t b = 0; b < nb; ++b, y += QK_K) {
        const float d = fp16_to_f32(x[b].d), dmin = fp16_to_f32(x[b].dmin);
        for (int c = 0; c < 4; ++c) {
            int sc0, m0, sc1, m1;
            dec::scale_min_k4(2 * c, x[b].scales, sc0, m0);
            dec::scale_min_k4(2 * c + 1, x[b].scales, sc1, m1);
            const float d0 = d * (float)sc0, mm0 = dmin * (float)m0;
            const float d1 = d * (float)sc1, mm1 = dmin * (float)m1;
            const uint8_t * qs = x[b].qs + 32 * c;
            for (int l = 0; l < 32; ++l) {
                y[64 * c + l] = d0 * (float)(qs[l] & 15) - mm0;
                y[64 * c + 32 + l] = d1 * (float)(qs[l] >> 4) - mm1;
            }
        }
    }
}

void dequantize_row_q5_K(const block_q5_K * x, float * y, int64_t n) {
    const int64_t nb = n / QK_K;
    for (int64_t b = 0; b < nb; ++b, y += QK_K) {
        const float d = fp16_to_f32(x[b].d), dmin = fp16_to_f32(x[b].dmin);
        for (int c = 0; c < 4; ++c) {
            int sc0, m0, sc1, m1;
            dec::scale_min_k4(2 * c, x[b].scales, sc0, m0);
            dec::scale_min_k4(2 * c + 1, x[b].scales, sc1, m1);
            const float d0 = d * (float)sc0, mm0 = dmin * (float)m0;
            const float d1 = d * (float)sc1, mm1 = dmin * (float)m1;
            const uint8_t * qs = x[b].qs + 32 * c;
            for (int l = 0; l < 32; ++l) {
                const int q0 = (qs[l] & 15) | (((x[b].qh[l] >> (2 * c)) & 1) << 4);
                const int q1 = (qs[l] >> 4) | (((x[b].qh[l] >> (2 * c + 1)) & 1) << 4);
                y[64 * c + l] = d0 * (float)q0 - mm0;
                y[64 * c + 32 + l] = d1 * (float)q1 - mm1;
            }
        }
    }
}

void dequantize_row_q6_K(const block_q6_K * x, float * y, int64_t n) {
    const int64_t nb = n / QK_K;
    for (int64_t b = 0; b < nb; ++b, y += QK_K) {
        const float d = fp16_to_f32(x[b].d);
        float dl[16];
        for (int s = 0; s < 16; ++s) dl[s] = d * (float)x[b].scales[s];
        for (int h = 0; h < 2; ++h) {
            const uint8_t * L = x[b].ql + 64 * h;
            const uint8_t * H = x[b].qh + 32 * h;
            for (int l = 0; l < 32; ++l) {
                const int i = 128 * h + l;
                const int q0 = (L[l] & 15) | (((H[l] >> 0) & 3) << 4);
                const int q1 = (L[l + 32] & 15) | (((H[l] >> 2) & 3) << 4);
                const int q2 = (L[l] >> 4) | (((H[l] >> 4) & 3) << 4);
                const int q3 = (L[l + 32] >> 4) | (((H[l] >> 6) & 3) << 4);
                y[i] = dl[i / 16] * (float)(q0 - 32);
                y[i + 32] = dl[(i + 32) / 16] * (float)(q1 - 32);
                y[i + 64] = dl[(i + 64) / 16] * (float)(q2 - 32);
                y[i + 96] = dl[(i + 96) / 16] * (float)(q3 - 32);
            }
        }
    }
}

void dequantize_row_q8_K(const block_q8_K * x, float * y, int64_t n) {
    const int64_t nb = n / QK_K;
    for (int64_t b = 0; b < nb; ++b, y += QK_K) {
        float d;
        std::memcpy(&d, &x[b].d, sizeof d);
        for (int i = 0; i < QK_K; ++i) y[i] = d * (float)x[b].qs[i];
    }
}

// ============================================================================ quantization

void quantize_row_q2_K_ref(const float * x, block_q2_K * y, int64_t n) {
    const int64_t nb = n / QK_K;
    for (int64_t b = 0; b < nb; ++b, x += QK_K) {
        uint8_t sc[16], mn[16], q[QK_K];
        encode_affine<16, 16>(x, 3, 15, kCandQ2K, y[b].d, y[b].dmin, sc, mn, q);
        for (int s = 0; s < 16; ++s) y[b].scales[s] = (uint8_t)(sc[s] | (mn[s] << 4));
        std::memset(y[b].qs, 0, sizeof y[b].qs);
        for (int i = 0; i < QK_K; ++i) {
            const int h = i / 128, k = (i % 128) / 32, l = i % 32;
            y[b].qs[32 * h + l] |= (uint8_t)(q[i] << (2 * k));
        }
    }
}

void quantize_row_q3_K_ref(const float * x, block_q3_K * y, int64_t n) {
    const int64_t nb = n / QK_K;
    for (int64_t b = 0; b < nb; ++b, x += QK_K) {
        int sc[16], q[QK_K];
        encode_symmetric<16, 16>(x, -4, 3, -32, 31, kCandQ3K, y[b].d, sc, q);
        std::memset(y[b].scales, 0, sizeof y[b].scales);
        for (int s = 0; s < 16; ++s) {
            const int u = sc[s] + 32;  // 0..63
            if (s < 8) y[b].scales[s] |= (uint8_t)(u & 15);
            else y[b].scales[s - 8] |= (uint8_t)((u & 15) << 4);
            y[b].scales[8 + s % 4] |= (uint8_t)((u >> 4) << (2 * (s / 4)));
        }
        std::memset(y[b].qs, 0, sizeof y[b].qs);
        std::memset(y[b].hmask, 0, sizeof y[b].hmask);
        for (int i = 0; i < QK_K; ++i) {
            const int h = i / 128, k = (i % 128) / 32, l = i % 32;
            const int u = q[i] + 4;  // 0..7: low two bits, and the high bit set means "no -4"
            y[b].qs[32 * h + l] |= (uint8_t)((u & 3) << (2 * k));
            y[b].hmask[l] |= (uint8_t)((u >> 2) << (4 * h + k));
        }
    }
}

void quantize_row_q4_K_ref(const float * x, block_q4_K * y, int64_t n) {
    const int64_t nb = n / QK_K;
    for (int64_t b = 0; b < nb; ++b, x += QK_K) {
        uint8_t sc[8], mn[8], q[QK_K];
        encode_affine<8, 32>(x, 15, 63, kCandQ4K, y[b].d, y[b].dmin, sc, mn, q);
        pack_scales_k4(sc, mn, y[b].scales);
        for (int c = 0; c < 4; ++c)
            for (int l = 0; l < 32; ++l)
                y[b].qs[32 * c + l] = (uint8_t)(q[64 * c + l] | (q[64 * c + 32 + l] << 4));
    }
}

void quantize_row_q5_K_ref(const float * x, block_q5_K * y, int64_t n) {
    const int64_t nb = n / QK_K;
    for (int64_t b = 0; b < nb; ++b, x += QK_K) {
        uint8_t sc[8], mn[8], q[QK_K];
        encode_affine<8, 32>(x, 31, 63, kCandQ5K, y[b].d, y[b].dmin, sc, mn, q);
        pack_scales_k4(sc, mn, y[b].scales);
        std::memset(y[b].qh, 0, sizeof y[b].qh);
        for (int c = 0; c < 4; ++c) {
            for (int l = 0; l < 32; ++l) {
                const int q0 = q[64 * c + l], q1 = q[64 * c + 32 + l];
                y[b].qs[32 * c + l] = (uint8_t)((q0 & 15) | ((q1 & 15) << 4));
                y[b].qh[l] |= (uint8_t)(((q0 >> 4) << (2 * c)) | ((q1 >> 4) << (2 * c + 1)));
            }
        }
    }
}

void quantize_row_q6_K_ref(const float * x, block_q6_K * y, int64_t n) {
    const int64_t nb = n / QK_K;
    for (int64_t b = 0; b < nb; ++b, x += QK_K) {
        int sc[16], q[QK_K];
        encode_symmetric<16, 16>(x, -32, 31, -128, 127, kCandQ6K, y[b].d, sc, q);
        for (int s = 0; s < 16; ++s) y[b].scales[s] = (int8_t)sc[s];
        for (int h = 0; h < 2; ++h) {
            uint8_t * L = y[b].ql + 64 * h;
            uint8_t * H = y[b].qh + 32 * h;
            const int * u = q + 128 * h;
            for (int l = 0; l < 32; ++l) {
                const int u0 = u[l] + 32, u1 = u[l + 32] + 32, u2 = u[l + 64] + 32, u3 = u[l + 96] + 32;
                L[l] = (uint8_t)((u0 & 15) | ((u2 & 15) << 4));
                L[l + 32] = (uint8_t)((u1 & 15) | ((u3 & 15) << 4));
                H[l] = (uint8_t)((u0 >> 4) | ((u1 >> 4) << 2) | ((u2 >> 4) << 4) | ((u3 >> 4) << 6));
            }
        }
    }
}

// Q8_K (docs/format.md §2.5): signed max (first on ties), iscale = -127/max, q = min(127, nearest_even(iscale*x)),
// d = 1/iscale as f32 (negative when max > 0), bsums per 16. A zero block gives d = 0, q = 0, bsums = 0.
void quantize_row_q8_K_ref(const float * x, block_q8_K * y, int64_t n) {
    const int64_t nb = n / QK_K;
    for (int64_t b = 0; b < nb; ++b, x += QK_K) {
        float amax = 0.0f, max = 0.0f;
        for (int i = 0; i < QK_K; ++i) {
            const float ax = std::fabs(x[i]);
            if (ax > amax) { amax = ax; max = x[i]; }
        }
        if (amax == 0.0f) {
            const float zero = 0.0f;
            std::memcpy(&y[b].d, &zero, sizeof zero);
            std::memset(y[b].qs, 0, sizeof y[b].qs);
            std::memset(y[b].bsums, 0, sizeof y[b].bsums);
            continue;
        }
        const float iscale = -127.0f / max;
        for (int i = 0; i < QK_K; ++i) {
            int v = nearest_int_magic(iscale * x[i]);
            if (v > 127) v = 127;
            if (v < -128) v = -128;  // unreachable for finite input (|iscale*x| <= 127); keeps the cast defined
            y[b].qs[i] = (int8_t)v;
        }
        for (int g = 0; g < QK_K / 16; ++g) {
            int sum = 0;
            for (int j = 0; j < 16; ++j) sum += y[b].qs[16 * g + j];
            y[b].bsums[g] = (int16_t)sum;
        }
        const float d = 1.0f / iscale;
        std::memcpy(&y[b].d, &d, sizeof d);
    }
}

}  // namespace ld::ggml
