#!/usr/bin/env python3
"""Prints the measurements behind the constants at the top of tests/python/test_demo_model.py, for
the shipped demo model (python/llama_diffusion/models/diffusiongemma-demo-q8_0.gguf) and for a
same-shape random-weights twin: denoising steps per canvas with the GGUF's sampler defaults, and the
"looks like Python" scores of seeded completions (tests/python/demo_checks.py). Re-run it after
replacing the GGUF and update the constants (keep a margin on both sides).

    PYTHONPATH=build/<dir>/pkg python tools/measure_demo.py [--sweep N] [--parity] [--text]

--sweep N repeats the demo measurements over seeds 1..N and every kernel ISA of this CPU (seeded
trajectories differ between ISAs, so the thresholds need margin over that spread). --parity also
compares deterministic generation with HF transformers' generate() (the HF model rebuilt from the
GGUF, tests/python/demo_hf.py): our engine on the F32 GGUF converted from it, and on the shipped
Q8_0 file. --text prints the completions.
"""
import argparse
import os
import sys
import tempfile

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(REPO, "tests", "python"))

import demo_checks as dc  # noqa: E402
import llama_diffusion as ld  # noqa: E402


def report(label, model, show_text):
    runs = dc.complete(model)
    print(f"\n== {label}: {len(runs)} prompts, seed {dc.SEED}, {dc.GEN_TOKENS} tokens, GGUF sampler defaults")
    for p, r in runs:
        s = dc.code_scores(r.text)
        print(f"{p!r:26} steps/canvas {r.stats['steps_per_canvas']}  layout {s['layout']:.3f}  "
              f"lines {s['lines']}  keywords {s['keywords']}")
        if show_text:
            print(p + r.text + "\n" + "-" * 40)
    s = dc.run_scores(runs)
    print(f"MEAN STEPS per canvas {dc.mean_steps(runs):.2f}; pooled LAYOUT {s['layout']:.3f}; "
          f"LINES over all completions {s['lines']}; KEYWORDS over all completions {s['keywords']}")


def sweep(model, n_seeds):
    """The same measurements over seeds 1..n_seeds and every kernel ISA this CPU runs (seeded
    trajectories differ between ISAs): the thresholds should hold across all of them."""
    print(f"\n== shipped demo model over seeds 1..{n_seeds} x ISAs {ld.cpu_features()['isas']}")
    rows, orig = [], ld.cpu_isa()
    for isa in ld.cpu_features()["isas"]:
        ld.set_cpu_isa(isa)
        for seed in range(1, n_seeds + 1):
            runs = dc.complete(model, seed=seed)
            s = dc.run_scores(runs)
            rows.append((dc.mean_steps(runs), s["layout"], s["lines"], s["keywords"]))
    ld.set_cpu_isa(orig)
    for i, name in enumerate(("mean steps per canvas", "pooled layout", "lines (all completions)", "keywords")):
        vals = [r[i] for r in rows]
        print(f"{name:24} min {min(vals):.3f}  max {max(vals):.3f}")


def parity(tmp):
    import torch
    import demo_hf
    from hf_det import hf_generate_det
    from llama_diffusion import generate as G
    from llama_diffusion.convert import convert

    torch.set_num_threads(2)
    meta, tensors = demo_hf.read_gguf_f32(dc.DEMO_GGUF)
    hf = demo_hf.build_hf(meta, tensors)
    ckpt = demo_hf.save_checkpoint(hf, meta, os.path.join(tmp, "hf"))
    f32 = os.path.join(tmp, "demo-f32.gguf")
    convert(ckpt, f32, "f32", progress=False, log=lambda m: None)
    m32, mq8 = ld.Model(f32), ld.Model(dc.DEMO_GGUF)
    eos = [int(e) for e in meta["diffusion.eos_token_ids"]]
    C = int(meta["diffusion.canvas_length"])
    print(f"\n== deterministic mode vs HF generate() (HF rebuilt from the GGUF), {2 * C} tokens")
    for p in dc.PROMPTS:
        ids = G.tokenize(m32, p)
        ref, ref_steps = hf_generate_det(hf, ids, 2 * C, eos)
        r32 = G.generate(m32, ids, max_tokens=2 * C, deterministic=True)
        rq8 = G.generate(mq8, ids, max_tokens=2 * C, deterministic=True)
        same_q8 = sum(a == b for a, b in zip(rq8.tokens, ref))
        print(f"{p!r:26} HF steps {ref_steps}; F32 GGUF: tokens equal {r32.tokens == ref}, steps "
              f"{r32.stats['steps_per_canvas']}; shipped Q8_0: tokens equal {rq8.tokens == ref} "
              f"({same_q8}/{len(ref)} positions), steps {rq8.stats['steps_per_canvas']}")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--parity", action="store_true", help="also compare with HF generate() (needs transformers)")
    ap.add_argument("--text", action="store_true", help="print the completions")
    ap.add_argument("--sweep", type=int, default=0, metavar="N",
                    help="also measure the demo over seeds 1..N on every kernel ISA of this CPU")
    args = ap.parse_args()
    model = ld.Model(dc.DEMO_GGUF)
    hp = model.hparams
    print(f"{dc.DEMO_GGUF}: {os.path.getsize(dc.DEMO_GGUF):,} bytes, {hp['architecture']}, vocab {hp['n_vocab']}, "
          f"canvas {hp['canvas_length']}, sampler {hp['sampler']}")
    report("shipped demo model", model, args.text)
    if args.sweep:
        sweep(model, args.sweep)
    with tempfile.TemporaryDirectory() as tmp:
        report("random-weights twin", ld.Model(dc.random_twin(os.path.join(tmp, "random.gguf"))), args.text)
        if args.parity:
            parity(tmp)


if __name__ == "__main__":
    main()
