"""Streaming GGUF v3 writer: metadata and tensor infos first, then tensor data one tensor at a time.

The whole plan (every tensor's name, dims and type) is known before any data is written, so the
header with final offsets is written up front and each tensor's bytes are then streamed in order,
chunk by chunk, never holding a whole tensor. Output goes to a temporary name next to the final
path and is renamed only after the last byte is written and synced, so a crash, Ctrl-C or a full
disk never leaves a half-written file under the final name.
"""
import errno
import os
import struct

import numpy as np

from .errors import ConvertError
from .gguf_types import DEFAULT_ALIGNMENT, GGUF_MAGIC, GGUF_VERSION, VT, VT_STRUCT, tensor_bytes, type_id

_NP_OF_VT = {
    VT.UINT8: "<u1", VT.INT8: "<i1", VT.UINT16: "<u2", VT.INT16: "<i2", VT.UINT32: "<u4",
    VT.INT32: "<i4", VT.FLOAT32: "<f4", VT.BOOL: "<u1", VT.UINT64: "<u8", VT.INT64: "<i8",
    VT.FLOAT64: "<f8",
}


def _enc_str(s) -> bytes:
    b = s.encode("utf-8", "surrogateescape") if isinstance(s, str) else bytes(s)
    return struct.pack("<Q", len(b)) + b


def encode_value(vtype: int, value) -> bytes:
    """Bytes of one metadata value (without the type tag). ARRAY values are (elem_type, items)."""
    if vtype == VT.STRING:
        return _enc_str(value)
    if vtype == VT.ARRAY:
        etype, items = value
        if etype == VT.ARRAY:
            raise ConvertError("nested GGUF arrays are not supported")
        head = struct.pack("<IQ", etype, len(items))
        if etype == VT.STRING:
            return head + b"".join(_enc_str(s) for s in items)
        arr = np.asarray(items)
        if etype == VT.BOOL:
            arr = arr.astype(bool)
        return head + arr.astype(_NP_OF_VT[etype]).tobytes()
    if vtype == VT.BOOL:
        return struct.pack("<?", bool(value))
    return struct.pack(VT_STRUCT[vtype], value)


def _align(n: int, a: int) -> int:
    return (n + a - 1) // a * a


class GGUFStreamWriter:
    """Usage: add_kv(...)*, add_tensor(...)*, then open(); write_tensor_chunk(...) per tensor in
    order; finish() (or abort() on error). Keys and tensor names must be unique."""

    def __init__(self, path: str, alignment: int = DEFAULT_ALIGNMENT):
        self.path = os.path.abspath(path)
        self.tmp_path = os.path.join(os.path.dirname(self.path),
                                     f".{os.path.basename(self.path)}.part-{os.getpid()}")
        self.alignment = alignment
        self.kv = {}        # key -> (vtype, value), insertion ordered
        self.tensors = []   # (name, ne, type_name, nbytes, offset)
        self._names = set()
        self._f = None
        self._cur = -1      # index of the tensor being written
        self._cur_written = 0

    # ---- plan ----
    def add_kv(self, key: str, vtype: int, value) -> None:
        if not key:
            raise ConvertError("empty metadata key")
        self.kv[key] = (vtype, value)  # last write wins, as in the peer converter

    def add_tensor(self, name: str, ne, type_name: str) -> None:
        if name in self._names:
            raise ConvertError(f"duplicate tensor name {name}")
        if len(name.encode()) > 63:
            raise ConvertError(f"tensor name longer than 63 bytes: {name}")
        self._names.add(name)
        nbytes = tensor_bytes(type_name, ne)
        off = 0
        if self.tensors:
            _, _, _, pb, po = self.tensors[-1]
            off = po + _align(pb, self.alignment)
        self.tensors.append((name, [int(d) for d in ne], type_name, nbytes, off))

    def header_bytes(self) -> bytes:
        out = [GGUF_MAGIC, struct.pack("<IQQ", GGUF_VERSION, len(self.tensors), len(self.kv))]
        for key, (vtype, value) in self.kv.items():
            out.append(_enc_str(key) + struct.pack("<I", vtype) + encode_value(vtype, value))
        for name, ne, tname, _, off in self.tensors:
            out.append(_enc_str(name) + struct.pack("<I", len(ne)) + struct.pack(f"<{len(ne)}Q", *ne)
                       + struct.pack("<IQ", type_id(tname), off))
        blob = b"".join(out)
        return blob + b"\0" * (_align(len(blob), self.alignment) - len(blob))

    def total_size(self) -> int:
        n = len(self.header_bytes())
        if self.tensors:
            _, _, _, pb, po = self.tensors[-1]
            n += po + _align(pb, self.alignment)
        return n

    # ---- write ----
    def open(self) -> None:
        self._f = open(self.tmp_path, "wb")
        self._write(self.header_bytes())
        self._cur = 0
        self._cur_written = 0

    def _write(self, b) -> None:
        try:
            self._f.write(b)
        except OSError as e:
            self.abort()
            if e.errno == errno.ENOSPC:
                raise ConvertError(f"disk full while writing {self.path} "
                                   f"(the output needs {self.total_size() / 1e9:.2f} GB)") from None
            raise ConvertError(f"cannot write {self.path}: {e}") from None

    def write_tensor_chunk(self, data) -> None:
        """Append bytes of the current tensor (any buffer); advances when the tensor is complete."""
        name, _, _, nbytes, _ = self.tensors[self._cur]
        mv = memoryview(data).cast("B")
        if self._cur_written + len(mv) > nbytes:
            raise ConvertError(f"internal error: too much data for {name} "
                               f"({self._cur_written + len(mv)} > {nbytes} bytes)")
        self._write(mv)
        self._cur_written += len(mv)
        if self._cur_written == nbytes:
            self._write(b"\0" * (_align(nbytes, self.alignment) - nbytes))
            self._cur += 1
            self._cur_written = 0

    def current_tensor(self) -> str:
        return self.tensors[self._cur][0]

    @property
    def tensors_done(self) -> int:
        """How many tensors have been written completely."""
        return self._cur

    def finish(self) -> None:
        if self._cur != len(self.tensors):
            name = self.tensors[self._cur][0] if self._cur < len(self.tensors) else "?"
            self.abort()
            raise ConvertError(f"internal error: output incomplete at tensor {name}")
        try:
            self._f.flush()
            os.fsync(self._f.fileno())
            self._f.close()
            self._f = None
            os.replace(self.tmp_path, self.path)
        except OSError as e:
            self.abort()
            raise ConvertError(f"cannot finish {self.path}: {e}") from None

    def abort(self) -> None:
        if self._f is not None:
            try:
                self._f.close()
            except OSError:
                pass
            self._f = None
        try:
            os.unlink(self.tmp_path)
        except FileNotFoundError:
            pass
