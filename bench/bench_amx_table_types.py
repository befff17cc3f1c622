"""Every quantized type on the amx and avx512 kernel tables side by side, at a few sizes: grouped MoE
2816 -> 1408 (32 experts, every expert meeting 16 or 64 tokens) and dense 2816 -> 2112 at N = 1, 16, 256;
the ratio avx512 / amx of user CPU ms (one thread, medians). The measurement behind amx_table_preferred
(matmul.cpp: the types the amx ISA runs on AMX tiles); run it on a tree where the table is chosen explicitly
for the type measured (before that choice, 5a98dfc) to compare the two tables.

    python bench/bench_amx_table_types.py <dir holding the llama_diffusion package> Q4_K,Q6_K,Q8_0,Q5_K,...

(bench/results/moe-direct-pack.md)"""
import sys

import numpy as np

sys.path.insert(0, sys.argv[1])
from llama_diffusion import _core  # noqa: E402
from llama_diffusion import bench as B  # noqa: E402
from cpu_time import user_ms  # noqa: E402 (bench/cpu_time.py, beside this script)


rng = np.random.default_rng(0)
K, FE, TOP, E = B.K_EMBD, B.FE, B.TOP_K, 32
for t in sys.argv[2].split(","):
    out = []
    we = B._weights(t, E * 2 * FE, K, rng)
    for nper in (16, 64):
        N = nper * E // TOP
        ids = np.array([[(n * TOP + s) % E for s in range(TOP)] for n in range(N)], dtype=np.int32)
        x = rng.standard_normal((N, K)).astype(np.float32)
        r = {isa: user_ms(lambda: _core.moe_matmul(x, we, t, 2 * FE, E, ids, None, isa, 1), 5) for isa in ("amx", "avx512")}
        out.append("moe %d/exp %.2f" % (nper, r["avx512"] / r["amx"]))
    w = B._weights(t, 2112, K, rng)
    for N in (1, 16, 256):
        x = rng.standard_normal((N, K)).astype(np.float32)
        r = {isa: user_ms(lambda: _core.matmul(x, w, t, 2112, isa, 1), 7) for isa in ("amx", "avx512")}
        out.append("dense N=%d %.2f (amx %.2f ms)" % (N, r["avx512"] / r["amx"], r["amx"]))
    print(t, "avx512/amx time:", "; ".join(out), flush=True)
