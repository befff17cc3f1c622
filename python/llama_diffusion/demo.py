"""The built-in demo model: a small DiffusionGemma GGUF (trained on Python code) shipped inside the
package in ``llama_diffusion/models/``, used when no model path is given (``ld.Model()``,
``generate.generate(None, ...)``, ``llama-diffusion-cli`` without ``-m``).

``$LLAMA_DIFFUSION_MODEL`` is the one environment variable for the default model: when set, a missing
model path means that file, in Python (``ld.Model()``) as in ``llama-diffusion-cli`` (no ``-m``).
``$LLAMA_DIFFUSION_DEMO_MODEL`` only relocates the demo file itself (e.g. after an editable install).
The demo is a raw code model: prompt strings given to it are used as raw text (no chat template)
unless ``raw=False``.
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

__all__ = ["DEMO_MODEL_NAME", "DEMO_MODEL", "DEMO_MODEL_ENV", "MODEL_ENV", "default_model_path", "demo_model_path",
           "is_demo_path", "announce"]

DEMO_MODEL_NAME = "diffusiongemma-demo-q8_0.gguf"
DEMO_MODEL_ENV = "LLAMA_DIFFUSION_DEMO_MODEL"
MODEL_ENV = "LLAMA_DIFFUSION_MODEL"
# The packaged file (a str path), whether or not an override is set.
DEMO_MODEL = str(Path(__file__).resolve().parent / "models" / DEMO_MODEL_NAME)


def demo_model_path() -> str:
    """Path of the demo model: ``$LLAMA_DIFFUSION_DEMO_MODEL`` when set, else the packaged file.
    Raises FileNotFoundError naming the path when the file does not exist."""
    env = os.environ.get(DEMO_MODEL_ENV)
    if env:
        if not os.path.isfile(env):
            raise FileNotFoundError(f"{DEMO_MODEL_ENV} is set to {env!r}, which does not exist (or is not a file); "
                                    "unset it or pass a model path")
        return env
    if not os.path.isfile(DEMO_MODEL):
        raise FileNotFoundError(f"no model path given and the built-in demo model was not found at {DEMO_MODEL} "
                                "(an incomplete install?); pass a GGUF model path")
    return DEMO_MODEL


def default_model_path() -> str:
    """The model used when none is given: ``$LLAMA_DIFFUSION_MODEL`` when set (it must exist), else
    the demo model (``demo_model_path``)."""
    env = os.environ.get(MODEL_ENV)
    if env:
        if not os.path.exists(env):
            raise FileNotFoundError(f"{MODEL_ENV} is set to {env!r}, which does not exist; unset it or pass a "
                                    "model path")
        return env
    return demo_model_path()


def is_demo_path(path: "str | os.PathLike[str]") -> bool:
    """True when ``path`` names the demo model (the packaged file or the override)."""
    try:
        p = os.path.realpath(os.fspath(path))
    except TypeError:
        return False
    cands = [DEMO_MODEL] + ([os.environ[DEMO_MODEL_ENV]] if os.environ.get(DEMO_MODEL_ENV) else [])
    return any(p == os.path.realpath(c) for c in cands)


def announce(path: str) -> None:
    """The one-line note on stderr that the demo model is used (with its parameter count)."""
    from . import _core
    n_params = 0
    for t in _core.GGUFReader(os.fspath(path)).tensors():
        n = 1
        for d in t[3]:
            n *= d
        n_params += n
    print(f"llama_diffusion: no model path given; using the built-in demo model {path} "
          f"({n_params / 1e6:.1f}M-parameter DiffusionGemma trained on Python code; prompt strings are used as raw "
          "text, no chat template; pass a GGUF path for a real model)", file=sys.stderr)
