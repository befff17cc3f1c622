"""Writing a GGUF model as shards (spec/gguf.md §1.5): `OUT-00001-of-0000N.gguf`, ...

The same interface as GGUFStreamWriter (add_kv, add_tensor, open, write_tensor_chunk, finish,
abort, total_size), so the streaming loop does not know whether it writes one file or several.
Tensors go to the current shard until the next one would pass ``max_size`` bytes of tensor data or
``max_tensors`` tensors (a tensor bigger than ``max_size`` gets a shard of its own). The first shard
holds every metadata key; every shard holds split.no (0-based), split.count and
split.tensors.count, as llama.cpp's gguf-split and the `gguf` package write them. When the plan
fits in one shard the output is one ordinary file under the given name, with no split keys.
"""
import argparse
import os
import re
from typing import List, Optional, Tuple

from .errors import ConvertError
from .gguf_types import VT, tensor_bytes
from .writer import GGUFStreamWriter

_UNITS = {"": 1, "K": 1000, "M": 1000 ** 2, "G": 1000 ** 3, "T": 1000 ** 4}


def parse_size(text: str) -> int:
    """'48G' -> 48_000_000_000 (decimal units K, M, G, T as in llama.cpp's gguf-split; a bare
    number is bytes)."""
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([KMGT]?)B?\s*", str(text), re.IGNORECASE)
    if not m:
        raise ConvertError(f"bad size '{text}': expected a number with an optional K, M, G or T suffix (e.g. 48G)")
    n = int(float(m.group(1)) * _UNITS[m.group(2).upper()])
    if n <= 0:
        raise ConvertError(f"bad size '{text}': must be positive")
    return n


def shard_paths(out_path: str, n: int) -> List[str]:
    """The shard file names for ``out_path`` ('dir/model.gguf' -> 'dir/model-00001-of-00002.gguf', ...)."""
    if n == 1:
        return [out_path]
    stem = out_path[:-5] if out_path.endswith(".gguf") else out_path
    return [f"{stem}-{i + 1:05d}-of-{n:05d}.gguf" for i in range(n)]


class GGUFSplitWriter:
    """Usage as GGUFStreamWriter. ``max_size`` (bytes of tensor data) and ``max_tensors`` bound
    each shard; 0 means no bound."""

    def __init__(self, path: str, max_size: int = 0, max_tensors: int = 0):
        if max_size < 0 or max_tensors < 0:
            raise ConvertError("split limits must be positive")
        self.path = os.path.abspath(path)
        self.max_size = max_size
        self.max_tensors = max_tensors
        self.kv = {}
        self.plan: List[List[Tuple[str, list, str]]] = [[]]  # per shard: (name, ne, type)
        self._shard_bytes = [0]
        self._names = set()
        self.shards: Optional[List[GGUFStreamWriter]] = None
        self._cur = 0       # shard being written
        self._left = 0      # tensors still to write into it
        self._done: List[str] = []

    def add_kv(self, key: str, vtype: int, value) -> None:
        self.kv[key] = (vtype, value)

    def add_tensor(self, name: str, ne, type_name: str) -> None:
        if name in self._names:
            raise ConvertError(f"duplicate tensor name {name}")
        self._names.add(name)
        nbytes = tensor_bytes(type_name, ne)
        cur = self.plan[-1]
        full = cur and ((self.max_tensors and len(cur) >= self.max_tensors)
                        or (self.max_size and self._shard_bytes[-1] + nbytes > self.max_size))
        if full:
            self.plan.append([])
            self._shard_bytes.append(0)
        self.plan[-1].append((name, list(ne), type_name))
        self._shard_bytes[-1] += nbytes

    def paths(self) -> List[str]:
        return shard_paths(self.path, len(self.plan))

    def _build(self) -> List[GGUFStreamWriter]:
        n = len(self.plan)
        total = sum(len(p) for p in self.plan)
        out = []
        for i, (path, tensors) in enumerate(zip(self.paths(), self.plan)):
            w = GGUFStreamWriter(path)
            if i == 0:
                for k, (vt, v) in self.kv.items():
                    if not k.startswith("split."):
                        w.add_kv(k, vt, v)
            if n > 1:
                w.add_kv("split.no", VT.UINT16, i)
                w.add_kv("split.count", VT.UINT16, n)
                w.add_kv("split.tensors.count", VT.INT32, total)
            for name, ne, t in tensors:
                w.add_tensor(name, ne, t)
            out.append(w)
        if n > 65535:
            raise ConvertError(f"{n} shards: more than the format's 65535 (raise --split-max-size)")
        return out

    def total_size(self) -> int:
        return sum(w.total_size() for w in (self.shards or self._build()))

    def open(self) -> None:
        self.shards = self._build()
        self._cur = 0
        self._open_current()

    def _open_current(self) -> None:
        # Skip shards with no tensors (only the first can be one: the metadata-only shard of an empty plan).
        while True:
            w = self.shards[self._cur]
            w.open()
            self._left = len(self.plan[self._cur])
            if self._left or self._cur == len(self.shards) - 1:
                return
            self._finish_current()
            self._cur += 1

    def _finish_current(self) -> None:
        self.shards[self._cur].finish()
        self._done.append(self.shards[self._cur].path)

    def write_tensor_chunk(self, data) -> None:
        w = self.shards[self._cur]
        before = w.tensors_done
        w.write_tensor_chunk(data)
        if w.tensors_done != before:  # that tensor is complete
            self._left -= 1
            if self._left == 0 and self._cur + 1 < len(self.shards):
                self._finish_current()
                self._cur += 1
                self._open_current()

    def current_tensor(self) -> str:
        return self.shards[self._cur].current_tensor()

    def finish(self) -> None:
        if self._left or self._cur != len(self.shards) - 1:
            self.abort()
            raise ConvertError("internal error: split output incomplete")
        self._finish_current()

    def abort(self) -> None:
        """Removes every shard written so far and the temporary file of the current one."""
        if self.shards is not None and self._cur < len(self.shards):
            self.shards[self._cur].abort()
        for p in self._done:
            try:
                os.unlink(p)
            except FileNotFoundError:
                pass
        self._done = []


def add_split_args(ap: argparse.ArgumentParser) -> None:
    """--split-max-size / --split-max-tensors (shared with llama-diffusion-quantize)."""
    ap.add_argument("--split-max-size", default=None, metavar="N[K|M|G|T]",
                    help="write shards OUT-00001-of-0000N.gguf of at most this much tensor data each "
                         "(decimal units, as llama.cpp's gguf-split: 48G = 48e9 bytes)")
    ap.add_argument("--split-max-tensors", type=int, default=0, metavar="N",
                    help="write shards of at most N tensors each")


def split_limits(args) -> tuple:
    """(max_size bytes, max_tensors) from the parsed split flags; ConvertError when invalid."""
    size = parse_size(args.split_max_size) if args.split_max_size is not None else 0
    if args.split_max_tensors < 0:
        raise ConvertError("--split-max-tensors must be positive")
    return size, args.split_max_tensors
