"""Minimal validating GGUF reader for the requantize tool: metadata (kept typed, so it can be
written back unchanged) and tensor infos, with tensor data read in row chunks from a memory map.

Every length and offset is checked against the bytes that remain (docs/format.md §1.7); a bad file
raises ConvertError, never an IndexError or a huge allocation.
"""
import mmap
import os
import struct

import numpy as np

from .errors import ConvertError
from .gguf_types import DEFAULT_ALIGNMENT, GGUF_MAGIC, TYPE_BY_ID, TYPES, VT, VT_STRUCT, row_bytes

_NP = {VT.UINT8: "<u1", VT.INT8: "<i1", VT.UINT16: "<u2", VT.INT16: "<i2", VT.UINT32: "<u4", VT.INT32: "<i4",
       VT.FLOAT32: "<f4", VT.BOOL: "<u1", VT.UINT64: "<u8", VT.INT64: "<i8", VT.FLOAT64: "<f8"}
_PAGE = mmap.PAGESIZE


class GGUFTensor:
    __slots__ = ("name", "ne", "type_name", "offset", "nbytes")

    def __init__(self, name, ne, type_name, offset, nbytes):
        self.name, self.ne, self.type_name, self.offset, self.nbytes = name, ne, type_name, offset, nbytes

    @property
    def n_rows(self) -> int:
        return int(np.prod(self.ne[1:], dtype=np.int64)) if len(self.ne) > 1 else 1


class GGUFReader:
    def __init__(self, path: str):
        self.path = path
        try:
            self._f = open(path, "rb")
        except OSError as e:
            raise ConvertError(f"cannot open {path}: {e.strerror}") from None
        size = os.fstat(self._f.fileno()).st_size
        if size < 24:
            raise ConvertError(f"{path}: not a GGUF file ({size} bytes)")
        self._mm = mmap.mmap(self._f.fileno(), 0, access=mmap.ACCESS_READ)
        self._pos = 0
        if self._take(4) != GGUF_MAGIC:
            raise ConvertError(f"{path}: not a GGUF file (bad magic)")
        version, n_tensors, n_kv = struct.unpack("<IQQ", self._take(20))
        if version not in (2, 3):
            raise ConvertError(f"{path}: unsupported GGUF version {version}")
        if n_kv > (size - 24) // 14 or n_tensors > (size - 24) // 25:
            raise ConvertError(f"{path}: implausible counts (n_kv {n_kv}, n_tensors {n_tensors}) for {size} bytes")
        self.kv = {}
        for _ in range(n_kv):
            key = self._str()
            (vt,) = struct.unpack("<I", self._take(4))
            if key in self.kv:
                raise ConvertError(f"{path}: duplicate key {key}")
            self.kv[key] = (vt, self._value(vt))
        align = DEFAULT_ALIGNMENT
        if "general.alignment" in self.kv:
            avt, a = self.kv["general.alignment"]
            if avt != VT.UINT32 or a == 0 or a & (a - 1):
                raise ConvertError(f"{path}: general.alignment must be a UINT32 power of two")
            align = a
        self.alignment = align
        infos = []
        for _ in range(n_tensors):
            name = self._str()
            (nd,) = struct.unpack("<I", self._take(4))
            if nd > 4:
                raise ConvertError(f"{path}: tensor {name} has {nd} dims")
            ne = list(struct.unpack(f"<{nd}Q", self._take(8 * nd))) if nd else [1]
            tid, off = struct.unpack("<IQ", self._take(12))
            if tid not in TYPE_BY_ID:
                raise ConvertError(f"{path}: tensor {name} has unsupported type id {tid}")
            tname = TYPE_BY_ID[tid]
            try:
                nbytes = row_bytes(tname, ne[0]) * int(np.prod(ne[1:], dtype=np.int64))
            except ValueError as e:
                raise ConvertError(f"{path}: tensor {name}: {e}") from None
            infos.append((name, ne, tname, off, nbytes))
        self.data_start = (self._pos + align - 1) // align * align
        self.tensors = []
        names = set()
        for name, ne, tname, off, nbytes in infos:
            if name in names:
                raise ConvertError(f"{path}: duplicate tensor {name}")
            names.add(name)
            if off % align or self.data_start + off + nbytes > size:
                raise ConvertError(f"{path}: tensor {name} at offset {off} ({nbytes} bytes) is misaligned "
                                   f"or runs past the end of the {size}-byte file")
            self.tensors.append(GGUFTensor(name, ne, tname, self.data_start + off, nbytes))

    # ---- parsing helpers ----
    def _take(self, n: int) -> bytes:
        if n < 0 or self._pos + n > len(self._mm):
            raise ConvertError(f"{self.path}: truncated header (need {n} bytes at offset {self._pos})")
        b = self._mm[self._pos:self._pos + n]
        self._pos += n
        return b

    def _str(self) -> str:
        (n,) = struct.unpack("<Q", self._take(8))
        try:
            return self._take(n).decode("utf-8")
        except UnicodeDecodeError:
            raise ConvertError(f"{self.path}: invalid UTF-8 string at offset {self._pos - n}") from None

    def _value(self, vt: int):
        if vt == VT.STRING:
            return self._str()
        if vt == VT.ARRAY:
            et, n = struct.unpack("<IQ", self._take(12))
            if et == VT.ARRAY:
                raise ConvertError(f"{self.path}: nested arrays are not supported")
            if et == VT.STRING:
                if n > (len(self._mm) - self._pos) // 8:
                    raise ConvertError(f"{self.path}: string array of {n} elements exceeds the file")
                return et, [self._str() for _ in range(n)]
            if et not in _NP:
                raise ConvertError(f"{self.path}: bad array element type {et}")
            isz = np.dtype(_NP[et]).itemsize
            raw = self._take(n * isz)
            arr = np.frombuffer(raw, dtype=_NP[et])
            return et, (arr.astype(bool) if et == VT.BOOL else arr).tolist()
        if vt not in VT_STRUCT:
            raise ConvertError(f"{self.path}: bad value type {vt}")
        fmt = VT_STRUCT[vt]
        (v,) = struct.unpack(fmt, self._take(struct.calcsize(fmt)))
        return v

    # ---- data ----
    def raw_rows(self, t: GGUFTensor, r0: int, r1: int) -> np.ndarray:
        rb = row_bytes(t.type_name, t.ne[0])
        start = t.offset + r0 * rb
        out = np.frombuffer(self._mm, dtype=np.uint8, count=(r1 - r0) * rb, offset=start).copy()
        lo = start // _PAGE * _PAGE
        try:
            self._mm.madvise(mmap.MADV_DONTNEED, lo, start + len(out) - lo)
        except (AttributeError, OSError, ValueError):
            pass
        return out

    def rows_f32(self, t: GGUFTensor, r0: int, r1: int) -> np.ndarray:
        raw = self.raw_rows(t, r0, r1)
        n = (r1 - r0) * t.ne[0]
        if t.type_name == "F32":
            x = raw.view(np.float32)
        elif t.type_name == "F16":
            x = raw.view(np.float16).astype(np.float32)
        elif t.type_name == "BF16":
            x = (raw.view(np.uint16).astype(np.uint32) << 16).view(np.float32)
        else:
            from .. import quants
            x = quants.dequantize(raw, t.type_name, n)
        return x.reshape(r1 - r0, t.ne[0])

    def close(self):
        try:
            self._mm.close()
        except BufferError:
            pass
        self._f.close()
