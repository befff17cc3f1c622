"""The worker thread behind streaming generation: runs one engine call (which releases the GIL) on a
thread and hands its step / commit callbacks to the consumer as events through a queue, so the
consumer's thread stays free to see Ctrl-C; closing or cancelling the stream stops the engine at its
next step."""
from __future__ import annotations

import queue
import threading
from typing import Any, Callable, Iterator, List, Sequence, Set, Tuple, Union

from . import _core
from .events import Commit, Step

__all__ = ["EngineStream"]


class _TextTracker:
    """Incremental text of the committed tokens (up to the first EOS), holding back an incomplete
    UTF-8 character at the end."""

    def __init__(self, eng: "_core.Engine", eos: Sequence[int]) -> None:
        self.eng = eng
        self.eos: Set[int] = set(eos)
        self.ids: List[int] = []
        self.sent = ""
        self.stopped = False

    def push(self, tokens: Sequence[int]) -> str:
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


Final = Tuple[str, Any]  # ("final", what the engine call returned)


class EngineStream:
    """``call(on_step, on_commit, cancel_flag)`` on a worker thread; iterating yields Step / Commit
    events and finally ``("final", return value)``. ``cancel()`` asks the engine to stop early (the
    final value still follows); leaving the iteration early cancels and waits for the thread."""

    def __init__(self, eng: "_core.Engine", call: Callable[..., Any], eos: Sequence[int]) -> None:
        self._q: "queue.Queue[Any]" = queue.Queue()
        self._flag = _core.CancelFlag()
        tracker = _TextTracker(eng, eos)
        q = self._q

        def on_step(canvas: int, step: int, remaining: int, draft: List[int], n_acc: int, mean_ent: float) -> None:
            text = eng.detokenize(draft, True).decode("utf-8", errors="replace") if eng.has_tokenizer else ""
            q.put(Step(canvas, step, remaining, list(draft), text, int(n_acc), float(mean_ent)))

        def on_commit(canvas: int, tokens: List[int], finished: bool) -> None:
            q.put(Commit(canvas, list(tokens), tracker.push(tokens), bool(finished)))

        def work() -> None:
            try:
                q.put(("ok", call(on_step, on_commit, self._flag)))
            except BaseException as e:  # noqa: BLE001 - forwarded to the consumer
                q.put(("err", e))

        self._th = threading.Thread(target=work, daemon=True)
        self._th.start()

    def cancel(self) -> None:
        self._flag.set()

    def __iter__(self) -> Iterator[Union[Step, Commit, Final]]:
        try:
            while True:
                item = self._q.get()
                if isinstance(item, tuple):
                    if item[0] == "err":
                        raise item[1]
                    yield ("final", item[1])
                    return
                yield item
        finally:
            self._flag.set()
            self._th.join()
