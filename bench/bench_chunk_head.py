"""Timings behind bench/results/chunk-packed-acts-et-cache.md (issue #13, eleventh session).

    python bench/bench_chunk_head.py prefill FILE CHUNK [PROMPT_TOKENS=1000] [RUNS=2]
        generate() with a PROMPT_TOKENS-token prompt after setting the encoder chunk: prefill ms, ms per
        step and peak RSS per run (one process per chunk size, interleaved by the caller).
    python bench/bench_chunk_head.py head FILE [SOFT=0] [CALLS=7]
        the CPU fused vocab head (BackendOps.vocab_head) on the file's tied embedding, random [256, H]
        hidden states: ms per call.

Run with PYTHONPATH=<build>/pkg and LD_CPU_ISA=avx512 as the results say.
"""
import sys
import time

import numpy as np


def prefill(path, chunk, n_prompt=1000, runs=2):
    from llama_diffusion import generate as gen
    from llama_diffusion.model import Model
    m = Model(path, n_threads=2)
    m.chunk_size = int(chunk)
    V = m.hparams["n_vocab"]
    prompt = [16 + (7 + 7919 * i) % (V - 16) for i in range(int(n_prompt))]
    for _ in range(int(runs)):
        st = gen.generate(m, prompt=prompt, max_tokens=256, mode="diffusion", seed=0, max_steps=2, eos_ids=[]).stats
        print("chunk %s prefill %.0f ms  ms/step %.0f  peak_rss %.0f MiB"
              % (chunk, st["prefill_ms"], st["ms_per_step"], st["peak_rss_bytes"] / 2**20), flush=True)


def head(path, soft=0, calls=7):
    from llama_diffusion import _core
    from llama_diffusion.gguf import GGUFFile
    with GGUFFile(path) as f:
        t = {t.name: t for t in f.tensors}["token_embd.weight"]
        w = np.array(f.raw("token_embd.weight"))
        H, V = int(t.shape[0]), int(t.shape[1])
    xn = np.random.default_rng(0).standard_normal((256, H)).astype(np.float32)
    ops = _core.BackendOps("cpu")
    for _ in range(int(calls)):
        t0 = time.perf_counter()
        ops.vocab_head(xn, w, t.type, V, softcap=30.0, want_soft=bool(int(soft)))
        print("%.0f ms" % (1e3 * (time.perf_counter() - t0)), flush=True)


if __name__ == "__main__":
    {"prefill": prefill, "head": head}[sys.argv[1]](*sys.argv[2:])
