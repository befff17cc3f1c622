#!/usr/bin/env python3
"""Writes decoder states of the built-in demo model for bench/cpp/bench-sparse-sc.cpp (sparse
self-conditioning): the canvas is real Python text (a clean canvas: the late steps) or the same text with
a fraction of its positions replaced by uniform random tokens (the early steps), after a prompt.

    PYTHONPATH=build/dev/pkg python bench/sparse_sc.py --noise 0.5 -o /tmp/hidden.f32
"""
import argparse
import os

import numpy as np

from llama_diffusion.model import Model

TEXT = '''def fibonacci(n):
    """Return the n-th Fibonacci number."""
    a, b = 0, 1
    for _ in range(n):
        a, b = b, a + b
    return a


class Stack:
    def __init__(self):
        self.items = []

    def push(self, item):
        self.items.append(item)

    def pop(self):
        return self.items.pop()
'''


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("-o", "--out", required=True)
    ap.add_argument("--noise", type=float, default=0.0, help="fraction of canvas positions made random")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    import llama_diffusion
    path = os.path.join(os.path.dirname(llama_diffusion.__file__), "models", "diffusiongemma-demo-q8_0.gguf")
    m = Model(path, n_threads=1)
    C = m.hparams["canvas_length"]
    ids = m.tokenize(TEXT * 4, add_special=False)
    prompt, canvas = ids[:16], np.array(ids[16:16 + C], dtype=np.int32)
    rng = np.random.default_rng(args.seed)
    noisy = rng.random(C) < args.noise
    canvas[noisy] = rng.integers(0, m.n_vocab, noisy.sum())
    m.encode(prompt)
    h = m.decode_hidden(canvas)
    np.ascontiguousarray(h, dtype=np.float32).tofile(args.out)
    print(f"C {C} H {h.shape[1]} V {m.n_vocab}: {noisy.sum()} random positions -> {args.out}")


if __name__ == "__main__":
    main()
