"""Conformance of the C++ GGUF reader (llama_diffusion.GGUFFile) with the reference reader
gguf.GGUFReader: files written by gguf.GGUFWriter with every value type, arrays (numbers, bools,
strings), custom alignment, F32/F16/quantized tensors and many tensors, and the real Gemma 3
270M Q4_K_M file (every key, every tensor info, every tensor's bytes)."""
import time

import numpy as np
import pytest

gguf = pytest.importorskip("gguf")
import llama_diffusion as ld  # noqa: E402

VT = gguf.GGUFValueType
QT = gguf.GGMLQuantizationType

# key -> (value type, value, sub type for arrays)
SCALARS = {
    "test.u8": (VT.UINT8, 200),
    "test.i8": (VT.INT8, -100),
    "test.u16": (VT.UINT16, 60000),
    "test.i16": (VT.INT16, -30000),
    "test.u32": (VT.UINT32, 4_000_000_000),
    "test.i32": (VT.INT32, -2_000_000_000),
    "test.f32": (VT.FLOAT32, 1.25),
    "test.f32_inexact": (VT.FLOAT32, 0.1),
    "test.bool_true": (VT.BOOL, True),
    "test.bool_false": (VT.BOOL, False),
    "test.string": (VT.STRING, "héllo wörld ✓"),
    "test.empty_string": (VT.STRING, ""),
    "test.u64": (VT.UINT64, 2**64 - 1),
    "test.i64": (VT.INT64, -(2**63)),
    "test.f64": (VT.FLOAT64, 3.141592653589793),
}
ARRAYS = {
    "arr.u8": (VT.UINT8, [0, 1, 255]),
    "arr.i8": (VT.INT8, [-128, 0, 127]),
    "arr.u16": (VT.UINT16, [0, 65535]),
    "arr.i16": (VT.INT16, [-32768, 32767]),
    "arr.u32": (VT.UINT32, [1, 2, 3, 4_294_967_295]),
    "arr.i32": (VT.INT32, [-1, 0, 1]),
    "arr.f32": (VT.FLOAT32, [0.5, -2.0, 1e-7]),
    "arr.bool": (VT.BOOL, [True, False, True]),
    "arr.string": (VT.STRING, ["a", "", "ünïcode", "x" * 300]),
    "arr.u64": (VT.UINT64, [0, 2**64 - 1]),
    "arr.i64": (VT.INT64, [-(2**63), 2**63 - 1]),
    "arr.f64": (VT.FLOAT64, [1.0 / 3.0, -1e300]),
    "arr.long": (VT.INT32, list(range(1000))),
}


def write_gguf(path, kvs=(), tensors=(), alignment=None, arch="testarch"):
    """kvs: (key, vtype, value, subtype); tensors: (name, array, raw_dtype or None)."""
    w = gguf.GGUFWriter(str(path), arch=arch)
    if alignment is not None:
        w.add_custom_alignment(alignment)
    for key, vtype, value, sub in kvs:
        w.add_key_value(key, value, vtype, sub_type=sub)
    for name, arr, raw_dtype in tensors:
        w.add_tensor(name, arr, raw_dtype=raw_dtype)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return path


def all_kvs():
    kvs = [(k, t, v, None) for k, (t, v) in SCALARS.items()]
    kvs += [(k, VT.ARRAY, v, t) for k, (t, v) in ARRAYS.items()]
    return kvs


def reference_metadata(r):
    return {name: field.contents() for name, field in r.fields.items() if not name.startswith("GGUF.")}


def compare_with_reference(path, ref=None):
    """Asserts GGUFFile and gguf.GGUFReader agree on every key, tensor info and tensor's bytes."""
    ref = gguf.GGUFReader(str(path)) if ref is None else ref
    with ld.GGUFFile(path) as f:
        ref_meta = reference_metadata(ref)
        assert list(f.metadata.keys()) == list(ref_meta.keys())
        for key, value in ref_meta.items():
            ours = f.metadata[key]
            if isinstance(value, float) or (isinstance(value, list) and value and isinstance(value[0], float)):
                np.testing.assert_array_equal(np.asarray(ours, dtype=np.float64), np.asarray(value, dtype=np.float64))
            else:
                assert ours == value, key
            field = ref.fields[key]
            main = VT(field.types[0]).name
            expected_type = f"ARRAY[{VT(field.types[-1]).name}]" if main == "ARRAY" else main
            assert f.metadata_types[key] == expected_type, key
        assert len(f.tensors) == len(ref.tensors)
        for ours, theirs in zip(f.tensors, ref.tensors):
            assert ours.name == theirs.name
            assert ours.type == QT(theirs.tensor_type).name
            assert ours.type_id == int(theirs.tensor_type)
            assert list(ours.shape) == [int(d) for d in theirs.shape]
            assert ours.nbytes == int(theirs.n_bytes)
            assert ours.file_offset == int(theirs.data_offset)
            assert ours.offset == int(theirs.data_offset) - f.data_start
            raw = f.raw(ours.name)
            assert raw.dtype == np.uint8 and raw.shape == (ours.nbytes,)
            assert np.array_equal(raw, np.asarray(theirs.data).view(np.uint8).reshape(-1)), ours.name
        return f


def test_every_value_type_matches_reference(tmp_path):
    path = write_gguf(tmp_path / "kv.gguf", all_kvs(), [("t", np.arange(4, dtype=np.float32), None)])
    compare_with_reference(path)
    with ld.GGUFFile(path) as f:
        assert f.version == 3
        assert f.architecture == "testarch"
        m = f.metadata
        for key, (_, value) in SCALARS.items():
            if isinstance(value, float):
                assert m[key] == pytest.approx(value, rel=1e-7)
            else:
                assert m[key] == value and type(m[key]) is type(value), key
        assert m["arr.string"] == ARRAYS["arr.string"][1]
        assert m["arr.bool"] == [True, False, True]
        assert f.metadata_types["test.u16"] == "UINT16"
        assert f.metadata_types["arr.string"] == "ARRAY[STRING]"
        assert "(1000 total)" in f.value_string("arr.long")


def test_typed_getters(tmp_path):
    path = write_gguf(tmp_path / "kv.gguf", all_kvs())
    r = ld.GGUFFile(path)._reader
    assert r.get_typed("test.u32", "u32") == 4_000_000_000
    assert r.get_typed("test.u8", "u32") == 200          # any integer type that fits
    assert r.get_typed("test.i32", "i64") == -2_000_000_000
    assert r.get_typed("test.u64", "u64") == 2**64 - 1
    assert r.get_typed("test.f32", "f32") == 1.25
    assert r.get_typed("test.u16", "f64") == 60000.0
    assert r.get_typed("test.bool_true", "bool") is True
    assert r.get_typed("test.string", "string") == "héllo wörld ✓"
    assert r.get_typed("arr.i32", "int_array") == [-1, 0, 1]
    assert r.get_typed("arr.f32", "f32_array") == pytest.approx([0.5, -2.0, 1e-7])
    assert r.get_typed("arr.string", "string_array") == ARRAYS["arr.string"][1]
    assert r.get_typed("missing.key", "u32", optional=True) is None
    assert r.get_typed("test.u16", "u32", optional=True) == 60000
    with pytest.raises(ld.GGUFError, match="key 'missing.key' not found"):
        r.get_typed("missing.key", "u32")
    with pytest.raises(ld.GGUFError, match="key 'test.string' has type STRING, expected an integer"):
        r.get_typed("test.string", "u32")
    with pytest.raises(ld.GGUFError, match="key 'test.string' has type STRING"):
        r.get_typed("test.string", "u32", optional=True)  # present with the wrong type: still an error
    with pytest.raises(ld.GGUFError, match=r"key 'test.i32' = -2000000000 is out of range \[0, 4294967295\]"):
        r.get_typed("test.i32", "u32")
    with pytest.raises(ld.GGUFError, match=r"out of range"):
        r.get_typed("test.u64", "i64")
    with pytest.raises(ld.GGUFError, match="expected BOOL"):
        r.get_typed("test.u8", "bool")
    with pytest.raises(ld.GGUFError, match=r"expected ARRAY\[STRING\]"):
        r.get_typed("arr.i32", "string_array")


def test_nested_arrays(tmp_path):
    kvs = [("nested.ints", VT.ARRAY, [[1, 2, 3], [4], [5, 6]], None),
           ("nested.strings", VT.ARRAY, [["a", "b"], ["c"]], None)]
    path = write_gguf(tmp_path / "nested.gguf", kvs)
    with ld.GGUFFile(path) as f:
        assert f.metadata["nested.ints"] == [[1, 2, 3], [4], [5, 6]]
        assert f.metadata["nested.strings"] == [["a", "b"], ["c"]]
        assert f.metadata_types["nested.ints"] == "ARRAY[ARRAY[INT32]]"


def _q8_0_blocks(rng, rows, cols):
    x = rng.standard_normal((rows, cols)).astype(np.float32)
    return x, gguf.quants.quantize(x, QT.Q8_0)


def test_tensors_match_reference(tmp_path):
    rng = np.random.default_rng(0)
    _, q8 = _q8_0_blocks(rng, 3, 64)
    q4k = rng.integers(0, 256, size=(2, 144 * 2), dtype=np.uint8)           # 2 rows of 512 values
    q6k_3d = rng.integers(0, 256, size=(4, 3, 210), dtype=np.uint8)          # [256, 3, 4]
    tensors = [
        ("f32.vec", rng.standard_normal(7).astype(np.float32), None),
        ("f32.mat", rng.standard_normal((5, 3)).astype(np.float32), None),
        ("f16.mat", rng.standard_normal((2, 8)).astype(np.float16), None),
        ("q8_0.mat", q8, QT.Q8_0),
        ("q4_k.mat", q4k, QT.Q4_K),
        ("q6_k.3d", q6k_3d, QT.Q6_K),
    ]
    path = write_gguf(tmp_path / "t.gguf", [("x", VT.UINT32, 1, None)], tensors)
    f = compare_with_reference(path)
    shapes = {t.name: t.shape for t in f.tensors}
    assert shapes["f32.mat"] == (3, 5)          # GGUF order: ne0 first
    assert shapes["q4_k.mat"] == (512, 2)
    assert shapes["q6_k.3d"] == (256, 3, 4)
    types = {t.name: t.type for t in f.tensors}
    assert types == {"f32.vec": "F32", "f32.mat": "F32", "f16.mat": "F16", "q8_0.mat": "Q8_0",
                     "q4_k.mat": "Q4_K", "q6_k.3d": "Q6_K"}
    with ld.GGUFFile(path) as f:
        # F32 needs no kernel: numpy shape is the reversed GGUF shape.
        np.testing.assert_array_equal(f.tensor("f32.mat"), tensors[1][1])
        assert f.tensor("f32.mat").shape == (5, 3)


def test_custom_alignment(tmp_path):
    rng = np.random.default_rng(1)
    for alignment in (8, 64, 256, 4096):
        tensors = [(f"t{i}", rng.standard_normal(3 + i).astype(np.float32), None) for i in range(5)]
        path = write_gguf(tmp_path / f"a{alignment}.gguf", [], tensors, alignment=alignment)
        f = compare_with_reference(path)
        assert f.alignment == alignment
        assert f.data_start % alignment == 0
        assert all(t.offset % alignment == 0 for t in f.tensors)


def test_many_tensors(tmp_path):
    rng = np.random.default_rng(2)
    tensors = [(f"blk.{i}.w", rng.standard_normal((2, 4 + i % 5)).astype(np.float32), None) for i in range(400)]
    path = write_gguf(tmp_path / "many.gguf", [], tensors)
    f = compare_with_reference(path)
    assert len(f.tensors) == 400
    with pytest.raises(KeyError, match="not found"):
        f.raw("nope")


def test_version_2_accepted(tmp_path):
    path = write_gguf(tmp_path / "v3.gguf", [("k", VT.UINT32, 7, None)], [("t", np.ones(4, np.float32), None)])
    data = bytearray(path.read_bytes())
    data[4:8] = (2).to_bytes(4, "little")
    v2 = tmp_path / "v2.gguf"
    v2.write_bytes(bytes(data))
    with ld.GGUFFile(v2) as f:
        assert f.version == 2
        assert f.metadata["k"] == 7
        np.testing.assert_array_equal(f.raw("t").view(np.float32), np.ones(4, np.float32))


def test_unsupported_type_listed_but_not_readable(tmp_path):
    # A type the format knows but this engine has no kernel for (IQ2_XXS unless it gained one).
    candidates = ["IQ2_XXS", "IQ1_S", "TQ1_0", "TQ2_0"]
    name = next((n for n in candidates if not ld.quants.type_info(n)["dequantize"]), None)
    assert name is not None, f"every candidate type ({candidates}) is readable now: pick another unsupported type"
    block, type_size = gguf.GGML_QUANT_SIZES[QT[name]]
    blob = np.zeros((1, type_size), dtype=np.uint8)  # one block
    path = write_gguf(tmp_path / "unsupported.gguf", [], [("w.unsup", blob, QT[name])])
    with ld.GGUFFile(path) as f:
        (t,) = f.tensors
        assert (t.type, t.shape[0], t.nbytes) == (name, block, type_size)
        assert f.raw("w.unsup").shape == (type_size,)
        with pytest.raises(ld.GGUFError, match=f"tensor 'w.unsup' has type {name} which this engine cannot read"):
            f.tensor("w.unsup")


def test_lifetime_and_errors(tmp_path):
    path = write_gguf(tmp_path / "l.gguf", [], [("t", np.arange(8, dtype=np.float32), None)])
    with ld.GGUFFile(path) as f:
        view = f.raw("t")
        assert not view.flags.writeable
        with pytest.raises(ValueError):
            view[0] = 1
    assert f.closed
    del f
    # The view keeps the mapping alive after close() and after the file object is gone.
    np.testing.assert_array_equal(view.view(np.float32), np.arange(8, dtype=np.float32))
    with pytest.raises(FileNotFoundError):
        ld.GGUFFile(tmp_path / "does-not-exist.gguf")
    with pytest.raises(OSError):
        ld.GGUFFile(tmp_path)  # a directory
    assert issubclass(ld.GGUFError, ValueError)


def test_tensor_dequantized(tmp_path):
    rng = np.random.default_rng(3)
    x, q8 = _q8_0_blocks(rng, 3, 64)
    path = write_gguf(tmp_path / "q.gguf", [], [("q", q8, QT.Q8_0)])
    with ld.GGUFFile(path) as f:
        y = f.tensor("q")
        assert y.dtype == np.float32 and y.shape == (3, 64)
        np.testing.assert_array_equal(y, gguf.quants.dequantize(q8, QT.Q8_0))


def test_gemma3_matches_reference(gemma3_gguf, gemma3_gguf_reader):
    t0 = time.perf_counter()
    f = ld.GGUFFile(gemma3_gguf)
    t_open = time.perf_counter() - t0
    t0 = time.perf_counter()
    meta = f.metadata
    t_meta = time.perf_counter() - t0
    size_mb = gemma3_gguf.stat().st_size / 1e6
    print(f"\nGGUFFile open of {size_mb:.0f} MB Gemma 3: {t_open * 1e3:.1f} ms "
          f"(+{t_meta * 1e3:.1f} ms to build the Python metadata dict, {len(meta)} keys, "
          f"{len(f.tensors)} tensors)")
    assert f.architecture == "gemma3" and f.version == 3
    assert len(meta["tokenizer.ggml.tokens"]) == 262144
    assert t_open < 5.0
    compare_with_reference(gemma3_gguf, gemma3_gguf_reader)
    counts = {}
    for t in f.tensors:
        counts[t.type] = counts.get(t.type, 0) + 1
    assert set(counts) <= {"F32", "Q4_K", "Q5_0", "Q6_K", "Q8_0"}
    assert counts["F32"] > 0
