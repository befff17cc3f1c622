// Reference dequantization of the lattice ("grid") types IQ1_S, IQ1_M, IQ2_XXS, IQ2_XS, IQ2_S,
// IQ3_XXS, IQ3_S (bit for bit the format's values, see cpu/iq-decode.h), and our own quantizers for
// the two of them that llama-quantize makes without an importance matrix: IQ3_XXS and IQ3_S. (IQ1_*
// and IQ2_* need one there; this engine has none, so it does not quantize to them.)
//
// IQ3 quantization, per 32-value sub-block (8 groups of 4 magnitudes; signs are stored apart):
// - a group's grid point: each magnitude (in units of the scale) is rounded to the nearest level,
//   which gives one of 8^4 = 4096 lattice cells; each cell has a precomputed list of the kCand grid
//   points nearest to it, and the one with the least squared error on the real magnitudes is taken;
// - the sub-block scale: candidate scales map the largest magnitude onto the top level (and a little
//   inside or beyond) or onto each lower level; the least-squares scale on each candidate's grid points is scored in closed
//   form, the best refitted twice;
// - the super-block d maps the largest sub-block scale onto the largest 4-bit code, then each
//   sub-block takes the code (nearest and its neighbours) with the least error, its grid points
//   re-chosen under the stored scale exactly as the dequantizer computes it;
// - IQ3_XXS stores 7 of every 8 signs (the 8th makes the count of negatives even): when the
//   values' signs have odd parity, the sign of the value whose flip costs least (|x| * magnitude)
//   is flipped.
// Plain scalar C++ on power-of-two-normalised blocks (quants-ref-fit.h): deterministic on every ISA.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include "cpu/iq-decode.h"
#include "ld-ggml/quants-ref.h"
#include "quants-ref-fit.h"

namespace ld::ggml {

namespace {

using namespace qfit;

// ============================================================================ dequantization

template <typename B, int BL, bool IQ1>
void dequant_iq(const B * x, float * y, int64_t n) {
    int8_t v[QK_K];
    float s[QK_K / 16];
    for (int64_t b = 0; b < n / QK_K; ++b, y += QK_K) {
        dec::iq_decode(x[b], v, s);
        for (int i = 0; i < QK_K; ++i)
            y[i] = IQ1 ? s[i / BL] * ((float)v[i] * 0.125f) : s[i / BL] * (float)v[i];
    }
}

// ============================================================================ IQ3 search tables

constexpr int kCand = 8;  // grid points tried per lattice cell

struct Lattice {
    const int8_t (*grid)[4];
    int n;
    const int8_t * levels;  // 8 ascending levels
    std::vector<uint16_t> cand;  // [4096][kCand]
    Lattice(const int8_t (*g)[4], int n_, const int8_t * lv) : grid(g), n(n_), levels(lv), cand(4096 * kCand) {
        std::vector<std::pair<int, int>> dist((size_t)n);
        for (int key = 0; key < 4096; ++key) {
            for (int i = 0; i < n; ++i) {
                int e = 0;
                for (int j = 0; j < 4; ++j) {
                    const int t = levels[(key >> (3 * j)) & 7] - grid[i][j];
                    e += t * t;
                }
                dist[(size_t)i] = {e, i};
            }
            std::partial_sort(dist.begin(), dist.begin() + kCand, dist.end());
            for (int c = 0; c < kCand; ++c) cand[(size_t)key * kCand + c] = (uint16_t)dist[(size_t)c].second;
        }
    }
    int level_index(float a) const {  // nearest level to a (a >= 0)
        int k = 0;
        while (k < 7 && a > 0.5f * (float)(levels[k] + levels[k + 1])) ++k;
        return k;
    }
    // Grid point for magnitudes a[4] (units of the scale): the cell's candidate of least squared error.
    int pick(const float * a) const {
        int key = 0;
        for (int j = 0; j < 4; ++j) key |= level_index(a[j]) << (3 * j);
        const uint16_t * c = &cand[(size_t)key * kCand];
        int best = c[0];
        float best_e = INFINITY;
        for (int k = 0; k < kCand; ++k) {
            const int8_t * g = grid[c[k]];
            float e = 0.0f;
            for (int j = 0; j < 4; ++j) {
                const float t = a[j] - (float)g[j];
                e += t * t;
            }
            if (e < best_e) { best_e = e; best = c[k]; }
        }
        return best;
    }
};

const Lattice & lattice_iq3xxs() {
    static const Lattice L(dec::kIq3xxsGrid.v, 256, iqgrid::kLevelsIq3xxs);
    return L;
}
const Lattice & lattice_iq3s() {
    static const Lattice L(dec::kIq3sGrid.v, 512, iqgrid::kLevelsIq3s);
    return L;
}

// Grid points of one 32-value sub-block of magnitudes a (normalised units) under scale t, and the
// least-squares statistics sxq = sum a*g, sqq = sum g^2 over them.
void pick_sub(const Lattice & L, const float * a, double t, int * idx, double & sxq, double & sqq) {
    float u[4];
    sxq = sqq = 0.0;
    const float it = (float)(1.0 / t);
    for (int k = 0; k < 8; ++k) {
        for (int j = 0; j < 4; ++j) u[j] = a[4 * k + j] * it;
        idx[k] = L.pick(u);
        for (int j = 0; j < 4; ++j) {
            const double g = L.grid[idx[k]][j];
            sxq += (double)a[4 * k + j] * g;
            sqq += g * g;
        }
    }
}

// The best scale of one sub-block of magnitudes a (normalised; 0 when all are 0).
double fit_sub(const Lattice & L, const float * a) {
    float amax = 0.0f;
    for (int j = 0; j < 32; ++j) amax = std::max(amax, a[j]);
    if (amax == 0.0f) return 0.0;
    int idx[8];
    double best_gain = -1.0, best_s = amax / (double)L.levels[7];
    auto consider = [&](double t) {
        double sxq, sqq;
        pick_sub(L, a, t, idx, sxq, sqq);
        if (!(sqq > 0.0) || !(sxq > 0.0)) return false;
        const double gain = sxq * sxq / sqq;  // error = sum a^2 - gain
        if (!(gain > best_gain)) return false;
        best_gain = gain;
        best_s = sxq / sqq;
        return true;
    };
    for (int k = 0; k < 10; ++k) consider(amax / ((double)L.levels[7] * (0.70 + 0.05 * k)));
    // and the largest magnitude on each lower level (the grid's flat points lie there)
    for (int k = 0; k < 7; ++k) consider(amax / (double)L.levels[k]);
    for (int it = 0; it < 2; ++it)
        if (!consider(best_s)) break;
    return best_s;
}

// Squared error of a sub-block of magnitudes a under the scale S, with its grid points in idx.
double sub_error(const Lattice & L, const float * a, double S, int * idx) {
    double sxq, sqq;
    pick_sub(L, a, S, idx, sxq, sqq);
    double e = 0.0;
    for (int k = 0; k < 8; ++k)
        for (int j = 0; j < 4; ++j) {
            const double t = (double)a[4 * k + j] - S * L.grid[idx[k]][j];
            e += t * t;
        }
    return e;
}

// Shared IQ3 flow over one super-block: normalised values xs, the fitted sub-block scales, the
// stored d, the chosen 4-bit codes and grid points. scale_of(d, l) is the sub-block scale the
// dequantizer computes from d and code l; lmax_mult the multiplier of d at code 15.
template <typename ScaleOf>
float quantize_iq3_super(const Lattice & L, const float * x, float * xs, float * a, int * codes, int (*idx)[8],
                         double lmax_mult, ScaleOf scale_of) {
    const float p = normalize_block(x, QK_K, xs);
    for (int j = 0; j < QK_K; ++j) a[j] = std::fabs(xs[j]);
    double sub[8], smax = 0.0;
    for (int ib = 0; ib < 8; ++ib) {
        sub[ib] = p != 0.0f ? fit_sub(L, a + 32 * ib) : 0.0;
        smax = std::max(smax, sub[ib]);
    }
    const float d = fp16_to_f32(fp16_sat(p != 0.0f ? smax / lmax_mult / p : 0.0));
    for (int ib = 0; ib < 8; ++ib) {
        codes[ib] = 0;
        for (int k = 0; k < 8; ++k) idx[ib][k] = 0;
        if (d == 0.0f || sub[ib] == 0.0) continue;
        // nearest code by scan (the scale is monotonic in l), then it and its neighbours by error
        int l0 = 0;
        double bd = INFINITY;
        for (int l = 0; l < 16; ++l) {
            const double e = std::fabs((double)scale_of(d, l) * p - sub[ib]);
            if (e < bd) { bd = e; l0 = l; }
        }
        double best = INFINITY;
        int tmp[8];
        for (int l = std::max(l0 - 1, 0); l <= std::min(l0 + 1, 15); ++l) {
            const double S = (double)scale_of(d, l) * p;
            const double e = sub_error(L, a + 32 * ib, S, tmp);
            if (e < best) {
                best = e;
                codes[ib] = l;
                std::memcpy(idx[ib], tmp, sizeof tmp);
            }
        }
    }
    return d;
}

// Sign bits of 8 values (bit j: xs[j] < 0), IQ3_XXS parity fixed: with an odd count of negatives the
// value whose flip costs least (|x| * magnitude g) changes sign.
unsigned signs_even(const float * xs, const int8_t * g) {
    unsigned m = 0;
    for (int j = 0; j < 8; ++j) m |= (xs[j] < 0.0f ? 1u : 0u) << j;
    int par = 0;
    for (int j = 0; j < 8; ++j) par ^= (int)((m >> j) & 1);
    if (par) {
        int jm = 0;
        float cm = INFINITY;
        for (int j = 0; j < 8; ++j) {
            const float c = std::fabs(xs[j]) * (float)g[j];
            if (c < cm) { cm = c; jm = j; }
        }
        m ^= 1u << jm;
    }
    return m;
}

}  // namespace

void dequantize_row_iq2_xxs(const block_iq2_xxs * x, float * y, int64_t n) { dequant_iq<block_iq2_xxs, dec::kIqBlIq2xxs, false>(x, y, n); }
void dequantize_row_iq2_xs(const block_iq2_xs * x, float * y, int64_t n) { dequant_iq<block_iq2_xs, dec::kIqBlIq2xs, false>(x, y, n); }
void dequantize_row_iq2_s(const block_iq2_s * x, float * y, int64_t n) { dequant_iq<block_iq2_s, dec::kIqBlIq2s, false>(x, y, n); }
void dequantize_row_iq3_xxs(const block_iq3_xxs * x, float * y, int64_t n) { dequant_iq<block_iq3_xxs, dec::kIqBlIq3xxs, false>(x, y, n); }
void dequantize_row_iq3_s(const block_iq3_s * x, float * y, int64_t n) { dequant_iq<block_iq3_s, dec::kIqBlIq3s, false>(x, y, n); }
void dequantize_row_iq1_s(const block_iq1_s * x, float * y, int64_t n) { dequant_iq<block_iq1_s, dec::kIqBlIq1s, true>(x, y, n); }
void dequantize_row_iq1_m(const block_iq1_m * x, float * y, int64_t n) { dequant_iq<block_iq1_m, dec::kIqBlIq1m, true>(x, y, n); }

void quantize_row_iq3_xxs_ref(const float * x, block_iq3_xxs * y, int64_t n) {
    const Lattice & L = lattice_iq3xxs();
    // the decoder's scale: d * (0.5 + l) * 0.5
    auto scale_of = [](float d, int l) { return d * (0.5f + (float)l) * 0.5f; };
    for (int64_t b = 0; b < n / QK_K; ++b, x += QK_K) {
        float xs[QK_K], a[QK_K];
        int codes[8], idx[8][8];
        const float d = quantize_iq3_super(L, x, xs, a, codes, idx, 15.5 * 0.5, scale_of);
        y[b].d = f32_to_fp16(d);
        for (int ib = 0; ib < 8; ++ib) {
            uint32_t w = (uint32_t)codes[ib] << 28;
            for (int l = 0; l < 4; ++l) {
                const int i0 = idx[ib][2 * l], i1 = idx[ib][2 * l + 1];
                y[b].qs[8 * ib + 2 * l] = (uint8_t)i0;
                y[b].qs[8 * ib + 2 * l + 1] = (uint8_t)i1;
                int8_t g[8];
                std::memcpy(g, L.grid[i0], 4);
                std::memcpy(g + 4, L.grid[i1], 4);
                w |= (signs_even(xs + 32 * ib + 8 * l, g) & 127u) << (7 * l);
            }
            std::memcpy(y[b].qs + 64 + 4 * ib, &w, 4);
        }
    }
}

void quantize_row_iq3_s_ref(const float * x, block_iq3_s * y, int64_t n) {
    const Lattice & L = lattice_iq3s();
    auto scale_of = [](float d, int l) { return d * (float)(1 + 2 * l); };
    for (int64_t b = 0; b < n / QK_K; ++b, x += QK_K) {
        float xs[QK_K], a[QK_K];
        int codes[8], idx[8][8];
        const float d = quantize_iq3_super(L, x, xs, a, codes, idx, 31.0, scale_of);
        block_iq3_s & o = y[b];
        std::memset(&o, 0, sizeof o);
        o.d = f32_to_fp16(d);
        for (int ib = 0; ib < 8; ++ib) {
            o.scales[ib / 2] |= (uint8_t)(codes[ib] << (4 * (ib % 2)));
            for (int k = 0; k < 8; ++k) {
                const int q = 8 * ib + k;
                o.qs[q] = (uint8_t)(idx[ib][k] & 255);
                o.qh[q / 8] |= (uint8_t)(((idx[ib][k] >> 8) & 1) << (q % 8));
            }
        }
        for (int j = 0; j < QK_K; ++j)
            if (xs[j] < 0.0f) o.signs[j / 8] |= (uint8_t)(1u << (j % 8));
    }
}

}  // namespace ld::ggml
