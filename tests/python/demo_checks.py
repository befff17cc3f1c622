"""The shipped demo model's behaviour checks, shared by test_demo_model.py and tools/measure_demo.py
(the tests' thresholds are measured with the latter): the fixed prompts and seed, seeded completions
with the GGUF's sampler defaults, and model-independent "looks like Python" scores of a completion.

    runs = complete(model, PROMPTS)      # [(prompt, Result)]  (Result.text, .stats["steps_per_canvas"])
    s = code_scores(result.text)         # {"layout": 0..1, "lines": n, "keywords": n}
    s = run_scores(runs)                 # {"layout": pooled, "lines": n, "keywords": n over all texts}

layout: the fraction of the completion's characters (newlines included) on lines that look like
source code: at most MAX_LINE characters of printable ASCII, no tabs, indentation a multiple of 4
spaces. A model that has learned nothing writes random vocabulary tokens: almost no newlines (a few
of 3072 tokens contain one), so one long line and a layout score near 0.
"""
import os
import re

import llama_diffusion

# the file as the package ships it (the dev build's pkg/ links python/llama_diffusion/models)
DEMO_GGUF = os.path.join(os.path.dirname(os.path.abspath(llama_diffusion.__file__)), "models",
                         "diffusiongemma-demo-q8_0.gguf")
PROMPTS = ["def fibonacci(n):\n", "class Stack:\n", "import os\n", "def read_file(path):\n"]
SEED = 1
GEN_TOKENS = 96          # three canvases of 32
MAX_LINE = 100
KEYWORDS = ("def", "return", "self", "if", "else", "import", "from", "for", "in", "None", "class", "is",
            "not", "raise", "with", "as", "try", "except", "True", "False", "while", "and", "or")


def complete(model, prompts=PROMPTS, seed=SEED, max_tokens=GEN_TOKENS):
    """[(prompt, Result)]: raw-prompt completions, seeded, every sampler parameter from the GGUF."""
    from llama_diffusion import generate as G

    return [(p, G.generate(model, p, max_tokens=max_tokens, seed=seed, raw=True)) for p in prompts]


def _line_ok(line):
    if len(line) > MAX_LINE or "\t" in line or any(not 32 <= ord(c) < 127 for c in line):
        return False
    indent = len(line) - len(line.lstrip(" "))
    return line.strip() == "" or indent % 4 == 0


def code_scores(text):
    """{"layout": fraction of characters on code-like lines, "lines": non-empty lines,
    "keywords": distinct Python keywords (whole words) in the text}."""
    lines = text.split("\n")
    total = sum(len(l) + 1 for l in lines)
    good = sum(len(l) + 1 for l in lines if _line_ok(l))
    words = set(re.findall(r"[A-Za-z_][A-Za-z0-9_]*", text))
    return {"layout": good / total if total else 0.0, "lines": sum(1 for l in lines if l.strip()),
            "keywords": sum(1 for k in KEYWORDS if k in words)}


def run_scores(runs):
    """Scores of a set of completions: {"layout": of all texts pooled, "lines": non-empty
    lines of all completions together, "keywords": distinct Python keywords over all texts}."""
    pooled = code_scores("\n".join(r.text for _, r in runs))
    return {"layout": pooled["layout"], "lines": sum(code_scores(r.text)["lines"] for _, r in runs),
            "keywords": pooled["keywords"]}


def mean_steps(runs):
    """Mean denoising steps per canvas over all canvases of the runs."""
    steps = [s for _, r in runs for s in r.stats["steps_per_canvas"]]
    return sum(steps) / len(steps)


def random_twin(out_path, seed=0):
    """An F32 GGUF with the demo's metadata and shapes and random weights (each tensor normal with
    that tensor's mean and std): a same-shape model that has learned nothing."""
    import demo_hf

    meta, tensors = demo_hf.read_gguf_f32(DEMO_GGUF)
    return demo_hf.write_gguf_like(DEMO_GGUF, demo_hf.randomized(tensors, seed), out_path)
