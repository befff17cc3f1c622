"""The streaming loop shared by the converter and the requantizer: for each output tensor, in file
order, read a chunk of rows as float32, encode it to the tensor's type and append it to the GGUF.

Chunks are encoded on a small thread pool (the C++ quantizers and numpy release the GIL) with a
bounded number in flight, and written strictly in order, so peak memory is about
(workers + 2) x chunk size whatever the model size.
"""
import os
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Callable, List, Optional

import numpy as np

from .errors import ConvertError
from .gguf_types import row_bytes

CHUNK_ELEMS = 1 << 22   # float32 values per chunk (16 MB)


def f32_to_bf16_bits(x: np.ndarray) -> np.ndarray:
    """float32 -> bf16 bit patterns, round to nearest even; NaN stays a quiet NaN."""
    u = np.ascontiguousarray(x, dtype=np.float32).view(np.uint32)
    r = ((u + (np.uint32(0x7FFF) + ((u >> 16) & 1))) >> 16).astype(np.uint16)
    nan = np.isnan(x)
    if nan.any():
        r[nan] = ((u[nan] >> 16) | 0x40).astype(np.uint16)
    return r


def encode_rows(x: np.ndarray, type_name: str):
    """float32 rows (n, ne0) -> the bytes of those rows stored as ``type_name``."""
    if type_name == "F32":
        return np.ascontiguousarray(x, dtype=np.float32)
    if type_name == "F16":
        return x.astype(np.float16)
    if type_name == "BF16":
        return f32_to_bf16_bits(x)
    from .. import quants  # the C++ reference quantizers (needs the built extension)
    return quants.quantize(x, type_name)


@dataclass
class Job:
    """One output tensor: ``n_rows`` rows of ``ne0`` values stored as ``type_name``.
    ``rows(r0, r1)`` gives float32 rows; ``raw(r0, r1)``, when set, gives the already-encoded
    bytes instead (used to copy tensors whose type does not change)."""
    name: str
    type_name: str
    ne0: int
    n_rows: int
    src_row_bytes: int
    rows: Optional[Callable] = None
    raw: Optional[Callable] = None
    check_finite: bool = True


def _work(job: Job, r0: int, r1: int):
    if job.raw is not None:
        return job.raw(r0, r1)
    x = job.rows(r0, r1)
    if job.check_finite and not np.isfinite(x).all():
        bad = int(np.argmin(np.isfinite(x).all(axis=1))) + r0
        raise ConvertError(f"tensor {job.name}: non-finite value (NaN or Inf) in row {bad}")
    out = encode_rows(x, job.type_name)
    want = row_bytes(job.type_name, job.ne0) * (r1 - r0)
    if memoryview(out).nbytes != want:
        raise ConvertError(f"internal error: {job.type_name} encoding of {job.name} rows {r0}..{r1} gave "
                           f"{memoryview(out).nbytes} bytes, expected {want}")
    return out


def run_jobs(writer, jobs: List[Job], progress, threads: int = 0, chunk_elems: int = CHUNK_ELEMS) -> None:
    """Write every job's data through ``writer`` (already planned with the same tensors, in order)."""
    threads = threads or min(8, os.cpu_count() or 1)
    writer.open()
    try:
        with ThreadPoolExecutor(max_workers=threads) as pool:
            for job in jobs:
                progress.start_tensor(job.name)
                rpc = max(1, chunk_elems // max(1, job.ne0))
                pending = deque()
                r0 = 0
                while r0 < job.n_rows or pending:
                    while r0 < job.n_rows and len(pending) < threads + 1:
                        r1 = min(job.n_rows, r0 + rpc)
                        pending.append((r1 - r0, pool.submit(_work, job, r0, r1)))
                        r0 = r1
                    n, fut = pending.popleft()
                    writer.write_tensor_chunk(fut.result())
                    progress.add_bytes(n * job.src_row_bytes)
                progress.end_tensor()
        writer.finish()
    except BaseException:
        writer.abort()
        raise
