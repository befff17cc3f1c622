"""Crafted metadata in an otherwise valid GGUF (the built-in demo model, rewritten with gguf-py's
writer and one key replaced): NaN / Inf / out-of-range floats, huge sizes and invalid UTF-8 strings
each fail Model() with a ValueError naming the key, before anything is allocated from them."""
import math

import numpy as np
import pytest

gguf = pytest.importorskip("gguf")

import llama_diffusion as ld  # noqa: E402

ARCH = "diffusion-gemma"
F32, U32 = gguf.GGUFValueType.FLOAT32, gguf.GGUFValueType.UINT32


def rewrite(dst, override=None, patch=None):
    """The demo GGUF with metadata `override` {key: (value type, value)} and raw byte edits applied
    by `patch(bytearray)`."""
    override = override or {}
    r = gguf.GGUFReader(ld.demo_model_path())
    w = gguf.GGUFWriter(str(dst), arch=ARCH)
    for name, field in r.fields.items():
        if name.startswith("GGUF.") or name == "general.architecture":
            continue
        if name in override:
            continue
        vt = field.types[0]
        sub = field.types[-1] if vt == gguf.GGUFValueType.ARRAY else None
        w.add_key_value(name, field.contents(), vt, sub)
    for name, (vt, value) in override.items():
        w.add_key_value(name, value, vt)
    for t in r.tensors:
        w.add_tensor(t.name, np.asarray(t.data), raw_dtype=t.tensor_type)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    if patch:
        data = bytearray(dst.read_bytes())
        patch(data)
        dst.write_bytes(bytes(data))
    return str(dst)


def test_copy_is_valid(tmp_path):
    m = ld.Model(rewrite(tmp_path / "copy.gguf"))
    ref = ld.Model()
    assert m.hparams == ref.hparams
    kw = dict(max_tokens=32, seed=1, raw=True)
    assert m.generate("def f():", **kw).tokens == ref.generate("def f():", **kw).tokens


FLOAT_CASES = [
    (f"{ARCH}.attention.layer_norm_rms_epsilon", math.nan),
    (f"{ARCH}.attention.layer_norm_rms_epsilon", -1e-6),
    (f"{ARCH}.rope.freq_base", math.inf),
    (f"{ARCH}.rope.freq_base", 0.0),
    (f"{ARCH}.rope.freq_base_swa", -math.inf),
    (f"{ARCH}.final_logit_softcapping", math.nan),
    (f"{ARCH}.final_logit_softcapping", -3.0),
    ("diffusion.eb_t_min", math.nan),
    ("diffusion.eb_t_max", math.inf),
    ("diffusion.eb_entropy_bound", 0.0),
    ("diffusion.eb_confidence_threshold", math.nan),
]


@pytest.mark.parametrize("key,value", FLOAT_CASES)
def test_bad_float(tmp_path, key, value):
    path = rewrite(tmp_path / "f.gguf", {key: (F32, value)})
    with pytest.raises(ValueError, match=key.replace(".", r"\.") + ".*not a finite number in"):
        ld.Model(path)


SIZE_CASES = [
    ("diffusion.canvas_length", 1 << 30),
    ("diffusion.canvas_length", 100_000),
    (f"{ARCH}.embedding_length", 1 << 24),
    (f"{ARCH}.attention.head_count", 1 << 20),
    (f"{ARCH}.attention.key_length", 1 << 20),
    (f"{ARCH}.expert_feed_forward_length", 1 << 30),
    (f"{ARCH}.block_count", 1 << 20),
]


@pytest.mark.parametrize("key,value", SIZE_CASES)
def test_huge_size(tmp_path, key, value):
    path = rewrite(tmp_path / "s.gguf", {key: (U32, value)})
    with pytest.raises(ValueError, match=key.replace(".", r"\.") + ".*out of range"):
        ld.Model(path)


def test_query_width_bounded(tmp_path):
    # each value in range, the product (n_head x head_dim) not
    path = rewrite(tmp_path / "q.gguf", {f"{ARCH}.attention.head_count": (U32, 1024),
                                         f"{ARCH}.attention.key_length": (U32, 4096),
                                         f"{ARCH}.attention.value_length": (U32, 4096)})
    with pytest.raises(ValueError, match="query heads x head dim"):
        ld.Model(path)


def _corrupt_string(data: bytearray, key: bytes, skip: int):
    """Overwrites the first byte of the string value that follows metadata key `key` (skip: bytes
    between the key and that string's characters) with 0xFF, which is never valid UTF-8."""
    at = data.index(key) + len(key) + skip
    data[at] = 0xFF


def test_invalid_utf8_architecture(tmp_path):
    # value type (4 bytes) + string length (8 bytes)
    path = rewrite(tmp_path / "a.gguf", patch=lambda d: _corrupt_string(d, b"general.architecture", 12))
    with pytest.raises(ValueError, match="general.architecture.*UTF-8"):
        ld.Model(path)


def test_invalid_utf8_token(tmp_path):
    # value type ARRAY (4) + element type (4) + count (8) + first string's length (8)
    path = rewrite(tmp_path / "t.gguf", patch=lambda d: _corrupt_string(d, b"tokenizer.ggml.tokens", 24))
    with pytest.raises(ValueError, match=r"tokenizer\.ggml\.tokens'\[0\] is not valid UTF-8"):
        ld.Model(path).tokenize("x")


# ---- a model file changed while in use (docs/format.md, "Files in use") ------------------------
def _copy_demo(tmp_path):
    import shutil
    p = tmp_path / "model.gguf"
    shutil.copy(ld.demo_model_path(), p)
    return p


def test_truncated_while_in_use_is_reported(tmp_path):
    p = _copy_demo(tmp_path)
    m = ld.Model(str(p))
    m.generate("x", max_tokens=8, raw=True)
    os_size = p.stat().st_size
    with open(p, "r+b") as f:
        f.truncate(os_size // 2)
    for call in (lambda: m.generate("x", max_tokens=8, raw=True), lambda: m.encode([1, 2]),
                 lambda: m.decode_canvas([1, 2, 3])):
        with pytest.raises(ValueError, match=r"changed on disk while in use \(its size changed"):
            call()


def test_rewritten_in_place_is_reported(tmp_path):
    p = _copy_demo(tmp_path)
    m = ld.Model(str(p))
    data = p.read_bytes()
    import os
    import time
    time.sleep(0.01)
    with open(p, "r+b") as f:   # same size, same inode, new bytes
        f.write(data[:16])
    os.utime(p, ns=(time.time_ns(), time.time_ns() + 10**9))
    with pytest.raises(ValueError, match="modified in place"):
        m.generate("x", max_tokens=8, raw=True)


def test_replaced_by_rename_keeps_working(tmp_path):
    import os
    p = _copy_demo(tmp_path)
    m = ld.Model(str(p))
    ref = m.generate("def f():", max_tokens=16, seed=2, raw=True).tokens
    new = tmp_path / "new.gguf"
    new.write_bytes(b"not a gguf at all")
    os.replace(new, p)        # the open model keeps the old inode
    assert m.generate("def f():", max_tokens=16, seed=2, raw=True).tokens == ref
