"""Benchmark of the reference quantizers (the converter's speed): M values/s per type, single thread,
median of repeats, with Q8_0 (a trivially fast quantizer) measured in the same run as the yardstick.

    python bench/bench_quantize.py [--values 1048576] [--repeats 5]
"""
import argparse
import statistics
import time

import numpy as np

import llama_diffusion as ld

TYPES = ["Q8_0", "Q4_0", "Q5_0", "Q4_K", "Q5_K", "Q6_K", "Q2_K", "Q3_K", "IQ4_NL", "IQ4_XS", "MXFP4"]


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--values", type=int, default=1 << 20)
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()
    x = np.random.default_rng(0).standard_normal(args.values // 256 * 256).astype(np.float32)
    rates = {}
    for t in TYPES:
        wall, cpu = [], []
        for _ in range(args.repeats):
            w0, c0 = time.perf_counter(), time.process_time()
            ld.quants.quantize(x, t)
            wall.append(time.perf_counter() - w0)
            cpu.append(time.process_time() - c0)
        rates[t] = (x.size / statistics.median(wall) / 1e6, x.size / statistics.median(cpu) / 1e6)
    base = rates["Q8_0"][1]
    print(f"| type | M values/s (wall) | M values/s (CPU time) | vs Q8_0 |")
    print(f"| --- | ---: | ---: | ---: |")
    for t, (w, c) in rates.items():
        print(f"| {t} | {w:.1f} | {c:.1f} | {c / base:.3f} |")


if __name__ == "__main__":
    main()
