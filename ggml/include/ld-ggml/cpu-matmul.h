// CPU matrix products of f32 activations with (quantized) weights: the dense matmul and the grouped
// expert (MoE) matmul. Weights are GGUF tensors: a 2-D weight {K, M} is M rows of K values (ne0 = K),
// a 3-D expert weight {K, M, E} is E such matrices back to back.
//
// Numerics: for quantized weights the activations are quantized once per call to the weight's
// vec_dot_type with the reference quantizers (vec-dot.h; Q8_0 always uses the reference rule, round
// half away from zero, on every ISA), and every ISA computes the same exact int32 sums per block;
// only the f32 combination of block scales differs between ISAs (relative differences ~1e-6 of
// sum |w*x|). Work is split into fixed tiles of the output, so results are bit-identical for any
// thread count. ISA: cpu_isa() (LD_CPU_ISA) unless given; a type without a kernel on that ISA uses
// the generic path. Bad shapes or types throw ld::ggml::Error.
#pragma once

#include <cstdint>
#include <memory>

#include "ld-ggml/cpu-features.h"
#include "ld-ggml/thread-pool.h"
#include "ld-ggml/types.h"

namespace ld::ggml {

// True when matmul / moe_matmul accept this weight type.
bool matmul_supports(Type wtype);

// y[N, M] = x[N, K] . W[M, K]^T. w: M rows of K values of wtype (K a multiple of the block size).
// pool: nullptr = ThreadPool::global().
void matmul(const float * x /*[N,K]*/, int64_t N, int64_t K, const void * w /*[M rows of K]*/, Type wtype,
            int64_t M, float * y /*[N,M]*/, ThreadPool * pool = nullptr);
void matmul_isa(CpuIsa isa, const float * x, int64_t N, int64_t K, const void * w, Type wtype, int64_t M,
                float * y, ThreadPool * pool = nullptr);

// The reference: activations quantized with the reference quantizer, then one generic vec_dot per
// output element (single thread, no SIMD).
void matmul_ref(const float * x, int64_t N, int64_t K, const void * w, Type wtype, int64_t M, float * y);

// Grouped expert matmul. Experts: w holds E matrices of M rows of K values ({K, M, E}).
// Routing: ids[N, top_k] (expert of each token's slot, in [0, E)), rw[N, top_k] (routing weights).
// Input: x_per_slot = false: x[N, K], the same row for every slot (gate_up);
//        x_per_slot = true:  x[N, top_k, K], one row per slot (down, after the activation).
// Output: rw == nullptr: y[N, top_k, M], the raw expert output of each slot (gate_up; with the fused
//         {K, 2*Fe, E} tensor the gate half is y[..., :Fe] and the up half y[..., Fe:]);
//         rw != nullptr: y[N, M] = sum over slots (in slot order) of rw[n, s] * expert output (down).
// Tokens are grouped by expert and each expert runs one small GEMM, then results are scattered back.
struct MoeArgs {
    const float * x = nullptr;
    int64_t N = 0, K = 0;
    bool x_per_slot = false;
    const void * w = nullptr;
    Type wtype = Type::F32;
    int64_t M = 0, E = 0;
    const int32_t * ids = nullptr;  // [N, top_k]
    const float * rw = nullptr;     // [N, top_k] or nullptr
    int64_t top_k = 0;
    float * y = nullptr;
    // Optional: w packed once for the ISA of the call (prepare_weight with n_mats = E); w is then not read.
    const class PreparedWeight * prepared = nullptr;
};
void moe_matmul(const MoeArgs & a, ThreadPool * pool = nullptr);
void moe_matmul_isa(CpuIsa isa, const MoeArgs & a, ThreadPool * pool = nullptr);
// Reference: a loop over (token, slot) with the generic dot products.
void moe_matmul_ref(const MoeArgs & a);

// Weights packed once into the panel layout of one ISA's kernels (opt-in), so that matmul_prepared
// and moe_matmul (MoeArgs::prepared) skip the per-call packing of every panel; the results are
// bit-identical to the unpacked call on the same ISA. Offered only where a packed panel is at most
// 7% larger than its rows' bytes (prepared_weight_supported; e.g. Q8_0 on avx512 / amx: +5.9%, F32 and
// BF16 on avx512; not the 4- to 6-bit types, whose panels hold int8 codes); an M that is not a multiple
// of 32 pads its last panel. The caller may drop the original bytes once it is made (it does not
// refer to them).
// Where the panels would be more than 7% larger (4-bit codes held as bytes), a table may offer a compact
// form instead (Q4_K / Q5_K on avx512: +2.3-2.8%), the transposes done once and each call expanding it
// (prepared_weight_compact says which form is offered); results still bit-identical.
class PreparedWeight;
bool prepared_weight_supported(CpuIsa isa, Type wtype, int64_t K);
bool prepared_weight_compact(CpuIsa isa, Type wtype, int64_t K);
// n_mats matrices of M rows of K values back to back (1 for a dense weight, E for experts {K, M, E}).
// Throws ld::ggml::Error where it is not supported or for bad sizes.
std::shared_ptr<const PreparedWeight> prepare_weight(CpuIsa isa, const void * w, Type wtype, int64_t n_mats, int64_t M,
                                                     int64_t K, ThreadPool * pool = nullptr);
size_t prepared_weight_bytes(const PreparedWeight & p);
// y[N, M] = x[N, K] . W^T with a prepared dense weight (n_mats = 1), on the ISA it was made for.
void matmul_prepared(const float * x /*[N,K]*/, int64_t N, const PreparedWeight & w, float * y /*[N,M]*/,
                     ThreadPool * pool = nullptr);

}  // namespace ld::ggml

namespace ld::ggml {
// Peak throughput of one core in G ops/s measured over `seconds` with a register-only loop:
// what = "vnni" (512-bit vpdpbusd, int8), "fma" (512-bit f32 FMA), "bf16" (vdpbf16ps), "avx_vnni"
// (256-bit vpdpbusd, int8), "avx2_int8" (256-bit vpmaddubsw + vpmaddwd + vpaddd, int8), "amx_int8" (AMX tdpbssd on tiles, int8) or "amx_bf16" (AMX tdpbf16ps,
// bf16 -> f32 FLOPs). Returns 0 where the ISA of the loop (avx512, avx2, avx2_vnni, amx; AMX-BF16 for amx_bf16)
// is not available in this build and on this CPU / OS (checked here), and for an unknown name; runs on
// the calling thread (the amx loops leave their tile configuration loaded there).
double cpu_peak_gops(const char * what, double seconds);
}  // namespace ld::ggml
