"""Text generation with a DiffusionGemma (block diffusion) or Gemma 3 (autoregressive) GGUF.

Functions taking a model (an ``ld.Model``, a path, a ``_core.Engine``, or ``None``: the default
model, see ``llama_diffusion.demo``)::

    from llama_diffusion import generate as g
    r = g.generate(model, "Why is the sky blue?", max_tokens=64, seed=1)
    print(r.text, r.stats["tokens_per_s"])
    for ev in g.stream(model, "Write a haiku"):           # Step / Commit / Done events
        if isinstance(ev, g.Commit): print(ev.text, end="")
    chat = g.ChatSession(model); chat.send("Hi"); chat.send("And then?")   # KV cache kept

``prompt`` is a string (templated as one user turn unless ``raw=True``; ``raw=None``, the default,
means raw for the demo model, a raw code model, and templated otherwise) or a list of token ids (used
as is); ``messages`` is a list of ``{"role", "content"}`` dicts (or pairs). The settings are one
``SamplingParams`` (``params``); the keywords of the same names override its fields. Settings left
``None`` come from the model (the GGUF's ``diffusion.*`` keys; ``mode`` from its architecture:
autoregressive for a model with no diffusion head such as Gemma 3). ``deterministic=True`` is the
reference mode (argmax draws and the formula noise of the HF reference), which reproduces HF
transformers' ``generate()`` trajectories. ``tokens`` are the generated ids as HF returns them after
the prompt (whole canvases, padded after the first EOS). Ctrl-C stops generation cleanly, during the
prompt's prefill too (KeyboardInterrupt is raised after the engine has stopped).
"""
from __future__ import annotations

import dataclasses
import os
import threading
import time
import warnings
from typing import Any, Dict, Iterator, List, Optional, Sequence, Set, Tuple, Union

import numpy as np

from . import _core
from . import demo as _demo
from ._stream import EngineStream
from .events import Commit, Done, Event, Result, Step
from .params import SamplingParams, merge

__all__ = ["Result", "Step", "Commit", "Done", "Event", "ChatSession", "SamplingParams", "generate", "stream",
           "tokenize", "detokenize", "engine_of"]

Message = Union[Dict[str, str], Tuple[str, str]]
Prompt = Union[str, Sequence[int], None]
# An ld.Model, a GGUF path, a _core.Engine, or None (the default model).
ModelLike = Any


_engine_lock = threading.Lock()


def engine_of(model: ModelLike = None) -> "_core.Engine":
    """The generation engine of a model: for an ``ld.Model``, an engine wrapping its C++ model (same
    weights and KV cache, so ``model.kv_length`` / ``model.encode`` and generation see one state; made
    once and cached on the model); for a path, an engine on a newly opened model; an Engine as is;
    for None, an engine on the default model (with a one-line note on stderr for the demo)."""
    if isinstance(model, _core.Engine):
        return model
    if model is None:
        path = _demo.default_model_path()
        default = _core.Engine(path, 0, "f32")
        if _demo.is_demo_path(path):
            _demo.announce(path)
        return default
    if isinstance(model, (str, os.PathLike)):
        return _core.Engine(os.fspath(model), 0, "f32")
    eng: Optional[_core.Engine] = getattr(model, "_ld_engine", None)
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


def tokenize(model: ModelLike, text: str, add_special: bool = True, parse_special: bool = False) -> List[int]:
    """Text to token ids with the model's tokenizer."""
    return list(engine_of(model).tokenize(text, add_special, parse_special))


def detokenize(model: ModelLike, ids: Sequence[int], skip_special: bool = False) -> str:
    """Token ids to text (invalid UTF-8 from byte tokens becomes U+FFFD)."""
    return engine_of(model).detokenize(list(ids), skip_special).decode("utf-8", errors="replace")


def _is_demo(model: ModelLike) -> bool:
    """Whether ``model`` is the built-in demo model (None without an override, its path, or an ld.Model
    loaded from it)."""
    if model is None:
        return _demo.is_demo_path(_demo.default_model_path())
    if isinstance(model, (str, os.PathLike)):
        return _demo.is_demo_path(model)
    if getattr(model, "is_demo", False):
        return True
    path = getattr(model, "path", None)
    return isinstance(path, str) and _demo.is_demo_path(path)


def _raw_for(model: ModelLike, raw: Optional[bool]) -> bool:
    """``raw=None``: raw text for the demo model (a code model with no chat training), chat otherwise."""
    return _is_demo(model) if raw is None else bool(raw)


def _messages(messages: Sequence[Message]) -> List[Tuple[str, str]]:
    out = []
    for m in messages:
        if isinstance(m, dict):
            out.append((str(m["role"]), str(m["content"])))
        else:
            role, content = m
            out.append((str(role), str(content)))
    return out


def _prompt_ids(eng: "_core.Engine", prompt: Prompt, messages: Optional[Sequence[Message]], thinking: bool,
                raw: bool) -> List[int]:
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


def _text_of(eng: "_core.Engine", tokens: Sequence[int], eos: Sequence[int]) -> str:
    out = []
    for t in tokens:
        if t in eos:
            break
        out.append(t)
    if not eng.has_tokenizer:
        return ""
    return eng.detokenize(out, True).decode("utf-8", errors="replace")


def _finish(eng: "_core.Engine", tokens: Sequence[int], stats: Dict[str, Any], params: Dict[str, Any],
            prompt_ids: Sequence[int]) -> Result:
    stats = dict(stats)
    stats["seed"] = params["seed"]
    stats["mode"] = params["mode"]
    eos = eng.params(params)["eos_ids"]
    return Result(text=_text_of(eng, tokens, eos), tokens=list(tokens), stats=stats, prompt_tokens=list(prompt_ids))


# ---- one generation: parameters, prompt ids, chunked prefill, stop strings ----------------------

# Keywords of generate() / stream() / ChatSession that are SamplingParams fields.
_FIELDS = frozenset(f.name for f in dataclasses.fields(SamplingParams))
_warned_no_template: Set[str] = set()


def _sampling(params: Optional[SamplingParams], kw: Dict[str, Any]) -> SamplingParams:
    """``params`` with the explicit keywords that are not None applied on top."""
    return merge(params, **{k: v for k, v in kw.items() if k in _FIELDS})


def _model_path(model: ModelLike) -> Optional[str]:
    if model is None:
        return _demo.default_model_path()
    if isinstance(model, (str, os.PathLike)):
        return os.fspath(model)
    path = getattr(model, "path", None)
    return path if isinstance(path, str) else None


def _warn_no_template(model: ModelLike) -> None:
    """A chat-formatted prompt on a model whose GGUF has no tokenizer.chat_template: warn once per file."""
    path = _model_path(model)
    if path is None or path in _warned_no_template:
        return
    _warned_no_template.add(path)
    try:
        keys = _core.GGUFReader(path).metadata_types()
    except (OSError, ValueError):
        return
    if "tokenizer.chat_template" not in keys:
        warnings.warn(f"{os.path.basename(path)} has no chat template (tokenizer.chat_template); the prompt is "
                      "formatted as a Gemma chat turn anyway (pass raw=True to use it as plain text)",
                      UserWarning, stacklevel=4)


def _mode_for(eng: "_core.Engine", p: SamplingParams) -> str:
    """The mode asked for, else "ar" for a model with no diffusion head (Gemma 3), "diffusion" otherwise."""
    if p.mode is not None:
        return p.mode
    return "diffusion" if eng.architecture == "diffusion-gemma" else "ar"


class _Prepared:
    """One generation, resolved: the engine, the engine's parameter dict, the prompt ids (after the
    pending tokens of a kept cache), the stop strings."""

    def __init__(self, model: ModelLike, p: SamplingParams, prompt: Prompt, messages: Optional[Sequence[Message]],
                 thinking: bool, raw: Optional[bool], keep_cache: bool) -> None:
        as_raw = _raw_for(model, raw)
        self.model = model
        self.eng = engine_of(model)
        self.core: Optional["_core.Model"] = None
        if model is not None and not isinstance(model, (str, os.PathLike, _core.Engine)):
            self.core = model._m  # an ld.Model (engine_of checked it)
        if keep_cache and self.core is None:
            raise TypeError("keep_cache=True needs an ld.Model (the cache to continue lives on it)")
        self.params = p.engine_dict(_mode_for(self.eng, p))
        self.stop = p.stop
        self.prompt_ids = _prompt_ids(self.eng, prompt, messages, thinking, as_raw)
        if not as_raw and (messages is not None or isinstance(prompt, str)):
            _warn_no_template(model)
        self.keep_cache = keep_cache
        self.pending: List[int] = list(getattr(model, "_ld_pending", [])) if keep_cache else []
        n = len(self.pending) + len(self.prompt_ids) + (self.eng.kv_length if keep_cache else 0)
        if p.n_ctx and n >= p.n_ctx:
            raise ValueError(f"generate: the prompt ({n} tokens with the cache) does not fit in n_ctx = {p.n_ctx}")
        n_ctx_train = int(self.eng.n_ctx_train)
        if n_ctx_train and n > n_ctx_train:
            warnings.warn(f"the prompt ({n} tokens) is longer than the model's context length ({n_ctx_train}); "
                          "quality degrades past it", UserWarning, stacklevel=4)

    def prefill(self) -> Tuple[List[int], int, float]:
        """Encodes all but the last chunk of the prompt here, one encoder chunk per call, so Ctrl-C
        (KeyboardInterrupt) is seen between chunks; returns (ids left for the engine, tokens encoded
        here, ms). The chunk boundaries are the engine's own, so the cache is the same as one call's."""
        ids = self.pending + self.prompt_ids
        if not self.keep_cache:
            self.eng.reset()
        if self.core is None:
            return ids, 0, 0.0
        chunk = max(1, int(self.core.chunk_size))
        n_pre = (len(ids) - 1) // chunk * chunk
        t0 = time.perf_counter()
        try:
            for c0 in range(0, n_pre, chunk):
                self.core.encode(np.asarray(ids[c0:c0 + chunk], dtype=np.int32), None, False)
        except BaseException:
            self.eng.reset()  # a half-encoded prompt is no state to continue from
            setattr(self.model, "_ld_pending", [])
            raise
        return ids[n_pre:], n_pre, (time.perf_counter() - t0) * 1000.0

    def finish(self, out: Tuple[Any, Any, Dict[str, Any]], n_pre: int, pre_ms: float) -> Result:
        tokens, pending, stats = out
        stats = dict(stats)
        stats["prompt_tokens"] = int(stats.get("prompt_tokens", 0)) + n_pre
        stats["prefill_ms"] = float(stats.get("prefill_ms", 0.0)) + pre_ms
        res = _finish(self.eng, tokens, stats, self.params, self.prompt_ids)
        if self.core is not None:
            setattr(self.model, "_ld_pending", [int(t) for t in pending])
        return res

    def run(self) -> Result:
        """The whole generation, without events unless stop strings need them."""
        if self.stop:
            for ev in self.events():
                if isinstance(ev, Done):
                    return ev.result
            raise RuntimeError("generation ended without a result")  # not reached
        tail, n_pre, pre_ms = self.prefill()
        return self.finish(self.eng.generate(tail, self.params, False), n_pre, pre_ms)

    def events(self) -> Iterator[Event]:
        """Step / Commit events and the final Done. A stop string ends the generation: the Commit that
        holds it delivers the text before it (finished=True) and the Done's text ends there."""
        tail, n_pre, pre_ms = self.prefill()
        eng, params = self.eng, self.params
        eos = eng.params(params)["eos_ids"]
        es = EngineStream(eng, lambda s, c, k: eng.generate(tail, params, False, s, c, k), eos)
        delivered, cut = "", -1
        for ev in es:
            if isinstance(ev, tuple):
                res = self.finish(ev[1], n_pre, pre_ms)
                if cut >= 0:
                    res.text = res.text[:cut]
                    res.stats["stop_reason"] = "stop"
                yield Done(res)
                return
            if cut >= 0:
                continue  # stopping: drain what the engine still sends
            if isinstance(ev, Commit) and self.stop:
                text = delivered + ev.text
                hits = [i for i in (text.find(s) for s in self.stop) if i >= 0]
                if hits:
                    cut = min(hits)
                    es.cancel()
                    yield Commit(ev.canvas, ev.tokens, text[len(delivered):cut], True)
                    continue
                delivered = text
            yield ev


def generate(model: ModelLike = None, prompt: Prompt = None, params: Optional[SamplingParams] = None, *,
             messages: Optional[Sequence[Message]] = None, max_tokens: Optional[int] = None,
             mode: Optional[str] = None, seed: Optional[int] = None, max_steps: Optional[int] = None,
             t_min: Optional[float] = None, t_max: Optional[float] = None, entropy_bound: Optional[float] = None,
             stability: Optional[int] = None, confidence: Optional[float] = None,
             temperature: Optional[float] = None, eos_ids: Optional[Sequence[int]] = None,
             stop: Union[str, Sequence[str], None] = None, deterministic: Optional[bool] = None,
             head: Optional[str] = None, max_canvases: Optional[int] = None, n_ctx: Optional[int] = None,
             soft_drop_mass: Optional[float] = None,
             thinking: bool = False, raw: Optional[bool] = None, keep_cache: bool = False) -> Result:
    """Generates a reply to ``prompt`` (or ``messages``) and returns the Result.

    model: an ld.Model, a GGUF path, a _core.Engine, or None (the default model).
    prompt: text (a chat user turn unless raw) or token ids; messages: [{"role", "content"}, ...].
    params: a SamplingParams; the keywords below of the same names override its fields (see
        SamplingParams for their meaning: max_tokens, mode, seed, the sampler's max_steps, t_min,
        t_max, entropy_bound, stability, confidence, AR temperature, eos_ids, stop strings,
        deterministic, head, max_canvases, n_ctx, soft_drop_mass: sparse self-conditioning).
    thinking: enable thinking in the chat format. raw: use a text prompt as is (None: raw for the
        demo model only).
    keep_cache: continue from the model's current KV cache (the previous generation's committed
        text and the new prompt are appended) instead of starting fresh; needs an ld.Model.
    """
    p = _sampling(params, dict(max_tokens=max_tokens, mode=mode, seed=seed, max_steps=max_steps, t_min=t_min,
                               t_max=t_max, entropy_bound=entropy_bound, stability=stability,
                               confidence=confidence, temperature=temperature, eos_ids=eos_ids, stop=stop,
                               deterministic=deterministic, head=head, max_canvases=max_canvases, n_ctx=n_ctx,
                               soft_drop_mass=soft_drop_mass))
    return _Prepared(model, p, prompt, messages, thinking, raw, keep_cache).run()


def stream(model: ModelLike = None, prompt: Prompt = None, params: Optional[SamplingParams] = None, *,
           messages: Optional[Sequence[Message]] = None, max_tokens: Optional[int] = None,
           mode: Optional[str] = None, seed: Optional[int] = None, max_steps: Optional[int] = None,
           t_min: Optional[float] = None, t_max: Optional[float] = None, entropy_bound: Optional[float] = None,
           stability: Optional[int] = None, confidence: Optional[float] = None,
           temperature: Optional[float] = None, eos_ids: Optional[Sequence[int]] = None,
           stop: Union[str, Sequence[str], None] = None, deterministic: Optional[bool] = None,
           head: Optional[str] = None, max_canvases: Optional[int] = None, n_ctx: Optional[int] = None,
           soft_drop_mass: Optional[float] = None,
           thinking: bool = False, raw: Optional[bool] = None, keep_cache: bool = False) -> Iterator[Event]:
    """Like generate() (same parameters), yielding Step (every denoising step's argmax draft), Commit
    (each committed canvas with its new text) and finally Done (the Result). Closing the iterator
    early cancels the generation."""
    p = _sampling(params, dict(max_tokens=max_tokens, mode=mode, seed=seed, max_steps=max_steps, t_min=t_min,
                               t_max=t_max, entropy_bound=entropy_bound, stability=stability,
                               confidence=confidence, temperature=temperature, eos_ids=eos_ids, stop=stop,
                               deterministic=deterministic, head=head, max_canvases=max_canvases, n_ctx=n_ctx,
                               soft_drop_mass=soft_drop_mass))
    prep = _Prepared(model, p, prompt, messages, thinking, raw, keep_cache)  # errors now, not at first next()
    return prep.events()


class ChatSession:
    """A multi-turn chat on one model that keeps the KV cache across turns: each turn encodes only
    the previous reply's tail, the turn separators and the new message. ``model=None``: the default
    model (the demo was not trained on chat turns). ``params`` and the keywords of the same names
    (see SamplingParams) are the defaults of every turn; send() / stream() take the same again."""

    def __init__(self, model: ModelLike = None, system: Optional[str] = None, thinking: bool = False,
                 params: Optional[SamplingParams] = None, *, max_tokens: Optional[int] = None,
                 mode: Optional[str] = None, seed: Optional[int] = None, max_steps: Optional[int] = None,
                 t_min: Optional[float] = None, t_max: Optional[float] = None,
                 entropy_bound: Optional[float] = None, stability: Optional[int] = None,
                 confidence: Optional[float] = None, temperature: Optional[float] = None,
                 eos_ids: Optional[Sequence[int]] = None, deterministic: Optional[bool] = None,
                 head: Optional[str] = None, max_canvases: Optional[int] = None, n_ctx: Optional[int] = None,
                 soft_drop_mass: Optional[float] = None) -> None:
        self._eng = engine_of(model)
        self._chat = _core.ChatSession(self._eng, system or "", bool(thinking))
        self.params: SamplingParams = _sampling(params, dict(
            max_tokens=max_tokens, mode=mode, seed=seed, max_steps=max_steps, t_min=t_min, t_max=t_max,
            entropy_bound=entropy_bound, stability=stability, confidence=confidence, temperature=temperature,
            eos_ids=eos_ids, deterministic=deterministic, head=head, max_canvases=max_canvases, n_ctx=n_ctx,
            soft_drop_mass=soft_drop_mass))
        self.history: List[Dict[str, str]] = []
        if system:
            self.history.append({"role": "system", "content": system})

    def _turn(self, params: Optional[SamplingParams], kw: Dict[str, Any]) -> Dict[str, Any]:
        p = _sampling(params if params is not None else self.params, kw)
        return p.engine_dict(_mode_for(self._eng, p))

    @property
    def turns(self) -> int:
        return int(self._chat.turns)

    @property
    def kv_length(self) -> int:
        return int(self._eng.kv_length)

    def _done(self, message: str, out: Tuple[Any, ...], params: Dict[str, Any]) -> Result:
        _text, tokens, _pending, stats, n_new = out
        res = _finish(self._eng, tokens, stats, params, [])
        res.stats["turn_prompt_tokens"] = n_new
        self.history += [{"role": "user", "content": message}, {"role": "model", "content": res.text}]
        return res

    def send(self, message: str, params: Optional[SamplingParams] = None, *, max_tokens: Optional[int] = None,
             seed: Optional[int] = None, max_steps: Optional[int] = None, t_min: Optional[float] = None,
             t_max: Optional[float] = None, entropy_bound: Optional[float] = None,
             stability: Optional[int] = None, confidence: Optional[float] = None,
             temperature: Optional[float] = None, deterministic: Optional[bool] = None) -> Result:
        """Generates the model's reply to one user message (settings: the session's, overridden by
        ``params`` and the keywords)."""
        if not message:
            raise ValueError("chat: empty message")
        pd = self._turn(params, dict(max_tokens=max_tokens, seed=seed, max_steps=max_steps, t_min=t_min,
                                     t_max=t_max, entropy_bound=entropy_bound, stability=stability,
                                     confidence=confidence, temperature=temperature, deterministic=deterministic))
        return self._done(message, self._chat.send(message, pd), pd)

    def stream(self, message: str, params: Optional[SamplingParams] = None, *, max_tokens: Optional[int] = None,
               seed: Optional[int] = None, max_steps: Optional[int] = None, t_min: Optional[float] = None,
               t_max: Optional[float] = None, entropy_bound: Optional[float] = None,
               stability: Optional[int] = None, confidence: Optional[float] = None,
               temperature: Optional[float] = None, deterministic: Optional[bool] = None) -> Iterator[Event]:
        """Like send(), yielding Step / Commit / Done events."""
        if not message:
            raise ValueError("chat: empty message")
        pd = self._turn(params, dict(max_tokens=max_tokens, seed=seed, max_steps=max_steps, t_min=t_min,
                                     t_max=t_max, entropy_bound=entropy_bound, stability=stability,
                                     confidence=confidence, temperature=temperature, deterministic=deterministic))
        eos = self._eng.params(pd)["eos_ids"]
        chat = self._chat
        for ev in EngineStream(self._eng, lambda s, c, k: chat.send(message, pd, s, c, k), eos):
            if isinstance(ev, tuple):
                yield Done(self._done(message, ev[1], pd))
            else:
                yield ev

    def clear(self) -> None:
        """Forgets the conversation (and empties the KV cache)."""
        self._chat.clear()
        self.history = [h for h in self.history if h["role"] == "system"]
