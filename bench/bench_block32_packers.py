"""Q4_0 and IQ4_NL products on the given ISAs: the grouped MoE down 704 -> 2816 (128 experts, 256 tokens top-8)
and dense 2112 -> 2816 at 256 tokens; user CPU ms, one thread, medians.

    python bench/bench_block32_packers.py <dir holding the llama_diffusion package> avx512,avx2_vnni,avx2

(bench/results/moe-direct-pack.md, "The same packers for Q4_0 and IQ4_NL")"""
import sys, numpy as np
sys.path.insert(0, sys.argv[1])
from llama_diffusion import _core
from llama_diffusion import bench as B
from cpu_time import user_ms  # noqa: E402 (bench/cpu_time.py, beside this script)
rng = np.random.default_rng(0)
K, FE, E, TOP = B.K_EMBD, B.FE, B.E_EXPERTS, B.TOP_K
out = []
for t in ("Q4_0", "IQ4_NL"):
    we = B._weights(t, E * K, FE, rng)
    N = 256
    ids = np.array([[(n * TOP + s) % E for s in range(TOP)] for n in range(N)], dtype=np.int32)
    x = rng.standard_normal((N, FE)).astype(np.float32)
    for isa in sys.argv[2].split(","):
        out.append("%s moe-down %s %.1f" % (t, isa, user_ms(lambda: _core.moe_matmul(x, we, t, K, E, ids, None, isa, 1), 5)))
    w = B._weights(t, 2816, 2112, rng)
    x = rng.standard_normal((256, 2112)).astype(np.float32)
    for isa in sys.argv[2].split(","):
        out.append("%s dense256 %s %.2f" % (t, isa, user_ms(lambda: _core.matmul(x, w, t, 2816, isa, 1), 7)))
print(" | ".join(out))
