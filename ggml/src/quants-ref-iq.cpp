// Reference dequantization of the non-linear 4-bit types IQ4_NL, IQ4_XS and the FP4 type MXFP4,
// our own error-minimising IQ4 quantizers, and the reference MXFP4 quantizer.
// Layouts and formulas: spec gguf.md §2.2-§2.3.
//
// MXFP4 quantization is bit-identical to gguf-py / ggml's reference: e = floor(log2(amax)) - 2 + 127
// (0 when amax is 0 or NaN; clamped to 0..254 where that formula leaves the byte range), then per
// value the code whose value d*kv is nearest (the first code on ties).
// IQ4 quantization (gguf cannot do it): per 32 values we search candidate scales mapping the
// largest-magnitude value onto either end of the table, refit each by least squares on the chosen
// codes, and keep the smallest squared error. IQ4_XS then maps the largest sub-block scale exactly
// onto the 6-bit scale -32 (so quantize(dequantize(q)) reproduces q) and refines each scale by +-1.
#include <cmath>
#include <cstring>

#include "ld-ggml/quants-ref.h"

namespace ld::ggml {

namespace {

inline int round_clamp(double v, int lo, int hi) {
    if (!(v >= (double)lo)) return lo;
    if (v >= (double)hi) return hi;
    return (int)std::floor(v + 0.5);
}

inline fp16_t fp16_sat(double v) {
    const double lim = 65504.0;
    if (v > lim) v = lim;
    if (v < -lim) v = -lim;
    return f32_to_fp16((float)v);
}

// Code of kvalues_iq4nl nearest to v (a value in units of the scale); the lower code on ties.
inline int nearest_iq4(double v) {
    int lo = 0, hi = 15;
    if (!(v > kvalues_iq4nl[0])) return 0;
    if (v >= kvalues_iq4nl[15]) return 15;
    while (hi - lo > 1) {  // invariant: kv[lo] < v <= kv[hi]
        const int mid = (lo + hi) / 2;
        if (v > kvalues_iq4nl[mid]) lo = mid; else hi = mid;
    }
    return (v - kvalues_iq4nl[lo] <= kvalues_iq4nl[hi] - v) ? lo : hi;
}

// Best code for x under the float scale d, judged on the dequantized value d*kv exactly.
inline int best_code_iq4(float d, float x) {
    if (d == 0.0f) return 8;  // kv = 1: the value is 0 anyway
    int c = nearest_iq4((double)x / d);
    // the float product may round differently from the double division: check the neighbours
    double best = std::fabs((double)(d * (float)kvalues_iq4nl[c]) - x);
    for (int cc = c - 1; cc <= c + 1; cc += 2) {
        if (cc < 0 || cc > 15) continue;
        const double e = std::fabs((double)(d * (float)kvalues_iq4nl[cc]) - x);
        if (e < best) { best = e; c = cc; }
    }
    return c;
}

// Scale s minimising sum (x - s*kv[code])^2 over n values (s may be negative).
double fit_iq4(const float * x, int n) {
    double xm = 0.0;
    for (int j = 0; j < n; ++j)
        if (std::fabs((double)x[j]) > std::fabs(xm)) xm = x[j];
    if (xm == 0.0) return 0.0;

    auto error_of = [&](double s) {
        double err = 0.0;
        for (int j = 0; j < n; ++j) {
            const double e = s * kvalues_iq4nl[nearest_iq4(x[j] / s)] - x[j];
            err += e * e;
        }
        return err;
    };
    double best_s = xm / kvalues_iq4nl[0], best = error_of(best_s);
    for (int side = 0; side < 2; ++side) {
        const double top = side == 0 ? kvalues_iq4nl[0] : kvalues_iq4nl[15];
        for (int step = -6; step <= 12; ++step) {
            double s = xm / (top * (1.0 + 0.02 * step));
            for (int iter = 0; iter < 3; ++iter) {
                const double err = error_of(s);
                if (err < best) { best = err; best_s = s; }
                double sxk = 0, skk = 0;
                for (int j = 0; j < n; ++j) {
                    const int k = kvalues_iq4nl[nearest_iq4(x[j] / s)];
                    sxk += (double)x[j] * k; skk += (double)k * k;
                }
                const double ns = sxk / skk;
                if (ns == 0.0 || !std::isfinite(ns)) break;
                s = ns;
            }
        }
    }
    return best_s;
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
        y[b].d = fp16_sat(fit_iq4(x, QK4_NL));
        const float d = fp16_to_f32(y[b].d);
        for (int j = 0; j < QK4_NL / 2; ++j)
            y[b].qs[j] = (uint8_t)(best_code_iq4(d, x[j]) | (best_code_iq4(d, x[j + 16]) << 4));
    }
}

void quantize_row_iq4_xs_ref(const float * x, block_iq4_xs * y, int64_t n) {
    const int64_t nb = n / QK_K;
    for (int64_t b = 0; b < nb; ++b, x += QK_K) {
        double s[8], sm = 0.0;
        for (int k = 0; k < 8; ++k) {
            s[k] = fit_iq4(x + 32 * k, 32);
            if (std::fabs(s[k]) > std::fabs(sm)) sm = s[k];
        }
        y[b].d = fp16_sat(sm / -32.0);
        const float d = fp16_to_f32(y[b].d);
        unsigned sh = 0;
        std::memset(y[b].scales_l, 0, sizeof y[b].scales_l);
        for (int k = 0; k < 8; ++k) {
            const float * xs = x + 32 * k;
            const int l0 = d != 0.0f ? round_clamp(s[k] / d, -32, 31) : 0;
            int ls = l0;
            double best = INFINITY;
            for (int dl = -1; dl <= 1; ++dl) {
                const int lv = l0 + dl;
                if (lv < -32 || lv > 31) continue;
                const float S = d * (float)lv;  // as the dequantizer computes it
                double err = 0.0;
                for (int j = 0; j < 32; ++j) {
                    const double e = (double)(S * (float)kvalues_iq4nl[best_code_iq4(S, xs[j])]) - xs[j];
                    err += e * e;
                }
                if (err < best) { best = err; ls = lv; }
            }
            const int u = ls + 32;
            y[b].scales_l[k / 2] |= (uint8_t)((u & 15) << (4 * (k % 2)));
            sh |= (unsigned)(u >> 4) << (2 * k);
            const float S = d * (float)ls;
            for (int j = 0; j < 16; ++j)
                y[b].qs[16 * k + j] = (uint8_t)(best_code_iq4(S, xs[j]) | (best_code_iq4(S, xs[j + 16]) << 4));
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
