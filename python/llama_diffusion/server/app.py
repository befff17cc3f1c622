"""The HTTP side of ``llama-diffusion-server``: a Starlette app with the OpenAI routes, authentication,
request bounds, SSE streaming and metrics, in front of the scheduler (scheduler.py).

Routes: ``POST /v1/chat/completions``, ``POST /v1/completions`` (JSON, or SSE with ``"stream": true``:
``data: {chunk}`` lines and ``data: [DONE]``), ``GET /v1/models``, ``GET /health`` (no key needed),
``GET /metrics`` (Prometheus text). With ``stream_options.include_drafts`` every denoising step also
sends an ``event: diffusion.draft`` whose data is a chunk with an empty delta (so OpenAI clients,
which ignore empty deltas, are unaffected) plus a ``diffusion`` object: the canvas, step, accepted
count, mean entropy, temperature and the draft's tokens and text.

Errors are OpenAI-style JSON bodies: 400 (bad JSON, wrong types, max_tokens / prompt over the
limits, bad sampler settings), 401 (missing or wrong key), 404 (unknown model or route), 413
(body over the limit), 429 (queue full), 500 (engine error).
"""
import asyncio
import contextlib
import hmac
import json
import random
import time
import uuid
from typing import Any, Dict, List, Optional

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response, StreamingResponse
from starlette.routing import Route

from .. import _core
from .. import generate as _gen
from ..model import Model
from .metrics import Metrics
from .protocol import APIError, GenRequest, Limits, decode_json, parse_request, sampler_overrides
from .scheduler import Job, QueueFull, Scheduler

__all__ = ["ServerConfig", "Server", "create_app"]


class ServerConfig:
    """Settings of a server (the command-line flags)."""

    def __init__(self, model: Optional[str] = None, api_key: Optional[str] = None, max_batch: int = 8,
                 max_queue: int = 64, ctx_size: int = 0, n_threads: int = 0, prefill_chunk: int = 512,
                 model_name: Optional[str] = None, raw: Optional[bool] = None, limits: Optional[Limits] = None,
                 kv_type: str = "f32", batched_decode: bool = True, device: str = "auto",
                 n_gpu_layers: Optional[int] = None, cpu_moe: bool = False):
        self.model, self.api_key, self.max_batch, self.max_queue = model, api_key, max_batch, max_queue
        self.ctx_size, self.n_threads, self.prefill_chunk, self.model_name = ctx_size, n_threads, prefill_chunk, model_name
        self.raw, self.limits, self.kv_type = raw, limits or Limits(), kv_type
        self.batched_decode = batched_decode
        self.device, self.n_gpu_layers, self.cpu_moe = device, n_gpu_layers, cpu_moe


def _error(e: APIError) -> JSONResponse:
    return JSONResponse(e.body(), status_code=e.status)


class Server:
    """The model, its batch engine and scheduler, and the request handlers."""

    def __init__(self, cfg: ServerConfig):
        self.cfg = cfg
        self.model = Model(cfg.model, n_threads=cfg.n_threads or None, kv_type=cfg.kv_type, device=cfg.device,
                           n_gpu_layers=cfg.n_gpu_layers, cpu_moe=cfg.cpu_moe)
        if self.model.architecture != "diffusion-gemma":
            raise ValueError(f"{self.model.path}: the server runs block diffusion and needs a diffusion-gemma model, "
                             f"this file is {self.model.architecture}")
        self.eng = _gen.engine_of(self.model)
        # Without a usable tokenizer (e.g. the benchmark files of bench/make_bench_gguf.py) only token-id
        # prompts are accepted and the answers carry no text (usage still counts the tokens).
        self.has_tokenizer = bool(self.eng.has_tokenizer)
        self.batch = _core.Batch(self.model._m, bool(cfg.batched_decode))
        self.raw = self.model.is_demo if cfg.raw is None else cfg.raw
        self.defaults = self.eng.default_params()
        self.n_vocab = self.model.n_vocab
        self.canvas = int(self.model.hparams["canvas_length"])
        self.name = cfg.model_name or ("diffusiongemma-demo" if self.model.is_demo else
                                       self.model.path.rsplit("/", 1)[-1].rsplit(".gguf", 1)[0])
        self.created = int(time.time())
        self.metrics = Metrics()
        self.scheduler = Scheduler(self.batch, self.metrics, cfg.max_batch, cfg.max_queue, cfg.prefill_chunk)

    # ---- helpers -----------------------------------------------------------------------------
    def check_auth(self, request: Request) -> None:
        key = self.cfg.api_key
        if not key:
            return
        h = request.headers.get("authorization", "")
        given = h[7:].strip() if h[:7].lower() == "bearer " else ""
        if not given or not hmac.compare_digest(given.encode(), key.encode()):
            raise APIError(401, "missing or invalid API key (send 'Authorization: Bearer KEY')",
                           "invalid_request_error", None, "invalid_api_key")

    async def read_body(self, request: Request) -> bytes:
        limit = self.cfg.limits.max_body_bytes
        cl = request.headers.get("content-length")
        if cl is not None and cl.isdigit() and int(cl) > limit:
            raise APIError(413, f"the request body is {cl} bytes; the limit is {limit}", "invalid_request_error",
                           None, "request_too_large")
        chunks, n = [], 0
        async for c in request.stream():
            n += len(c)
            if n > limit:
                raise APIError(413, f"the request body exceeds the limit of {limit} bytes", "invalid_request_error",
                               None, "request_too_large")
            chunks.append(c)
        return b"".join(chunks)

    def prompt_ids(self, r: GenRequest) -> List[int]:
        if not self.has_tokenizer and (r.chat or isinstance(r.prompt, str)):
            raise APIError(400, "this model file has no usable tokenizer: send the prompt as token ids to "
                           "/v1/completions", "invalid_request_error", "messages" if r.chat else "prompt")
        if r.chat:
            if self.raw:
                ids = self.eng.tokenize("\n".join(c for _, c in r.messages), True, True)
            else:
                ids = self.eng.chat_ids(r.messages, False)
        elif isinstance(r.prompt, str):
            ids = self.eng.tokenize(r.prompt, True, True)
        else:
            bad = [t for t in r.prompt if not 0 <= t < self.n_vocab]
            if bad:
                raise APIError(400, f"prompt token id {bad[0]} is outside the vocabulary [0, {self.n_vocab})",
                               "invalid_request_error", "prompt")
            ids = r.prompt
        ids = list(ids)
        if not ids:
            raise APIError(400, "the prompt has no tokens", "invalid_request_error", "prompt")
        lim = self.cfg.limits.max_prompt_tokens
        if len(ids) > lim:
            raise APIError(400, f"the prompt has {len(ids)} tokens; this server allows at most {lim}",
                           "invalid_request_error", "messages" if r.chat else "prompt", "context_length_exceeded")
        if self.cfg.ctx_size and len(ids) + self.canvas > self.cfg.ctx_size:
            raise APIError(400, f"the prompt has {len(ids)} tokens, which leaves no room for a canvas of {self.canvas} "
                           f"in the context of {self.cfg.ctx_size}", "invalid_request_error",
                           "messages" if r.chat else "prompt", "context_length_exceeded")
        return ids

    def make_job(self, r: GenRequest, loop) -> Job:
        ids = self.prompt_ids(r)
        over: Dict[str, Any] = dict(sampler_overrides(r, self.defaults))
        seed = r.seed if r.seed is not None else (0 if r.deterministic else random.SystemRandom().randrange(1 << 63))
        over.update(max_tokens=r.max_tokens, seed=seed, deterministic=r.deterministic, n_ctx=self.cfg.ctx_size)
        try:
            params = self.eng.params(over)
            seq = self.batch.sequence(ids, params, r.temperature == 0)
        except ValueError as e:
            raise APIError(400, str(e)) from None
        return Job(seq, self.eng, params["eos_ids"], r.stop, r.include_drafts and r.stream, loop)

    # ---- routes ------------------------------------------------------------------------------
    async def health(self, request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def metrics_route(self, request: Request) -> Response:
        try:
            self.check_auth(request)
        except APIError as e:
            return _error(e)
        return PlainTextResponse(self.metrics.render(), media_type="text/plain; version=0.0.4")

    async def models(self, request: Request) -> Response:
        try:
            self.check_auth(request)
        except APIError as e:
            self.metrics.request("/v1/models", e.status)
            return _error(e)
        self.metrics.request("/v1/models", 200)
        return JSONResponse({"object": "list", "data": [
            {"id": self.name, "object": "model", "created": self.created, "owned_by": "llama-diffusion",
             "meta": {"canvas_length": self.canvas, "n_vocab": self.n_vocab, "path": self.model.path}}]})

    async def chat(self, request: Request) -> Response:
        return await self._complete(request, True)

    async def completions(self, request: Request) -> Response:
        return await self._complete(request, False)

    async def _complete(self, request: Request, chat: bool) -> Response:
        ep = "/v1/chat/completions" if chat else "/v1/completions"
        try:
            self.check_auth(request)
            body = decode_json(await self.read_body(request))
            r = parse_request(body, chat, [self.name], self.cfg.limits)
            job = self.make_job(r, asyncio.get_running_loop())
            try:
                self.scheduler.submit(job)
            except QueueFull:
                raise APIError(429, "the server is busy (request queue full); retry later", "rate_limit_error",
                               None, "queue_full") from None
        except APIError as e:
            self.metrics.request(ep, e.status)
            return _error(e)
        rid = ("chatcmpl-" if chat else "cmpl-") + uuid.uuid4().hex
        if r.stream:
            self.metrics.request(ep, 200)
            return StreamingResponse(self._sse(job, r, rid), media_type="text/event-stream",
                                     headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})
        return await self._collect(request, job, r, rid, ep)

    def _usage(self, info) -> Dict[str, int]:
        p, c = info["prompt_tokens"], info["completion_tokens"]
        return {"prompt_tokens": p, "completion_tokens": c, "total_tokens": p + c}

    async def _collect(self, request: Request, job: Job, r: GenRequest, rid: str, ep: str) -> Response:
        parts: List[str] = []
        try:
            while True:
                try:
                    ev = await asyncio.wait_for(job.queue.get(), 0.5)
                except asyncio.TimeoutError:
                    if await request.is_disconnected():
                        job.cancel()
                        self.scheduler.wake()
                        self.metrics.request(ep, 499)
                        return Response(status_code=499)
                    continue
                if ev[0] == "text":
                    parts.append(ev[1])
                elif ev[0] == "error":
                    self.metrics.request(ep, 500)
                    return _error(APIError(500, f"generation failed: {ev[1]}", "server_error"))
                elif ev[0] == "done":
                    info = ev[1]
                    break
        finally:
            if job.finish_reason is None:
                job.cancel()
        text = "".join(parts)
        choice: Dict[str, Any] = {"index": 0, "finish_reason": info["finish_reason"], "logprobs": None}
        if r.chat:
            choice["message"] = {"role": "assistant", "content": text}
        else:
            choice["text"] = text
        self.metrics.request(ep, 200)
        return JSONResponse({"id": rid, "object": "chat.completion" if r.chat else "text_completion",
                             "created": int(time.time()), "model": self.name, "choices": [choice],
                             "usage": self._usage(info), "diffusion": _stats_view(info["stats"])})

    def _chunk(self, r: GenRequest, rid: str, created: int, delta: Optional[str], finish: Optional[str],
               role: bool = False) -> Dict[str, Any]:
        if r.chat:
            d: Dict[str, Any] = {}
            if role:
                d["role"] = "assistant"
            if delta is not None:
                d["content"] = delta
            choice = {"index": 0, "delta": d, "finish_reason": finish, "logprobs": None}
        else:
            choice = {"index": 0, "text": delta or "", "finish_reason": finish, "logprobs": None}
        return {"id": rid, "object": "chat.completion.chunk" if r.chat else "text_completion", "created": created,
                "model": self.name, "choices": [choice]}

    async def _sse(self, job: Job, r: GenRequest, rid: str):
        created = int(time.time())

        def data(obj) -> str:
            return "data: " + json.dumps(obj, separators=(",", ":")) + "\n\n"

        try:
            if r.chat:
                yield data(self._chunk(r, rid, created, "", None, role=True))
            while True:
                ev = await job.queue.get()
                if ev[0] == "text":
                    yield data(self._chunk(r, rid, created, ev[1], None))
                elif ev[0] == "draft":
                    _, step, tokens, text = ev
                    c = self._chunk(r, rid, created, None if r.chat else "", None)
                    c["diffusion"] = dict(step, tokens=tokens, text=text)
                    yield "event: diffusion.draft\n" + data(c)
                elif ev[0] == "error":
                    yield data(APIError(500, f"generation failed: {ev[1]}", "server_error").body())
                    yield "data: [DONE]\n\n"
                    return
                elif ev[0] == "done":
                    info = ev[1]
                    last = self._chunk(r, rid, created, None if r.chat else "", info["finish_reason"])
                    last["diffusion"] = _stats_view(info["stats"])
                    yield data(last)
                    if r.include_usage:
                        u = self._chunk(r, rid, created, None, None)
                        u["choices"] = []
                        u["usage"] = self._usage(info)
                        yield data(u)
                    yield "data: [DONE]\n\n"
                    return
        finally:
            # Client gone (the response task is cancelled) or stream over: free the slot.
            if job.finish_reason is None:
                job.cancel()
                self.scheduler.wake()

    async def not_found(self, request: Request, exc) -> Response:
        return _error(APIError(404, f"no route {request.method} {request.url.path}", "invalid_request_error",
                               None, "not_found"))

    async def method_not_allowed(self, request: Request, exc) -> Response:
        return _error(APIError(405, f"method {request.method} is not allowed on {request.url.path}"))

    def app(self) -> Starlette:
        @contextlib.asynccontextmanager
        async def lifespan(app):
            self.scheduler.start()
            try:
                yield
            finally:
                self.scheduler.stop()

        routes = [
            Route("/health", self.health, methods=["GET"]),
            Route("/metrics", self.metrics_route, methods=["GET"]),
            Route("/v1/models", self.models, methods=["GET"]),
            Route("/v1/chat/completions", self.chat, methods=["POST"]),
            Route("/v1/completions", self.completions, methods=["POST"]),
        ]
        return Starlette(routes=routes, lifespan=lifespan,
                         exception_handlers={404: self.not_found, 405: self.method_not_allowed})


def _stats_view(stats: Dict[str, Any]) -> Dict[str, Any]:
    keys = ("canvases", "steps_per_canvas", "steps", "prefill_ms", "generate_ms", "stop_reason")
    return {k: stats[k] for k in keys if k in stats}


def create_app(cfg: Optional[ServerConfig] = None, **kw) -> Starlette:
    """A Starlette app serving one model (``ServerConfig`` fields as keywords)."""
    return Server(cfg or ServerConfig(**kw)).app()
