// Reference dequantization of the K-quants (Q2_K..Q6_K, Q8_K), our own error-minimising quantizers
// for the K-quant weight types, and the exact Q8_K activation quantizer.
// Layouts and dequant formulas: spec gguf.md §2.3 (multiplication order as written there, so the
// output is bit-identical to gguf-py); Q8_K rule: §2.5.
//
// Weight quantizers (not bit-matched to anything: gguf cannot quantize these types). Per sub-block
// we search a small set of candidate scales, refit each by least squares on the chosen integer
// levels, and keep the one with the smallest squared error. The super-block scales are then chosen
// so that the largest sub-block scale maps exactly onto the top integer scale (this makes
// quantize(dequantize(q)) reproduce q), stored as saturated fp16, and each sub-block's integer
// scale (and min) is refined by +-1 against the actual dequantized values.
#include <cmath>
#include <cstring>

#include "ld-ggml/quants-ref.h"

namespace ld::ggml {

namespace {

// ------------------------------------------------------------------------------ small helpers

// Nearest integer of v clamped to [lo, hi]; NaN gives lo. Never an out-of-range conversion.
inline int round_clamp(double v, int lo, int hi) {
    if (!(v >= (double)lo)) return lo;
    if (v >= (double)hi) return hi;
    return (int)std::floor(v + 0.5);
}

// fp16 of a scale, saturated to the largest finite fp16 so that no finite input gives inf/NaN.
inline fp16_t fp16_sat(double v) {
    const double lim = 65504.0;
    if (v > lim) v = lim;
    if (v < -lim) v = -lim;
    return f32_to_fp16((float)v);
}

// Q8_K's rounding: ggml's magic-number trick (round half to even, valid for |v| < 2^22).
inline int nearest_int_magic(float v) {
    const float val = v + 12582912.0f;
    int32_t i;
    std::memcpy(&i, &val, 4);
    return (i & 0x007fffff) - 0x00400000;
}

// ------------------------------------------------------------------------------ sub-block fits

// Affine fit y = s*q + b with q in 0..nmax, s >= 0, b <= 0 (the K-quant "scale and min" form),
// minimising the squared error over n values. Returns s and b.
void fit_affine(const float * x, int n, int nmax, double & s_out, double & b_out) {
    double xmin = 0.0, xmax = -INFINITY;
    for (int j = 0; j < n; ++j) {
        xmin = std::fmin(xmin, (double)x[j]);
        xmax = std::fmax(xmax, (double)x[j]);
    }
    s_out = 0.0;
    b_out = xmin;
    if (!(xmax > xmin)) return;  // all values equal to xmin <= 0

    auto error_of = [&](double s, double b) {
        double err = 0.0;
        for (int j = 0; j < n; ++j) {
            const int q = s > 0.0 ? round_clamp((x[j] - b) / s, 0, nmax) : 0;
            const double e = s * q + b - x[j];
            err += e * e;
        }
        return err;
    };
    double best = error_of(s_out, b_out);

    // The range spans den levels; den runs over [nmax-4, nmax+1] in quarter steps. The integer
    // values make a sub-block that already lies on a grid (a dequantized one) fit exactly.
    const double den_lo = nmax > 5 ? nmax - 4 : 1;
    for (int step = 0; den_lo + 0.25 * step <= nmax + 1; ++step) {
        const double s0 = (xmax - xmin) / (den_lo + 0.25 * step);
        double s = s0, b = xmin;
        for (int iter = 0; iter < 2; ++iter) {
            const double err = error_of(s, b);
            if (err < best) { best = err; s_out = s; b_out = b; }
            // least-squares refit of (s, b) on the levels chosen by (s, b)
            double sq = 0, sqq = 0, sx = 0, sxq = 0;
            for (int j = 0; j < n; ++j) {
                const int q = round_clamp((x[j] - b) / s, 0, nmax);
                sq += q; sqq += (double)q * q; sx += x[j]; sxq += (double)x[j] * q;
            }
            const double det = n * sqq - sq * sq;
            if (!(det > 0.0)) break;
            double ns = (n * sxq - sq * sx) / det;
            double nb = (sqq * sx - sq * sxq) / det;
            if (nb > 0.0) { nb = 0.0; ns = sxq / sqq; }
            if (!(ns > 0.0) || !std::isfinite(ns) || !std::isfinite(nb)) break;
            s = ns; b = nb;
        }
    }
}

// Symmetric fit y = s*q with q in qmin..qmax (s may be negative), minimising the squared error.
double fit_symmetric(const float * x, int n, int qmin, int qmax) {
    double xm = 0.0;
    for (int j = 0; j < n; ++j)
        if (std::fabs((double)x[j]) > std::fabs(xm)) xm = x[j];
    if (xm == 0.0) return 0.0;

    auto error_of = [&](double s) {
        double err = 0.0;
        for (int j = 0; j < n; ++j) {
            const double e = s * round_clamp(x[j] / s, qmin, qmax) - x[j];
            err += e * e;
        }
        return err;
    };
    double best_s = xm / qmin, best = error_of(best_s);
    for (int side = 0; side < 2; ++side) {
        // the extreme value maps to level +-den, den over [|top|-4, |top|+1] in quarter steps
        // (integers included, so values already on a grid fit exactly)
        const int top = side == 0 ? qmin : qmax;
        const double mag = std::abs(top), den_lo = mag > 5 ? mag - 4 : 1;
        for (int step = 0; den_lo + 0.25 * step <= mag + 1; ++step) {
            const double den = (top < 0 ? -1 : 1) * (den_lo + 0.25 * step);
            double s = xm / den;
            for (int iter = 0; iter < 2; ++iter) {
                const double err = error_of(s);
                if (err < best) { best = err; best_s = s; }
                double sxq = 0, sqq = 0;
                for (int j = 0; j < n; ++j) {
                    const int q = round_clamp(x[j] / s, qmin, qmax);
                    sxq += (double)x[j] * q; sqq += (double)q * q;
                }
                if (!(sqq > 0.0)) break;
                const double ns = sxq / sqq;
                if (ns == 0.0 || !std::isfinite(ns)) break;
                s = ns;
            }
        }
    }
    return best_s;
}

// ------------------------------------------------------------------------------ block encoders

// Squared error of one sub-block with integer scale sc and min m (y = (d*sc)*q - dmin*m, computed as
// the dequantizer does), each value taking its nearest level in 0..nmax.
double affine_error(const float * xs, int len, int nmax, float d, float dmin, int sc, int m) {
    const float S = d * (float)sc, M = dmin * (float)m;
    double err = 0.0;
    for (int j = 0; j < len; ++j) {
        const int qq = S > 0.0f ? round_clamp(((double)xs[j] + M) / S, 0, nmax) : 0;
        const double e = (double)(S * (float)qq - M) - xs[j];
        err += e * e;
    }
    return err;
}

// Squared error of a whole affine super-block for given fp16 d and dmin, with the integer scales
// and mins simply rounded from the sub-block fits (used to choose d and dmin).
double affine_block_error(const float * x, int nsub, int len, int nmax, int smax, const double * s,
                          const double * b, float d, float dmin) {
    double err = 0.0;
    for (int k = 0; k < nsub; ++k) {
        const int sc = d > 0.0f ? round_clamp(s[k] / d, 0, smax) : 0;
        const int m = dmin > 0.0f ? round_clamp(-b[k] / dmin, 0, smax) : 0;
        err += affine_error(x + k * len, len, nmax, d, dmin, sc, m);
    }
    return err;
}

// Affine super-block: nsub sub-blocks of len values, levels 0..nmax, integer scales and mins in
// 0..smax. Outputs the fp16 d and dmin, the integer scales/mins and every level q.
void encode_affine(const float * x, int nsub, int len, int nmax, int smax, fp16_t & d_out, fp16_t & dmin_out,
                   uint8_t * sc, uint8_t * mn, uint8_t * q) {
    double s[16], b[16], maxs = 0.0, maxm = 0.0;
    for (int k = 0; k < nsub; ++k) {
        fit_affine(x + k * len, len, nmax, s[k], b[k]);
        maxs = std::fmax(maxs, s[k]);
        maxm = std::fmax(maxm, -b[k]);
    }
    // d and dmin: the largest sub-block scale (min) maps onto smax, smax-1, .. smax-3; the pair
    // with the smallest block error wins (a dequantized block is reproduced exactly this way).
    double best = INFINITY;
    for (int kd = 0; kd <= 3; ++kd) {
        const fp16_t dc = fp16_sat(maxs / (smax - kd));
        for (int km = 0; km <= 3; ++km) {
            const fp16_t mc = fp16_sat(maxm / (smax - km));
            const double e = affine_block_error(x, nsub, len, nmax, smax, s, b, fp16_to_f32(dc), fp16_to_f32(mc));
            if (e < best) { best = e; d_out = dc; dmin_out = mc; }
        }
    }
    const float d = fp16_to_f32(d_out), dmin = fp16_to_f32(dmin_out);
    for (int k = 0; k < nsub; ++k) {
        const float * xs = x + k * len;
        const int sc0 = d > 0.0f ? round_clamp(s[k] / d, 0, smax) : 0;
        const int m0 = dmin > 0.0f ? round_clamp(-b[k] / dmin, 0, smax) : 0;
        double bestk = INFINITY;
        // Integer scale sc0 +- 1; integer min m0 +- 1, and the mins of the equivalent fits in which
        // the levels are shifted by t (y = S*(q+t) + b - S*t), which the sub-block fit cannot tell apart.
        for (int ds = -1; ds <= 1; ++ds) {
            const int scv = sc0 + ds;
            if (scv < 0 || scv > smax) continue;
            const float S = d * (float)scv;
            for (int t = -3; t <= nmax; ++t) {
                int mv;
                if (t < 0) {
                    mv = m0 + t + 2;  // m0 - 1, m0, m0 + 1
                } else {
                    if (!(dmin > 0.0f) || t == 0) continue;
                    mv = round_clamp(((double)S * t - b[k]) / dmin, 0, smax);
                }
                if (mv < 0 || mv > smax) continue;
                const double e = affine_error(xs, len, nmax, d, dmin, scv, mv);
                if (e < bestk) { bestk = e; sc[k] = (uint8_t)scv; mn[k] = (uint8_t)mv; }
            }
        }
        const float S = d * (float)sc[k], M = dmin * (float)mn[k];
        for (int j = 0; j < len; ++j)
            q[k * len + j] = (uint8_t)(S > 0.0f ? round_clamp(((double)xs[j] + M) / S, 0, nmax) : 0);
    }
}

// Squared error of a symmetric sub-block with integer scale sc (y = (d*sc)*q, q in qmin..qmax).
double symmetric_error(const float * xs, int len, int qmin, int qmax, float d, int sc) {
    const float S = d * (float)sc;
    double err = 0.0;
    for (int j = 0; j < len; ++j) {
        const int qq = S != 0.0f ? round_clamp((double)xs[j] / S, qmin, qmax) : 0;
        const double e = (double)(S * (float)qq) - xs[j];
        err += e * e;
    }
    return err;
}

// Symmetric super-block: levels qmin..qmax, signed integer scales in smin..smax (smin < 0 is the
// level the largest-magnitude sub-block scale maps to). Outputs fp16 d, scales and levels.
void encode_symmetric(const float * x, int nsub, int len, int qmin, int qmax, int smin, int smax, fp16_t & d_out,
                      int * sc, int * q) {
    double s[16], sm = 0.0;
    for (int k = 0; k < nsub; ++k) {
        s[k] = fit_symmetric(x + k * len, len, qmin, qmax);
        if (std::fabs(s[k]) > std::fabs(sm)) sm = s[k];
    }
    // d: the largest sub-block scale maps onto smin, smin+1, .. smin+3 or smax, .. smax-3; keep the best.
    double best = INFINITY;
    for (int kd = 0; kd <= 7; ++kd) {
        const fp16_t dc = fp16_sat(sm / (kd < 4 ? smin + kd : smax - (kd - 4)));
        const float d = fp16_to_f32(dc);
        double e = 0.0;
        for (int k = 0; k < nsub; ++k)
            e += symmetric_error(x + k * len, len, qmin, qmax, d, d != 0.0f ? round_clamp(s[k] / d, smin, smax) : 0);
        if (e < best) { best = e; d_out = dc; }
    }
    const float d = fp16_to_f32(d_out);
    for (int k = 0; k < nsub; ++k) {
        const float * xs = x + k * len;
        const int sc0 = d != 0.0f ? round_clamp(s[k] / d, smin, smax) : 0;
        double bestk = INFINITY;
        for (int ds = -1; ds <= 1; ++ds) {
            const int scv = sc0 + ds;
            if (scv < smin || scv > smax) continue;
            const double e = symmetric_error(xs, len, qmin, qmax, d, scv);
            if (e < bestk) { bestk = e; sc[k] = scv; }
        }
        const float S = d * (float)sc[k];
        for (int j = 0; j < len; ++j)
            q[k * len + j] = S != 0.0f ? round_clamp((double)xs[j] / S, qmin, qmax) : 0;
    }
}

// Q4_K/Q5_K packing of eight 6-bit scales and mins into 12 bytes (inverse of the spec's unpacking).
void pack_scales_k4(const uint8_t * sc, const uint8_t * mn, uint8_t * s) {
    for (int j = 0; j < 4; ++j) {
        s[j] = (uint8_t)((sc[j] & 63) | ((sc[j + 4] >> 4) << 6));
        s[j + 4] = (uint8_t)((mn[j] & 63) | ((mn[j + 4] >> 4) << 6));
        s[j + 8] = (uint8_t)((sc[j + 4] & 15) | ((mn[j + 4] & 15) << 4));
    }
}

inline void unpack_scale_k4(const uint8_t * s, int j, int & sc, int & m) {
    if (j < 4) {
        sc = s[j] & 63;
        m = s[j + 4] & 63;
    } else {
        sc = (s[j + 4] & 15) | ((s[j - 4] >> 6) << 4);
        m = (s[j + 4] >> 4) | ((s[j] >> 6) << 4);
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
            unpack_scale_k4(x[b].scales, 2 * c, sc0, m0);
            unpack_scale_k4(x[b].scales, 2 * c + 1, sc1, m1);
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
            unpack_scale_k4(x[b].scales, 2 * c, sc0, m0);
            unpack_scale_k4(x[b].scales, 2 * c + 1, sc1, m1);
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
        encode_affine(x, 16, 16, 3, 15, y[b].d, y[b].dmin, sc, mn, q);
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
        encode_symmetric(x, 16, 16, -4, 3, -32, 31, y[b].d, sc, q);
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
        encode_affine(x, 8, 32, 15, 63, y[b].d, y[b].dmin, sc, mn, q);
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
        encode_affine(x, 8, 32, 31, 63, y[b].d, y[b].dmin, sc, mn, q);
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
        encode_symmetric(x, 16, 16, -32, 31, -128, 127, y[b].d, sc, q);
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

// Q8_K (spec §2.5): signed max (first on ties), iscale = -127/max, q = min(127, nearest_even(iscale*x)),
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
