"""Reading GGUF files: a validated, memory-mapped view of the metadata and the tensors.

    with GGUFFile("model.gguf") as f:
        f.architecture, f.version, f.metadata["general.name"]
        for t in f.tensors: print(t.name, t.type, t.shape, t.nbytes)
        f.raw("token_embd.weight")      # uint8 view into the file, no copy
        f.tensor("output_norm.weight")  # float32, dequantized, numpy shape = reversed GGUF shape
        f.check_tensors()               # opt-in data check: NaN/Inf values and scales (reads the whole file)

A split model (``NAME-00001-of-0000N.gguf``, spec/gguf.md §1.5) opens from its first shard as one
file: ``metadata`` is the first shard's, ``tensors`` spans every shard (``TensorInfo.shard`` and
``file_offset`` say where each one lives), ``shard_paths`` lists the files and ``total_size`` is
their sum. A missing or mismatched shard raises ``GGUFError``.

Malformed files raise ``GGUFError`` (a ``ValueError``); I/O failures raise ``OSError``
(``FileNotFoundError`` for a missing file). The parsing and validation are in C++
(cpp/gguf/gguf-reader.cpp).
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, Dict, List, Tuple

import numpy as np

from . import _core

__all__ = ["GGUFFile", "TensorInfo"]


@dataclass(frozen=True)
class TensorInfo:
    """One tensor of the file. ``shape`` is GGUF order (ne0, the contiguous row length, first);
    numpy arrays from :meth:`GGUFFile.tensor` have the reversed shape."""

    name: str
    type: str          # GGUF type name, e.g. "Q4_K"
    type_id: int       # ggml type id
    shape: Tuple[int, ...]
    offset: int        # relative to the start of its shard's data section
    nbytes: int
    file_offset: int   # absolute offset in its shard's file
    shard: int = 0     # index into GGUFFile.shard_paths (0 unless the model is split)

    @property
    def n_elements(self) -> int:
        n = 1
        for d in self.shape:
            n *= d
        return n


class GGUFFile:
    """A GGUF file opened read-only (memory-mapped, validated on open)."""

    def __init__(self, path: "str | os.PathLike[str]") -> None:
        self._reader = _core.GGUFReader(os.fspath(path))
        self._init()

    @classmethod
    def from_bytes(cls, data: bytes, name: str = "<memory>") -> "GGUFFile":
        """Parse a GGUF image held in memory (used by tests)."""
        self = cls.__new__(cls)
        self._reader = _core.GGUFReader.from_bytes(bytes(data), name)
        self._init()
        return self

    def _init(self) -> None:
        r = self._reader
        self.path: str = r.path
        self.version: int = r.version
        self.architecture: str = r.architecture
        self.alignment: int = r.alignment
        self.data_start: int = r.data_start
        self.size: int = r.size                    # bytes of the file opened (the first shard)
        self.total_size: int = r.total_size        # bytes of every shard together
        self.shard_paths: List[str] = list(r.shard_paths)
        self._metadata = None
        self._types = None
        self.tensors: List[TensorInfo] = [TensorInfo(*t) for t in r.tensors()]
        self._by_name = {t.name: t for t in self.tensors}

    # ---- metadata ----
    @property
    def metadata(self) -> Dict[str, Any]:
        """Every key -> its value (int, float, bool, str, or list for arrays), in file order."""
        if self._metadata is None:
            self._metadata = self._reader.metadata()
        return self._metadata

    @property
    def metadata_types(self) -> Dict[str, str]:
        """Every key -> its GGUF type, e.g. "UINT32", "ARRAY[STRING]"."""
        if self._types is None:
            self._types = self._reader.metadata_types()
        return self._types

    def value_string(self, key: str, max_items: int = 8) -> str:
        """Short rendering of a value; arrays longer than ``max_items`` are summarised."""
        return self._reader.value_string(key, max_items)

    # ---- tensors ----
    def tensor_info(self, name: str) -> TensorInfo:
        try:
            return self._by_name[name]
        except KeyError:
            raise KeyError(f"tensor '{name}' not found in {self.path}") from None

    def raw(self, name: str) -> np.ndarray:
        """The tensor's bytes as a read-only uint8 array viewing the mapping (no copy).
        The view keeps the mapping alive, even after close()."""
        self.tensor_info(name)
        return self._reader.raw(name)

    def tensor(self, name: str) -> np.ndarray:
        """The tensor dequantized to float32 by the C++ reference kernels; numpy shape is the
        reversed GGUF shape. GGUFError when the engine cannot read the tensor's type."""
        self.tensor_info(name)
        return self._reader.tensor(name)

    def check_tensors(self, n_threads: int = 0) -> int:
        """Validate every tensor's data (spec gguf.md §1.7 item 12, like llama.cpp's --check-tensors):
        no NaN/Inf in F32/F16/BF16 values or in the fp16 scale fields (``d``, ``dmin``, ``m``) of the
        block types, and no reserved E8M0 exponent 0xFF in MXFP4 blocks. Quant codes are integers and
        are not checked; IQ1/IQ2/IQ3, TQ and NVFP4 tensors pass unchecked. Reads the whole file
        (``n_threads`` threads; 0: the process default). Raises ``GGUFError`` naming the first bad
        tensor, block (or element) and field; returns the number of tensors whose data was checked."""
        return self._reader.check_tensors(int(n_threads))

    # ---- lifetime ----
    def close(self) -> None:
        """Release the mapping (views from raw() keep it alive until they are gone)."""
        self._reader.close()

    @property
    def closed(self) -> bool:
        return self._reader.closed

    def __enter__(self) -> "GGUFFile":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __repr__(self) -> str:
        return (f"GGUFFile({self.path!r}, version={self.version}, architecture={self.architecture!r}, "
                f"{len(self.tensors)} tensors)")
