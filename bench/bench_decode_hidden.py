"""Wall ms of the decoder's layers alone (Model.decode_hidden: a 256-token canvas after a 64-token prompt, no
vocabulary head), the median of n calls after a warm-up; the ISA from LD_CPU_ISA.

    LD_CPU_ISA=avx512 PYTHONPATH=<dir holding llama_diffusion> python bench/bench_decode_hidden.py FILE.gguf [n]

(bench/results/moe-direct-pack.md)"""
import sys
import time

import numpy as np

from llama_diffusion.model import Model

m = Model(sys.argv[1], n_threads=2)
rng = np.random.default_rng(1)
V, C = m.hparams["n_vocab"], m.hparams["canvas_length"]
m.reset()
m.encode(rng.integers(300, V, size=64).astype(np.int32))
canvas = rng.integers(300, V, size=C).astype(np.int32)
m.decode_hidden(canvas)
ts = []
for _ in range(int(sys.argv[2]) if len(sys.argv) > 2 else 15):
    t = time.perf_counter()
    m.decode_hidden(canvas)
    ts.append(time.perf_counter() - t)
print("decode_hidden ms, median:", round(1e3 * float(np.median(ts)), 1))
