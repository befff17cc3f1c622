"""Streaming, memory-mapped safetensors reader (numpy only) and the sharded-checkpoint index.

A safetensors file is: u64 little-endian header length N, N bytes of JSON
{name: {"dtype", "shape", "data_offsets": [begin, end]}, "__metadata__": {...}}, then the data
blob (offsets relative to its start). Tensors are read in row chunks: a tensor of shape
(d0, ..., dk) is seen as n_rows = d0*...*d(k-1) rows of dk values. Pages of the mapping that were
read are released right away (madvise DONTNEED), so resident memory stays at about one chunk
whatever the checkpoint size.
"""
import json
import mmap
import os
import struct

import numpy as np

from .errors import ConvertError

# safetensors dtype -> (numpy dtype of the stored element, bytes)
_DTYPES = {
    "F64": ("<f8", 8), "F32": ("<f4", 4), "F16": ("<f2", 2), "BF16": ("<u2", 2),
    "I64": ("<i8", 8), "I32": ("<i4", 4), "I16": ("<i2", 2), "I8": ("i1", 1), "U8": ("u1", 1),
    "BOOL": ("u1", 1),
}
_MAX_HEADER = 100 << 20
_PAGE = mmap.PAGESIZE


def bf16_bits_to_f32(u16: np.ndarray) -> np.ndarray:
    """bf16 stored as uint16 -> float32 (exact: the 16 bits become the high half)."""
    return (u16.astype(np.uint32) << 16).view(np.float32)


class TensorEntry:
    __slots__ = ("name", "dtype", "shape", "begin", "end", "file")

    def __init__(self, name, dtype, shape, begin, end, file):
        self.name, self.dtype, self.shape, self.begin, self.end, self.file = name, dtype, shape, begin, end, file

    @property
    def n_rows(self) -> int:
        return int(np.prod(self.shape[:-1], dtype=np.int64)) if len(self.shape) > 1 else 1

    @property
    def row_len(self) -> int:
        return int(self.shape[-1]) if self.shape else 1

    @property
    def nbytes(self) -> int:
        return self.end - self.begin


class SafetensorsFile:
    """One .safetensors file: validated header, lazily memory-mapped data."""

    def __init__(self, path: str):
        self.path = path
        try:
            self._fd = open(path, "rb")
        except OSError as e:
            raise ConvertError(f"cannot open {path}: {e.strerror}") from None
        size = os.fstat(self._fd.fileno()).st_size
        head = self._fd.read(8)
        if len(head) < 8:
            raise ConvertError(f"{path}: not a safetensors file ({size} bytes, too short)")
        (n,) = struct.unpack("<Q", head)
        if n > min(size - 8, _MAX_HEADER):
            raise ConvertError(f"{path}: safetensors header length {n} exceeds the file size {size}")
        try:
            header = json.loads(self._fd.read(n))
        except (UnicodeDecodeError, ValueError) as e:
            raise ConvertError(f"{path}: safetensors header is not valid JSON ({e})") from None
        if not isinstance(header, dict):
            raise ConvertError(f"{path}: safetensors header is not a JSON object")
        data_start = 8 + n
        data_size = size - data_start
        self.metadata = header.pop("__metadata__", None) or {}
        self.tensors = {}
        for name, info in header.items():
            try:
                dtype, shape, (b, e) = info["dtype"], list(info["shape"]), info["data_offsets"]
            except (KeyError, TypeError, ValueError):
                raise ConvertError(f"{path}: malformed header entry for {name!r}") from None
            if dtype not in _DTYPES:
                raise ConvertError(f"{path}: tensor {name} has unsupported dtype {dtype}")
            if not all(isinstance(d, int) and d >= 0 for d in shape):
                raise ConvertError(f"{path}: tensor {name} has an invalid shape {shape}")
            want = int(np.prod(shape, dtype=np.int64)) * _DTYPES[dtype][1]
            if not (isinstance(b, int) and isinstance(e, int) and 0 <= b <= e <= data_size) or e - b != want:
                raise ConvertError(f"{path}: tensor {name} {dtype}{shape} has data_offsets [{b}, {e}] "
                                   f"(needs {want} bytes within a {data_size}-byte data section)")
            self.tensors[name] = TensorEntry(name, dtype, shape, data_start + b, data_start + e, self)
        self._mm = None

    def _map(self):
        if self._mm is None:
            self._mm = mmap.mmap(self._fd.fileno(), 0, access=mmap.ACCESS_READ)
        return self._mm

    def read_rows(self, entry: TensorEntry, r0: int, r1: int) -> np.ndarray:
        """Rows [r0, r1) of the tensor as float32, shape (r1 - r0, row_len); a fresh array."""
        np_dtype, isz = _DTYPES[entry.dtype]
        row_b = entry.row_len * isz
        start = entry.begin + r0 * row_b
        count = (r1 - r0) * entry.row_len
        mm = self._map()
        raw = np.frombuffer(mm, dtype=np_dtype, count=count, offset=start)
        if entry.dtype == "BF16":
            out = bf16_bits_to_f32(raw)
        else:
            out = raw.astype(np.float32)
        del raw
        # drop the pages we just read from this process's resident set
        lo = start // _PAGE * _PAGE
        hi = min(len(mm), start + count * isz)
        if hi > lo:
            try:
                mm.madvise(mmap.MADV_DONTNEED, lo, hi - lo)
            except (AttributeError, OSError, ValueError):
                pass
        return out.reshape(r1 - r0, entry.row_len)

    def close(self):
        if self._mm is not None:
            try:
                self._mm.close()
            except BufferError:
                pass
            self._mm = None
        self._fd.close()


class Checkpoint:
    """Every tensor of a checkpoint directory: sharded (model.safetensors.index.json) or not."""

    def __init__(self, directory: str):
        self.dir = directory
        index_path = os.path.join(directory, "model.safetensors.index.json")
        self.files = {}
        self.entries = {}
        if os.path.exists(index_path):
            try:
                with open(index_path) as f:
                    weight_map = json.load(f)["weight_map"]
            except (OSError, ValueError, KeyError, TypeError) as e:
                raise ConvertError(f"{index_path}: unreadable index ({e})") from None
            shards = sorted(set(weight_map.values()))
            missing = [s for s in shards if not os.path.isfile(os.path.join(directory, s))]
            if missing:
                raise ConvertError(f"{directory}: missing {len(missing)} of {len(shards)} shards listed in "
                                   f"model.safetensors.index.json: {', '.join(missing[:5])}")
            for s in shards:
                self.files[s] = SafetensorsFile(os.path.join(directory, s))
            for name, shard in weight_map.items():
                entry = self.files[shard].tensors.get(name)
                if entry is None:
                    raise ConvertError(f"{directory}/{shard}: tensor {name} listed in the index is not in the shard")
                self.entries[name] = entry
        else:
            shards = sorted(f for f in os.listdir(directory) if f.endswith(".safetensors"))
            if not shards:
                raise ConvertError(f"{directory}: no *.safetensors files (and no model.safetensors.index.json)")
            for s in shards:
                sf = SafetensorsFile(os.path.join(directory, s))
                self.files[s] = sf
                for name, entry in sf.tensors.items():
                    if name in self.entries:
                        raise ConvertError(f"{directory}: tensor {name} is in both {self.entries[name].file.path} and {s}")
                    self.entries[name] = entry

    def total_bytes(self) -> int:
        return sum(e.nbytes for e in self.entries.values())

    def close(self):
        for f in self.files.values():
            f.close()
