"""The server's scheduler: one thread owns the model and runs the batch loop.

Each iteration it (1) admits queued requests into the batch up to ``max_batch`` (a request joins at
the next step; every sequence has its own canvases), (2) drops the sequences whose client went away
(``Job.cancel``), (3) encodes one chunk of ``prefill_chunk`` prompt tokens for each sequence still
prefilling, so a long prompt never stalls the others for more than a chunk, and (4) advances every
ready sequence by one denoising step with one ``_core.Batch.step`` call: one decoder pass over all
their canvases (attention per sequence on its own KV cache, the FFN and expert matmuls on all the
rows together), then the vocab head and sampler per sequence (the GIL is released while the C++
runs). Events go back to each request's asyncio queue: ``("draft", step, tokens)`` when the
client asked for drafts, ``("text", delta)`` for committed text, and finally ``("done", info)`` or
``("error", message)``.

A sequence's tokens never depend on the other sequences in the batch: the prompt is encoded in fixed
chunks of the sequence's own prompt, and each step is the step of ``generate()`` on the sequence's own
KV cache, so a request gives the same tokens alone or in a batch (and equals ``generate()`` for
prompts up to one chunk).
"""
import asyncio
import collections
import threading
import time
from typing import Any, Deque, List, Optional

from .metrics import Metrics

__all__ = ["Job", "Scheduler", "QueueFull"]


class QueueFull(Exception):
    pass


class _Text:
    """Incremental text of the committed tokens up to the first EOS (an incomplete UTF-8 character
    at the end is held back), with stop strings: text is held back while it could still become a
    stop string, and generation ends at the first one (which is not delivered)."""

    def __init__(self, eng, eos, stops: List[str]):
        self.eng, self.eos, self.stops = eng, set(eos), stops
        self.ids: List[int] = []
        self.text, self.sent = "", 0
        self.eos_seen, self.stopped = False, False
        self.hold = max((len(s) for s in stops), default=1) - 1

    def push(self, tokens) -> str:
        for t in tokens:
            if self.eos_seen or t in self.eos:
                self.eos_seen = True
                break
            self.ids.append(int(t))
        if not self.eng.has_tokenizer:
            return ""
        text = self.eng.detokenize(self.ids, True).decode("utf-8", errors="replace")
        while text.endswith("\ufffd"):
            text = text[:-1]
        self.text = text
        for s in self.stops:
            i = text.find(s)
            if i >= 0:
                self.stopped = True
                self.text = text = text[:i]
        limit = len(text) if self.stopped else max(self.sent, len(text) - self.hold)
        delta = text[self.sent:limit]
        self.sent = max(self.sent, limit)
        return delta

    def flush(self) -> str:
        delta = self.text[self.sent:]
        self.sent = len(self.text)
        return delta


class Job:
    """One request in the scheduler: its sequence, where its events go, and its final state."""

    def __init__(self, seq, eng, eos, stops: List[str], include_drafts: bool, loop: asyncio.AbstractEventLoop):
        self.seq = seq
        self.text = _Text(eng, eos, stops)
        self.eng = eng
        self.include_drafts = include_drafts
        self.loop = loop
        self.queue: "asyncio.Queue" = asyncio.Queue()
        self._cancel = threading.Event()
        self.t_submit = time.perf_counter()
        self.finish_reason: Optional[str] = None

    def cancel(self) -> None:
        """Called from the event loop when the client goes away: the slot is freed at the next step."""
        self._cancel.set()

    @property
    def cancelled(self) -> bool:
        return self._cancel.is_set()

    def emit(self, *ev: Any) -> None:
        try:
            self.loop.call_soon_threadsafe(self.queue.put_nowait, ev)
        except RuntimeError:  # the event loop is closed (server shutting down)
            pass


class Scheduler:
    """The batch loop on its own thread (see the module doc)."""

    def __init__(self, batch, metrics: Metrics, max_batch: int = 8, max_queue: int = 64, prefill_chunk: int = 512):
        if max_batch < 1 or max_queue < 0 or prefill_chunk < 1:
            raise ValueError("max_batch and prefill_chunk must be >= 1, max_queue >= 0")
        self.batch, self.metrics = batch, metrics
        self.max_batch, self.max_queue, self.prefill_chunk = max_batch, max_queue, prefill_chunk
        self._cv = threading.Condition()
        self._queue: Deque[Job] = collections.deque()
        self._active: List[Job] = []
        self._stop = False
        self._thread = threading.Thread(target=self._run, name="llama-diffusion-scheduler", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        with self._cv:
            self._stop = True
            self._cv.notify()
        self._thread.join()

    def submit(self, job: Job) -> None:
        """Queues a job; QueueFull when max_queue jobs already wait for a slot."""
        with self._cv:
            free_slots = max(0, self.max_batch - len(self._active))
            if len(self._queue) >= self.max_queue + free_slots:
                raise QueueFull()
            self._queue.append(job)
            self.metrics.set_load(len(self._queue), len(self._active))
            self._cv.notify()

    def wake(self) -> None:
        with self._cv:
            self._cv.notify()

    # ---- the loop (scheduler thread) ---------------------------------------------------------
    def _run(self) -> None:
        while True:
            with self._cv:
                while not self._stop and not self._queue and not self._active:
                    self._cv.wait()
                if self._stop:
                    for j in list(self._queue) + self._active:
                        j.emit("error", "the server is shutting down")
                    return
                while self._queue and len(self._active) < self.max_batch:
                    self._active.append(self._queue.popleft())
                self.metrics.set_load(len(self._queue), len(self._active))
            try:
                self._iteration()
            except Exception as e:  # noqa: BLE001 - a bug here must not kill the server silently
                for j in self._active:
                    j.emit("error", f"internal error: {e}")
                self._active = []

    def _iteration(self) -> None:
        for j in [j for j in self._active if j.cancelled]:
            j.seq.cancel()
            self._finish(j, "cancelled")
        for j in list(self._active):
            if j.seq.prompt_remaining > 0:
                try:
                    self.batch.prefill(j.seq, self.prefill_chunk)
                except Exception as e:  # noqa: BLE001 - this request's problem only
                    j.seq.cancel()
                    self._finish(j, "error", str(e))
        ready = [j for j in self._active if j.seq.ready]
        if not ready:
            return
        t0 = time.perf_counter()
        self.batch.step([j.seq for j in ready])
        self.metrics.step(len(ready), time.perf_counter() - t0)
        for j in ready:
            self._deliver(j)

    def _deliver(self, j: Job) -> None:
        seq = j.seq
        if seq.error:
            self._finish(j, "error", seq.error)
            return
        if j.include_drafts:
            draft = seq.draft
            text = j.eng.detokenize(draft, True).decode("utf-8", errors="replace") if j.eng.has_tokenizer else ""
            j.emit("draft", seq.last_step, list(draft), text)
        if seq.committed:
            delta = j.text.push(seq.commit_tokens)
            if delta:
                j.emit("text", delta)
            if j.text.stopped and not seq.done:
                seq.cancel()
                self._finish(j, "stop")
                return
        if seq.done:
            reason = seq.stats["stop_reason"]
            rest = j.text.flush()
            if rest:
                j.emit("text", rest)
            self._finish(j, "stop" if reason == "eos" or j.text.stopped else "length")

    def _finish(self, j: Job, reason: str, error: str = "") -> None:
        if j in self._active:
            self._active.remove(j)
        j.finish_reason = reason
        stats = j.seq.stats
        self.metrics.finished(int(j.seq.prompt_tokens), len(j.text.ids) if reason != "error" else 0,
                              list(stats["steps_per_canvas"]), reason == "cancelled")
        self.metrics.set_load(len(self._queue), len(self._active))
        if reason == "error":
            j.emit("error", error)
        else:
            j.emit("done", {"finish_reason": reason, "prompt_tokens": int(j.seq.prompt_tokens),
                            "completion_tokens": len(j.text.ids), "stats": stats})
