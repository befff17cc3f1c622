#!/usr/bin/env python3
"""The batched decoder pass in isolation: wall and CPU time of one ``_core.Batch.step`` over B
sequences (B = 1, 2, 4, 8), with one decoder pass over all B canvases (``batched``) and with one pass
per sequence (``loop``), on any DiffusionGemma GGUF (meant for the real-dimension files of
bench/make_bench_gguf.py, where the expert matmuls dominate and see B x canvas rows when batched).

Each sequence has a 64-token random prompt; steps are timed after one warm-up step, and the canvases
never commit within the timed steps (max_steps is set high and the stop test cannot fire before
--steps + 1 steps with stability --steps + 1). The vocab head and sampler run per sequence in both
modes, so (loop - batched) is the decoder's gain.

    PYTHONPATH=build/dev/pkg python bench/bench_batch_decode.py -m bench/models/dg-2L-Q4_K_M-v4k.gguf
"""
import argparse
import random
import time

import llama_diffusion as ld
from llama_diffusion import _core
from llama_diffusion import generate as G


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("-m", "--model", help="GGUF (default: the demo model)")
    ap.add_argument("--batch", type=int, nargs="+", default=[1, 2, 4, 8])
    ap.add_argument("--steps", type=int, default=2)
    ap.add_argument("--threads", type=int, default=0)
    args = ap.parse_args()
    m = ld.Model(args.model, n_threads=args.threads or None)
    eng = G.engine_of(m)
    V = m.n_vocab
    rng = random.Random(1)
    params = eng.params(dict(deterministic=True, max_tokens=256, max_steps=args.steps + 8,
                             stability=args.steps + 1, eos_ids=[V - 1]))
    hp = m.hparams
    print(f"model: {args.model or 'demo'} (layers {hp['n_layer']}, H {hp['n_embd']}, experts {hp['n_expert']} "
          f"top-{hp['n_expert_used']}, vocab {V}, canvas {hp['canvas_length']}), threads {m._m.n_threads if hasattr(m._m, 'n_threads') else 'pool'}")
    print("| B | mode | ms per step (wall) | ms per sequence-step | CPU ms per sequence-step | speed-up vs loop |")
    print("| ---: | --- | ---: | ---: | ---: | ---: |")
    for B in args.batch:
        per = {}
        for mode in ("loop", "batched"):
            batch = _core.Batch(m._m, mode == "batched")
            seqs = [batch.sequence([rng.randrange(5, V - 1) for _ in range(64)], params) for _ in range(B)]
            for s in seqs:
                batch.prefill(s, 0)
            batch.step(seqs)  # warm-up (first canvas, buffers)
            w0, c0 = time.perf_counter(), time.process_time()
            for _ in range(args.steps):
                batch.step(seqs)
            wall = (time.perf_counter() - w0) / args.steps * 1000
            cpu = (time.process_time() - c0) / args.steps * 1000
            assert all(not s.done for s in seqs)
            per[mode] = wall
            sp = f"{per['loop'] / wall:.2f}x" if mode == "batched" else "-"
            print(f"| {B} | {mode} | {wall:.1f} | {wall / B:.1f} | {cpu / B:.1f} | {sp} |", flush=True)


if __name__ == "__main__":
    main()
