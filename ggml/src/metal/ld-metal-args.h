// The argument structs of the Metal kernels, shared by the kernels (MSL), the host (C++/Objective-C++)
// and the Linux emulator: plain 4- and 8-byte fields only, so the layout is the same on both sides.
// Passed to every kernel as buffer(0) (setBytes); the kernels' other buffers follow in the order noted.
#pragma once

#ifdef __METAL_VERSION__
typedef int ld_i32;
typedef uint ld_u32;
typedef ulong ld_u64;
#else
#include <cstdint>
typedef int32_t ld_i32;
typedef uint32_t ld_u32;
typedef uint64_t ld_u64;
#endif

// Type ids (ld::ggml::Type) the kernels dequantize natively; every other weight type is dequantized to
// F32 on the host at load time (the dequantize-then-GEMM fallback).
#define LD_MT_F32 0
#define LD_MT_F16 1
#define LD_MT_Q5_0 6
#define LD_MT_Q8_0 8
#define LD_MT_Q4_K 12
#define LD_MT_Q6_K 14
#define LD_MT_BF16 30

// elementwise ops over n values: add (a, b, out), scale (x, out), softcap (x, out), fill (out)
struct LdEltArgs {
    ld_i32 n;
    float s;  // scale: factor; softcap: cap; fill: value
};

// geglu (gate, up, out)
struct LdGegluArgs {
    ld_i32 n_rows, n, ld_in;
};

// rms_norm (x, weight, out): one simdgroup per row; softmax (x, out) likewise
struct LdRowArgs {
    ld_i32 n_rows, n;
    float eps;
    ld_i32 has_weight;
};

// rope_neox (x in place, pos [n_tok], inv_freq [n_rot/2], freq_factors [n_rot/2] or a dummy)
struct LdRopeArgs {
    ld_i32 n_tok, n_head, head_dim, n_rot;
    ld_i32 has_ff;
};

// router_topk (logits, scale, ids_out, weights_out): one thread per token
struct LdRouterArgs {
    ld_i32 n_tok, n_expert, k, has_scale;
};

// get_rows (w, ids, out)
struct LdGetRowsArgs {
    ld_i32 ne0, n_rows, wtype, n;
    ld_u32 row_bytes;
    float s;
};

// store_rows (src, dst): dst_type F32, F16 or Q8_0
struct LdStoreRowsArgs {
    ld_i32 n, width, dst_type;
    ld_u32 row_bytes;
};

// mul_mm (x [N, K], w [M rows], y [N, M]) and mul_mm_id (x, w {K, M, E}, counts [E], lists [E, NP], y)
struct LdMatmulArgs {
    ld_i32 N, K, M, wtype;
    ld_u32 row_bytes;
    // grouped (MoE) only
    ld_i32 E, top_k, x_per_slot, NP;
    ld_u64 expert_bytes;
};

// moe_group (ids [NP], counts [E], lists [E, NP]); moe_reduce (tmp [N, top_k, M], rw, ids, y [N, M])
struct LdMoeArgs {
    ld_i32 N, top_k, E, M;
};

// attention (q, q_pos, k, v, k_pos, out): one simdgroup per (head, query)
struct LdAttnArgs {
    ld_i32 n_q, n_head, head_dim, q_stride;
    ld_i32 n_kv, n_kv_head, kv_type, mask;
    ld_u32 kv_stride, kv_row_bytes;  // bytes between tokens; bytes of one head's row
    ld_i32 window, canvas_begin;
    float scale;
};

// The vocab head's per-position streaming state (one per canvas position, device memory).
struct LdHeadState {
    float m, s, a, best;
    ld_i32 best_id;
    float gbest;  // best Gumbel key of the draw
    ld_i32 gid;
    ld_i32 pad;
};

// head_stats (lg [C, nt] in/out, state [C], fac [C]); head_soft (lg, fac, embd, soft [C, H]);
// head_final (state, argmax, draw, entropy, soft)
struct LdHeadArgs {
    ld_i32 C, H, nt, v0;
    float temperature;
    ld_i32 sample, first, has_soft;
    ld_i32 etype;
    ld_u32 erow_bytes;
    ld_u64 seed, canvas_key, step_key;
};
