"""Benchmark (not a test) of the CPU attention kernels on DiffusionGemma's canvas shapes.

A 256-token canvas (16 query heads, canvas mask) over a cached prefix of P tokens:
  * sliding layers: head_dim 256, 8 KV heads, window 1024 -> the last 1023 prefix keys + 256 canvas keys
    (what the model's sliding cache holds);
  * full layers: head_dim 512, 2 KV heads -> all P prefix keys + 256 canvas keys.
FLOPs = 4 * head_dim * (visible query-key pairs summed over heads) (q.k and p.v, 2 each).

For each ISA, K/V type and thread count it prints the median wall time of --repeats runs (after one warm-up),
GFLOP/s by wall time and GFLOP/s per CPU-second (process CPU time of the op: meaningful also on a loaded
machine), and the fractions of this core's peaks measured at the start of the run (register-only loops,
ld._core.cpu_peak_gops): the 512-bit f32 FMA peak (--peak overrides it) and, where the CPU has AMX-BF16,
the tdpbf16ps peak (with LD_ATTN_BF16=split or fast the amx ISA runs F16 / Q8_0 K/V on AMX-BF16 tiles,
ggml/src/cpu/attention-amx.cpp).

    PYTHONPATH=build/<dir>/pkg python bench/bench_attention.py [--prefix 1000,8000] [--threads 1,2]
        [--isa avx512,amx] [--kv F32,F16,Q8_0] [--repeats 5] [--markdown out.md]
"""
import argparse
import os
import platform
import time

import numpy as np

import llama_diffusion as ld
from llama_diffusion import _core, nn

CANVAS, N_HEAD, WINDOW = 256, 16, 1024
LAYERS = [("sliding", 256, 8, WINDOW), ("full", 512, 2, 0)]


def shape_inputs(rng, prefix, d, n_kv_head, window):
    n_pre = min(prefix, window - 1) if window else prefix
    k_pos = np.concatenate([np.arange(prefix - n_pre, prefix), np.arange(prefix, prefix + CANVAS)]).astype(np.int32)
    q_pos = np.arange(prefix, prefix + CANVAS, dtype=np.int32)
    q = rng.standard_normal((CANVAS, N_HEAD, d), dtype=np.float32) * 0.1
    k = rng.standard_normal((len(k_pos), n_kv_head, d), dtype=np.float32)
    v = rng.standard_normal((len(k_pos), n_kv_head, d), dtype=np.float32)
    flops = 4.0 * d * N_HEAD * CANVAS * len(k_pos)  # canvas mask: every key in the buffer is visible
    return q, k, v, q_pos, k_pos, flops


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--prefix", default="1000,8000")
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--isa", default=None, help="comma list (default: every ISA except generic)")
    ap.add_argument("--kv", default="F32", help="comma list of K/V storage types: F32, F16, Q8_0")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--peak", type=float, default=0.0, help="f32 FMA peak per core, GFLOP/s (default: measured)")
    ap.add_argument("--markdown", default=None, help="also write the table to this file")
    args = ap.parse_args()

    isas = args.isa.split(",") if args.isa else [i for i in ld.cpu_features()["isas"] if i != "generic"] or ["generic"]
    peak_fma = args.peak or _core.cpu_peak_gops("fma", 0.5)
    peak_amx = _core.cpu_peak_gops("amx_bf16", 0.3)
    peaks = (f"peaks per core (GFLOP/s, measured in this run): f32 FMA {peak_fma:.0f}"
             + (f", AMX-BF16 {peak_amx:.0f}" if peak_amx else ", no AMX-BF16"))
    print(peaks)
    rng = np.random.default_rng(0)
    rows = []
    header = ("| layer | prefix | keys | K/V | ISA | threads | median ms | GFLOP/s (wall) | GFLOP/s per CPU-s "
              "| % of f32 FMA peak (CPU) | % of AMX-BF16 peak (CPU) |")
    rule = "|---|---|---|---|---|---|---|---|---|---|---|"
    print(header)
    print(rule)
    for prefix in [int(p) for p in args.prefix.split(",")]:
        for name, d, n_kv_head, window in LAYERS:
            q, k, v, q_pos, k_pos, flops = shape_inputs(rng, prefix, d, n_kv_head, window)
            for kv in args.kv.split(","):
                for isa in isas:
                    for nt in [int(t) for t in args.threads.split(",")]:
                        _, wall, cpu = nn.attention(q, k, v, q_pos, k_pos, mask="canvas", window=window,
                                                    canvas_begin=prefix, kv_type=kv, isa=isa, n_threads=nt,
                                                    repeats=args.repeats + 1)
                        wall, cpu = np.median(wall[1:]), np.median(cpu[1:])
                        g_wall, g_cpu = flops / wall / 1e9, flops / cpu / 1e9
                        row = (f"| {name} d{d} | {prefix} | {len(k_pos)} | {kv} | {isa} | {nt} | {wall * 1e3:.1f} "
                               f"| {g_wall:.1f} | {g_cpu:.1f} | {100 * g_cpu / peak_fma:.0f}% "
                               f"| {f'{100 * g_cpu / peak_amx:.1f}%' if peak_amx else '-'} |")
                        print(row, flush=True)
                        rows.append(row)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    footer = (f"\n{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, load average {load:.1f} "
              f"at the end, {time.strftime('%Y-%m-%d %H:%M')}; median of {args.repeats} runs after 1 warm-up; {peaks}.")
    print(footer)
    if args.markdown:
        with open(args.markdown, "w") as f:
            f.write(header + "\n" + rule + "\n" + "\n".join(rows) + "\n" + footer + "\n")


if __name__ == "__main__":
    main()
