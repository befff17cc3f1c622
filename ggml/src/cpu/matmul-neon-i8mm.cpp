// NEON + i8mm matmul kernels for the quantized weight types (AArch64, armv8.2-a + dotprod + fp16 + i8mm;
// run only where the CPU has i8mm, CpuIsa::neon_i8mm): panels of R = 8 weight rows against tiles of
// C = 4 activation columns, like the plain NEON table, with SMMLA in place of SDOT. F32 / F16 / BF16
// weights run the plain NEON table (matmul.cpp picks it).
//
// SMMLA (vmmlaq_s32) multiplies a 2x8 int8 matrix by the transpose of another 2x8 one into a 2x2 int32
// block: acc[i][j] += sum_t a[i][t] * b[j][t]. So the panel holds the int8 weight values u - off
// (matmul-impl.h) interleaved by 8 bytes, q[K/8][8 rows][8 bytes] (one 16-byte load = 8 consecutive
// values of a pair of rows), and the tile the int8 activation codes the same way, q[K/8][4 columns][8].
// The 8 x 4 register tile is 4 row pairs x 2 column pairs of 2x2 int32 blocks (8 accumulators, lanes
// (r, c) (r, c+1) (r+1, c) (r+1, c+1)) holding the exact int32 sum_k (u - off) * a of each scale block,
// the same integers as the generic dot products and the SDOT kernel. Each block then ends with the
// NEON table's fold, element by element the same f32 operations:
//     acc_f = fma(cvt(acc_i), s1 * da, acc_f)   (then acc_f = fma(s2, A, acc_f) for types with mins),
// so the results equal the NEON table's bit for bit (tests/cpp/test-kernels-isa.cpp checks it). A
// 2-column kernel serves tiles of <= 2 tokens (small expert groups).
//
// Testing: this file has been run only under qemu-aarch64 with -cpu max (tests/cross/run-aarch64-tests.sh,
// tests/python/test_neon_qemu.py), never on real Arm or Apple hardware here; its speed is unmeasured.
#include <arm_neon.h>

#include <cstring>
#include <vector>

#include "matmul-impl.h"
#include "matmul-neon.h"

#ifndef __ARM_FEATURE_MATMUL_INT8
#error "matmul-neon-i8mm.cpp needs -march=...+i8mm (see CMakeLists.txt)"
#endif

namespace ld::ggml::mm {

namespace {

constexpr int R = 8;  // weight rows per panel (4 pairs)
constexpr int C = 4;  // activation columns per tile (2 pairs)
constexpr int KG = 8;  // values per SMMLA row

bool has(Type w) {
    QuantCfg c;
    return quant_cfg(w, c);
}

inline size_t up64(size_t n) { return (n + 63) & ~(size_t)63; }

// ---- layouts ----
// panel: q[K/8][R][8] int8 | s1[nb][R] | s2[nb][R];  tile: q[K/8][C][8] int8 | da[nb][C] | A[nb][C]
size_t panel_bytes(Type w, int64_t K) {
    QuantCfg c;
    quant_cfg(w, c);
    return up64((size_t)K * R) + 2 * up64((size_t)(K / c.bl) * R * 4);
}

size_t tile_bytes(Type w, int64_t K) {
    QuantCfg c;
    quant_cfg(w, c);
    return up64((size_t)K * C) + 2 * up64((size_t)(K / c.bl) * C * 4);
}

struct Scratch {
    std::vector<int8_t> q;
    std::vector<float> s1, s2;
};
Scratch & scratch() {
    static thread_local Scratch s;
    return s;
}

void pack_panel(Type w, const uint8_t * rows, size_t row_bytes, int n_rows, int64_t K, void * panel) {
    QuantCfg c;
    quant_cfg(w, c);
    Scratch & S = scratch();
    const int64_t nb = K / c.bl, G = K / KG;
    uint8_t * pb = static_cast<uint8_t *>(panel);
    float * s1 = reinterpret_cast<float *>(pb + up64((size_t)K * R));
    float * s2 = reinterpret_cast<float *>(pb + up64((size_t)K * R) + up64((size_t)nb * R * 4));
    S.q.resize((size_t)K);
    S.s1.resize((size_t)nb);
    S.s2.resize((size_t)nb);
    for (int r = 0; r < R; ++r) {  // rows past n_rows: zero values and scales
        unpack_row_s8_neon(w, c, r < n_rows ? rows + row_bytes * r : nullptr, K, S.q.data(), S.s1.data(), S.s2.data());
        for (int64_t g = 0; g < G; ++g) std::memcpy(pb + (g * R + r) * KG, S.q.data() + KG * g, KG);
        for (int64_t b = 0; b < nb; ++b) {
            s1[b * R + r] = S.s1[(size_t)b];
            s2[b * R + r] = S.s2[(size_t)b];
        }
    }
}

void pack_tile(Type w, const ActRows & a, const int64_t * ids, int n, int64_t K, void * tile) {
    pack_quant_tile_neon(w, a, ids, n, K, KG, tile);  // [K/8][4 columns][8 bytes]: SMMLA column pairs
}


// [v0, v0, v1, v1] of lanes 2h, 2h+1 of v (the per-row factor of a row pair's 2x2 block)
inline float32x4_t rows_of_pair(float32x4_t v, int h) { return h == 0 ? vzip1q_f32(v, v) : vzip2q_f32(v, v); }
// [v0, v1, v0, v1] of lanes 2h, 2h+1 of v (the per-column factor of a column pair's 2x2 block)
inline float32x4_t cols_of_pair(float32x4_t v, int h) {
    const float64x2_t d = vreinterpretq_f64_f32(v);
    return vreinterpretq_f32_f64(h == 0 ? vdupq_laneq_f64(d, 0) : vdupq_laneq_f64(d, 1));
}

// The integer micro-kernel. BG: 8-value groups per scale block (bl / 8); MIN: types with s2; CP: column
// pairs computed (1 or C / 2; small expert groups skip the empty pair).
template <int BG, bool MIN, int CP>
void compute_quant_cp(const uint8_t * panel, const uint8_t * tile, int64_t K, int n_rows, int n_cols,
                      float * const * ycol) {
    constexpr int RP = R / 2;
    const int64_t nb = K / (KG * BG);
    const int8_t * pq = reinterpret_cast<const int8_t *>(panel);
    const float * s1 = reinterpret_cast<const float *>(panel + up64((size_t)K * R));
    const float * s2 = reinterpret_cast<const float *>(panel + up64((size_t)K * R) + up64((size_t)nb * R * 4));
    const int8_t * tq = reinterpret_cast<const int8_t *>(tile);
    const float * da = reinterpret_cast<const float *>(tile + up64((size_t)K * C));
    const float * A = reinterpret_cast<const float *>(tile + up64((size_t)K * C) + up64((size_t)nb * C * 4));
    // acc[p][q]: rows 2p, 2p+1 x columns 2q, 2q+1, lanes (2p, 2q) (2p, 2q+1) (2p+1, 2q) (2p+1, 2q+1)
    float32x4_t acc[RP][CP];
    for (int p = 0; p < RP; ++p)
        for (int q = 0; q < CP; ++q) acc[p][q] = vdupq_n_f32(0.0f);
    for (int64_t b = 0; b < nb; ++b) {
        int32x4_t ai[RP][CP];
        for (int p = 0; p < RP; ++p)
            for (int q = 0; q < CP; ++q) ai[p][q] = vdupq_n_s32(0);
        const int8_t * wp = pq + b * BG * (R * KG);
        const int8_t * ap = tq + b * BG * (C * KG);
#pragma GCC unroll 4
        for (int g = 0; g < BG; ++g) {
            int8x16_t wv[RP], av[CP];
            for (int p = 0; p < RP; ++p) wv[p] = vld1q_s8(wp + g * (R * KG) + 16 * p);
            for (int q = 0; q < CP; ++q) av[q] = vld1q_s8(ap + g * (C * KG) + 16 * q);
            for (int p = 0; p < RP; ++p)
                for (int q = 0; q < CP; ++q) ai[p][q] = vmmlaq_s32(ai[p][q], wv[p], av[q]);
        }
        // the NEON table's fold: per element s1[r] * da[c], then one FMA (and the mins' FMA)
        const float32x4_t sc[2] = {vld1q_f32(s1 + b * R), vld1q_f32(s1 + b * R + 4)};
        const float32x4_t dv = vld1q_f32(da + b * C);
        for (int p = 0; p < RP; ++p) {
            const float32x4_t rs = rows_of_pair(sc[p / 2], p % 2);
            for (int q = 0; q < CP; ++q)
                acc[p][q] = vfmaq_f32(acc[p][q], vcvtq_f32_s32(ai[p][q]), vmulq_f32(rs, cols_of_pair(dv, q)));
        }
        if (MIN) {
            const float32x4_t mn[2] = {vld1q_f32(s2 + b * R), vld1q_f32(s2 + b * R + 4)};
            const float32x4_t Av = vld1q_f32(A + b * C);
            for (int p = 0; p < RP; ++p) {
                const float32x4_t ms = rows_of_pair(mn[p / 2], p % 2);
                for (int q = 0; q < CP; ++q) acc[p][q] = vfmaq_f32(acc[p][q], ms, cols_of_pair(Av, q));
            }
        }
    }
    // de-interleave the 2x2 blocks into columns of 8 rows: column 2q = lanes 0, 2, column 2q+1 = lanes 1, 3
    for (int q = 0; q < CP; ++q) {
        if (2 * q < n_cols)
            store_rows8(ycol[2 * q], vuzp1q_f32(acc[0][q], acc[1][q]), vuzp1q_f32(acc[2][q], acc[3][q]), n_rows);
        if (2 * q + 1 < n_cols)
            store_rows8(ycol[2 * q + 1], vuzp2q_f32(acc[0][q], acc[1][q]), vuzp2q_f32(acc[2][q], acc[3][q]), n_rows);
    }
}

template <int BG, bool MIN>
void compute_quant(const uint8_t * panel, const uint8_t * tile, int64_t K, int n_rows, int n_cols, float * const * ycol) {
    if (n_cols <= 2) compute_quant_cp<BG, MIN, 1>(panel, tile, K, n_rows, n_cols, ycol);
    else compute_quant_cp<BG, MIN, C / 2>(panel, tile, K, n_rows, n_cols, ycol);
}

void compute(Type w, const void * panel, const void * tile, int64_t K, int n_rows, int n_cols, float * const * ycol) {
    QuantCfg c;
    quant_cfg(w, c);
    const uint8_t * p = static_cast<const uint8_t *>(panel);
    const uint8_t * t = static_cast<const uint8_t *>(tile);
    if (c.bl == 32) {
        if (c.has_min) compute_quant<4, true>(p, t, K, n_rows, n_cols, ycol);
        else compute_quant<4, false>(p, t, K, n_rows, n_cols, ycol);
    } else {
        if (c.has_min) compute_quant<2, true>(p, t, K, n_rows, n_cols, ycol);
        else compute_quant<2, false>(p, t, K, n_rows, n_cols, ycol);
    }
}

const Kernels kKernels = {R, C, &has, &panel_bytes, &tile_bytes, &pack_panel, &pack_tile, &compute, &quantize_row_neon};

}  // namespace

const Kernels * kernels_neon_i8mm() { return &kKernels; }

}  // namespace ld::ggml::mm
