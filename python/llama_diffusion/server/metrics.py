"""Server metrics in the Prometheus text exposition format (version 0.0.4): counters, gauges and
histograms kept under one lock (the scheduler thread and the HTTP handlers both update them)."""
import threading
from typing import Dict, List, Sequence, Tuple

__all__ = ["Metrics"]


class _Histogram:
    def __init__(self, buckets: Sequence[float]):
        self.buckets = list(buckets)
        self.counts = [0] * len(self.buckets)
        self.sum = 0.0
        self.count = 0

    def observe(self, v: float) -> None:
        for i, b in enumerate(self.buckets):
            if v <= b:
                self.counts[i] += 1
        self.sum += v
        self.count += 1


class Metrics:
    """The metrics of one server (names prefixed ``llama_diffusion_``)."""

    def __init__(self):
        self._lock = threading.Lock()
        self.requests: Dict[Tuple[str, str], int] = {}       # (endpoint, status) -> count
        self.queue_depth = 0
        self.active = 0
        self.prompt_tokens = 0
        self.completion_tokens = 0
        self.steps = 0
        self.cancelled = 0
        self.batch_size = _Histogram([1, 2, 4, 8, 16, 32, 64])
        self.steps_per_canvas = _Histogram([1, 2, 4, 8, 16, 32, 48, 64, 128, 256])
        self.step_seconds = _Histogram([0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10])

    def request(self, endpoint: str, status: int) -> None:
        with self._lock:
            k = (endpoint, str(status))
            self.requests[k] = self.requests.get(k, 0) + 1

    def set_load(self, queue_depth: int, active: int) -> None:
        with self._lock:
            self.queue_depth, self.active = queue_depth, active

    def step(self, batch: int, seconds: float) -> None:
        with self._lock:
            self.steps += 1
            self.batch_size.observe(batch)
            self.step_seconds.observe(seconds)

    def finished(self, prompt_tokens: int, completion_tokens: int, steps_per_canvas: List[int], cancelled: bool) -> None:
        with self._lock:
            self.prompt_tokens += prompt_tokens
            self.completion_tokens += completion_tokens
            for s in steps_per_canvas:
                self.steps_per_canvas.observe(s)
            if cancelled:
                self.cancelled += 1

    def render(self) -> str:
        p = "llama_diffusion_"
        out: List[str] = []

        def scalar(name, kind, help_, value):
            out.extend([f"# HELP {p}{name} {help_}", f"# TYPE {p}{name} {kind}", f"{p}{name} {value}"])

        def hist(name, help_, h: _Histogram):
            out.extend([f"# HELP {p}{name} {help_}", f"# TYPE {p}{name} histogram"])
            for b, c in zip(h.buckets, h.counts):
                out.append(f'{p}{name}_bucket{{le="{b:g}"}} {c}')
            out.extend([f'{p}{name}_bucket{{le="+Inf"}} {h.count}', f"{p}{name}_sum {h.sum:.6f}",
                        f"{p}{name}_count {h.count}"])

        with self._lock:
            out.extend([f"# HELP {p}requests_total HTTP requests by endpoint and status",
                        f"# TYPE {p}requests_total counter"])
            for (ep, st), n in sorted(self.requests.items()):
                out.append(f'{p}requests_total{{endpoint="{ep}",status="{st}"}} {n}')
            scalar("queue_depth", "gauge", "requests waiting for a batch slot", self.queue_depth)
            scalar("active_sequences", "gauge", "requests in the batch (prefilling or denoising)", self.active)
            scalar("prompt_tokens_total", "counter", "prompt tokens of finished requests", self.prompt_tokens)
            scalar("completion_tokens_total", "counter", "tokens delivered to clients", self.completion_tokens)
            scalar("batch_steps_total", "counter", "batched denoising steps run", self.steps)
            scalar("requests_cancelled_total", "counter", "requests stopped by a client disconnect", self.cancelled)
            hist("batch_size", "sequences advanced per batched step", self.batch_size)
            hist("steps_per_canvas", "denoising steps a canvas took", self.steps_per_canvas)
            hist("step_seconds", "wall time of one batched step", self.step_seconds)
        return "\n".join(out) + "\n"
