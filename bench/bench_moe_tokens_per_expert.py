"""The AMX grouped MoE gate_up (Q4_K 2816 -> 1408, 128 experts) with every expert meeting exactly n tokens,
n around the tile width of 16: user CPU ms of one call, one thread, median of 5.

    python bench/bench_moe_tokens_per_expert.py <dir holding the llama_diffusion package>

(bench/results/kquant-narrow.md, "Tokens per expert just over 16".)"""
import sys, numpy as np
sys.path.insert(0, sys.argv[1])
from llama_diffusion import _core
from llama_diffusion import bench as B
from cpu_time import user_ms  # noqa: E402 (bench/cpu_time.py, beside this script)
rng = np.random.default_rng(0)
K, FE, E, TOP = B.K_EMBD, B.FE, B.E_EXPERTS, B.TOP_K
we = B._weights("Q4_K", E * 2 * FE, K, rng)
for nper in (8, 16, 17, 20, 24, 32):
    N = nper * E // TOP
    ids = np.array([[(n * TOP + s) % E for s in range(TOP)] for n in range(N)], dtype=np.int32)
    x = rng.standard_normal((N, K)).astype(np.float32)
    ms = user_ms(lambda: _core.moe_matmul(x, we, "Q4_K", 2 * FE, E, ids, None, "amx", 1), 5)
    print("amx gate_up Q4_K, %d tokens per expert: %.1f ms (%.2f ms per token-expert x1000)" % (nper, ms, ms / nper))
