// Metal matmul kernels: y[N, M] = x[N, K] · W[M, K]ᵀ with W dequantized on the fly (ld_dequant1: F32,
// F16, BF16, Q8_0, Q5_0, Q4_K, Q6_K), and the grouped expert (MoE) matmul in one launch.
//
// Tiling (both kernels): a threadgroup of 128 threads (4 simdgroups) computes a 32 (tokens) x 32 (weight
// rows) tile of y. Per K step of 32: the W tile is dequantized into threadgroup memory transposed
// (sw[k][m]), the x tile copied (sx[n][k]), then each simdgroup multiplies its 16 x 16 quarter as 2 x 2
// simdgroup_float8x8 products over 4 steps of 8 (f32 accumulation). The result goes through threadgroup
// memory so partial tiles are written with bounds checks.
//
// MoE: ld_moe_group lists, per expert e, the (token, slot) pairs routed to it in pair order (one
// simdgroup per expert, prefix sums over the lanes); ld_mul_mm_id's grid z is the expert and grid y
// the 32-pair tile of its list; tiles past the expert's count return at once. ld_moe_reduce then sums the
// slots of each token in slot order weighted by the routing weights.
#include "ld-metal.h"

// The shared tile loop. list == nullptr: dense (token rows row0..row0+31, y rows = tokens); else the
// rows are pairs list[row0 + r] (count valid), x row = x_per_slot ? pair : pair / top_k, y row = pair.
#ifdef __METAL_VERSION__
#define LD_MM_BODY_DECL threadgroup float * sx, threadgroup float * sw
#else
#define LD_MM_BODY_DECL ::msl_emu::TgPtr<float> sx, ::msl_emu::TgPtr<float> sw
#endif

inline int ld_mm_row_of(device const int * list, int count, int row0, int r) {
    if (!list) return row0 + r;
    return row0 + r < count ? list[row0 + r] : -1;
}

inline void ld_mm_run(constant LdMatmulArgs & p, device const float * x, device const uchar * w,
                      device float * y, device const int * list, int count, int row0, int m0, LD_MM_BODY_DECL,
                      uint tiitg, uint sgitg) {
    const int K = p.K, M = p.M;
    const int n_rows_total = list ? count : p.N;
    // This thread's loads: row lr (0..31) and 8 consecutive k at lk.
    const int lr = (int)tiitg / 4, lk = ((int)tiitg % 4) * 8;
    const int xrow = ld_mm_row_of(list, count, row0, lr);
    const bool xvalid = list ? xrow >= 0 : xrow < n_rows_total;
    device const float * xr = x;
    if (xvalid) xr = x + (long)(list && !p.x_per_slot ? xrow / p.top_k : xrow) * K;
    const int wm = m0 + lr;
    device const uchar * wr = w + (ulong)(wm < M ? wm : 0) * p.row_bytes;
    // Simdgroup quarter: tokens ns..ns+15, weight rows ms..ms+15.
    const int ns = ((int)sgitg / 2) * 16, ms = ((int)sgitg % 2) * 16;
    simdgroup_float8x8 acc[4];
    for (int i = 0; i < 4; ++i) acc[i] = make_filled_simdgroup_matrix<float, 8, 8>(0.0f);
    for (int k0 = 0; k0 < K; k0 += 32) {
        for (int i = 0; i < 8; ++i) {
            const int k = k0 + lk + i;
            sw[(lk + i) * 32 + lr] = (wm < M && k < K) ? ld_dequant1(p.wtype, wr, k) : 0.0f;
            sx[lr * 32 + lk + i] = (xvalid && k < K) ? xr[k] : 0.0f;
        }
        threadgroup_barrier(mem_flags::mem_threadgroup);
        for (int kk = 0; kk < 32; kk += 8) {
            simdgroup_float8x8 a0, a1, b0, b1;
            simdgroup_load(a0, sx + ns * 32 + kk, 32);
            simdgroup_load(a1, sx + (ns + 8) * 32 + kk, 32);
            simdgroup_load(b0, sw + kk * 32 + ms, 32);
            simdgroup_load(b1, sw + kk * 32 + ms + 8, 32);
            simdgroup_multiply_accumulate(acc[0], a0, b0, acc[0]);
            simdgroup_multiply_accumulate(acc[1], a0, b1, acc[1]);
            simdgroup_multiply_accumulate(acc[2], a1, b0, acc[2]);
            simdgroup_multiply_accumulate(acc[3], a1, b1, acc[3]);
        }
        threadgroup_barrier(mem_flags::mem_threadgroup);
    }
    // The 32 x 32 result through sx (tokens x weight rows), then bounds-checked stores.
    simdgroup_store(acc[0], sx + ns * 32 + ms, 32);
    simdgroup_store(acc[1], sx + ns * 32 + ms + 8, 32);
    simdgroup_store(acc[2], sx + (ns + 8) * 32 + ms, 32);
    simdgroup_store(acc[3], sx + (ns + 8) * 32 + ms + 8, 32);
    threadgroup_barrier(mem_flags::mem_threadgroup);
    if (xvalid) {
        device float * yr = y + (long)xrow * M;
        for (int i = 0; i < 8; ++i) {
            const int m = m0 + lk + i;
            if (m < M) yr[m] = sx[lr * 32 + lk + i];
        }
    }
}

// Dense: grid (ceil(M / 32), ceil(N / 32)), 128 threads   (x [N, K], w, y [N, M])
kernel void ld_mul_mm(constant LdMatmulArgs & p [[buffer(0)]], device const float * x [[buffer(1)]],
                      device const uchar * w [[buffer(2)]], device float * y [[buffer(3)]], LD_TIDS) {
    LD_TG(float, sx, 32 * 32);
    LD_TG(float, sw, 32 * 32);
    ld_mm_run(p, x, w, y, (device const int *)nullptr, 0, (int)tgpig.y * 32, (int)tgpig.x * 32, sx, sw, tiitg, sgitg);
}

// One simdgroup per expert: lists[e, :] = the pairs p (token * top_k + slot) with ids[p] == e, in order;
// counts[e] = their number   (ids [NP], counts [E], lists [E, NP]); grid (E), 32 threads
kernel void ld_moe_group(constant LdMoeArgs & p [[buffer(0)]], device const int * ids [[buffer(1)]],
                         device int * counts [[buffer(2)]], device int * lists [[buffer(3)]], LD_TIDS) {
    const int e = (int)tgpig.x, NP = p.N * p.top_k;
    int base = 0;
    for (int p0 = 0; p0 < NP; p0 += 32) {
        const int q = p0 + (int)tiisg;
        const uint hit = (q < NP && ids[q] == e) ? 1u : 0u;
        const uint before = simd_prefix_exclusive_sum(hit);
        if (hit) lists[(long)e * NP + base + (int)before] = q;
        base += (int)simd_sum(hit);
    }
    if (tiisg == 0) counts[e] = base;
}

// Grouped: grid (ceil(M / 32), ceil(NP / 32), E), 128 threads   (x, w {K, M, E}, counts, lists, y [NP, M])
kernel void ld_mul_mm_id(constant LdMatmulArgs & p [[buffer(0)]], device const float * x [[buffer(1)]],
                         device const uchar * w [[buffer(2)]], device const int * counts [[buffer(3)]],
                         device const int * lists [[buffer(4)]], device float * y [[buffer(5)]], LD_TIDS) {
    LD_TG(float, sx, 32 * 32);
    LD_TG(float, sw, 32 * 32);
    const int e = (int)tgpig.z, row0 = (int)tgpig.y * 32;
    const int count = counts[e];
    if (row0 >= count) return;  // uniform over the threadgroup, before any barrier
    ld_mm_run(p, x, w + (ulong)e * p.expert_bytes, y, lists + (long)e * p.NP, count, row0, (int)tgpig.x * 32,
              sx, sw, tiitg, sgitg);
}

// y[n, m] = Σ_s rw[n, s] · tmp[n, s, m] in slot order; slots whose id is outside [0, E) add nothing
// (tmp, rw, ids, y [N, M]); 1-D grid of 256-thread groups over N * M
kernel void ld_moe_reduce(constant LdMoeArgs & p [[buffer(0)]], device const float * tmp [[buffer(1)]],
                          device const float * rw [[buffer(2)]], device const int * ids [[buffer(3)]],
                          device float * y [[buffer(4)]], LD_TIDS) {
    const int i = (int)(tgpig.x * ntg.x + tiitg);
    if (i >= p.N * p.M) return;
    const int n = i / p.M, m = i % p.M;
    float s = 0.0f;
    for (int k = 0; k < p.top_k; ++k) {
        const int q = n * p.top_k + k;
        if (ids[q] >= 0 && ids[q] < p.E) s += rw[q] * tmp[(long)q * p.M + m];
    }
    y[i] = s;
}
