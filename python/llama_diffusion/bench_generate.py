"""``llama-diffusion-bench generate -m FILE``: end-to-end generation speed on one GGUF, block
diffusion and autoregressive mode on the same file (the AR mode runs the encoder's AR head).

    llama-diffusion-bench generate -m FILE [--json] [--repeats 3] [--threads N] [--prompt-tokens 128]
                                           [--max-tokens 64] [--max-steps S] [--modes diffusion,ar]
                                           [--head fused|plain] [--seed 1] [--eos]

Every mode runs once as a warm-up (pool start, page faults of the mmap, the transposed embedding),
then --repeats times from an empty cache on the same synthetic prompt (token ids spread over the
vocabulary, no text needed: files without a tokenizer work). Reported per mode, as the median over
the repeats (with min and max):
  * prefill tokens/s: prompt tokens / prefill time (the encoder pass that fills the KV cache);
  * ms per step: generation time / denoising steps (diffusion) or / tokens (AR);
  * steps per canvas: denoising steps the entropy-bound sampler took per canvas (diffusion);
  * delivered tokens/s: tokens before the first EOS / generation time (after the prefill);
  * peak RSS: the process's peak resident set size after the run (a process-wide high-water mark,
    so it includes the Python interpreter and every earlier run; compare files in fresh processes).
By default the stop set is empty (every run generates --max-tokens, rounded up to whole canvases in
diffusion mode) so repeats do the same amount of work; --eos uses the file's stop set instead.
Sampling is seeded (--seed), so each repeat runs the same trajectory.
"""
import argparse
import json
import platform
import sys
import time

import numpy as np

from . import generate as gen
from .model import Model

METRICS = ("prefill_tok_s", "ms_per_step", "steps_per_canvas", "delivered_tok_s", "peak_rss_mb")
LABELS = {
    "prefill_tok_s": "prefill tokens/s",
    "ms_per_step": "ms per step",
    "steps_per_canvas": "steps per canvas",
    "delivered_tok_s": "delivered tokens/s",
    "peak_rss_mb": "peak RSS (MiB)",
}


def synthetic_prompt(n, n_vocab):
    """n token ids spread over the vocabulary, avoiding the first 16 (special tokens in Gemma files)."""
    lo = min(16, n_vocab - 1)
    span = n_vocab - lo
    return [lo + (7 + 7919 * i) % span for i in range(n)]


def _one_run(model, prompt, args, mode):
    kw = dict(max_tokens=args.max_tokens, mode=mode, seed=args.seed, head=args.head)
    if mode == "diffusion" and args.max_steps:
        kw["max_steps"] = args.max_steps
    if not args.eos:
        kw["eos_ids"] = []
    t0 = time.perf_counter()
    r = gen.generate(model, prompt=prompt, **kw)
    wall = time.perf_counter() - t0
    st = r.stats
    steps = list(st.get("steps_per_canvas") or [])
    return {
        "prefill_tok_s": 1e3 * st["prompt_tokens"] / st["prefill_ms"] if st["prefill_ms"] > 0 else 0.0,
        "ms_per_step": st["ms_per_step"],
        "steps_per_canvas": float(np.mean(steps)) if steps else None,
        "delivered_tok_s": st["tokens_per_s"],
        "peak_rss_mb": st["peak_rss_bytes"] / 2**20,
        "wall_s": wall,
        "prefill_ms": st["prefill_ms"],
        "generate_ms": st["generate_ms"],
        "steps": st["steps"],
        "canvases": st["canvases"],
        "delivered_tokens": st["delivered_tokens"],
        "generated_tokens": st["generated_tokens"],
        "stop_reason": st["stop_reason"],
        "steps_per_canvas_list": steps,
    }


def _summary(runs):
    out = {}
    for k in METRICS:
        v = [r[k] for r in runs if r[k] is not None]
        out[k] = None if not v else {"median": float(np.median(v)), "min": float(np.min(v)), "max": float(np.max(v))}
    return out


def run(argv=None) -> dict:
    p = argparse.ArgumentParser(prog="llama-diffusion-bench generate", description=__doc__.split("\n")[0])
    p.add_argument("-m", "--model", required=True, help="diffusion-gemma (or gemma3, AR only) GGUF")
    p.add_argument("--json", action="store_true", help="print one JSON object instead of markdown")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--threads", type=int, default=0, help="engine threads (0: the process-wide pool)")
    p.add_argument("--prompt-tokens", type=int, default=128)
    p.add_argument("--max-tokens", type=int, default=64)
    p.add_argument("--max-steps", type=int, default=None, help="denoising steps cap (default: the file's)")
    p.add_argument("--modes", default="diffusion,ar")
    p.add_argument("--head", default="fused", choices=("fused", "plain"),
                   help="vocab head (default: fused, what generate() and the CLI use)")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--eos", action="store_true", help="stop at the file's EOS ids (default: never stop early)")
    p.add_argument("--device", default="cpu", help="cpu, cuda[:N], sim, auto (Model(device=...))")
    p.add_argument("-ngl", "--n-gpu-layers", type=int, default=None, help="layers on the GPU (default: all)")
    p.add_argument("--cpu-moe", action="store_true", help="routed experts on the CPU")
    args = p.parse_args(argv)
    if args.repeats < 1:
        p.error("--repeats must be >= 1")
    if args.prompt_tokens < 1 or args.max_tokens < 1:
        p.error("--prompt-tokens and --max-tokens must be >= 1")
    modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    for m in modes:
        if m not in ("diffusion", "ar"):
            p.error(f"unknown mode {m!r} in --modes (diffusion, ar)")

    t_load = time.perf_counter()
    model = Model(args.model, n_threads=args.threads or None, device=args.device, n_gpu_layers=args.n_gpu_layers,
                  cpu_moe=args.cpu_moe)
    load_s = time.perf_counter() - t_load
    hp = model.hparams
    if hp["architecture"] != "diffusion-gemma" and "diffusion" in modes:
        modes = [m for m in modes if m != "diffusion"]
        if not modes:
            p.error(f"{args.model} is {hp['architecture']}: only --modes ar applies")
    prompt = synthetic_prompt(args.prompt_tokens, hp["n_vocab"])
    out = {
        "model": args.model,
        "architecture": hp["architecture"],
        "n_layer": hp["n_layer"], "n_embd": hp["n_embd"], "n_vocab": hp["n_vocab"],
        "canvas_length": hp.get("canvas_length", 0),
        "threads": model._m.n_threads,
        "device": model.device, "placement": model.placement,
        "machine": platform.machine(),
        "load_s": load_s,
        "params": {"repeats": args.repeats, "prompt_tokens": args.prompt_tokens, "max_tokens": args.max_tokens,
                   "max_steps": args.max_steps, "head": args.head, "seed": args.seed, "eos": args.eos},
        "modes": {},
    }
    for mode in modes:
        _one_run(model, prompt, args, mode)  # warm-up
        runs = [_one_run(model, prompt, args, mode) for _ in range(args.repeats)]
        out["modes"][mode] = {"summary": _summary(runs), "runs": runs}
    if args.json:
        print(json.dumps(out))
    else:
        print(markdown(out))
    return out


def _fmt(x, digits=1):
    return "-" if x is None else f"{x:.{digits}f}"


def markdown(out) -> str:
    """A markdown report of run()'s result."""
    pr = out["params"]
    lines = [
        f"Model `{out['model']}`: {out['architecture']}, {out['n_layer']} layers, H={out['n_embd']}, "
        f"V={out['n_vocab']}, canvas {out['canvas_length']}; {out['threads']} threads ({out['machine']}); "
        f"load {out['load_s']:.2f} s; device {out.get('placement', 'cpu')}.",
        f"Prompt {pr['prompt_tokens']} tokens, max_tokens {pr['max_tokens']}, max_steps "
        f"{pr['max_steps'] or 'file default'}, head {pr['head']}, seed {pr['seed']}, "
        f"stop set {'file' if pr['eos'] else 'empty'}; median (min-max) of {pr['repeats']} runs after a warm-up.",
        "",
    ]
    modes = list(out["modes"])
    lines.append("| metric | " + " | ".join(modes) + " |")
    lines.append("|---|" + "---:|" * len(modes))
    for k in METRICS:
        cells = []
        for m in modes:
            s = out["modes"][m]["summary"][k]
            d = 2 if k in ("ms_per_step", "steps_per_canvas") else 1
            cells.append("-" if s is None else f"{_fmt(s['median'], d)} ({_fmt(s['min'], d)}-{_fmt(s['max'], d)})")
        lines.append(f"| {LABELS[k]} | " + " | ".join(cells) + " |")
    lines.append("")
    for m in modes:
        r = out["modes"][m]["runs"][0]
        work = (f"{r['canvases']} canvases, {r['steps']} denoising steps (per canvas {r['steps_per_canvas_list']})"
                if m == "diffusion" else f"{r['steps']} decoding steps (one token each)")
        lines.append(f"- {m} (first timed run): {work}, {r['delivered_tokens']} delivered / {r['generated_tokens']} "
                     f"generated tokens, stop: {r['stop_reason']}")
    return "\n".join(lines)


def main(argv=None) -> int:
    run(sys.argv[1:] if argv is None else argv)
    return 0


if __name__ == "__main__":
    sys.exit(main())
