"""Q5_K (or another type) products on the given ISAs: the grouped MoE gate_up 2816 -> 1408 (128 experts, 256
tokens top-8) and dense 2816 -> 2112 at 1 and 256 tokens; user CPU ms, one thread, medians.

    python bench/bench_q5_k.py <dir holding the llama_diffusion package> avx512,amx [TYPE, default Q5_K]

(bench/results/moe-direct-pack.md, "Q5_K straight from the blocks", "IQ4_XS straight from the blocks")"""
import sys, numpy as np
sys.path.insert(0, sys.argv[1])
from llama_diffusion import _core
from llama_diffusion import bench as B
from cpu_time import user_ms  # noqa: E402 (bench/cpu_time.py, beside this script)
rng = np.random.default_rng(0)
K, FE, E, TOP = B.K_EMBD, B.FE, B.E_EXPERTS, B.TOP_K
t = sys.argv[3] if len(sys.argv) > 3 else "Q5_K"; out = []
we = B._weights(t, E * 2 * FE, K, rng)
N = 256
ids = np.array([[(n * TOP + s) % E for s in range(TOP)] for n in range(N)], dtype=np.int32)
x = rng.standard_normal((N, K)).astype(np.float32)
for isa in sys.argv[2].split(","):
    out.append("moe gate_up %s %.1f" % (isa, user_ms(lambda: _core.moe_matmul(x, we, t, 2 * FE, E, ids, None, isa, 1), 5)))
w = B._weights(t, 2112, K, rng)
for n in (1, 256):
    x = rng.standard_normal((n, K)).astype(np.float32)
    for isa in sys.argv[2].split(","):
        out.append("dense%d %s %.2f" % (n, isa, user_ms(lambda: _core.matmul(x, w, t, 2112, isa, 1), 7)))
print(" | ".join(out))
