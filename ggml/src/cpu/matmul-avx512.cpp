// AVX-512 matmul kernels (AVX-512 F/BW/VL/VNNI/BF16): panels of R = 32 weight rows (two zmm of 16)
// against tiles of C = 6 activation columns, register-tiled (12 int32 + 12 f32 zmm accumulators; one
// broadcast activation load feeds two vpdpbusd).
//
// Quantized weights (scheme in matmul-impl.h): the panel holds the unsigned codes dword-interleaved,
// [K/4][32 rows][4 bytes], so one zmm load gives 4 consecutive codes of 16 rows; the tile holds the
// int8 activation codes [K/4][C][4]. vpdpbusd(acc_c, codes, broadcast(4 activation codes of c))
// accumulates exact int32 sums for 16 rows x 1 column; an accumulator starts each block at
// -off*asum (the offset correction), and the block ends with acc_f += cvt(acc_i) * (s1 * da)
// (+ s2 * A for types with mins; with Q8_K activations, one da per 256 values, the blocks' sums are folded
// with da once per super-block: quant_blocks). Q4_K / Q5_K panels: panel-k4-avx512.cpp; the 32-value
// block types (Q8_0, Q5_0, Q4_0, IQ4_NL, IQ4_XS): panel-block32-avx512.cpp. F32 / F16 weights: f32 panel
// [K][32], FMA against broadcast activations. BF16: bf16 pairs [K/2][32] with vdpbf16ps (activations rounded to bf16).
#include "avx512-intrinsics.h"

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <type_traits>
#include <vector>

#include "ld-ggml/blocks.h"
#include "ld-ggml/fp16.h"
#include "matmul-impl.h"
#include "matmul-narrow-avx512.h"
#include "panel-block32-avx512.h"
#include "panel-k4-avx512.h"
#include "prefetch-stream.h"
#include "unpack-row-x86.h"
#include "transpose-avx512.h"

namespace ld::ggml::mm {

namespace {

constexpr int R = 32;  // two zmm of 16 rows
constexpr int C = kAvx512TileCols;

enum class Kind { quant, f32, bf16 };

Kind kind_of(Type w) {
    if (w == Type::BF16) return Kind::bf16;
    if (w == Type::F32 || w == Type::F16) return Kind::f32;
    return Kind::quant;
}

bool has(Type w) {
    QuantCfg c;
    return w == Type::F32 || w == Type::F16 || w == Type::BF16 || quant_cfg(w, c);
}

inline size_t up64(size_t n) { return (n + 63) & ~(size_t)63; }

// ---- layouts ----
// quant panel: q[K*16] | s1[nb*16] | s2[nb*16];  tile: q[K*C] | da[nb*C] | corr[nb*C] | A[nb*C]
// f32 panel: [K][32] f32; tile [K][C] f32.   bf16 panel: [K2][32] dwords; tile [K2][C] dwords (K2 = ceil(K/2))
size_t panel_bytes(Type w, int64_t K) {
    switch (kind_of(w)) {
        case Kind::f32: return up64((size_t)K * R * 4);
        case Kind::bf16: return up64((size_t)((K + 1) / 2) * R * 4);
        default: {
            QuantCfg c;
            quant_cfg(w, c);
            const size_t nb = (size_t)(K / c.bl);
            return up64((size_t)K * R) + 2 * up64(nb * R * 4);
        }
    }
}

size_t tile_bytes(Type w, int64_t K) {
    switch (kind_of(w)) {
        case Kind::f32: return up64((size_t)K * C * 4);
        case Kind::bf16: return up64((size_t)((K + 1) / 2) * C * 4);
        default: {
            QuantCfg c;
            quant_cfg(w, c);
            return avx512_quant_tile(K, c.bl).end;
        }
    }
}

struct Scratch {
    std::vector<uint8_t> u;
    std::vector<float> s1, s2, f;
    std::vector<int8_t> qs;
    std::vector<int32_t> asum;
};
Scratch & scratch() {
    static thread_local Scratch s;
    return s;
}

// dst[G*dst_stride + r] = src dword G of row r (16 rows of `stride` dwords), G < n_dw: 16x16 dword
// blocks transposed in registers, the tail gathered.
void transpose_dwords16(const uint32_t * src, int64_t stride, int64_t n_dw, uint32_t * dst, int64_t dst_stride) {
    int64_t G0 = 0;
    for (; G0 + 16 <= n_dw; G0 += 16) {
        __m512i r[16], o[16];
        for (int i = 0; i < 16; ++i) r[i] = _mm512_loadu_si512((const void *)(src + i * stride + G0));
        transpose16x16_epi32(r, o);
        for (int j = 0; j < 16; ++j) _mm512_store_si512((void *)(dst + (G0 + j) * dst_stride), o[j]);
    }
    const __m512i idx = _mm512_mullo_epi32(_mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15),
                                           _mm512_set1_epi32((int)stride));
    for (int64_t G = G0; G < n_dw; ++G)
        _mm512_store_si512((__m512i *)(dst + G * dst_stride), _mm512_i32gather_epi32(idx, (const void *)(src + G), 4));
}

// The 32-row panel layout: dword G of row r at [G][r] (two zmm of 16 rows per G).
void transpose_dwords32(const uint32_t * src, int64_t stride, int64_t n_dw, uint32_t * dst) {
    transpose_dwords16(src, stride, n_dw, dst, R);
    transpose_dwords16(src + 16 * stride, stride, n_dw, dst + 16, R);
}

// ---- panels (the hot types' vector packers give the bytes of unpack_row in matmul-unpack.cpp: Q4_K and Q5_K
// in panel-k4-avx512.cpp, the 32-value block types in panel-block32-avx512.cpp) ----

void pack_panel(Type w, const uint8_t * rows, size_t row_bytes, int n_rows, int64_t K, void * panel) {
    Scratch & S = scratch();
    const bool gather_ok = row_bytes <= (size_t)INT32_MAX / R;  // (the gathers index the rows with int32 offsets)
    if ((w == Type::Q4_K || w == Type::Q5_K) && gather_ok) {
        k4_pack_panel(w, rows, row_bytes, n_rows, K, static_cast<uint8_t *>(panel));
        return;
    }
    if (b32_has_panel(w) && gather_ok) {
        b32_pack_panel(w, rows, row_bytes, n_rows, K, static_cast<uint8_t *>(panel));
        return;
    }
    switch (kind_of(w)) {
        case Kind::f32: {
            S.f.assign((size_t)(R * K), 0.0f);
            for (int r = 0; r < n_rows; ++r) {
                if (w == Type::F32) std::memcpy(&S.f[(size_t)r * K], rows + row_bytes * r, (size_t)K * 4);
                else {
                    const fp16_t * h = reinterpret_cast<const fp16_t *>(rows + row_bytes * r);
                    float * o = &S.f[(size_t)r * K];
                    int64_t k = 0;
                    for (; k + 16 <= K; k += 16)
                        _mm512_storeu_ps(o + k, _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(h + k))));
                    for (; k < K; ++k) o[k] = fp16_to_f32(h[k]);
                }
            }
            transpose_dwords32(reinterpret_cast<const uint32_t *>(S.f.data()), K, K, static_cast<uint32_t *>(panel));
            break;
        }
        case Kind::bf16: {
            const int64_t K2 = (K + 1) / 2;
            S.u.assign((size_t)(R * K2 * 4), 0);
            for (int r = 0; r < n_rows; ++r) std::memcpy(&S.u[(size_t)r * K2 * 4], rows + row_bytes * r, (size_t)K * 2);
            transpose_dwords32(reinterpret_cast<const uint32_t *>(S.u.data()), K2, K2, static_cast<uint32_t *>(panel));
            break;
        }
        default: {
            QuantCfg c;
            quant_cfg(w, c);
            const int64_t nb = K / c.bl;
            S.u.resize((size_t)(R * K));
            S.s1.resize((size_t)(R * nb));
            S.s2.resize((size_t)(R * nb));
            for (int r = 0; r < n_rows; ++r) {
                if (r + 2 < n_rows) {  // the weights stream from memory: ask for the row after next
                    const uint8_t * nx = rows + row_bytes * (size_t)(r + 2);
                    for (size_t o = 0; o < row_bytes; o += 64) _mm_prefetch((const char *)nx + o, _MM_HINT_T0);
                }
                uint8_t * u = &S.u[(size_t)r * K];
                float * a = &S.s1[(size_t)r * nb];
                float * m = &S.s2[(size_t)r * nb];
                if (!unpack_row_simd(w, rows + row_bytes * r, K, u, a, m)) unpack_row(w, rows + row_bytes * r, K, u, a, m);
            }
            if (n_rows < R) {  // missing rows: zero scales (their codes never reach the output)
                std::memset(&S.u[(size_t)n_rows * K], 0, (size_t)((R - n_rows) * K));
                std::fill(S.s1.begin() + (size_t)n_rows * nb, S.s1.end(), 0.0f);
                std::fill(S.s2.begin() + (size_t)n_rows * nb, S.s2.end(), 0.0f);
            }
            uint8_t * p = static_cast<uint8_t *>(panel);
            transpose_dwords32(reinterpret_cast<const uint32_t *>(S.u.data()), K / 4, K / 4, reinterpret_cast<uint32_t *>(p));
            // the scales [32 rows][nb] -> [nb][32]: the same dword transposes as the codes
            uint32_t * s1 = reinterpret_cast<uint32_t *>(p + up64((size_t)K * R));
            uint32_t * s2 = reinterpret_cast<uint32_t *>(p + up64((size_t)K * R) + up64((size_t)nb * R * 4));
            transpose_dwords32(reinterpret_cast<const uint32_t *>(S.s1.data()), nb, nb, s1);
            transpose_dwords32(reinterpret_cast<const uint32_t *>(S.s2.data()), nb, nb, s2);
            break;
        }
    }
}

void pack_tile(Type w, const ActRows & a, const int64_t * ids, int n, int64_t K, void * tile) {
    Scratch & S = scratch();
    switch (kind_of(w)) {
        case Kind::f32: {
            float * t = static_cast<float *>(tile);
            std::memset(t, 0, (size_t)K * C * 4);
            for (int c = 0; c < n; ++c) {
                const uint8_t * row = a.row(ids[c]);
                if (a.type == Type::F32) {
                    const float * x = reinterpret_cast<const float *>(row);
                    for (int64_t k = 0; k < K; ++k) t[k * C + c] = x[k];
                } else {
                    const fp16_t * x = reinterpret_cast<const fp16_t *>(row);
                    for (int64_t k = 0; k < K; ++k) t[k * C + c] = fp16_to_f32(x[k]);
                }
            }
            break;
        }
        case Kind::bf16: {
            const int64_t K2 = (K + 1) / 2;
            uint32_t * t = static_cast<uint32_t *>(tile);
            std::memset(t, 0, (size_t)K2 * C * 4);
            for (int c = 0; c < n; ++c) {
                const bf16_t * x = reinterpret_cast<const bf16_t *>(a.row(ids[c]));
                for (int64_t k2 = 0; k2 < K2; ++k2) {
                    const uint32_t lo = x[2 * k2], hi = 2 * k2 + 1 < K ? x[2 * k2 + 1] : 0;
                    t[k2 * C + c] = lo | (hi << 16);
                }
            }
            break;
        }
        default: {
            QuantCfg cf;
            quant_cfg(w, cf);
            const Avx512QuantTile L = avx512_quant_tile(K, cf.bl);
            const int64_t nb = L.nb;
            uint8_t * t = static_cast<uint8_t *>(tile);
            uint32_t * q = reinterpret_cast<uint32_t *>(t);
            float * da = reinterpret_cast<float *>(t + L.da);
            int32_t * corr = reinterpret_cast<int32_t *>(t + L.corr);
            float * A = reinterpret_cast<float *>(t + L.A);
            // only the columns past n are cleared (the loop below writes every byte of columns < n)
            if (n < C) {
                for (int64_t G = 0; G < K / 4; ++G) std::memset(q + G * C + n, 0, (size_t)(C - n) * 4);
                for (int64_t b = 0; b < nb; ++b) {
                    std::memset(da + b * C + n, 0, (size_t)(C - n) * 4);
                    std::memset(corr + b * C + n, 0, (size_t)(C - n) * 4);
                    std::memset(A + b * C + n, 0, (size_t)(C - n) * 4);
                }
            }
            S.qs.resize((size_t)K);
            S.s1.resize((size_t)nb);
            S.s2.resize((size_t)nb);
            S.asum.resize((size_t)nb);
            for (int c = 0; c < n; ++c) {
                act_blocks(a.type, cf.bl, a.row(ids[c]), K, S.qs.data(), S.s1.data(), S.asum.data(), S.s2.data());
                const uint32_t * src = reinterpret_cast<const uint32_t *>(S.qs.data());
                for (int64_t G = 0; G < K / 4; ++G) q[G * C + c] = src[G];
                for (int64_t b = 0; b < nb; ++b) {
                    da[b * C + c] = S.s1[(size_t)b];
                    corr[b * C + c] = -cf.off * S.asum[(size_t)b];
                    // Q8_K activations: the block's code sum itself (exact in f32), scaled by da per super-block
                    // (quant_blocks, kSuper); else A = da * sum
                    A[b * C + c] = cf.act == Type::Q8_K ? (float)S.asum[(size_t)b] : S.s2[(size_t)b];
                }
            }
            break;
        }
    }
}

inline void store_rows(float * y, __m512 v0, __m512 v1, int n_rows) {
    if (n_rows >= 16) {
        _mm512_storeu_ps(y, v0);
        if (n_rows == 32) _mm512_storeu_ps(y + 16, v1);
        else if (n_rows > 16) _mm512_mask_storeu_ps(y + 16, (__mmask16)((1u << (n_rows - 16)) - 1u), v1);
    } else {
        _mm512_mask_storeu_ps(y, (__mmask16)((1u << n_rows) - 1u), v0);
    }
}

// The integer micro-kernel over scale blocks [b0, b1) of one tile: BG dword groups per scale block (bl / 4),
// MIN: types with s2. pq, s1, s2 hold those blocks' codes and scales (block b0 first: a whole panel, or a
// chunk of one); acc0 / acc1 carry the tile's f32 sums in and out (registers when inlined).
// Activations in blocks of bl (Q8_0, Q8_1): per block acc_f += cvt(acc_i) * (s1 * da) (+ s2 * A).
// SUPER (Q8_K activations, one da per 256 values; b0, b1 whole super-blocks): per super-block
// t = sum over its blocks of cvt(acc_i) * s1 (+ s2 * A, A the block's code sum), then acc_f += t * da: one
// multiply fewer per block and column (matmul-narrow-avx512.cpp folds the same way).
template <int BG, bool MIN, int CC, bool SUPER>
__attribute__((always_inline)) inline void quant_blocks(const uint8_t * pq, const float * s1, const float * s2,
                                                        const uint8_t * tile, int64_t K, int64_t b0, int64_t b1,
                                                        __m512 * acc0, __m512 * acc1) {
    const Avx512QuantTile T = avx512_quant_tile(K, 4 * BG);
    const int32_t * tq = reinterpret_cast<const int32_t *>(tile);
    const float * da = reinterpret_cast<const float *>(tile + T.da);
    const int32_t * corr = reinterpret_cast<const int32_t *>(tile + T.corr);
    const float * A = reinterpret_cast<const float *>(tile + T.A);
    PrefetchStream & ps = prefetch_stream();  // the next panel's bytes, a few lines per block
    const char * pf = ps.p;
    const char * const pf_end = ps.end;
    const int pf_step = ps.per_step;
    constexpr int64_t kSuper = SUPER ? 64 / BG : 1;  // blocks per fold into acc
    for (int64_t bs = b0; bs < b1; bs += kSuper) {
        __m512 t0[CC], t1[CC];  // SUPER: the super-block's sums before da
        if (SUPER)
            for (int c = 0; c < CC; ++c) t0[c] = t1[c] = _mm512_setzero_ps();
        for (int64_t b = bs; b < bs + kSuper; ++b) {
            pf = prefetch_step(pf, pf_end, pf_step);
            const int64_t lb = b - b0;  // the block within pq / s1 / s2
            __m512i ai0[CC], ai1[CC];
#pragma GCC unroll 6
            for (int c = 0; c < CC; ++c) ai0[c] = ai1[c] = _mm512_set1_epi32(corr[b * C + c]);
#pragma GCC unroll 8
            for (int g = 0; g < BG; ++g) {
                const __m512i w0 = _mm512_load_si512((const void *)(pq + (lb * BG + g) * (R * 4)));
                const __m512i w1 = _mm512_load_si512((const void *)(pq + (lb * BG + g) * (R * 4) + 64));
                const int32_t * a = tq + (b * BG + g) * C;
#pragma GCC unroll 6
                for (int c = 0; c < CC; ++c) {
                    const __m512i av = _mm512_set1_epi32(a[c]);  // one broadcast feeds 32 rows
                    ai0[c] = _mm512_dpbusd_epi32(ai0[c], w0, av);
                    ai1[c] = _mm512_dpbusd_epi32(ai1[c], w1, av);
                }
            }
            const __m512 sc0 = _mm512_load_ps(s1 + lb * R), sc1 = _mm512_load_ps(s1 + lb * R + 16);
            __m512 mn0 = _mm512_setzero_ps(), mn1 = _mm512_setzero_ps();
            if (MIN) {
                mn0 = _mm512_load_ps(s2 + lb * R);
                mn1 = _mm512_load_ps(s2 + lb * R + 16);
            }
#pragma GCC unroll 6
            for (int c = 0; c < CC; ++c) {
                if (SUPER) {
                    t0[c] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(ai0[c]), sc0, t0[c]);
                    t1[c] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(ai1[c]), sc1, t1[c]);
                    if (MIN) {
                        const __m512 a = _mm512_set1_ps(A[b * C + c]);
                        t0[c] = _mm512_fmadd_ps(mn0, a, t0[c]);
                        t1[c] = _mm512_fmadd_ps(mn1, a, t1[c]);
                    }
                } else {
                    const __m512 d = _mm512_set1_ps(da[b * C + c]);
                    acc0[c] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(ai0[c]), _mm512_mul_ps(sc0, d), acc0[c]);
                    acc1[c] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(ai1[c]), _mm512_mul_ps(sc1, d), acc1[c]);
                    if (MIN) {
                        const __m512 a = _mm512_set1_ps(A[b * C + c]);
                        acc0[c] = _mm512_fmadd_ps(mn0, a, acc0[c]);
                        acc1[c] = _mm512_fmadd_ps(mn1, a, acc1[c]);
                    }
                }
            }
        }
        if (SUPER) {
#pragma GCC unroll 6
            for (int c = 0; c < CC; ++c) {
                const __m512 d = _mm512_set1_ps(da[bs * C + c]);
                acc0[c] = _mm512_fmadd_ps(t0[c], d, acc0[c]);
                acc1[c] = _mm512_fmadd_ps(t1[c], d, acc1[c]);
            }
        }
    }
    ps.p = pf;
}

// One tile over a whole panel.
template <int BG, bool MIN, int CC, bool SUPER>
void compute_quant_cc(const uint8_t * panel, const uint8_t * tile, int64_t K, int n_rows, int n_cols, float * const * ycol) {
    const int64_t nb = K / (4 * BG);
    const float * s1 = reinterpret_cast<const float *>(panel + up64((size_t)K * R));
    const float * s2 = reinterpret_cast<const float *>(panel + up64((size_t)K * R) + up64((size_t)nb * R * 4));
    __m512 acc0[CC], acc1[CC];
    for (int c = 0; c < CC; ++c) acc0[c] = acc1[c] = _mm512_setzero_ps();
    quant_blocks<BG, MIN, CC, SUPER>(panel, s1, s2, tile, K, 0, nb, acc0, acc1);
    for (int c = 0; c < n_cols; ++c) store_rows(ycol[c], acc0[c], acc1[c], n_rows);
}

// f(std::integral_constant<int, CC>) with the columns a tile of n runs: only as many as it holds (small
// expert groups waste less).
template <class F>
inline void with_tile_cols(int n, F f) {
    if (n <= 2) f(std::integral_constant<int, 2>());
    else if (n <= 4) f(std::integral_constant<int, 4>());
    else f(std::integral_constant<int, C>());
}

template <int BG, bool MIN, bool SUPER>
void compute_quant(const uint8_t * panel, const uint8_t * tile, int64_t K, int n_rows, int n_cols, float * const * ycol) {
    with_tile_cols(n_cols, [&](auto cc) {
        compute_quant_cc<BG, MIN, decltype(cc)::value, SUPER>(panel, tile, K, n_rows, n_cols, ycol);
    });
}

void compute_f32(const float * panel, const float * tile, int64_t K, int n_rows, int n_cols, float * const * ycol) {
    __m512 acc0[C], acc1[C];
    for (int c = 0; c < C; ++c) acc0[c] = acc1[c] = _mm512_setzero_ps();
    for (int64_t k = 0; k < K; ++k) {
        const __m512 w0 = _mm512_load_ps(panel + k * R), w1 = _mm512_load_ps(panel + k * R + 16);
#pragma GCC unroll 6
        for (int c = 0; c < C; ++c) {
            const __m512 a = _mm512_set1_ps(tile[k * C + c]);
            acc0[c] = _mm512_fmadd_ps(w0, a, acc0[c]);
            acc1[c] = _mm512_fmadd_ps(w1, a, acc1[c]);
        }
    }
    for (int c = 0; c < n_cols; ++c) store_rows(ycol[c], acc0[c], acc1[c], n_rows);
}

void compute_bf16(const uint32_t * panel, const uint32_t * tile, int64_t K, int n_rows, int n_cols, float * const * ycol) {
    const int64_t K2 = (K + 1) / 2;
    __m512 acc0[C], acc1[C];
    for (int c = 0; c < C; ++c) acc0[c] = acc1[c] = _mm512_setzero_ps();
    for (int64_t k = 0; k < K2; ++k) {
        const __m512bh w0 = (__m512bh)_mm512_load_si512((const void *)(panel + k * R));
        const __m512bh w1 = (__m512bh)_mm512_load_si512((const void *)(panel + k * R + 16));
#pragma GCC unroll 6
        for (int c = 0; c < C; ++c) {
            const __m512bh a = (__m512bh)_mm512_set1_epi32((int)tile[k * C + c]);
            acc0[c] = _mm512_dpbf16_ps(acc0[c], w0, a);
            acc1[c] = _mm512_dpbf16_ps(acc1[c], w1, a);
        }
    }
    for (int c = 0; c < n_cols; ++c) store_rows(ycol[c], acc0[c], acc1[c], n_rows);
}

void compute(Type w, const void * panel, const void * tile, int64_t K, int n_rows, int n_cols, float * const * ycol) {
    switch (kind_of(w)) {
        case Kind::f32:
            compute_f32(static_cast<const float *>(panel), static_cast<const float *>(tile), K, n_rows, n_cols, ycol);
            return;
        case Kind::bf16:
            compute_bf16(static_cast<const uint32_t *>(panel), static_cast<const uint32_t *>(tile), K, n_rows, n_cols, ycol);
            return;
        default: break;
    }
    QuantCfg c;
    quant_cfg(w, c);
    const uint8_t * p = static_cast<const uint8_t *>(panel);
    const uint8_t * t = static_cast<const uint8_t *>(tile);
    const bool sup = c.act == Type::Q8_K;  // one da per super-block (quant_blocks)
    if (c.bl == 32) {
        if (c.has_min) {
            if (sup) compute_quant<8, true, true>(p, t, K, n_rows, n_cols, ycol);
            else compute_quant<8, true, false>(p, t, K, n_rows, n_cols, ycol);
        } else {
            if (sup) compute_quant<8, false, true>(p, t, K, n_rows, n_cols, ycol);
            else compute_quant<8, false, false>(p, t, K, n_rows, n_cols, ycol);
        }
    } else {  // bl 16: the K-quants and lattice types, always Q8_K
        if (c.has_min) compute_quant<4, true, true>(p, t, K, n_rows, n_cols, ycol);
        else compute_quant<4, false, true>(p, t, K, n_rows, n_cols, ycol);
    }
}

// ---- activation quantizers: the reference rules (quants-ref), vectorized with the same f32 operations ----
// Blocks holding a NaN or an infinity are left to the reference code (returns false for the row); they are
// found by an unordered compare (max_ps drops a NaN in its first operand, so the maximum cannot tell).
inline bool non_finite(__m512 absv) {
    return _mm512_cmp_ps_mask(absv, _mm512_set1_ps(3.4028235e38f), _CMP_NLE_UQ) != 0;
}

// Q8_0 reference: d = amax/127, id = 1/d, q = round half away from zero of x*id, clamped.
bool quantize_row_q8_0(const float * x, block_q8_0 * y, int64_t n) {
    const __m512 sign = _mm512_set1_ps(-0.0f), half = _mm512_set1_ps(0.5f), one = _mm512_set1_ps(1.0f);
    for (int64_t b = 0; b < n / 32; ++b, x += 32) {
        const __m512 v0 = _mm512_loadu_ps(x), v1 = _mm512_loadu_ps(x + 16);
        const __m512 a0 = _mm512_andnot_ps(sign, v0), a1 = _mm512_andnot_ps(sign, v1);
        if (non_finite(a0) || non_finite(a1)) return false;
        const float amax = _mm512_reduce_max_ps(_mm512_max_ps(a0, a1));
        const float d = amax / 127.0f;
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        y[b].d = f32_to_fp16(d);
        const __m512 vid = _mm512_set1_ps(id);
        __m512i q[2];
        const __m512 vv[2] = {v0, v1};
        for (int h = 0; h < 2; ++h) {
            const __m512 v = _mm512_mul_ps(vv[h], vid);
            const __m512 t = _mm512_roundscale_ps(v, _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC);
            const __m512 fr = _mm512_andnot_ps(sign, _mm512_sub_ps(v, t));  // |v - trunc(v)|, exact
            const __mmask16 up = _mm512_cmp_ps_mask(fr, half, _CMP_GE_OQ);
            const __m512 away = _mm512_or_ps(one, _mm512_and_ps(v, sign));   // +-1 with v's sign
            __m512 r = _mm512_mask_add_ps(t, up, t, away);
            r = _mm512_min_ps(_mm512_max_ps(r, _mm512_set1_ps(-128.0f)), _mm512_set1_ps(127.0f));
            q[h] = _mm512_cvttps_epi32(r);
        }
        _mm_storeu_si128((__m128i *)y[b].qs, _mm512_cvtepi32_epi8(q[0]));
        _mm_storeu_si128((__m128i *)(y[b].qs + 16), _mm512_cvtepi32_epi8(q[1]));
    }
    return true;
}

// Q8_K reference: max = the signed value of largest magnitude (first on ties), iscale = -127/max,
// q = round half to even of iscale*x clamped to 127, d = 1/iscale, bsums per 16.
bool quantize_row_q8_K(const float * x, block_q8_K * y, int64_t n) {
    const __m512 sign = _mm512_set1_ps(-0.0f);
    for (int64_t b = 0; b < n / 256; ++b, x += 256) {
        __m512 m = _mm512_setzero_ps();
        bool bad = false;
        for (int i = 0; i < 16; ++i) {
            const __m512 a = _mm512_andnot_ps(sign, _mm512_loadu_ps(x + 16 * i));
            bad = bad || non_finite(a);
            m = _mm512_max_ps(m, a);
        }
        if (bad) return false;
        const float amax = _mm512_reduce_max_ps(m);
        if (amax == 0.0f) {
            std::memset(&y[b], 0, sizeof(block_q8_K));
            continue;
        }
        float mx = 0.0f;
        const __m512 va = _mm512_set1_ps(amax);
        for (int i = 0; i < 16; ++i) {
            const __mmask16 k = _mm512_cmp_ps_mask(_mm512_andnot_ps(sign, _mm512_loadu_ps(x + 16 * i)), va, _CMP_EQ_OQ);
            if (k) { mx = x[16 * i + __builtin_ctz((unsigned)k)]; break; }
        }
        const float iscale = -127.0f / mx;
        const __m512 vs = _mm512_set1_ps(iscale);
        for (int i = 0; i < 16; ++i) {
            const __m512 v = _mm512_roundscale_ps(_mm512_mul_ps(vs, _mm512_loadu_ps(x + 16 * i)),
                                                  _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
            const __m512i q = _mm512_cvttps_epi32(_mm512_min_ps(_mm512_max_ps(v, _mm512_set1_ps(-128.0f)), _mm512_set1_ps(127.0f)));
            _mm_storeu_si128((__m128i *)(y[b].qs + 16 * i), _mm512_cvtepi32_epi8(q));
            y[b].bsums[i] = (int16_t)_mm512_reduce_add_epi32(q);
        }
        const float d = 1.0f / iscale;
        std::memcpy(&y[b].d, &d, sizeof d);
    }
    return true;
}

bool quantize_row(Type w, const float * x, void * dst, int64_t K) {
    QuantCfg c;
    if (!quant_cfg(w, c)) return false;
    if (c.act == Type::Q8_0) return quantize_row_q8_0(x, static_cast<block_q8_0 *>(dst), K);
    if (c.act == Type::Q8_K) return quantize_row_q8_K(x, static_cast<block_q8_K *>(dst), K);
    return false;
}

// compute_quant_cc reads s2 only for types with mins: the rest stops at s1.
size_t panel_bytes_read(Type w, int64_t K) {
    QuantCfg c;
    if (kind_of(w) != Kind::quant || !quant_cfg(w, c) || c.has_min) return panel_bytes(w, K);
    return up64((size_t)K * R) + up64((size_t)(K / c.bl) * R * 4);
}

// The most tiles of one compute_raw / compute_compact call (the driver offers no more).
constexpr int kChunkTiles = 8;

// Every tile of one Q4_K / Q5_K panel, a super-block at a time: fill(b, chunk) makes the panel chunk of
// super-block b in L1 (panel-k4-avx512.h) and all tiles run over it, their f32 sums kept between chunks: a
// MoE expert's ~16 tokens (3 tiles) read its codes from L1 instead of a whole panel (112 KB at K = 2816)
// written to and read back from L2. The same arithmetic per output as compute over the packed panel.
template <class Fill>
void compute_k4_chunked(Fill fill, int n_rows, int64_t K, const uint8_t * tiles, size_t tile_bytes, int n_tiles,
                        const int * n_cols, float * const * const * ycols) {
    alignas(64) uint8_t chunk[kK4ChunkBytes];
    alignas(64) float sums[kChunkTiles][2][C][16];  // tile, row half, column: the f32 accumulators (from chunk 1)
    const float * s1 = reinterpret_cast<const float *>(chunk + 8192);
    const float * s2 = reinterpret_cast<const float *>(chunk + 8192 + 1024);
    for (int64_t b = 0; b < K / 256; ++b) {
        fill(b, chunk);
        for (int t = 0; t < n_tiles; ++t) {
            with_tile_cols(n_cols[t], [&](auto cc) {
                constexpr int CC = decltype(cc)::value;
                __m512 acc0[CC], acc1[CC];
                for (int c = 0; c < CC; ++c) {
                    acc0[c] = b == 0 ? _mm512_setzero_ps() : _mm512_load_ps(sums[t][0][c]);
                    acc1[c] = b == 0 ? _mm512_setzero_ps() : _mm512_load_ps(sums[t][1][c]);
                }
                quant_blocks<8, true, CC, true>(chunk, s1, s2, tiles + tile_bytes * (size_t)t, K, 8 * b, 8 * b + 8, acc0, acc1);
                for (int c = 0; c < CC; ++c) {
                    _mm512_store_ps(sums[t][0][c], acc0[c]);
                    _mm512_store_ps(sums[t][1][c], acc1[c]);
                }
            });
        }
    }
    for (int t = 0; t < n_tiles; ++t)
        for (int c = 0; c < n_cols[t]; ++c)
            store_rows(ycols[t][c], _mm512_load_ps(sums[t][0][c]), _mm512_load_ps(sums[t][1][c]), n_rows);
}

bool is_k4(Type w) { return w == Type::Q4_K || w == Type::Q5_K; }

// compute_raw takes a whole panel's tiles only for Q4_K / Q5_K; one tile (of few columns) for the others.
int raw_max_tiles(Type w) { return is_k4(w) ? kChunkTiles : 1; }

// One tile of very few columns: the weights unpacked in registers from the rows (matmul-narrow-avx512.cpp);
// Q4_K / Q5_K panels of up to kChunkTiles tiles: a super-block at a time (compute_k4_chunked). The same
// result as the packed panel; otherwise false (the driver packs the panel).
bool compute_raw(Type w, const uint8_t * rows, size_t row_bytes, int n_rows, int64_t K, const uint8_t * tiles,
                 size_t tile_bytes, int n_tiles, const int * n_cols, float * const * const * ycols) {
    // (the row unpackers gather with int32 row offsets: rows of over 128 / 64 MB take the packed panel)
    if (n_tiles == 1 && n_cols[0] <= avx512_narrow_max_cols(w) && row_bytes <= (size_t)INT32_MAX / 16) {
        avx512_compute_narrow(w, rows, row_bytes, n_rows, K, tiles, n_cols[0], ycols[0]);
        return true;
    }
    if (!is_k4(w) || n_tiles > kChunkTiles || row_bytes > (size_t)INT32_MAX / R) return false;
    compute_k4_chunked([&](int64_t b, uint8_t * chunk) { k4_rows_to_chunk(w, rows, row_bytes, n_rows, K, b, chunk); },
                       n_rows, K, tiles, tile_bytes, n_tiles, n_cols, ycols);
    return true;
}

// The compact prepared forms: Q4_K and Q5_K, whose panels hold their 4-bit codes as bytes (panel-k4-avx512.h);
// the 32-value block types, the gathers done once (panel-block32-avx512.h: the blocks' own size).
size_t compact_bytes(Type w, int64_t K) {
    if (row_size(w, K) > (size_t)INT32_MAX / R) return 0;  // (the rows are gathered with int32 offsets)
    return is_k4(w) ? k4_compact_bytes(w, K) : b32_compact_bytes(w, K);
}
void pack_compact(Type w, const uint8_t * rows, size_t row_bytes, int n_rows, int64_t K, void * compact) {
    if (is_k4(w)) k4_pack_compact(w, rows, row_bytes, n_rows, K, static_cast<uint8_t *>(compact));
    else b32_pack_compact(w, rows, row_bytes, n_rows, K, static_cast<uint8_t *>(compact));
}
void expand_compact(Type w, const void * compact, int n_rows, int64_t K, void * panel) {
    if (is_k4(w)) k4_expand(w, static_cast<const uint8_t *>(compact), n_rows, K, static_cast<uint8_t *>(panel));
    else b32_expand(w, static_cast<const uint8_t *>(compact), n_rows, K, static_cast<uint8_t *>(panel));
}
bool compute_compact(Type w, const void * compact, int n_rows, int64_t K, const uint8_t * tiles, size_t tile_bytes,
                     int n_tiles, const int * n_cols, float * const * const * ycols) {
    if (!is_k4(w) || n_tiles > kChunkTiles) return false;
    const uint8_t * src = static_cast<const uint8_t *>(compact);
    compute_k4_chunked([&](int64_t b, uint8_t * chunk) { k4_compact_to_chunk(w, src, n_rows, b, chunk); }, n_rows, K,
                       tiles, tile_bytes, n_tiles, n_cols, ycols);
    return true;
}

const Kernels kKernels = {R, C, &has, &panel_bytes, &tile_bytes, &pack_panel, &pack_tile, &compute, &quantize_row, nullptr,
                          &compute_raw, &panel_bytes_read, &raw_max_tiles, &compact_bytes,
                          &pack_compact, &expand_compact, &compute_compact};

}  // namespace

const Kernels * kernels_avx512() { return &kKernels; }

}  // namespace ld::ggml::mm
