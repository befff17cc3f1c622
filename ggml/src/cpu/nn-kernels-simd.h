// Private: the NnKernels entry points written once over a SIMD wrapper V, instantiated by the ISA files
// (nn-kernels-avx2.cpp with 8-wide V, nn-kernels-avx512.cpp with 16-wide V) under their own compiler
// flags. V is defined in each ISA file's anonymous namespace, so these instantiations have internal
// linkage and never mix across ISAs.
//
// V provides: W (lanes), T (vector), load, store, set1, zero, add, sub, mul, div, fmadd(a, b, c) = a*b + c,
// max, round (to nearest even), pow2 (2^n for a rounded float n in [-126, 127]), select_lt(x, y, a, b)
// (x < y ? a : b, lanewise), select_gt, hmax, hsum.
//
// Tails shorter than W go through a padded buffer and the very same vector code, so an element's result
// never depends on its position (the determinism rule of nn-kernels.h).
#pragma once

#include <cmath>
#include <cstdint>
#include <limits>
#include <type_traits>

#include "nn-kernels.h"

namespace ld::ggml::simd {

// e^x to about 1-2 ulp: x = n ln2 + r, |r| <= ln2/2, e^r = 1 + r + r^2 P(r) with the Cephes expf
// polynomial, times 2^n. x < -87.33 gives 0 (so -inf -> 0), x > 88.37 gives +inf.
template <class V>
inline typename V::T vexp(typename V::T x) {
    using T = typename V::T;
    const T lo = V::set1(-87.33654f), hi = V::set1(88.37626f);
    const T xc = V::max(V::min(x, hi), lo);
    const T n = V::round(V::mul(xc, V::set1(1.44269504088896341f)));
    T r = V::fmadd(n, V::set1(-0.693359375f), xc);
    r = V::fmadd(n, V::set1(2.12194440e-4f), r);
    T p = V::set1(1.9875691500e-4f);
    p = V::fmadd(p, r, V::set1(1.3981999507e-3f));
    p = V::fmadd(p, r, V::set1(8.3334519073e-3f));
    p = V::fmadd(p, r, V::set1(4.1665795894e-2f));
    p = V::fmadd(p, r, V::set1(1.6666665459e-1f));
    p = V::fmadd(p, r, V::set1(5.0000001201e-1f));
    const T r2 = V::mul(r, r);
    const T er = V::add(V::fmadd(p, r2, r), V::set1(1.0f));
    T y = V::mul(er, V::pow2(n));
    y = V::select_lt(x, lo, V::zero(), y);
    y = V::select_gt(x, hi, V::set1(std::numeric_limits<float>::infinity()), y);
    return y;
}

// gelu_tanh(x) = x / (1 + e^(-2 sqrt(2/pi) (x + 0.044715 x^3)))
template <class V>
inline typename V::T vgelu(typename V::T x) {
    using T = typename V::T;
    const T x3 = V::mul(V::mul(x, x), x);
    const T y = V::mul(V::set1(-1.5957691216057308f), V::fmadd(V::set1(0.044715f), x3, x));
    return V::div(x, V::add(V::set1(1.0f), vexp<V>(y)));
}

// tanh(x) to about 2 ulp: for x^2 < 0.625^2 the odd Cephes tanhf polynomial x + x^3 P(x^2); else
// 1 - 2 / (e^{2x} + 1) (e^{2x} = +inf gives 1, 0 gives -1). NaN stays NaN.
template <class V>
inline typename V::T vtanh(typename V::T x) {
    using T = typename V::T;
    const T z = V::mul(x, x);
    T p = V::set1(-5.70498872745e-3f);
    p = V::fmadd(p, z, V::set1(2.06390887954e-2f));
    p = V::fmadd(p, z, V::set1(-5.37397155531e-2f));
    p = V::fmadd(p, z, V::set1(1.33314422036e-1f));
    p = V::fmadd(p, z, V::set1(-3.33332819422e-1f));
    const T small = V::fmadd(V::mul(p, z), x, x);
    const T e = vexp<V>(V::add(x, x));
    const T large = V::sub(V::set1(1.0f), V::div(V::set1(2.0f), V::add(e, V::set1(1.0f))));
    return V::select_gt(z, V::set1(0.390625f), large, small);  // NaN: the polynomial's NaN
}

// cap * tanh(x / cap), computed as x * (1 / cap) like the generic kernel.
template <class V>
inline typename V::T vsoftcap(typename V::T x, typename V::T cap, typename V::T inv_cap) {
    return V::mul(cap, vtanh<V>(V::mul(x, inv_cap)));
}

// Applies f(vector) -> vector elementwise over n values (tail padded with `pad`).
template <class V, class F>
inline void map1(const float * x, int64_t n, float * out, float pad, F f) {
    int64_t i = 0;
    for (; i + V::W <= n; i += V::W) V::store(out + i, f(V::load(x + i)));
    if (i < n) {
        alignas(64) float buf[V::W];
        for (int k = 0; k < V::W; ++k) buf[k] = i + k < n ? x[i + k] : pad;
        V::store(buf, f(V::load(buf)));
        for (int64_t k = 0; i + k < n; ++k) out[i + k] = buf[k];
    }
}

template <class V>
void gelu(const float * x, int64_t n, float * out) {
    map1<V>(x, n, out, 0.0f, [](typename V::T v) { return vgelu<V>(v); });
}

template <class V>
void geglu(const float * g, const float * u, int64_t n, float * out) {
    int64_t i = 0;
    for (; i + V::W <= n; i += V::W) V::store(out + i, V::mul(vgelu<V>(V::load(g + i)), V::load(u + i)));
    if (i < n) {
        alignas(64) float bg[V::W], bu[V::W];
        for (int k = 0; k < V::W; ++k) {
            bg[k] = i + k < n ? g[i + k] : 0.0f;
            bu[k] = i + k < n ? u[i + k] : 0.0f;
        }
        V::store(bg, V::mul(vgelu<V>(V::load(bg)), V::load(bu)));
        for (int64_t k = 0; i + k < n; ++k) out[i + k] = bg[k];
    }
}

template <class V>
void rms_norm_row(const float * x, int64_t n, const float * w, float eps, float * out) {
    using T = typename V::T;
    T acc0 = V::zero(), acc1 = V::zero();
    int64_t i = 0;
    for (; i + 2 * V::W <= n; i += 2 * V::W) {
        const T a = V::load(x + i), b = V::load(x + i + V::W);
        acc0 = V::fmadd(a, a, acc0);
        acc1 = V::fmadd(b, b, acc1);
    }
    float tail = 0.0f;
    for (; i < n; ++i) tail += x[i] * x[i];
    const double ss = (double)V::hsum(V::add(acc0, acc1)) + (double)tail;
    const float inv = (float)(1.0 / std::sqrt(ss / (double)n + (double)eps));
    const T vi = V::set1(inv);
    if (w) {
        int64_t j = 0;
        for (; j + V::W <= n; j += V::W) V::store(out + j, V::mul(V::mul(V::load(x + j), vi), V::load(w + j)));
        for (; j < n; ++j) out[j] = x[j] * inv * w[j];
    } else {
        map1<V>(x, n, out, 0.0f, [&](T v) { return V::mul(v, vi); });
    }
}

template <class V>
void softmax_row(const float * x, int64_t n, float * out) {
    using T = typename V::T;
    const float ninf = -std::numeric_limits<float>::infinity();
    T mv = V::set1(ninf);
    int64_t i = 0;
    for (; i + V::W <= n; i += V::W) mv = V::max(mv, V::load(x + i));
    float m = V::hmax(mv);
    for (int64_t k = i; k < n; ++k) m = x[k] > m ? x[k] : m;
    if (m == ninf) {
        for (int64_t k = 0; k < n; ++k) out[k] = 0.0f;
        return;
    }
    const T vm = V::set1(m);
    T sum = V::zero();
    map1<V>(x, n, out, ninf, [&](T v) {
        const T e = vexp<V>(V::sub(v, vm));
        sum = V::add(sum, e);  // padded lanes add exp(-inf) = 0
        return e;
    });
    const T inv = V::set1(1.0f / V::hsum(sum));
    map1<V>(out, n, out, 0.0f, [&](T v) { return V::mul(v, inv); });
}

template <class V>
void softcap(const float * x, int64_t n, float cap, float * out) {
    using T = typename V::T;
    const T vc = V::set1(cap), vi = V::set1(1.0f / cap);
    map1<V>(x, n, out, 0.0f, [&](T v) { return vsoftcap<V>(v, vc, vi); });
}

// The vocab head's logits pass (nn-kernels.h): l <- softcap(l) / T in place, the first index of the maximum.
template <class V>
float head_logits(float * l, int64_t n, float cap, float T_, int64_t * arg) {
    using T = typename V::T;
    const float ninf = -std::numeric_limits<float>::infinity();
    const T vc = V::set1(cap), vi = V::set1(cap > 0.0f ? 1.0f / cap : 0.0f), vt = V::set1(T_);
    const T step = V::set1((float)V::W);
    alignas(64) float lane[V::W];
    for (int k = 0; k < V::W; ++k) lane[k] = (float)k;
    T idx = V::load(lane), best = V::set1(ninf), bidx = V::set1(-1.0f);
    const T vn = V::set1((float)n);
    auto one = [&](T v) {
        if (cap > 0.0f) v = vsoftcap<V>(v, vc, vi);
        return V::div(v, vt);
    };
    int64_t i = 0;
    for (; i + V::W <= n; i += V::W) {
        const T v = one(V::load(l + i));
        V::store(l + i, v);
        bidx = V::select_gt(v, best, idx, bidx);
        best = V::select_gt(v, best, v, best);
        idx = V::add(idx, step);
    }
    if (i < n) {
        alignas(64) float buf[V::W];
        for (int k = 0; k < V::W; ++k) buf[k] = i + k < n ? l[i + k] : 0.0f;
        T v = one(V::load(buf));
        V::store(buf, v);
        for (int64_t k = 0; i + k < n; ++k) l[i + k] = buf[k];
        v = V::select_lt(idx, vn, v, V::set1(ninf));  // padded lanes never win
        bidx = V::select_gt(v, best, idx, bidx);
        best = V::select_gt(v, best, v, best);
    }
    // per lane: its maximum at its first index; overall: the smallest index among the lanes holding the maximum
    alignas(64) float bv[V::W], bi[V::W];
    V::store(bv, best);
    V::store(bi, bidx);
    float m = ninf, mi = -1.0f;
    for (int k = 0; k < V::W; ++k)
        if (bv[k] > m || (bv[k] == m && m != ninf && bi[k] < mi)) { m = bv[k]; mi = bi[k]; }
    *arg = (int64_t)mi;
    return m;
}

// The vocab head's weights (nn-kernels.h): w = e^{l - m}; *s += sum w, *a += sum w (l - m). Sums in f32
// lanes over runs of 16 vectors, each run added to the double totals.
template <class V>
void head_exp(const float * l, int64_t n, float m, float * w, double * s, double * a) {
    using T = typename V::T;
    const T vm = V::set1(m);
    T vs = V::zero(), va = V::zero();
    int run = 0;
    auto flush = [&] {
        *s += (double)V::hsum(vs);
        *a += (double)V::hsum(va);
        vs = V::zero();
        va = V::zero();
        run = 0;
    };
    auto one = [&](T v) {
        const T d = V::sub(v, vm);
        const T e = vexp<V>(d);
        vs = V::add(vs, e);
        va = V::fmadd(e, d, va);
        return e;
    };
    int64_t i = 0;
    for (; i + V::W <= n; i += V::W) {
        V::store(w + i, one(V::load(l + i)));
        if (++run == 16) flush();
    }
    if (i < n) {  // padded lanes: d = -100, e = 0, e * d = 0
        alignas(64) float buf[V::W];
        for (int k = 0; k < V::W; ++k) buf[k] = i + k < n ? l[i + k] : m - 100.0f;
        V::store(buf, one(V::load(buf)));
        for (int64_t k = 0; i + k < n; ++k) w[i + k] = buf[k];
    }
    flush();
}

// ---- attention tiles ----

// Calls f(std::integral_constant<int, R>) for row blocks of RB rows, then one block of the remaining rows.
template <int RB, class F>
inline void for_row_blocks(int rows, F f) {
    int r = 0;
    for (; r + RB <= rows; r += RB) f(r, std::integral_constant<int, RB>());
    const int rem = rows - r;
    if constexpr (RB > 1) {
        if (rem > 0) {
            if constexpr (RB > 5) if (rem == 5) return f(r, std::integral_constant<int, 5>());
            if constexpr (RB > 4) if (rem == 4) return f(r, std::integral_constant<int, 4>());
            if constexpr (RB > 3) if (rem == 3) return f(r, std::integral_constant<int, 3>());
            if constexpr (RB > 2) if (rem == 2) return f(r, std::integral_constant<int, 2>());
            f(r, std::integral_constant<int, 1>());
        }
    }
}

// R rows x (NC * W) keys of scores over dims [c0, c1); accumulators start from s unless first.
template <class V, int R, int NC>
inline void scores_block(const float * q, int64_t ldq, const float * kt, int64_t c0, int64_t c1, bool first,
                         float * s, int k0) {
    using T = typename V::T;
    T acc[R][NC];
    for (int r = 0; r < R; ++r)
        for (int v = 0; v < NC; ++v)
            acc[r][v] = first ? V::zero() : V::load(s + r * ATTN_BK + k0 + v * V::W);
    for (int64_t c = c0; c < c1; ++c) {
        T kv[NC];
        for (int v = 0; v < NC; ++v) kv[v] = V::load(kt + c * ATTN_BK + k0 + v * V::W);
        for (int r = 0; r < R; ++r) {
            const T qb = V::set1(q[r * ldq + c]);
            for (int v = 0; v < NC; ++v) acc[r][v] = V::fmadd(qb, kv[v], acc[r][v]);
        }
    }
    for (int r = 0; r < R; ++r)
        for (int v = 0; v < NC; ++v) V::store(s + r * ATTN_BK + k0 + v * V::W, acc[r][v]);
}

// Dims are walked in chunks of KC so the chunk of kt (KC x ATTN_BK floats: 16 KB for 64, 32 KB for 128)
// stays in L1 for every row block; each score is still one fmadd chain in dim order, so the result does
// not depend on KC or rows.
template <class V, int RB, int NC, int KC = 64>
void attn_scores(const float * q, int64_t ldq, int rows, const float * kt, int64_t d, float * s) {
    for (int64_t c0 = 0; c0 < d; c0 += KC) {
        const int64_t c1 = c0 + KC < d ? c0 + KC : d;
        for (int k0 = 0; k0 < ATTN_BK; k0 += NC * V::W)
            for_row_blocks<RB>(rows, [&](int r, auto R) {
                scores_block<V, decltype(R)::value, NC>(q + r * ldq, ldq, kt, c0, c1, c0 == 0, s + r * ATTN_BK, k0);
            });
    }
}

template <class V>
void attn_softmax(float * s, int rows, float * m, float * l, float * alpha) {
    using T = typename V::T;
    constexpr int NV = ATTN_BK / V::W;
    const float ninf = -std::numeric_limits<float>::infinity();
    for (int r = 0; r < rows; ++r) {
        float * sr = s + r * ATTN_BK;
        T mv = V::set1(m[r]);
        for (int v = 0; v < NV; ++v) mv = V::max(mv, V::load(sr + v * V::W));
        const float mx = V::hmax(mv);
        if (mx == ninf) {
            alpha[r] = 1.0f;
            for (int v = 0; v < NV; ++v) V::store(sr + v * V::W, V::zero());
            continue;
        }
        const T vmx = V::set1(mx);
        T sum = V::zero();
        for (int v = 0; v < NV; ++v) {
            const T e = vexp<V>(V::sub(V::load(sr + v * V::W), vmx));
            V::store(sr + v * V::W, e);
            sum = V::add(sum, e);
        }
        alignas(64) float a1[V::W];
        V::store(a1, vexp<V>(V::set1(m[r] - mx)));
        alpha[r] = a1[0];
        l[r] = l[r] * alpha[r] + V::hsum(sum);
        m[r] = mx;
    }
}

// R rows x (NC * W) output columns: o = alpha * o + p . v, accumulators in registers across the keys.
template <class V, int R, int NC>
inline void pv_block(const float * p, const float * v, int64_t ldv, int nk, const float * alpha, float * o,
                     int64_t ldo) {
    using T = typename V::T;
    T acc[R][NC];
    for (int r = 0; r < R; ++r) {
        const T a = V::set1(alpha[r]);
        for (int c = 0; c < NC; ++c) acc[r][c] = V::mul(V::load(o + r * ldo + c * V::W), a);
    }
    for (int j = 0; j < nk; ++j) {
        T vv[NC];
        for (int c = 0; c < NC; ++c) vv[c] = V::load(v + j * ldv + c * V::W);
        for (int r = 0; r < R; ++r) {
            const T pb = V::set1(p[r * ATTN_BK + j]);
            for (int c = 0; c < NC; ++c) acc[r][c] = V::fmadd(pb, vv[c], acc[r][c]);
        }
    }
    for (int r = 0; r < R; ++r)
        for (int c = 0; c < NC; ++c) V::store(o + r * ldo + c * V::W, acc[r][c]);
}

// vt is packed in column chunks (nn-kernels.h); NC * W divides ATTN_VC and d is a multiple of 16.
template <class V, int RB, int NC>
void attn_pv(const float * p, int rows, const float * vt, int nk, int64_t d, const float * alpha, float * o) {
    static_assert(ATTN_VC % (NC * V::W) == 0, "column pass must divide the chunk");
    for (int64_t c0 = 0; c0 < d; c0 += ATTN_VC) {
        const int64_t w = d - c0 < ATTN_VC ? d - c0 : ATTN_VC;
        const float * chunk = vt + c0 * ATTN_BK;
        int64_t c = 0;
        for (; c + NC * V::W <= w; c += NC * V::W)
            for_row_blocks<RB>(rows, [&](int r, auto R) {
                pv_block<V, decltype(R)::value, NC>(p + r * ATTN_BK, chunk + c, w, nk, alpha + r, o + r * d + c0 + c, d);
            });
        for (; c < w; c += V::W)
            for_row_blocks<RB>(rows, [&](int r, auto R) {
                pv_block<V, decltype(R)::value, 1>(p + r * ATTN_BK, chunk + c, w, nk, alpha + r, o + r * d + c0 + c, d);
            });
    }
}

}  // namespace ld::ggml::simd
