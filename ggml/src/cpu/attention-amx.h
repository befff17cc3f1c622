// Private: the AMX-BF16 path of the tiled attention (attention-amx.cpp), taken on request (LD_ATTN_BF16)
// by the amx ISA for K/V stored as F16 or Q8_0 with head dims % 32 == 0 on CPUs with AMX-BF16. Products
// exact, sums in f32; the operands are either split into hi + lo bf16 parts (split: 16 significant bits,
// a score off by about 2^-17 of sum |q_i k_i|, ~2x the f32 path) or rounded to bf16 once (fast: 8 bits,
// 2^-8 per operand, per score product factor and per softmax weight, ~5x the f32 path).
#pragma once

#include "ld-ggml/cpu-nn.h"
#include "ld-ggml/thread-pool.h"

namespace ld::ggml {

enum class AttnBf16 { off, split, fast };

// The mode for a on this CPU: off unless kv_type is F16 or Q8_0, head_dim a multiple of 32 and the CPU
// has AMX-BF16 and AVX512-BF16 (the caller has chosen the amx ISA, so tile permission is granted); else
// from the environment variable LD_ATTN_BF16 (read once): split = split, fast = fast, unset or anything
// else = off (the exact f32 path of the avx512 table: the default, see
// bench/results/attention-long-prompt.md for why).
AttnBf16 attention_amx_bf16_mode(const AttnArgs & a);

// The attention of cpu-nn.h on this path (a validated, n_q > 0, n_kv > 0; mode split or fast).
void attention_amx_bf16(const AttnArgs & a, ThreadPool & tp, AttnBf16 mode);

}  // namespace ld::ggml
