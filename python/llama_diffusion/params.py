"""SamplingParams: every setting of one generation in one object (vLLM's and llama-cpp-python's habit).

    p = ld.SamplingParams(max_tokens=128, seed=1, stop=["\\n\\n"])
    m.generate("Why is the sky blue?", p)
    m.generate("...", p, max_tokens=32)            # keywords override fields of the object
    p2 = p.replace(mode="ar", temperature=0.7)     # a modified copy

Fields left ``None`` come from the model: the sampler from the GGUF's ``diffusion.*`` keys, the stop
set from its tokenizer, ``mode`` from its architecture (block diffusion for DiffusionGemma,
autoregressive for a model without a diffusion head such as Gemma 3).
"""
from __future__ import annotations

import dataclasses
import random
from dataclasses import dataclass
from typing import Any, Dict, Optional, Sequence

__all__ = ["SamplingParams"]

_MODES = ("diffusion", "ar")
_HEADS = ("fused", "plain")


@dataclass(frozen=True)
class SamplingParams:
    """Settings of one generation.

    max_tokens: tokens to generate (diffusion: rounded up to whole canvases).
    mode: "diffusion" (block diffusion), "ar" (one token per encoder pass) or None (by the model:
        "ar" for a model with no diffusion head, such as Gemma 3).
    seed: RNG seed; None draws a random one (0 in deterministic mode); reported in ``stats["seed"]``.
    max_steps, t_min, t_max, entropy_bound, stability, confidence: the entropy-bound sampler (None:
        the GGUF's ``diffusion.*`` defaults).
    temperature: AR mode only (0 = greedy).
    eos_ids: the stop token set (None: the model's).
    stop: strings that end the generation; the text is cut before the first one found.
    deterministic: the reference mode (argmax draws and the formula noise of the HF reference).
    head: vocab head, "fused" (streamed over the vocabulary, the default) or "plain".
    max_canvases: cap on canvases; n_ctx: limit on cached + generated tokens (0 or None: none).
    soft_drop_mass: sparse self-conditioning (diffusion, the fused head on the CPU): the soft embedding
        skips the vocabulary rows whose probability is provably negligible, dropping at most this much
        probability mass per position (e.g. 1e-6); None or 0: exact, every row (deterministic mode is
        always exact). ``stats["soft_rows_fraction"]`` reports the rows used.
    """

    max_tokens: int = 256
    mode: Optional[str] = None
    seed: Optional[int] = None
    max_steps: Optional[int] = None
    t_min: Optional[float] = None
    t_max: Optional[float] = None
    entropy_bound: Optional[float] = None
    stability: Optional[int] = None
    confidence: Optional[float] = None
    temperature: Optional[float] = None
    eos_ids: Optional[Sequence[int]] = None   # kept as a tuple
    stop: Sequence[str] = ()                  # kept as a tuple (a single string is one stop string)
    deterministic: bool = False
    head: Optional[str] = None
    max_canvases: Optional[int] = None
    n_ctx: Optional[int] = None
    soft_drop_mass: Optional[float] = None

    def __post_init__(self) -> None:
        if self.mode is not None and self.mode not in _MODES:
            raise ValueError(f"unknown mode {self.mode!r} (expected 'diffusion' or 'ar')")
        if self.head is not None and self.head not in _HEADS:
            raise ValueError(f"unknown head {self.head!r} (expected 'fused' or 'plain')")
        if isinstance(self.stop, str):
            object.__setattr__(self, "stop", (self.stop,))
        else:
            object.__setattr__(self, "stop", tuple(str(s) for s in self.stop))
        if any(s == "" for s in self.stop):
            raise ValueError("stop strings must not be empty")
        if self.eos_ids is not None:
            object.__setattr__(self, "eos_ids", tuple(int(e) for e in self.eos_ids))

    def replace(self, **changes: Any) -> "SamplingParams":
        """A copy with some fields changed (fields set to None keep their value)."""
        return dataclasses.replace(self, **{k: v for k, v in changes.items() if v is not None})

    def engine_dict(self, mode: str) -> Dict[str, Any]:
        """The settings as the C++ engine takes them, for the resolved ``mode``; draws the seed when unset."""
        seed = self.seed
        if seed is None:
            seed = 0 if self.deterministic else random.SystemRandom().randrange(1 << 63)
        return dict(mode=mode, max_tokens=self.max_tokens, seed=int(seed), max_steps=self.max_steps,
                    t_min=self.t_min, t_max=self.t_max, entropy_bound=self.entropy_bound,
                    stability=self.stability, confidence=self.confidence,
                    eos_ids=None if self.eos_ids is None else list(self.eos_ids),
                    deterministic=bool(self.deterministic), temperature=self.temperature, head=self.head,
                    max_canvases=self.max_canvases, n_ctx=self.n_ctx, soft_drop_mass=self.soft_drop_mass)


def merge(params: Optional[SamplingParams], **overrides: Any) -> SamplingParams:
    """``params`` (or the defaults) with the non-None keyword overrides applied."""
    base = params if params is not None else SamplingParams()
    if not isinstance(base, SamplingParams):
        raise TypeError(f"params must be an ld.SamplingParams, got {type(base).__name__}")
    stop = overrides.pop("stop", None)
    out = base.replace(**overrides)
    if stop is not None:
        out = dataclasses.replace(out, stop=(stop,) if isinstance(stop, str) else tuple(stop))
    return out

