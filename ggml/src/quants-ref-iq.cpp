// Reference dequantization of the non-linear 4-bit types IQ4_NL, IQ4_XS and the FP4 type MXFP4,
// our own error-minimising IQ4 quantizers, and the reference MXFP4 quantizer.
// Layouts and formulas: docs/format.md §2.2-§2.3.
//
// MXFP4 quantization is bit-identical to gguf-py / ggml's reference: e = floor(log2(amax)) - 2 + 127
// (0 when amax is 0 or NaN; clamped to 0..254 where that formula leaves the byte range), then per
// value the code whose value d*kv is nearest (the first code on ties).
// IQ4 quantization (gguf cannot do it), per 32 values: the block is scaled by a power of two
// (exact) so its largest |x| lies in [0.5, 1); candidate scales map the largest-magnitude value onto
// either end of the table (and a little inside or beyond); each gets one pass choosing codes through
// a lookup table, and the least-squares scale on those codes is scored in closed form; the best is
// polished by re-choosing codes under it. IQ4_XS then maps the largest sub-block scale exactly onto
// the 6-bit scale -32 (so quantize(dequantize(q)) reproduces q) and picks each sub-block's integer
// scale among the nearest and its neighbours with the same closed-form error. The stored codes are
// the nearest under the stored scale, judged on the dequantized value itself. Plain scalar C++ with
// fixed 4-lane partial sums (deterministic on every ISA); about 20 M values/s per thread (the first,
// dense-search version ran at ~0.2).
#include <algorithm>
#include <cfloat>
#include <cmath>
#include <cstring>

#include "ld-ggml/quants-ref.h"
#include "quants-ref-fit.h"

namespace ld::ggml {

namespace {

using namespace qfit;



// Nearest table code for v in [-128, 128) (v in units of the scale), by half-unit cells: the
// midpoints between table values are integers or half-integers, so every cell lies on one side of
// each (a value exactly on a midpoint may get either code; both are equally near).
struct Iq4Lut {
    uint8_t code[512];
    float value[512];  // kvalues_iq4nl[code] as float
    constexpr Iq4Lut() : code(), value() {
        for (int i = 0; i < 512; ++i) {
            const double v = (i + 0.5) / 2.0 - 128.0;  // cell centre: never a midpoint
            int best = 0;
            for (int c = 1; c < 16; ++c) {
                const double e = v - kvalues_iq4nl[c], eb = v - kvalues_iq4nl[best];
                if (e * e < eb * eb) best = c;
            }
            code[i] = (uint8_t)best;
            value[i] = (float)kvalues_iq4nl[best];
        }
    }
};
constexpr Iq4Lut kIq4Lut{};

// Cell of v (NaN gives cell 0).
inline int iq4_cell(float v) {
    float u = (v + 128.0f) * 2.0f;
    u = u > 0.0f ? u : 0.0f;
    u = u < 511.0f ? u : 511.0f;
    return (int)u;
}

// Best code for x under the float scale d, judged on the dequantized value d*kv exactly.
inline int best_code_iq4(float d, float x) {
    if (d == 0.0f) return 8;  // kv = 1: the value is 0 anyway
    int c = kIq4Lut.code[iq4_cell(x / d)];
    // the float product may round differently from the division: check the neighbours
    float best = std::fabs(d * (float)kvalues_iq4nl[c] - x);
    const int c0 = c;
    for (int cc = c0 - 1; cc <= c0 + 1; cc += 2) {
        if (cc < 0 || cc > 15) continue;
        const float e = std::fabs(d * (float)kvalues_iq4nl[cc] - x);
        if (e < best) { best = e; c = cc; }
    }
    return c;
}




// Least-squares statistics of 32 values on the codes of one pass: the error of y = S*kv[code] is
// sxx - 2*S*sxk + S^2*skk.
struct Iq4Fit {
    double sxx = 0, sxk = 0, skk = 0, s = 0;
    double model(double S) const { return sxx - 2.0 * S * sxk + S * S * skk; }
};

// One pass: codes nearest to x * rinv, and the sums sxk, skk over their table values.
inline void iq4_pass(const float * x, float rinv, double & sxk, double & skk) {
    float xk[QK4_NL], kk[QK4_NL];
    for (int j = 0; j < QK4_NL; ++j) {
        const float k = kIq4Lut.value[iq4_cell(x[j] * rinv)];
        xk[j] = x[j] * k;
        kk[j] = k * k;
    }
    sxk = lane_sum<QK4_NL>(xk);
    skk = lane_sum<QK4_NL>(kk);
}

// Candidate scales: the largest-magnitude value maps to table end * (1 + kStepLo + k*kStep).
constexpr int kCandPerSide = 7;
constexpr double kStepLo = -0.04, kStep = 0.02;

// Scale s minimising sum (x - s*kv[code])^2 over 32 normalised values (s may be negative).
Iq4Fit fit_iq4(const float * x) {
    Iq4Fit f;
    float xm = 0.0f, x2[QK4_NL];
    for (int j = 0; j < QK4_NL; ++j) x2[j] = x[j] * x[j];
    for (int j = 0; j < QK4_NL; ++j) xm = std::fabs(x[j]) > std::fabs(xm) ? x[j] : xm;
    f.sxx = lane_sum<QK4_NL>(x2);
    if (xm == 0.0f || !std::isfinite(f.sxx)) return f;
    // the least-squares s = sxk/skk has error sxx - sxk^2/skk: compare the gains as fractions
    double gnum = 0.0, gden = 1.0;
    bool found = false;
    auto consider = [&](double sxk, double skk) {
        if (!(skk > 0.0) || sxk == 0.0 || !std::isfinite(sxk)) return false;
        const double num = sxk * sxk;
        if (!(num * gden > gnum * skk)) return false;
        gnum = num; gden = skk; f.sxk = sxk; f.skk = skk;
        return found = true;
    };
    const double ixm = 1.0 / xm;
    for (int side = 0; side < 2; ++side) {
        const double top = side == 0 ? kvalues_iq4nl[0] : kvalues_iq4nl[15];
        for (int k = 0; k < kCandPerSide; ++k) {
            double sxk, skk;
            iq4_pass(x, (float)(top * (1.0 + kStepLo + kStep * k) * ixm), sxk, skk);
            consider(sxk, skk);
        }
    }
    if (!found) return f;
    f.s = f.sxk / f.skk;
    for (int it = 0; it < 2; ++it) {  // polish: the codes of the best refit itself
        double sxk, skk;
        iq4_pass(x, (float)(1.0 / f.s), sxk, skk);
        if (!consider(sxk, skk)) break;
        f.s = f.sxk / f.skk;
    }
    return f;
}

}  // namespace

// ============================================================================ dequantization

void dequantize_row_iq4_nl(const block_iq4_nl * x, float * y, int64_t n) {
    const int64_t nb = n / QK4_NL;
    for (int64_t b = 0; b < nb; ++b, y += QK4_NL) {
        const float d = fp16_to_f32(x[b].d);
        for (int j = 0; j < QK4_NL / 2; ++j) {
            y[j] = d * (float)kvalues_iq4nl[x[b].qs[j] & 15];
            y[j + 16] = d * (float)kvalues_iq4nl[x[b].qs[j] >> 4];
        }
    }
}

void dequantize_row_iq4_xs(const block_iq4_xs * x, float * y, int64_t n) {
    const int64_t nb = n / QK_K;
    for (int64_t b = 0; b < nb; ++b, y += QK_K) {
        const float d = fp16_to_f32(x[b].d);
        const unsigned sh = x[b].scales_h;
        for (int s = 0; s < 8; ++s) {
            const int ls = ((x[b].scales_l[s / 2] >> (4 * (s % 2))) & 15) | (int)(((sh >> (2 * s)) & 3u) << 4);
            const float dl = d * (float)(ls - 32);
            const uint8_t * qs = x[b].qs + 16 * s;
            for (int j = 0; j < 16; ++j) {
                y[32 * s + j] = dl * (float)kvalues_iq4nl[qs[j] & 15];
                y[32 * s + 16 + j] = dl * (float)kvalues_iq4nl[qs[j] >> 4];
            }
        }
    }
}

void dequantize_row_mxfp4(const block_mxfp4 * x, float * y, int64_t n) {
    const int64_t nb = n / QK_MXFP4;
    for (int64_t b = 0; b < nb; ++b, y += QK_MXFP4) {
        const float d = e8m0_to_f32_half(x[b].e);
        for (int j = 0; j < QK_MXFP4 / 2; ++j) {
            y[j] = d * (float)kvalues_mxfp4[x[b].qs[j] & 15];
            y[j + 16] = d * (float)kvalues_mxfp4[x[b].qs[j] >> 4];
        }
    }
}

// ============================================================================ quantization

void quantize_row_iq4_nl_ref(const float * x, block_iq4_nl * y, int64_t n) {
    const int64_t nb = n / QK4_NL;
    for (int64_t b = 0; b < nb; ++b, x += QK4_NL) {
        float xs[QK4_NL];
        const float p = normalize_block(x, QK4_NL, xs);
        y[b].d = fp16_sat(p != 0.0f ? fit_iq4(xs).s / p : 0.0);
        const float d = fp16_to_f32(y[b].d);
        for (int j = 0; j < QK4_NL / 2; ++j)
            y[b].qs[j] = (uint8_t)(best_code_iq4(d, x[j]) | (best_code_iq4(d, x[j + 16]) << 4));
    }
}

void quantize_row_iq4_xs_ref(const float * x, block_iq4_xs * y, int64_t n) {
    const int64_t nb = n / QK_K;
    for (int64_t b = 0; b < nb; ++b, x += QK_K) {
        float xs[QK_K];
        const float p = normalize_block(x, QK_K, xs);
        Iq4Fit f[8];
        double sm = 0.0;
        if (p != 0.0f) {
            for (int k = 0; k < 8; ++k) {
                f[k] = fit_iq4(xs + 32 * k);
                if (std::fabs(f[k].s) > std::fabs(sm)) sm = f[k].s;
            }
        }
        y[b].d = fp16_sat(p != 0.0f ? sm / -32.0 / p : 0.0);
        const float d = fp16_to_f32(y[b].d);
        const double dn = (double)d * p;  // the stored d in normalised units
        unsigned sh = 0;
        std::memset(y[b].scales_l, 0, sizeof y[b].scales_l);
        for (int k = 0; k < 8; ++k) {
            const float * xk = x + 32 * k;
            const int l0 = dn != 0.0 ? round_clamp(f[k].s / dn, -32, 31) : 0;
            int ls = l0;
            double best = INFINITY;
            for (int lv = std::max(l0 - 1, -32); lv <= std::min(l0 + 1, 31); ++lv) {
                const double err = f[k].model(dn * lv);
                if (err < best) { best = err; ls = lv; }
            }
            const int u = ls + 32;
            y[b].scales_l[k / 2] |= (uint8_t)((u & 15) << (4 * (k % 2)));
            sh |= (unsigned)(u >> 4) << (2 * k);
            const float S = d * (float)ls;  // as the dequantizer computes it
            for (int j = 0; j < 16; ++j)
                y[b].qs[16 * k + j] = (uint8_t)(best_code_iq4(S, xk[j]) | (best_code_iq4(S, xk[j + 16]) << 4));
        }
        y[b].scales_h = (uint16_t)sh;
    }
}

void quantize_row_mxfp4_ref(const float * x, block_mxfp4 * y, int64_t n) {
    const int64_t nb = n / QK_MXFP4;
    for (int64_t b = 0; b < nb; ++b, x += QK_MXFP4) {
        float amax = 0.0f;  // NaN propagates, as in numpy's max
        for (int j = 0; j < QK_MXFP4; ++j) {
            const float a = std::fabs(x[j]);
            if (a > amax || a != a) amax = a;
            if (amax != amax) break;
        }
        int e = 0;
        if (amax > 0.0f) {
            const float v = std::floor(std::log2(amax)) - 2.0f + 127.0f;
            e = v < 0.0f ? 0 : (v > 254.0f ? 254 : (int)v);
        }
        y[b].e = (uint8_t)e;
        const float d = e8m0_to_f32_half((uint8_t)e);
        for (int j = 0; j < QK_MXFP4; ++j) {
            int best = 0;
            float best_err = std::fabs(d * (float)kvalues_mxfp4[0] - x[j]);
            for (int c = 1; c < 16; ++c) {
                const float err = std::fabs(d * (float)kvalues_mxfp4[c] - x[j]);
                if (err < best_err) { best_err = err; best = c; }
            }
            if (j < 16) y[b].qs[j] = (uint8_t)best;
            else y[b].qs[j - 16] |= (uint8_t)(best << 4);
        }
    }
}

}  // namespace ld::ggml
