"""Q5_0 (and Q8_0) products on the amx and avx512 kernel tables side by side: the grouped MoE down
(704 -> 2816, 128 experts, every expert meeting n tokens) and dense 2112 <-> 2816 at N tokens; user CPU ms,
one thread, medians. Part of the measurement behind amx_table_preferred (matmul.cpp: the types the amx ISA
runs on AMX tiles; bench/results/moe-direct-pack.md); run it on a tree from before that choice (d0e769d) to
compare the two tables (after it, both columns run the avx512 table for a type left to it).

    python bench/bench_amx_table_sweep.py <dir holding the llama_diffusion package> [Q5_0,Q8_0]"""
import sys

import numpy as np

sys.path.insert(0, sys.argv[1])
from llama_diffusion import _core  # noqa: E402
from llama_diffusion import bench as B  # noqa: E402
from cpu_time import user_ms  # noqa: E402 (bench/cpu_time.py, beside this script)


rng = np.random.default_rng(0)
K, FE, E, TOP = B.K_EMBD, B.FE, B.E_EXPERTS, B.TOP_K
for t in (sys.argv[2] if len(sys.argv) > 2 else "Q5_0,Q8_0").split(","):
    we = B._weights(t, E * K, FE, rng)
    for nper in (4, 8, 16, 24, 32, 48, 64, 128):
        N = nper * E // TOP
        ids = np.array([[(n * TOP + s) % E for s in range(TOP)] for n in range(N)], dtype=np.int32)
        x = rng.standard_normal((N, FE)).astype(np.float32)
        r = {isa: user_ms(lambda: _core.moe_matmul(x, we, t, K, E, ids, None, isa, 1), 5) for isa in ("amx", "avx512")}
        print("moe down %s, %3d tokens per expert: amx %.1f ms, avx512 %.1f ms, avx512/amx %.2f"
              % (t, nper, r["amx"], r["avx512"], r["avx512"] / r["amx"]), flush=True)
    for (k, m) in ((2112, 2816), (2816, 2112)):
        w = B._weights(t, m, k, rng)
        for N in (1, 4, 16, 64, 256, 1000):
            x = rng.standard_normal((N, k)).astype(np.float32)
            r = {isa: user_ms(lambda: _core.matmul(x, w, t, m, isa, 1), 7) for isa in ("amx", "avx512")}
            print("dense %s %dx%d N=%4d: amx %.2f ms, avx512 %.2f ms, avx512/amx %.2f"
                  % (t, k, m, N, r["amx"], r["avx512"], r["avx512"] / r["amx"]), flush=True)
