// Private: the AMX-BF16 path of the tiled attention (attention-amx.cpp), taken by the amx ISA for K/V
// stored as F16 or Q8_0: q, K, V and the softmax weights rounded to bf16, products and sums in f32 on
// AMX tiles (relative error of a score about 2^-9 of |q| |k|; see the file for the numerics).
#pragma once

#include "ld-ggml/cpu-nn.h"
#include "ld-ggml/thread-pool.h"

namespace ld::ggml {

// True when the path applies: kv_type F16 or Q8_0, head_dim a multiple of 32, and the CPU has AMX-BF16
// and AVX512-BF16 (the caller has chosen the amx ISA, so tile permission is granted), unless the
// environment variable LD_ATTN_BF16 is 0 (read once): then the f32 path of the avx512 table runs.
bool attention_amx_bf16_runs(const AttnArgs & a);

// The attention of cpu-nn.h on this path (a validated, n_q > 0, n_kv > 0).
void attention_amx_bf16(const AttnArgs & a, ThreadPool & tp);

}  // namespace ld::ggml
