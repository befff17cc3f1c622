"""Quantized weights against few activation columns: CPU time of the amx ISA's dense matmul (2816 -> 8192,
N tokens; Q4_K, Q6_K, Q8_0, Q5_0) and of the grouped MoE (tokens routed so that every one of the 128 experts
meets exactly n tokens; gate_up Q4_K 2816 -> 1408, down Q8_0 / Q5_0 704 -> 2816), medians of repeated
calls, user CPU time, one thread.

    python bench/bench_kquant_narrow.py <dir holding the llama_diffusion package> [repeats] [isa: amx | avx512]

Run it with two builds' packages in turn (before / after a change) on the same machine; the ratios are
the result (bench/results/kquant-narrow.md)."""
import sys

import numpy as np

sys.path.insert(0, sys.argv[1])
from llama_diffusion import _core, ops  # noqa: E402
from llama_diffusion import bench as B  # noqa: E402
from cpu_time import user_ms  # noqa: E402 (bench/cpu_time.py, beside this script)


def main():
    reps = int(sys.argv[2]) if len(sys.argv) > 2 else 7
    isa = sys.argv[3] if len(sys.argv) > 3 else "amx"
    rng = np.random.default_rng(0)
    K, M = B.K_EMBD, 8192
    for t in ("Q4_K", "Q6_K", "Q8_0", "Q5_0"):
        w = B._weights(t, M, K, rng)
        for N in (1, 2, 4, 6, 8, 16):
            x = rng.standard_normal((N, K)).astype(np.float32)
            ms = user_ms(lambda: ops.matmul(x, w, t, M, isa=isa), 3 * reps)
            print("dense %s %dx%d N=%d: %.2f ms" % (t, K, M, N, ms))
    FE, E, TOP = B.FE, B.E_EXPERTS, B.TOP_K
    we = B._weights("Q4_K", E * 2 * FE, K, rng)
    wd = {t: B._weights(t, E * K, FE, rng) for t in ("Q8_0", "Q5_0")}
    for nper in (1, 2, 4, 8, 16):
        N = nper * E // TOP
        ids = np.array([[(n * TOP + s) % E for s in range(TOP)] for n in range(N)], dtype=np.int32)
        x = rng.standard_normal((N, K)).astype(np.float32)
        ms = user_ms(lambda: _core.moe_matmul(x, we, "Q4_K", 2 * FE, E, ids, None, isa, 1), reps)
        print("moe gate_up Q4_K, %d tokens per expert: %.1f ms" % (nper, ms))
        h = rng.standard_normal((N, TOP, FE)).astype(np.float32)
        rw = rng.random((N, TOP)).astype(np.float32)
        for t, w in wd.items():
            ms = user_ms(lambda: _core.moe_matmul(h, w, t, K, E, ids, rw, isa, 1), reps)
            print("moe down %s, %d tokens per expert: %.1f ms" % (t, nper, ms))

if __name__ == "__main__":
    main()
