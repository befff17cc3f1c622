"""The OpenAI request side of the server: validation of a /v1/chat/completions or /v1/completions body
into a ``GenRequest`` (prompt, limits, sampler settings), and OpenAI-style errors.

Accepted fields (others OpenAI defines, e.g. ``top_p`` or ``presence_penalty``, are accepted and
ignored; a wrong type in a known field is a 400):

* ``messages`` (chat) / ``prompt`` (completions: a string, a one-string list or a list of token ids)
* ``max_tokens`` (or ``max_completion_tokens``), ``seed``, ``stop`` (string or up to 4 strings),
  ``stream``, ``stream_options`` (``include_usage``; the diffusion extra ``include_drafts``),
  ``n`` (must be 1), ``model`` (must name the served model when given), ``temperature``
* the sampler extras, named like the CLI flags: ``diffusion_eb_max_steps``, ``diffusion_eb_t_min``,
  ``diffusion_eb_t_max``, ``diffusion_eb_entropy_bound``, ``diffusion_eb_stability``,
  ``diffusion_eb_confidence``, ``deterministic``; ``sparse_sc`` (sparse self-conditioning, the CLI's
  ``--sparse-sc``: at most this much probability mass dropped per position, in [0, 1); 0: exact).

Temperature mapping (diffusion has a per-step temperature schedule T(n) from t_max down to t_min):
absent or null keeps the model's schedule (its GGUF ``diffusion.*`` defaults); ``temperature = t > 0``
scales both ends, t_min·t and t_max·t (1 = the model's schedule, 0.5 = half as random); ``0``
keeps the schedule for the entropies (which decide acceptance and stopping) but the accepted
positions take the argmax instead of a draw (greedy). Explicit ``diffusion_eb_t_min`` /
``diffusion_eb_t_max`` override the scaled values.
"""
import json
import math
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional

__all__ = ["APIError", "Limits", "GenRequest", "parse_request", "SAMPLER_EXTRAS"]

# Request field -> (engine parameter name, type).
SAMPLER_EXTRAS = {
    "diffusion_eb_max_steps": ("max_steps", int),
    "diffusion_eb_t_min": ("t_min", float),
    "diffusion_eb_t_max": ("t_max", float),
    "diffusion_eb_entropy_bound": ("entropy_bound", float),
    "diffusion_eb_stability": ("stability", int),
    "diffusion_eb_confidence": ("confidence", float),
    "sparse_sc": ("soft_drop_mass", float),
}


class APIError(Exception):
    """An error answered with an OpenAI-style body: {"error": {"message", "type", "param", "code"}}."""

    def __init__(self, status: int, message: str, type_: str = "invalid_request_error",
                 param: Optional[str] = None, code: Optional[str] = None):
        super().__init__(message)
        self.status, self.message, self.type, self.param, self.code = status, message, type_, param, code

    def body(self) -> Dict[str, Any]:
        return {"error": {"message": self.message, "type": self.type, "param": self.param, "code": self.code}}


@dataclass
class Limits:
    """Request bounds of a server."""
    max_body_bytes: int = 1 << 20
    max_tokens: int = 4096          # largest max_tokens accepted
    max_prompt_tokens: int = 8192
    max_stop: int = 4
    max_steps: int = 1024           # largest diffusion_eb_max_steps accepted


@dataclass
class GenRequest:
    """A validated request (the prompt is still text or messages; the server tokenizes it)."""
    chat: bool
    messages: Optional[List[tuple]] = None
    prompt: Any = None              # str or list of token ids
    max_tokens: int = 256
    seed: Optional[int] = None
    stop: List[str] = field(default_factory=list)
    temperature: Optional[float] = None
    stream: bool = False
    include_usage: bool = False
    include_drafts: bool = False
    deterministic: bool = False
    sampler: Dict[str, Any] = field(default_factory=dict)   # engine parameter overrides


def _bad(msg: str, param: Optional[str] = None, code: Optional[str] = None, status: int = 400) -> APIError:
    return APIError(status, msg, "invalid_request_error", param, code)


def _is_int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_num(v) -> bool:
    return (isinstance(v, (int, float)) and not isinstance(v, bool)) and math.isfinite(v)


def _content_text(content, i: int) -> str:
    """A message's content: a string, or a list of {"type": "text", "text": ...} parts."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = []
        for part in content:
            if not isinstance(part, dict) or part.get("type") != "text" or not isinstance(part.get("text"), str):
                raise _bad(f"messages[{i}].content: only text parts ({{'type': 'text', 'text': ...}}) are supported",
                           f"messages[{i}].content")
            parts.append(part["text"])
        return "".join(parts)
    raise _bad(f"messages[{i}].content must be a string or a list of text parts", f"messages[{i}].content")


def decode_json(raw: bytes) -> Dict[str, Any]:
    try:
        body = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as e:
        raise _bad(f"the request body is not valid JSON: {e}") from None
    if not isinstance(body, dict):
        raise _bad(f"the request body must be a JSON object, got {type(body).__name__}")
    return body


def parse_request(body: Dict[str, Any], chat: bool, model_names: List[str], limits: Limits) -> GenRequest:
    """Validates an OpenAI request body; APIError (400/404) naming the field otherwise."""
    r = GenRequest(chat=chat)
    model = body.get("model")
    if model is not None:
        if not isinstance(model, str):
            raise _bad("'model' must be a string", "model")
        if model not in model_names:
            raise APIError(404, f"the model '{model}' does not exist; this server serves {model_names}",
                           "invalid_request_error", "model", "model_not_found")
    if chat:
        msgs = body.get("messages")
        if not isinstance(msgs, list) or not msgs:
            raise _bad("'messages' must be a non-empty list of {role, content} objects", "messages")
        out = []
        for i, m in enumerate(msgs):
            if not isinstance(m, dict):
                raise _bad(f"messages[{i}] must be an object", f"messages[{i}]")
            role = m.get("role")
            if not isinstance(role, str) or role not in ("system", "developer", "user", "assistant", "model"):
                raise _bad(f"messages[{i}].role must be one of system, developer, user, assistant", f"messages[{i}].role")
            role = {"developer": "system", "assistant": "model"}.get(role, role)
            out.append((role, _content_text(m.get("content"), i)))
        r.messages = out
    else:
        p = body.get("prompt")
        if isinstance(p, list) and len(p) == 1 and isinstance(p[0], str):
            p = p[0]
        if isinstance(p, str):
            if not p:
                raise _bad("'prompt' is empty", "prompt")
        elif isinstance(p, list) and p and all(_is_int(t) for t in p):
            pass
        else:
            raise _bad("'prompt' must be a non-empty string, a list of one string, or a list of token ids", "prompt")
        r.prompt = p

    mt = body.get("max_tokens", body.get("max_completion_tokens"))
    if mt is not None:
        if not _is_int(mt) or mt < 1:
            raise _bad(f"'max_tokens' must be an integer >= 1, got {mt!r}", "max_tokens")
        if mt > limits.max_tokens:
            raise _bad(f"'max_tokens' is {mt}; this server allows at most {limits.max_tokens}", "max_tokens",
                       "max_tokens_exceeded")
        r.max_tokens = mt
    seed = body.get("seed")
    if seed is not None:
        if not _is_int(seed) or seed < 0 or seed >= (1 << 63):
            raise _bad("'seed' must be an integer in [0, 2^63)", "seed")
        r.seed = seed
    stop = body.get("stop")
    if stop is not None:
        stops = [stop] if isinstance(stop, str) else stop
        if not isinstance(stops, list) or not all(isinstance(s, str) and s for s in stops):
            raise _bad("'stop' must be a non-empty string or a list of non-empty strings", "stop")
        if len(stops) > limits.max_stop:
            raise _bad(f"'stop' has {len(stops)} strings; at most {limits.max_stop}", "stop")
        r.stop = list(stops)
    t = body.get("temperature")
    if t is not None:
        if not _is_num(t) or t < 0 or t > 2:
            raise _bad(f"'temperature' must be a number in [0, 2], got {t!r}", "temperature")
        r.temperature = float(t)
    stream = body.get("stream", False)
    if stream is not None and not isinstance(stream, bool):
        raise _bad("'stream' must be a boolean", "stream")
    r.stream = bool(stream)
    so = body.get("stream_options")
    if so is not None:
        if not isinstance(so, dict):
            raise _bad("'stream_options' must be an object", "stream_options")
        for k in ("include_usage", "include_drafts"):
            if so.get(k) is not None and not isinstance(so.get(k), bool):
                raise _bad(f"'stream_options.{k}' must be a boolean", f"stream_options.{k}")
        r.include_usage = bool(so.get("include_usage", False))
        r.include_drafts = bool(so.get("include_drafts", False))
    n = body.get("n")
    if n is not None and (not _is_int(n) or n != 1):
        raise _bad("only 'n' = 1 is supported", "n")
    det = body.get("deterministic")
    if det is not None:
        if not isinstance(det, bool):
            raise _bad("'deterministic' must be a boolean", "deterministic")
        r.deterministic = det
    for name, (key, typ) in SAMPLER_EXTRAS.items():
        v = body.get(name)
        if v is None:
            continue
        if (typ is int and not _is_int(v)) or (typ is float and not _is_num(v)):
            raise _bad(f"'{name}' must be {'an integer' if typ is int else 'a number'}, got {v!r}", name)
        r.sampler[key] = typ(v)
    s = r.sampler
    if "max_steps" in s and not 1 <= s["max_steps"] <= limits.max_steps:
        raise _bad(f"'diffusion_eb_max_steps' must be in [1, {limits.max_steps}]", "diffusion_eb_max_steps")
    if "soft_drop_mass" in s and not 0.0 <= s["soft_drop_mass"] < 1.0:
        raise _bad(f"'sparse_sc' must be in [0, 1), got {s['soft_drop_mass']!r}", "sparse_sc")
    return r


def sampler_overrides(r: GenRequest, defaults: Dict[str, Any]) -> Dict[str, Any]:
    """Engine parameter overrides of a request: the extras, then the temperature mapping (module doc)
    on the ends the request did not set; APIError for settings the sampler rejects."""
    s = dict(r.sampler)
    t = r.temperature
    if t is not None and t > 0:
        s.setdefault("t_min", defaults["t_min"] * t)
        s.setdefault("t_max", defaults["t_max"] * t)
    t_min = s.get("t_min", defaults["t_min"])
    t_max = s.get("t_max", defaults["t_max"])
    if t_min < 0:
        raise _bad("the schedule's final temperature (t_min) must be >= 0", "diffusion_eb_t_min")
    if t_max <= t_min:
        raise _bad(f"the schedule needs t_max > t_min, got t_min {t_min:g}, t_max {t_max:g}", "diffusion_eb_t_max")
    if s.get("entropy_bound", 1.0) <= 0:
        raise _bad("'diffusion_eb_entropy_bound' must be > 0", "diffusion_eb_entropy_bound")
    if s.get("stability", 0) < 0:
        raise _bad("'diffusion_eb_stability' must be >= 0", "diffusion_eb_stability")
    if s.get("confidence", 1.0) <= 0:
        raise _bad("'diffusion_eb_confidence' must be > 0", "diffusion_eb_confidence")
    return s
