"""Validation of thread counts given by the user (``n_threads``, like the CLI's ``-t``): negative is an
error, 0 or None means the process default (``$LD_NUM_THREADS`` or every CPU), and a count above the
CPUs this process may use is capped to them with a warning (more threads than CPUs only make the
pool's workers wait for each other)."""
from __future__ import annotations

import os
import warnings
from typing import Optional

__all__ = ["check_threads", "usable_cpus"]


def usable_cpus() -> int:
    """CPUs this process may run on (its affinity mask where the OS has one)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def check_threads(n_threads: Optional[int]) -> int:
    """The thread count to pass to the engine: 0 for the default, else ``n_threads`` capped to the CPUs."""
    if n_threads is None:
        return 0
    if isinstance(n_threads, bool) or not isinstance(n_threads, int):
        raise TypeError(f"n_threads must be an int, got {type(n_threads).__name__}")
    if n_threads < 0:
        raise ValueError(f"n_threads must be >= 0 (0: the default), got {n_threads}")
    cpus = usable_cpus()
    if n_threads > cpus:
        warnings.warn(f"n_threads={n_threads} is more than the {cpus} CPUs this process can use; using {cpus}",
                      UserWarning, stacklevel=3)
        return cpus
    return n_threads
