"""The optional tensor-data check (docs/format.md §1.7 item 12): GGUFFile.check_tensors(),
Model(check_tensors=True), _core.check_tensor_data and llama-diffusion-cli --check-tensors.

Files are written with gguf-py's GGUFWriter from valid random data (quantized by gguf-py where it can,
else by our reference quantizers) and must pass; then a NaN/Inf is planted in one scale field (or
value) at a byte offset taken from the spec's block tables below (which are themselves checked against
gguf-py: sizes from GGML_QUANT_SIZES, field offsets by zeroing them and dequantizing with gguf-py),
and the error must name the tensor, the block (or element) and the field. MXFP4 e = 0xFF is rejected;
NaN-looking bytes in quant *code* positions are not errors. The real Gemma 3 file and the shipped demo
model must pass."""
import os
import pathlib
import re
import shutil
import subprocess
import time

import numpy as np
import pytest

import llama_diffusion as ld
from llama_diffusion import _core
from cli_helpers import find_cli

gguf = pytest.importorskip("gguf")
QT = gguf.GGMLQuantizationType

# docs/format.md §2.1/§2.3: type -> (values per block, bytes per block, {fp16 field: byte offset},
# [byte offsets inside the block that hold integer codes / packed scales, never checked])
SPEC = {
    "Q4_0": (32, 18, {"d": 0}, [2, 16]),
    "Q4_1": (32, 20, {"d": 0, "m": 2}, [4, 18]),
    "Q5_0": (32, 22, {"d": 0}, [2, 6, 20]),
    "Q5_1": (32, 24, {"d": 0, "m": 2}, [4, 8, 22]),
    "Q8_0": (32, 34, {"d": 0}, [2, 32]),
    "Q2_K": (256, 84, {"d": 80, "dmin": 82}, [0, 16, 78]),
    "Q3_K": (256, 110, {"d": 108}, [0, 32, 96, 106]),
    "Q4_K": (256, 144, {"d": 0, "dmin": 2}, [4, 16, 142]),
    "Q5_K": (256, 176, {"d": 0, "dmin": 2}, [4, 16, 48, 174]),
    "Q6_K": (256, 210, {"d": 208}, [0, 128, 192, 206]),
    "IQ4_NL": (32, 18, {"d": 0}, [2, 16]),
    "IQ4_XS": (256, 136, {"d": 0}, [2, 4, 8, 134]),
}
MXFP4 = (32, 17, 0)  # values per block, bytes per block, offset of the E8M0 exponent e
PLAIN = {"F32": (np.float32, 4), "F16": (np.float16, 2), "BF16": (None, 2)}
# fp16 bit patterns of NaN / +Inf / -Inf and how the message names them
FP16_BAD = [(0x7E00, "NaN"), (0x7C00, "+Inf"), (0xFC00, "-Inf"), (0x7C01, "NaN")]
ROWS, COLS = 3, 512
NAME = "blk.0.ffn_down.weight"


def quantize(x, type_name):
    """Valid blocks of x [rows, cols] as uint8 [rows, row_bytes]."""
    try:
        q = gguf.quants.quantize(x, QT[type_name])
    except NotImplementedError:
        q = ld.quants.quantize(x, type_name)
    return np.ascontiguousarray(q).view(np.uint8).reshape(x.shape[0], -1)


def random_tensor(type_name, rng, rows=ROWS, cols=COLS):
    x = (rng.standard_normal((rows, cols)) * 0.05).astype(np.float32)
    if type_name == "F32":
        return x.view(np.uint8).reshape(rows, -1)
    if type_name == "F16":
        return x.astype(np.float16).view(np.uint8).reshape(rows, -1)
    return quantize(x, type_name)


def write(path, tensors):
    """tensors: (name, type name, uint8 [rows, row_bytes]) written as raw GGUF tensors."""
    w = gguf.GGUFWriter(str(path), arch="testarch")
    for name, t, raw in tensors:
        w.add_tensor(name, np.ascontiguousarray(raw, dtype=np.uint8), raw_dtype=QT[t])
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return path


def check_error(path):
    with ld.GGUFFile(path) as f:
        with pytest.raises(ld.GGUFError) as ei:
            f.check_tensors()
    return str(ei.value)


def put_u16(raw, byte, value):
    flat = raw.reshape(-1)
    flat[byte:byte + 2] = np.frombuffer(np.uint16(value).tobytes(), np.uint8)


ALL_TYPES = list(PLAIN) + list(SPEC) + ["MXFP4"]


# ---- the spec tables themselves, against gguf-py ----------------------------------------------------
@pytest.mark.parametrize("t", list(SPEC))
def test_spec_table_matches_gguf_py(t):
    bs, ts, fields, codes = SPEC[t]
    assert gguf.GGML_QUANT_SIZES[QT[t]] == (bs, ts)
    assert ld.quants.type_info(t)["block_size"] == bs
    # zeroing exactly the listed fields of one block zeroes that block's values (gguf-py dequantizer)
    rng = np.random.default_rng(1)
    raw = random_tensor(t, rng, rows=1).copy()
    nb = COLS // bs
    blk = nb // 2
    for off in fields.values():
        put_u16(raw, blk * ts + off, 0)
    y = gguf.quants.dequantize(raw, QT[t]).reshape(-1)
    ref = gguf.quants.dequantize(random_tensor(t, np.random.default_rng(1), rows=1), QT[t]).reshape(-1)
    assert np.all(y[blk * bs:(blk + 1) * bs] == 0)
    mask = np.ones(COLS, bool)
    mask[blk * bs:(blk + 1) * bs] = False
    np.testing.assert_array_equal(y[mask], ref[mask])
    assert np.any(ref[blk * bs:(blk + 1) * bs] != 0)


def test_spec_table_mxfp4_exponent():
    bs, ts, off = MXFP4
    assert gguf.GGML_QUANT_SIZES[QT.MXFP4] == (bs, ts)
    raw = random_tensor("MXFP4", np.random.default_rng(2), rows=1).copy()
    ref = gguf.quants.dequantize(raw, QT.MXFP4).reshape(-1)
    blk = 5
    raw.reshape(-1)[blk * ts + off] += 1  # one more in the exponent doubles that block only
    y = gguf.quants.dequantize(raw, QT.MXFP4).reshape(-1)
    np.testing.assert_array_equal(y[blk * bs:(blk + 1) * bs], 2 * ref[blk * bs:(blk + 1) * bs])
    mask = np.ones(COLS, bool)
    mask[blk * bs:(blk + 1) * bs] = False
    np.testing.assert_array_equal(y[mask], ref[mask])


# ---- valid files pass ---------------------------------------------------------------------------------
def test_valid_file_passes(tmp_path):
    rng = np.random.default_rng(0)
    tensors = [(f"t.{t.lower()}", t, random_tensor(t, rng)) for t in ALL_TYPES]
    # an IQ2_XXS tensor (layout not in blocks.h): not checked, even with all-ones bytes
    tensors.append(("t.iq2_xxs", "IQ2_XXS", np.full((ROWS, 2 * 66), 0xFF, np.uint8)))
    path = write(tmp_path / "ok.gguf", tensors)
    with ld.GGUFFile(path) as f:
        assert f.check_tensors() == len(ALL_TYPES)
        assert f.check_tensors(n_threads=1) == len(ALL_TYPES)
        assert f.check_tensors(n_threads=3) == len(ALL_TYPES)


# ---- planted NaN / Inf -----------------------------------------------------------------------------------
@pytest.mark.parametrize("bits,word", FP16_BAD)
@pytest.mark.parametrize("t,field", [(t, f) for t in SPEC for f in SPEC[t][2]])
def test_bad_scale_field(tmp_path, t, field, bits, word):
    bs, ts, fields, _ = SPEC[t]
    rng = np.random.default_rng(3)
    raw = random_tensor(t, rng).copy()
    n_blocks = ROWS * COLS // bs
    blk = n_blocks * 2 // 3 + 1
    put_u16(raw, blk * ts + fields[field], bits)
    path = write(tmp_path / "bad.gguf", [("first.weight", "F32", random_tensor("F32", rng)), (NAME, t, raw),
                                         ("last.weight", "Q8_0", random_tensor("Q8_0", rng))])
    msg = check_error(path)
    assert f"tensor '{NAME}' ({t})" in msg, msg
    assert re.search(rf"block {blk} has a NaN/Inf fp16 \w+ {field} \(0x{bits:04x} = {re.escape(word)}\)", msg), msg
    assert str(path) in msg


@pytest.mark.parametrize("t", list(PLAIN))
@pytest.mark.parametrize("kind", ["nan", "+inf", "-inf"])
def test_bad_plain_value(tmp_path, t, kind):
    rng = np.random.default_rng(4)
    raw = random_tensor(t, rng) if t != "BF16" else quantize((rng.standard_normal((ROWS, COLS))).astype(np.float32), t)
    raw = raw.copy()
    v = {"nan": np.nan, "+inf": np.inf, "-inf": -np.inf}[kind]
    elem = 1000
    if t == "F32":
        raw.reshape(-1)[4 * elem:4 * elem + 4] = np.frombuffer(np.float32(v).tobytes(), np.uint8)
    elif t == "F16":
        raw.reshape(-1)[2 * elem:2 * elem + 2] = np.frombuffer(np.float16(v).tobytes(), np.uint8)
    else:  # bf16 = the high half of the f32
        raw.reshape(-1)[2 * elem:2 * elem + 2] = np.frombuffer(np.float32(v).tobytes()[2:], np.uint8)
    path = write(tmp_path / "bad.gguf", [(NAME, t, raw)])
    msg = check_error(path)
    word = {"nan": "NaN", "+inf": "+Inf", "-inf": "-Inf"}[kind]
    assert f"tensor '{NAME}' ({t}): element {elem} is {word}" in msg, msg


def test_mxfp4_e_ff_rejected(tmp_path):
    bs, ts, off = MXFP4
    rng = np.random.default_rng(5)
    raw = random_tensor("MXFP4", rng).copy()
    raw.reshape(-1)[7 * ts + off] = 0xFE  # the largest exponent is a number
    with ld.GGUFFile(write(tmp_path / "fe.gguf", [(NAME, "MXFP4", raw)])) as f:
        f.check_tensors()
    raw.reshape(-1)[9 * ts + off] = 0xFF
    raw.reshape(-1)[30 * ts + off] = 0xFF
    msg = check_error(write(tmp_path / "ff.gguf", [(NAME, "MXFP4", raw)]))
    assert f"tensor '{NAME}' (MXFP4): block 9 has the reserved E8M0 scale e = 0xFF" in msg, msg


@pytest.mark.parametrize("t", list(SPEC) + ["MXFP4"])
def test_nan_bytes_in_codes_are_not_errors(tmp_path, t):
    """Quant codes / packed integer scales are integers: NaN/Inf-looking bytes there are valid."""
    rng = np.random.default_rng(6)
    raw = random_tensor(t, rng).copy()
    if t == "MXFP4":
        ts, offsets = MXFP4[1], [1, 9, 15]
    else:
        ts, offsets = SPEC[t][1], SPEC[t][3]
    n_blocks = raw.size // ts
    taken = {0} if t == "MXFP4" else {f + i for f in SPEC[t][2].values() for i in (0, 1)}  # float field bytes
    for off in offsets:  # a whole u16 inside the block, clear of the float fields
        assert off + 2 <= ts and not {off, off + 1} & taken
    for b in range(n_blocks):
        for off in offsets:
            put_u16(raw, b * ts + off, 0x7E00 if b % 2 else 0xFFFF)
    with ld.GGUFFile(write(tmp_path / "codes.gguf", [(NAME, t, raw)])) as f:
        assert f.check_tensors() == 1


def test_first_bad_value_in_file_order(tmp_path):
    """Two bad tensors, the first with two bad blocks far apart (different thread tasks): the error
    names the first tensor and its first bad block, for any thread count."""
    rng = np.random.default_rng(7)
    big = random_tensor("Q8_0", rng, rows=4096, cols=1024).copy()  # 131072 blocks, 4.4 MB (two tasks)
    put_u16(big, 130000 * 34, 0x7C00)
    put_u16(big, 20000 * 34, 0x7E00)
    other = random_tensor("Q4_K", rng).copy()
    put_u16(other, 0, 0x7E00)
    path = write(tmp_path / "two.gguf", [("a.weight", "F32", random_tensor("F32", rng)), ("b.weight", "Q8_0", big),
                                         ("c.weight", "Q4_K", other)])
    for n in (1, 2, 4):
        with ld.GGUFFile(path) as f:
            with pytest.raises(ld.GGUFError, match=r"tensor 'b\.weight' \(Q8_0\): block 20000 has a NaN/Inf fp16 scale d"):
                f.check_tensors(n_threads=n)


# ---- the one-tensor function ----------------------------------------------------------------------------
def test_check_tensor_data_q8_k_and_sizes():
    # Q8_K (activation type): f32 d at offset 0, 292 bytes per block
    raw = np.zeros(2 * 292, np.uint8)
    raw[0:4] = np.frombuffer(np.float32(0.5).tobytes(), np.uint8)
    assert _core.check_tensor_data("x", "Q8_K", raw, 512) == ""
    raw[292:296] = np.frombuffer(np.float32(np.inf).tobytes(), np.uint8)
    assert _core.check_tensor_data("x", "Q8_K", raw, 512) == \
        "tensor 'x' (Q8_K): block 1 has a NaN/Inf f32 scale d (0x7f800000 = +Inf)"
    # size mismatches
    assert "do not hold" in _core.check_tensor_data("x", "Q8_K", raw, 768)
    assert "not a whole number of blocks" in _core.check_tensor_data("x", "Q4_0", np.zeros(18, np.uint8), 31)
    assert _core.check_tensor_data("x", "Q4_0", np.zeros(0, np.uint8), 0) == ""
    with pytest.raises(ValueError, match="unknown type"):
        _core.check_tensor_data("x", "Q9_9", raw, 512)


# ---- real files -------------------------------------------------------------------------------------------
def test_gemma3_passes(gemma3_gguf):
    with ld.GGUFFile(gemma3_gguf) as f:
        t0 = time.perf_counter()
        n = f.check_tensors()
        dt = time.perf_counter() - t0
        types = {t.type for t in f.tensors}
        assert n == len(f.tensors)
    print(f"\ncheck_tensors on {gemma3_gguf.name}: {n} tensors ({sorted(types)}), "
          f"{gemma3_gguf.stat().st_size / 1e6:.0f} MB, {dt * 1e3:.0f} ms")


def demo_path():
    return pathlib.Path(ld.demo_model_path())


def test_demo_model_passes():
    with ld.GGUFFile(demo_path()) as f:
        assert f.check_tensors() == len(f.tensors)


def poisoned_demo(tmp_path, bits=0x7E00):
    """A copy of the demo model with a NaN in the scale d of block 3 of one Q8_0 weight."""
    src = demo_path()
    with ld.GGUFFile(src) as f:
        t = next(t for t in f.tensors if t.type == "Q8_0" and t.name.startswith("blk."))
    dst = tmp_path / "poisoned.gguf"
    shutil.copyfile(src, dst)
    with open(dst, "r+b") as fh:
        fh.seek(t.file_offset + 3 * 34)
        fh.write(np.uint16(bits).tobytes())
    return dst, t.name


def test_model_check_tensors_flag(tmp_path):
    bad, name = poisoned_demo(tmp_path)
    with pytest.raises(ld.GGUFError, match=rf"tensor '{re.escape(name)}' \(Q8_0\): block 3 has a NaN/Inf fp16 scale d"):
        ld.Model(bad, n_threads=1, check_tensors=True)
    m = ld.Model(bad, n_threads=1)  # opt-in: without the flag the file loads
    assert m.n_vocab > 0
    assert ld.Model(demo_path(), n_threads=1, check_tensors=True).n_vocab > 0


# ---- CLI --------------------------------------------------------------------------------------------------
def cli(*args):
    exe = find_cli()
    if exe is None:
        pytest.skip("llama-diffusion-cli not built")
    e = dict(os.environ)
    e.pop("LLAMA_DIFFUSION_MODEL", None)
    return subprocess.run([exe, *map(str, args)], capture_output=True, text=True, env=e, timeout=300, errors="replace")


def test_cli_check_tensors(tmp_path):
    bad, name = poisoned_demo(tmp_path, bits=0x7C00)
    r = cli("-m", bad, "-p", "def f(", "-n", "8", "-t", "1", "--check-tensors")
    assert r.returncode == 1
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("llama-diffusion-cli: error: invalid tensor data"), r.stderr
    assert f"tensor '{name}' (Q8_0): block 3 has a NaN/Inf fp16 scale d (0x7c00 = +Inf)" in lines[0]
    assert r.stdout == ""
    r = cli("-m", demo_path(), "-p", "def f(", "-n", "8", "-t", "1", "--raw", "--diffusion-eb-max-steps", "2",
            "--check-tensors", "--verbose")
    assert r.returncode == 0, r.stderr
    assert "check-tensors:" in r.stderr and "is valid" in r.stderr
    assert "--check-tensors" in cli("--help").stdout
