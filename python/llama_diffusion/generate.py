"""Text generation with a DiffusionGemma (block diffusion) or Gemma 3 (autoregressive) GGUF.

Functions taking a model (an ``ld.Model``, a path, a ``_core.Engine``, or ``None``: the built-in demo
model, a small DiffusionGemma trained on Python code, see ``llama_diffusion.demo``)::

    from llama_diffusion import generate as g
    r = g.generate(model, "Why is the sky blue?", max_tokens=64, seed=1)
    print(r.text, r.stats["tokens_per_s"])
    for ev in g.stream(model, "Write a haiku"):           # Step / Commit / Done events
        if isinstance(ev, g.Commit): print(ev.text, end="")
    chat = g.ChatSession(model); chat.send("Hi"); chat.send("And then?")   # KV cache kept

``prompt`` is a string (templated as one user turn unless ``raw=True``; ``raw=None``, the default,
means raw for the demo model, a raw code model, and templated otherwise) or a list of token ids (used
as is); ``messages`` is a list of ``{"role", "content"}`` dicts (or pairs). Sampler parameters left
``None`` come from the GGUF's ``diffusion.*`` keys. ``deterministic=True`` is the reference mode
(argmax draws and the formula noise of the HF reference), which reproduces HF transformers'
``generate()`` trajectories. ``tokens`` are the generated ids as HF returns them after the prompt
(whole canvases, padded after the first EOS). Ctrl-C stops generation cleanly (KeyboardInterrupt is
raised after the engine has stopped).
"""
import os
import queue
import random
import threading
from dataclasses import dataclass, field
from typing import Any, Dict, Iterator, List, Optional, Sequence, Union

from . import _core
from . import demo as _demo

__all__ = ["Result", "Step", "Commit", "Done", "ChatSession", "generate", "stream", "tokenize", "detokenize",
           "engine_of"]


@dataclass
class Result:
    """A finished generation: ``text`` (up to the first EOS, special tokens skipped), ``tokens``
    (generated ids, padding included), ``stats`` (canvases, steps_per_canvas, ms_per_step,
    prefill_ms, tokens_per_s, peak_rss_bytes, stop_reason, seed, ...)."""
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


_engine_lock = threading.Lock()


def engine_of(model=None) -> "_core.Engine":
    """The generation engine of a model: for an ``ld.Model``, an engine wrapping its C++ model (same
    weights and KV cache, so ``model.kv_length`` / ``model.encode`` and generation see one state; made
    once and cached on the model); for a path, an engine on a newly opened model; an Engine as is;
    for None, an engine on the built-in demo model (with a one-line note on stderr)."""
    if isinstance(model, _core.Engine):
        return model
    if model is None:
        path = _demo.demo_model_path()
        eng = _core.Engine(path, 0, "f32")
        _demo.announce(path)
        return eng
    if isinstance(model, (str, os.PathLike)):
        return _core.Engine(str(model), 0, "f32")
    eng = getattr(model, "_ld_engine", None)
    if eng is None:
        core = getattr(model, "_m", None)
        if not isinstance(core, _core.Model):
            raise TypeError(f"expected an ld.Model, a path or a _core.Engine, got {type(model).__name__}")
        with _engine_lock:  # one engine per model, also when several threads ask at once
            eng = getattr(model, "_ld_engine", None)
            if eng is None:
                eng = _core.Engine(core)
                model._ld_engine = eng
    return eng


def tokenize(model, text: str, add_special: bool = True, parse_special: bool = False) -> List[int]:
    """Text to token ids with the model's tokenizer."""
    return list(engine_of(model).tokenize(text, add_special, parse_special))


def detokenize(model, ids: Sequence[int], skip_special: bool = False) -> str:
    """Token ids to text (invalid UTF-8 from byte tokens becomes U+FFFD)."""
    return engine_of(model).detokenize(list(ids), skip_special).decode("utf-8", errors="replace")


def _is_demo(model) -> bool:
    """Whether ``model`` is the built-in demo model (None, its path, or an ld.Model loaded from it)."""
    if model is None:
        return True
    if isinstance(model, (str, os.PathLike)):
        return _demo.is_demo_path(model)
    if getattr(model, "is_demo", False):
        return True
    path = getattr(model, "path", None)
    return isinstance(path, str) and _demo.is_demo_path(path)


def _raw_for(model, raw: Optional[bool]) -> bool:
    """``raw=None``: raw text for the demo model (a code model with no chat training), chat otherwise."""
    return _is_demo(model) if raw is None else bool(raw)


def _messages(messages) -> List[tuple]:
    out = []
    for m in messages:
        if isinstance(m, dict):
            out.append((str(m["role"]), str(m["content"])))
        else:
            role, content = m
            out.append((str(role), str(content)))
    return out


def _prompt_ids(eng, prompt, messages, thinking: bool, raw: bool) -> List[int]:
    if prompt is not None and messages is not None:
        raise ValueError("generate: give either prompt or messages, not both")
    if messages is not None:
        if len(messages) == 0:
            raise ValueError("generate: messages is empty")
        return list(eng.chat_ids(_messages(messages), thinking))
    if prompt is None:
        raise ValueError("generate: no prompt given (prompt or messages)")
    if isinstance(prompt, str):
        if prompt == "":
            raise ValueError("generate: the prompt is empty")
        if raw:
            return list(eng.tokenize(prompt, True, True))
        return list(eng.chat_ids([("user", prompt)], thinking))
    ids = [int(t) for t in prompt]
    if not ids:
        raise ValueError("generate: the prompt is empty (no token ids)")
    return ids


def _params(max_tokens, mode, seed, max_steps, t_min, t_max, entropy_bound, stability, confidence, eos_ids,
            deterministic, temperature=None, head=None, max_canvases=None, n_ctx=None) -> Dict[str, Any]:
    if mode not in ("diffusion", "ar"):
        raise ValueError(f"generate: unknown mode {mode!r} (expected 'diffusion' or 'ar')")
    if seed is None:
        seed = 0 if deterministic else random.SystemRandom().randrange(1 << 63)
    p = dict(mode=mode, max_tokens=max_tokens, seed=int(seed), max_steps=max_steps, t_min=t_min, t_max=t_max,
             entropy_bound=entropy_bound, stability=stability, confidence=confidence,
             eos_ids=None if eos_ids is None else [int(e) for e in eos_ids], deterministic=bool(deterministic),
             temperature=temperature, head=head, max_canvases=max_canvases, n_ctx=n_ctx)
    return p


def _text_of(eng, tokens: Sequence[int], eos: Sequence[int]) -> str:
    out = []
    for t in tokens:
        if t in eos:
            break
        out.append(t)
    if not eng.has_tokenizer:
        return ""
    return eng.detokenize(out, True).decode("utf-8", errors="replace")


def _finish(eng, tokens, stats, params, prompt_ids) -> Result:
    stats = dict(stats)
    stats["seed"] = params["seed"]
    stats["mode"] = params["mode"]
    eos = eng.params(params)["eos_ids"]
    return Result(text=_text_of(eng, tokens, eos), tokens=list(tokens), stats=stats, prompt_tokens=list(prompt_ids))


def generate(model=None, prompt: Union[str, Sequence[int], None] = None, messages=None, max_tokens: int = 256,
             mode: str = "diffusion", seed: Optional[int] = None, max_steps: Optional[int] = None,
             t_min: Optional[float] = None, t_max: Optional[float] = None, entropy_bound: Optional[float] = None,
             stability: Optional[int] = None, confidence: Optional[float] = None,
             eos_ids: Optional[Sequence[int]] = None, thinking: bool = False, raw: Optional[bool] = None,
             deterministic: bool = False, temperature: Optional[float] = None, head: Optional[str] = None,
             max_canvases: Optional[int] = None, n_ctx: Optional[int] = None) -> Result:
    """Generates from a fresh cache (see the module docstring). ``temperature``: AR mode only (0 =
    greedy); ``head``: "fused" (default: streamed vocab, no [C x V] buffer) or "plain" (materialised logits).
    ``model=None``: the built-in demo model."""
    raw = _raw_for(model, raw)
    eng = engine_of(model)
    params = _params(max_tokens, mode, seed, max_steps, t_min, t_max, entropy_bound, stability, confidence, eos_ids,
                     deterministic, temperature, head, max_canvases, n_ctx)
    ids = _prompt_ids(eng, prompt, messages, thinking, raw)
    tokens, _pending, stats = eng.generate(ids, params, True)
    return _finish(eng, tokens, stats, params, ids)


class _TextTracker:
    """Incremental text of the committed tokens (up to the first EOS), holding back an incomplete
    UTF-8 character at the end."""

    def __init__(self, eng, eos):
        self.eng, self.eos, self.ids, self.sent, self.stopped = eng, set(eos), [], "", False

    def push(self, tokens) -> str:
        if not self.eng.has_tokenizer:
            return ""
        for t in tokens:
            if self.stopped or t in self.eos:
                self.stopped = True
                break
            self.ids.append(int(t))
        text = self.eng.detokenize(self.ids, True).decode("utf-8", errors="replace")
        while text.endswith("\ufffd"):
            text = text[:-1]
        if not text.startswith(self.sent):
            return ""
        new, self.sent = text[len(self.sent):], text
        return new


def _run_stream(eng, call, eos) -> Iterator[Any]:
    """Runs call(on_step, on_commit, cancel) on a worker thread and yields its events."""
    q: "queue.Queue" = queue.Queue()
    cancel = _core.CancelFlag()
    tracker = _TextTracker(eng, eos)

    def on_step(canvas, step, remaining, draft, n_acc, mean_ent):
        text = eng.detokenize(draft, True).decode("utf-8", errors="replace") if eng.has_tokenizer else ""
        q.put(Step(canvas, step, remaining, list(draft), text, int(n_acc), float(mean_ent)))

    def on_commit(canvas, tokens, finished):
        q.put(Commit(canvas, list(tokens), tracker.push(tokens), bool(finished)))

    def work():
        try:
            q.put(("ok", call(on_step, on_commit, cancel)))
        except BaseException as e:  # noqa: BLE001 - forwarded to the consumer
            q.put(("err", e))

    th = threading.Thread(target=work, daemon=True)
    th.start()
    try:
        while True:
            item = q.get()
            if isinstance(item, tuple):
                if item[0] == "err":
                    raise item[1]
                yield ("final", item[1])
                return
            yield item
    finally:
        cancel.set()
        th.join()


def stream(model=None, prompt=None, messages=None, max_tokens: int = 256, mode: str = "diffusion",
           seed: Optional[int] = None, max_steps=None, t_min=None, t_max=None, entropy_bound=None, stability=None,
           confidence=None, eos_ids=None, thinking: bool = False, raw: Optional[bool] = None,
           deterministic: bool = False, temperature=None, head=None, max_canvases=None,
           n_ctx=None) -> Iterator[Union[Step, Commit, Done]]:
    """Like generate(), yielding Step (every denoising step's argmax draft), Commit (each committed
    canvas with its new text) and finally Done (the Result). Closing the iterator early cancels."""
    raw = _raw_for(model, raw)
    eng = engine_of(model)
    params = _params(max_tokens, mode, seed, max_steps, t_min, t_max, entropy_bound, stability, confidence, eos_ids,
                     deterministic, temperature, head, max_canvases, n_ctx)
    ids = _prompt_ids(eng, prompt, messages, thinking, raw)
    eos = eng.params(params)["eos_ids"]
    call = lambda s, c, k: eng.generate(ids, params, True, s, c, k)  # noqa: E731
    for ev in _run_stream(eng, call, eos):
        if isinstance(ev, tuple):
            tokens, _pending, stats = ev[1]
            yield Done(_finish(eng, tokens, stats, params, ids))
        else:
            yield ev


class ChatSession:
    """A multi-turn chat on one model that keeps the KV cache across turns: each turn encodes only
    the previous reply's tail, the turn separators and the new message. ``model=None``: the built-in
    demo model (which was not trained on chat turns)."""

    def __init__(self, model=None, system: Optional[str] = None, thinking: bool = False, **defaults):
        self._eng = engine_of(model)
        self._chat = _core.ChatSession(self._eng, system or "", bool(thinking))
        self.defaults = dict(defaults)
        self.history: List[Dict[str, str]] = []
        if system:
            self.history.append({"role": "system", "content": system})

    def _params(self, kw) -> Dict[str, Any]:
        a = dict(self.defaults, **kw)
        return _params(a.get("max_tokens", 256), a.get("mode", "diffusion"), a.get("seed"), a.get("max_steps"),
                       a.get("t_min"), a.get("t_max"), a.get("entropy_bound"), a.get("stability"),
                       a.get("confidence"), a.get("eos_ids"), a.get("deterministic", False), a.get("temperature"),
                       a.get("head"), a.get("max_canvases"), a.get("n_ctx"))

    @property
    def turns(self) -> int:
        return self._chat.turns

    @property
    def kv_length(self) -> int:
        return self._eng.kv_length

    def send(self, message: str, **kw) -> Result:
        """Generates the model's reply to one user message."""
        if not message:
            raise ValueError("chat: empty message")
        params = self._params(kw)
        text, tokens, _pending, stats, n_new = self._chat.send(message, params)
        res = _finish(self._eng, tokens, stats, params, [])
        res.stats["turn_prompt_tokens"] = n_new
        self.history += [{"role": "user", "content": message}, {"role": "model", "content": res.text}]
        return res

    def stream(self, message: str, **kw) -> Iterator[Union[Step, Commit, Done]]:
        """Like send(), yielding Step / Commit / Done events."""
        if not message:
            raise ValueError("chat: empty message")
        params = self._params(kw)
        eos = self._eng.params(params)["eos_ids"]
        call = lambda s, c, k: self._chat.send(message, params, s, c, k)  # noqa: E731
        for ev in _run_stream(self._eng, call, eos):
            if isinstance(ev, tuple):
                text, tokens, _pending, stats, n_new = ev[1]
                res = _finish(self._eng, tokens, stats, params, [])
                res.stats["turn_prompt_tokens"] = n_new
                self.history += [{"role": "user", "content": message}, {"role": "model", "content": res.text}]
                yield Done(res)
            else:
                yield ev

    def clear(self) -> None:
        """Forgets the conversation (and empties the KV cache)."""
        self._chat.clear()
        self.history = [h for h in self.history if h["role"] == "system"]
