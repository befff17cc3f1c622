"""Converter throughput and peak memory: writes a random bf16 DiffusionGemma checkpoint of about
--size-gb (real hidden width 2816, real expert width 704; numpy + safetensors, no torch), converts it
with `python -m llama_diffusion.convert` to each --outtype in a child process, and prints MB/s of
checkpoint data and the child's peak RSS (VmHWM).

    python bench/bench_convert.py [--size-gb 1.0] [--outtypes q8_0,q4_k_m] [--workdir /tmp/ld-bench-convert]
"""
import argparse
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "python"))

import hf_tiny  # noqa: E402  (the test suite's checkpoint builder)

MEASURE = r"""
import runpy, sys
sys.argv = ["llama-diffusion-convert"] + sys.argv[1:]
try:
    runpy.run_module("llama_diffusion.convert", run_name="__main__")
except SystemExit as e:
    code = e.code
else:
    code = 0
for line in open("/proc/self/status"):
    if line.startswith("VmHWM"):
        print("PEAK_RSS_KB", line.split()[1], file=sys.stderr)
sys.exit(code)
"""


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size-gb", type=float, default=1.0)
    ap.add_argument("--outtypes", default="q8_0,q4_k_m")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--workdir", default="/tmp/ld-bench-convert")
    args = ap.parse_args()
    # Each expert layer of width 704 over hidden 2816 holds 3 * 2816 * 704 * 2 bytes per expert.
    experts = 32
    per_layer = 3 * 2816 * 704 * 2 * experts
    layers = max(1, int(args.size_gb * 1e9 // per_layer))
    cfg = hf_tiny.small_config(hidden=2816, vocab=32768, layers=layers, experts=experts, moe=704, ff=2112,
                               heads=16, kv=8, hd=256, ghd=512, gkv=2)
    ckpt = os.path.join(args.workdir, "ckpt")
    if not os.path.exists(os.path.join(ckpt, "model.safetensors")):
        hf_tiny.make_numpy_checkpoint(ckpt, cfg, seed=1, with_tokenizer=False)
        hf_tiny.make_tokenizer(ckpt, 32768)
    size = os.path.getsize(os.path.join(ckpt, "model.safetensors"))
    print(f"checkpoint: {size / 1e6:.0f} MB bf16, {layers} layers, {experts} experts of width 704, hidden 2816")
    print("| outtype | seconds | MB/s of checkpoint | peak RSS (MB) |")
    print("| --- | ---: | ---: | ---: |")
    for t in args.outtypes.split(","):
        out = os.path.join(args.workdir, f"out-{t}.gguf")
        t0 = time.perf_counter()
        r = subprocess.run([sys.executable, "-c", MEASURE, ckpt, "-o", out, "--outtype", t, "--force",
                            "--threads", str(args.threads), "--no-progress"], capture_output=True, text=True)
        dt = time.perf_counter() - t0
        if r.returncode != 0:
            sys.exit(r.stderr)
        peak = int(r.stderr.split("PEAK_RSS_KB")[1].split()[0]) / 1024
        print(f"| {t} | {dt:.1f} | {size / 1e6 / dt:.1f} | {peak:.0f} |")
        os.remove(out)


if __name__ == "__main__":
    main()
