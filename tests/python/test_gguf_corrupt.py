"""A corrupt-file corpus generated from an enumerated list of faults (one per item of the
validation checklist of docs/format.md §1.7, plus truncation at every section boundary and inside
every record). Each file must be rejected with llama_diffusion.GGUFError whose message names the
fault; none may crash the process. Also: v2 accepted, big-endian rejected."""
import struct

import numpy as np
import pytest

import llama_diffusion as ld

# GGUF value type ids
U8, I8, U16, I16, U32, I32, F32V, BOOL, STR, ARR, U64, I64, F64 = range(13)
# ggml tensor type ids used here
T_F32, T_Q8_0 = 0, 8


def s(text) -> bytes:
    """A GGUF string: u64 length + bytes."""
    b = text.encode() if isinstance(text, str) else text
    return struct.pack("<Q", len(b)) + b


class Builder:
    """Writes a GGUF image field by field so that any single field can be corrupted."""

    def __init__(self):
        self.magic = b"GGUF"
        self.version = 3
        self.n_tensors = None  # None: the real count
        self.n_kv = None
        self.alignment = 32
        self.kvs = []      # (raw key record bytes: key string, type u32, value)
        self.tensors = []  # dicts: name, dims, type, data, offset, n_dims
        self.data_extra = b""

    def kv(self, key, vtype, payload: bytes):
        self.kvs.append(s(key) + struct.pack("<I", vtype) + payload)
        return self

    def tensor(self, name, dims, ttype, data: bytes, offset=None, n_dims=None):
        self.tensors.append(dict(name=name, dims=list(dims), type=ttype, data=data, offset=offset, n_dims=n_dims))
        return self

    def header(self) -> bytes:
        n_t = len(self.tensors) if self.n_tensors is None else self.n_tensors
        n_kv = len(self.kvs) if self.n_kv is None else self.n_kv
        return self.magic + struct.pack("<I", self.version) + struct.pack("<QQ", n_t, n_kv)

    def layout(self):
        """(offsets of each tensor, data blob); default offsets are dense and aligned."""
        a = self.alignment
        offsets, cursor = [], 0
        for t in self.tensors:
            off = cursor if t["offset"] is None else t["offset"]
            offsets.append(off)
            cursor = (cursor + len(t["data"]) + a - 1) // a * a
        size = 0
        for t, off in zip(self.tensors, offsets):
            if off + len(t["data"]) < 1 << 40:
                size = max(size, off + len(t["data"]))
        blob = bytearray(size)
        for t, off in zip(self.tensors, offsets):
            if off + len(t["data"]) <= size:
                blob[off:off + len(t["data"])] = t["data"]
        return offsets, bytes(blob) + self.data_extra

    def tensor_infos(self, offsets) -> bytes:
        out = b""
        for t, off in zip(self.tensors, offsets):
            n_dims = len(t["dims"]) if t["n_dims"] is None else t["n_dims"]
            out += s(t["name"]) + struct.pack("<I", n_dims)
            out += b"".join(struct.pack("<q", d) for d in t["dims"])
            out += struct.pack("<iQ", t["type"], off % (1 << 64))
        return out

    def build(self) -> bytes:
        offsets, blob = self.layout()
        meta = self.header() + b"".join(self.kvs) + self.tensor_infos(offsets)
        pad = (-len(meta)) % self.alignment
        return meta + b"\0" * pad + blob

    def boundaries(self):
        """Named byte offsets of every section and record boundary (and some mid-record points)."""
        marks = {"magic": 0, "version": 4, "n_tensors": 8, "n_kv": 16, "first_kv": 24}
        pos = 24
        for i, kv in enumerate(self.kvs):
            marks[f"kv{i}.key_len_mid"] = pos + 3
            marks[f"kv{i}.key_mid"] = pos + 9
            klen = struct.unpack_from("<Q", kv)[0]
            marks[f"kv{i}.type"] = pos + 8 + klen
            marks[f"kv{i}.value"] = pos + 8 + klen + 4
            marks[f"kv{i}.value_mid"] = pos + 8 + klen + 4 + (len(kv) - 8 - klen - 4) // 2
            pos += len(kv)
        marks["tensor_infos"] = pos
        offsets, _ = self.layout()
        for i, t in enumerate(self.tensors):
            name_len = len(t["name"].encode() if isinstance(t["name"], str) else t["name"])
            marks[f"ti{i}.name_mid"] = pos + 8 + name_len // 2
            marks[f"ti{i}.n_dims"] = pos + 8 + name_len
            marks[f"ti{i}.dims_mid"] = pos + 8 + name_len + 4 + 4
            marks[f"ti{i}.type"] = pos + 8 + name_len + 4 + 8 * len(t["dims"])
            marks[f"ti{i}.offset"] = marks[f"ti{i}.type"] + 4
            pos = marks[f"ti{i}.offset"] + 8
        marks["padding"] = pos
        data_start = (pos + self.alignment - 1) // self.alignment * self.alignment
        marks["data_start"] = data_start
        for i, off in enumerate(offsets):
            marks[f"tensor{i}.data_mid"] = data_start + off + len(self.tensors[i]["data"]) // 2
        return marks


def q8_0_block(value=1.0) -> bytes:
    return struct.pack("<e", value) + bytes(range(32))


def base() -> Builder:
    """A small valid file: 4 KVs (string, u32, string array, f32 array) and 3 tensors."""
    b = Builder()
    b.kv("general.architecture", STR, s("testarch"))
    b.kv("test.count", U32, struct.pack("<I", 7))
    b.kv("test.names", ARR, struct.pack("<IQ", STR, 2) + s("x") + s("yz"))
    b.kv("test.scales", ARR, struct.pack("<IQ", F32V, 3) + struct.pack("<3f", 1, 2, 3))
    b.tensor("a.weight", [8], T_F32, np.arange(8, dtype=np.float32).tobytes())
    b.tensor("b.weight", [32, 2], T_Q8_0, q8_0_block() * 2)
    b.tensor("c.weight", [4, 2], T_F32, np.ones(8, dtype=np.float32).tobytes())
    return b


def set_(attr, value):
    def f(b):
        setattr(b, attr, value)
    return f


def replace_kv(index, key, vtype, payload):
    def f(b):
        b.kvs[index] = s(key) + struct.pack("<I", vtype) + payload
    return f


def add_kv(key, vtype, payload):
    return lambda b: b.kv(key, vtype, payload)


def tensor_field(index, **fields):
    def f(b):
        b.tensors[index].update(fields)
    return f


def raw_kv(record: bytes):
    return lambda b: b.kvs.append(record)


def nested(depth):
    payload = struct.pack("<IQ", U8, 1) + b"\x01"
    for _ in range(depth - 1):
        payload = struct.pack("<IQ", ARR, 1) + payload
    return payload


# (fault id, mutation of base(), substring the error message must contain)
FAULTS = [
    ("bad_magic", set_("magic", b"GGML"), "bad magic"),
    ("version_0", set_("version", 0), "unsupported GGUF version 0"),
    ("version_1", set_("version", 1), "unsupported GGUF version 1"),
    ("version_4", set_("version", 4), "unsupported GGUF version 4"),
    ("byte_swapped_version", set_("version", 3 << 24), "big-endian GGUF not supported"),
    ("n_kv_huge", set_("n_kv", 1 << 40), "key-value count 1099511627776 is impossible"),
    ("n_kv_negative", set_("n_kv", (1 << 64) - 1), "key-value count -1 is negative"),
    ("n_tensors_huge", set_("n_tensors", 1 << 40), "tensor count 1099511627776 is impossible"),
    ("n_tensors_negative", set_("n_tensors", 1 << 63), "is negative"),
    ("n_kv_too_many_for_file", set_("n_kv", 40), "key-value count 40 is impossible"),
    ("counts_too_many_for_file", set_("n_kv", 30), "30 key-value records and 3 tensor infos need at least"),
    ("key_length_over_limit", raw_kv(struct.pack("<Q", 1 << 62) + b"k"), "key length 4611686018427387904"),
    ("key_length_past_end", raw_kv(struct.pack("<Q", 60000) + b"k" * 20), "key length 60000"),
    ("empty_key", add_kv("", U32, struct.pack("<I", 1)), "empty key"),
    ("key_not_utf8", add_kv(b"bad.\xff\xfe", U32, struct.pack("<I", 1)), "is not valid UTF-8"),
    ("key_overlong_utf8", add_kv(b"bad.\xc0\xaf", U32, struct.pack("<I", 1)), "is not valid UTF-8"),
    ("duplicate_key", add_kv("test.count", U32, struct.pack("<I", 8)), "duplicate key 'test.count'"),
    ("value_type_13", add_kv("test.bad", 13, b"\0" * 8), "key 'test.bad': invalid value type 13"),
    ("value_type_huge", add_kv("test.bad", 0xFFFFFFFF, b"\0" * 8), "invalid value type 4294967295"),
    ("string_length_past_end", add_kv("test.s", STR, struct.pack("<Q", 1 << 20) + b"abc"),
     "key 'test.s': string value length 1048576"),
    ("string_length_over_limit", add_kv("test.s", STR, struct.pack("<Q", (1 << 30) + 1) + b"abc"),
     "exceeds the limit 1073741824"),
    ("array_elem_type_invalid", add_kv("test.arr", ARR, struct.pack("<IQ", 42, 1) + b"\0" * 8),
     "key 'test.arr': invalid array element type 42"),
    ("array_length_over_limit", add_kv("test.arr", ARR, struct.pack("<IQ", U8, (1 << 30) + 1) + b"\0" * 8),
     "array length 1073741825"),
    ("array_length_past_end", add_kv("test.arr", ARR, struct.pack("<IQ", U32, 1 << 28) + b"\0" * 8),
     "array of 268435456 UINT32 elements"),
    ("string_array_past_end", add_kv("test.arr", ARR, struct.pack("<IQ", STR, 1 << 27) + s("a")),
     "array of 134217728 STRING elements"),
    ("array_too_deep", add_kv("test.deep", ARR, nested(12)), "nested deeper than 8"),
    ("alignment_wrong_type", add_kv("general.alignment", I32, struct.pack("<i", 32)),
     "general.alignment has type INT32, it must be UINT32"),
    ("alignment_u64", add_kv("general.alignment", U64, struct.pack("<Q", 32)), "general.alignment has type UINT64"),
    ("alignment_zero", add_kv("general.alignment", U32, struct.pack("<I", 0)),
     "general.alignment = 0 is not a non-zero power of two"),
    ("alignment_not_pow2", add_kv("general.alignment", U32, struct.pack("<I", 48)),
     "general.alignment = 48 is not a non-zero power of two"),
    ("architecture_wrong_type", replace_kv(0, "general.architecture", U32, struct.pack("<I", 1)),
     "general.architecture has type UINT32, it must be STRING"),
    ("file_type_wrong_type", add_kv("general.file_type", STR, s("q4")), "general.file_type has type STRING"),
    ("tensor_name_empty", tensor_field(1, name=""), "empty tensor name"),
    ("tensor_name_not_utf8", tensor_field(1, name=b"w\xed\xa0\x80"), "tensor name 'w\\xed\\xa0\\x80' is not valid UTF-8"),
    ("duplicate_tensor_name", tensor_field(2, name="a.weight"), "duplicate tensor name 'a.weight'"),
    ("n_dims_5", tensor_field(0, dims=[8, 1, 1, 1, 1]), "tensor 'a.weight': n_dims 5"),
    ("n_dims_huge", tensor_field(0, n_dims=1 << 31), "n_dims 2147483648"),
    ("dim_zero", tensor_field(2, dims=[4, 0]), "tensor 'c.weight': dimension ne[1] is 0"),
    ("dim_negative", tensor_field(2, dims=[4, -2]), "dimension ne[1] = -2 is negative"),
    ("element_count_overflow", tensor_field(2, dims=[1 << 32, 1 << 32]), "element count overflows"),
    ("byte_size_overflow", tensor_field(2, dims=[1 << 31, 1 << 31]), "byte size overflows"),
    ("type_id_invalid", tensor_field(0, type=99), "tensor 'a.weight': invalid type id 99"),
    ("type_id_negative", tensor_field(0, type=-1), "invalid type id -1"),
    ("type_id_retired", tensor_field(0, type=4), "retired type Q4_2"),
    ("type_id_retired_repack", tensor_field(0, type=32), "retired type Q4_0_4_8"),
    ("ne0_not_block_multiple", tensor_field(1, dims=[48, 2]), "ne0 = 48 is not a multiple of the Q8_0 block size 32"),
    ("offset_unaligned", tensor_field(2, offset=136), "tensor 'c.weight': data offset 136 is not a multiple of the alignment 32"),
    ("offset_past_end", tensor_field(2, offset=1 << 41), "tensor 'c.weight': data [2199023255552, +32 bytes) extends past the end"),
    ("offset_wraps", tensor_field(2, offset=(1 << 64) - 32), "extends past the end"),
    ("overlap", tensor_field(2, offset=32), "tensors 'b.weight' [32, 100) and 'c.weight' [32, 64) overlap"),
    ("overlap_partial", tensor_field(2, offset=64), "and 'c.weight' [64, 96) overlap"),
    ("data_truncated", tensor_field(2, dims=[4, 4]), "tensor 'c.weight': data [128, +64 bytes) extends past the end"),
]


def test_fault_list_is_large_enough():
    assert len(FAULTS) >= 20
    assert len({f[0] for f in FAULTS}) == len(FAULTS)


def test_base_file_is_valid(tmp_path):
    path = tmp_path / "base.gguf"
    path.write_bytes(base().build())
    with ld.GGUFFile(path) as f:
        assert f.architecture == "testarch"
        assert f.metadata["test.names"] == ["x", "yz"]
        assert [(t.name, t.type, t.shape, t.offset) for t in f.tensors] == [
            ("a.weight", "F32", (8,), 0), ("b.weight", "Q8_0", (32, 2), 32), ("c.weight", "F32", (4, 2), 128)]
        assert f.raw("b.weight").tobytes() == q8_0_block() * 2


@pytest.mark.parametrize("fault,mutate,expected", FAULTS, ids=[f[0] for f in FAULTS])
def test_fault_rejected(tmp_path, fault, mutate, expected):
    b = base()
    mutate(b)
    path = tmp_path / f"{fault}.gguf"
    path.write_bytes(b.build())
    with pytest.raises(ld.GGUFError) as info:
        ld.GGUFFile(path)
    msg = str(info.value)
    assert expected in msg, msg
    assert str(path) in msg
    assert "\n" not in msg


def test_truncation_at_every_boundary():
    b = base()
    data = b.build()
    marks = b.boundaries()
    assert len(marks) > 30
    for name, cut in marks.items():
        assert 0 <= cut < len(data), name
        with pytest.raises(ld.GGUFError, match="truncated") as info:
            ld.GGUFFile.from_bytes(data[:cut])
        assert "\n" not in str(info.value), name


def test_every_prefix_rejected():
    """Every strict prefix of a valid file (whose last tensor ends the file) is rejected, never crashes."""
    data = base().build()
    for cut in range(len(data)):
        with pytest.raises(ld.GGUFError, match="truncated|bad magic"):
            ld.GGUFFile.from_bytes(data[:cut])
    ld.GGUFFile.from_bytes(data)


def test_any_tensor_order_and_gaps_accepted():
    b = base()
    b.tensors[0]["offset"] = 256   # a.weight last, after a gap
    b.tensors[1]["offset"] = 0
    b.tensors[2]["offset"] = 96
    f = ld.GGUFFile.from_bytes(b.build())
    assert [t.offset for t in f.tensors] == [256, 0, 96]
    np.testing.assert_array_equal(f.raw("a.weight").view(np.float32), np.arange(8, dtype=np.float32))


def test_version_2_accepted():
    b = base()
    b.version = 2
    f = ld.GGUFFile.from_bytes(b.build())
    assert f.version == 2 and len(f.tensors) == 3


def test_big_endian_file_rejected(tmp_path):
    gguf = pytest.importorskip("gguf")
    path = tmp_path / "be.gguf"
    w = gguf.GGUFWriter(str(path), arch="testarch", endianess=gguf.GGUFEndian.BIG)
    w.add_uint32("test.count", 7)
    w.add_tensor("t", np.ones(4, dtype=np.float32))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    with pytest.raises(ld.GGUFError, match="big-endian GGUF not supported"):
        ld.GGUFFile(path)


def test_empty_and_tiny_files(tmp_path):
    path = tmp_path / "empty.gguf"
    path.write_bytes(b"")
    with pytest.raises(ld.GGUFError, match="truncated: file is 0 bytes"):
        ld.GGUFFile(path)
    with pytest.raises(ld.GGUFError, match="bad magic"):
        ld.GGUFFile.from_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 32)


def test_metadata_memory_is_bounded():
    """A file of many empty strings cannot make the reader allocate unbounded index memory: a
    2^30-element string array needs >= 8 GiB of file, so it is refused before allocation; a
    dense small file is accepted and costs memory proportional to its size."""
    b = Builder()
    n = 200_000
    b.kv("tokens", ARR, struct.pack("<IQ", STR, n) + s("") * n)
    f = ld.GGUFFile.from_bytes(b.build())
    assert len(f.metadata["tokens"]) == n
    b = Builder()
    b.kv("tokens", ARR, struct.pack("<IQ", STR, 1 << 30) + s("") * 10)
    with pytest.raises(ld.GGUFError, match="array of 1073741824 STRING elements"):
        ld.GGUFFile.from_bytes(b.build())
