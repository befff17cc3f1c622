"""What generation returns: Result (a finished generation) and the streamed events Step, Commit, Done."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Dict, List, Union

__all__ = ["Result", "Step", "Commit", "Done", "Event"]


@dataclass
class Result:
    """A finished generation: ``text`` (up to the first EOS or stop string, special tokens skipped),
    ``tokens`` (generated ids, padding included), ``stats`` (canvases, steps_per_canvas, ms_per_step,
    prefill_ms, tokens_per_s, peak_rss_bytes, stop_reason: "eos", "length", "context", "stop" or
    "cancelled", seed, mode, soft_rows_fraction: the vocabulary rows the self-conditioning used, 1.0
    unless ``soft_drop_mass`` made it sparse, ...), ``prompt_tokens`` (the prompt's ids)."""
    text: str
    tokens: List[int]
    stats: Dict[str, Any]
    prompt_tokens: List[int] = field(default_factory=list)


@dataclass
class Step:
    """One denoising step (diffusion) or one token (AR): the current argmax draft of the canvas."""
    canvas: int
    step: int
    steps_remaining: int
    draft: List[int]
    text: str
    n_accepted: int
    mean_entropy: float


@dataclass
class Commit:
    """A committed canvas (or AR token): ``text`` is the newly delivered text."""
    canvas: int
    tokens: List[int]
    text: str
    finished: bool


@dataclass
class Done:
    """The end of a stream, with the full result."""
    result: Result

    @property
    def stats(self) -> Dict[str, Any]:
        return self.result.stats


Event = Union[Step, Commit, Done]
