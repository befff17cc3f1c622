"""Progress bar on stderr: tensor count, bytes written, throughput and ETA.

On a terminal the line is redrawn in place; otherwise (logs, tests) a line is printed at most every
few seconds and once at the end, so logs stay short.
"""
import sys
import time


def _fmt_bytes(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if n < 1000 or unit == "TB":
            return f"{n:.1f} {unit}" if unit != "B" else f"{int(n)} B"
        n /= 1000
    return str(n)


def _fmt_time(s: float) -> str:
    s = int(max(0, s))
    return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}"


class Progress:
    def __init__(self, n_tensors: int, total_bytes: int, stream=None, interval: float = 5.0, enabled=True):
        self.n, self.total = n_tensors, max(1, total_bytes)
        self.done_t, self.done_b = 0, 0
        self.stream = stream or sys.stderr
        self.tty = hasattr(self.stream, "isatty") and self.stream.isatty()
        self.interval = 0.2 if self.tty else interval
        self.t0 = time.monotonic()
        self.last = 0.0
        self.enabled = enabled
        self.current = ""

    def line(self) -> str:
        el = time.monotonic() - self.t0
        rate = self.done_b / el if el > 0 else 0.0
        eta = (self.total - self.done_b) / rate if rate > 0 else 0.0
        pct = 100.0 * self.done_b / self.total
        return (f"[{self.done_t:>{len(str(self.n))}}/{self.n}] {pct:5.1f}% {_fmt_bytes(self.done_b)}/"
                f"{_fmt_bytes(self.total)} {_fmt_bytes(rate)}/s elapsed {_fmt_time(el)} ETA {_fmt_time(eta)} {self.current}")

    def _emit(self, force=False):
        if not self.enabled:
            return
        now = time.monotonic()
        if not force and now - self.last < self.interval:
            return
        self.last = now
        if self.tty:
            self.stream.write("\r\x1b[K" + self.line())
        else:
            self.stream.write(self.line() + "\n")
        self.stream.flush()

    def start_tensor(self, name: str):
        self.current = name
        self._emit()

    def add_bytes(self, n: int):
        self.done_b += n
        self._emit()

    def end_tensor(self):
        self.done_t += 1
        self._emit(force=self.done_t == self.n)
        if self.done_t == self.n and self.tty and self.enabled:
            self.stream.write("\n")
            self.stream.flush()

    def elapsed(self) -> float:
        return time.monotonic() - self.t0
