"""Split (sharded) GGUF models, spec/gguf.md §1.5: shards written by the `gguf` package's own
writer (GGUFWriter split_max_tensors / split_max_size / small_first_shard) open from the first
shard as one model in ld.GGUFFile (checked against gguf.GGUFReader on every shard), every split.*
key and count is checked (missing, renamed, foreign and inconsistent shards are clear errors),
llama-diffusion-inspect shows one model, and llama-diffusion-convert / -quantize write shards
that the `gguf` package reads back and that hold exactly the tensors of the unsplit output.
HF parity of a model loaded from shards is in test_model_parity.py."""
import json
import os
import shutil

import numpy as np
import pytest

gguf = pytest.importorskip("gguf")
pytest.importorskip("tokenizers")

import hf_tiny  # noqa: E402
import llama_diffusion as ld  # noqa: E402
from convert_helpers import read_gguf, run_cli  # noqa: E402

VT = gguf.GGUFValueType
CONVERT = "llama_diffusion.convert"
QUANTIZE = "llama_diffusion.convert.quantize"


def tensors_for(seed=0, n=7):
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        arr = rng.standard_normal((i + 1, 32 * (i % 3 + 1))).astype(np.float32)
        out.append((f"t{i}.weight", arr))
    return out


def write_split(path, tensors, arch="testarch", extra_kv=(), **split):
    """Writes through gguf.GGUFWriter with its split options; returns the shard paths, in order."""
    w = gguf.GGUFWriter(str(path), arch=arch, **split)
    w.add_uint32("test.value", 1234)
    w.add_string("general.name", "split test")
    for k, v in extra_kv:
        w.add_uint32(k, v)
    for name, arr in tensors:
        w.add_tensor(name, arr)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    stem = str(path)[:-5]
    n = len(w.tensors)
    return [f"{stem}-{i + 1:05d}-of-{n:05d}.gguf" for i in range(n)] if n > 1 else [str(path)]


def check_against_reference(first, shards):
    """GGUFFile(first) is the union of the shards as gguf.GGUFReader reads them, one by one."""
    with ld.GGUFFile(first) as f:
        assert f.shard_paths == shards
        assert f.total_size == sum(os.path.getsize(p) for p in shards)
        r0 = gguf.GGUFReader(shards[0])
        want_meta = {k: fl.contents() for k, fl in r0.fields.items() if not k.startswith("GGUF.")}
        assert f.metadata == pytest.approx(want_meta)
        seen = []
        for i, p in enumerate(shards):
            r = gguf.GGUFReader(p)
            assert r.fields["split.no"].contents() == i
            assert r.fields["split.count"].contents() == len(shards)
            assert r.fields["split.tensors.count"].contents() == len(f.tensors)
            for t in r.tensors:
                info = f.tensor_info(t.name)
                assert info.shard == i
                assert info.file_offset == t.data_offset  # absolute in gguf-py
                assert info.shape == tuple(int(d) for d in t.shape)
                assert np.array_equal(f.raw(t.name), np.asarray(t.data).view(np.uint8).reshape(-1))
                seen.append(t.name)
        assert seen == [t.name for t in f.tensors]
        return f.metadata


@pytest.mark.parametrize("split", [{"split_max_tensors": 3}, {"split_max_size": 1500},
                                   {"split_max_tensors": 2, "small_first_shard": True}])
def test_gguf_package_shards_read_as_one_model(tmp_path, split):
    ts = tensors_for()
    shards = write_split(tmp_path / "m.gguf", ts, **split)
    assert len(shards) >= 3
    meta = check_against_reference(shards[0], shards)
    assert meta["test.value"] == 1234 and meta["general.name"] == "split test"
    with ld.GGUFFile(shards[0]) as f:
        for name, arr in ts:
            assert np.array_equal(f.tensor(name), arr)


def test_single_shard_with_split_keys(tmp_path):
    # llama.cpp's gguf-split writes split.count = 1 for a one-shard "split"; it is an ordinary file.
    p = tmp_path / "one.gguf"
    w = gguf.GGUFWriter(str(p), arch="testarch")
    w.add_uint16("split.no", 0)
    w.add_uint16("split.count", 1)
    w.add_int32("split.tensors.count", 2)
    for name, arr in tensors_for(n=2):
        w.add_tensor(name, arr)
    w.write_header_to_file(); w.write_kv_data_to_file(); w.write_tensors_to_file(); w.close()
    with ld.GGUFFile(p) as f:
        assert f.shard_paths == [str(p)] and len(f.tensors) == 2


def _err(path):
    with pytest.raises(ld.GGUFError) as e:
        ld.GGUFFile(path)
    return str(e.value)


def test_missing_shard(tmp_path):
    shards = write_split(tmp_path / "m.gguf", tensors_for(), split_max_tensors=3)
    os.unlink(shards[1])
    msg = _err(shards[0])
    assert "shard 2 of 3" in msg and "missing" in msg and os.path.basename(shards[1]) in msg


def test_not_the_first_shard(tmp_path):
    shards = write_split(tmp_path / "m.gguf", tensors_for(), split_max_tensors=3)
    msg = _err(shards[2])
    assert "shard 3 of 3" in msg and "open the first shard" in msg and os.path.basename(shards[0]) in msg


def test_renamed_first_shard(tmp_path):
    shards = write_split(tmp_path / "m.gguf", tensors_for(), split_max_tensors=3)
    other = tmp_path / "renamed.gguf"
    shutil.copy(shards[0], other)
    msg = _err(other)
    assert "3 shards" in msg and "-00001-of-00003.gguf" in msg


def test_foreign_shard(tmp_path):
    # shard 2 replaced by shard 2 of a model split differently (4 shards, so split.count = 4)
    shards = write_split(tmp_path / "m.gguf", tensors_for(), split_max_tensors=3)
    other = write_split(tmp_path / "o.gguf", tensors_for(1), split_max_tensors=2)
    assert len(other) == 4
    shutil.copy(other[1], shards[1])
    msg = _err(shards[0])
    assert "shard 2 of 3" in msg and "does not belong" in msg and "split.count is 4, expected 3" in msg


def test_shard_numbers_swapped(tmp_path):
    shards = write_split(tmp_path / "m.gguf", tensors_for(), split_max_tensors=3)
    a, b = open(shards[1], "rb").read(), open(shards[2], "rb").read()
    open(shards[1], "wb").write(b)
    open(shards[2], "wb").write(a)
    msg = _err(shards[0])
    assert "split.no is 2, expected 1" in msg


def _manual_shards(tmp_path, counts, total, names=None):
    """Shards written one by one with hand-set split keys: counts[i] tensors each, split.tensors.count = total."""
    n = len(counts)
    paths, k = [], 0
    ts = tensors_for(n=sum(counts))
    for i, c in enumerate(counts):
        p = str(tmp_path / f"h-{i + 1:05d}-of-{n:05d}.gguf")
        w = gguf.GGUFWriter(p, arch="testarch")
        w.add_uint16("split.no", i)
        w.add_uint16("split.count", n)
        w.add_int32("split.tensors.count", total)
        for j in range(c):
            name, arr = ts[k]
            w.add_tensor(names[k] if names else name, arr)
            k += 1
        w.write_header_to_file(); w.write_kv_data_to_file(); w.write_tensors_to_file(); w.close()
        paths.append(p)
    return paths


def test_tensor_count_mismatch(tmp_path):
    paths = _manual_shards(tmp_path, [2, 2], total=5)
    msg = _err(paths[0])
    assert "split.tensors.count = 5" in msg and "4 tensors" in msg


def test_duplicate_tensor_across_shards(tmp_path):
    paths = _manual_shards(tmp_path, [2, 2], total=4, names=["a", "b", "c", "a"])
    msg = _err(paths[0])
    assert "tensor 'a' is in shard 1 and again in shard 2" in msg


def test_hand_written_shards_load(tmp_path):
    paths = _manual_shards(tmp_path, [2, 3, 1], total=6)
    check_against_reference(paths[0], paths)


def test_inspect_shows_one_model(tmp_path):
    shards = write_split(tmp_path / "m.gguf", tensors_for(), split_max_tensors=3)
    r = run_cli("llama_diffusion.inspect", shards[0])
    assert r.returncode == 0, r.stderr
    assert "split model, 3 shards" in r.stdout and "total: 7 tensors" in r.stdout
    for p in shards:
        assert p in r.stdout
    r = run_cli("llama_diffusion.inspect", shards[0], "--json")
    d = json.loads(r.stdout)
    assert d["shards"] == shards and [t["shard"] for t in d["tensors"]] == [0, 0, 0, 1, 1, 1, 2]
    os.unlink(shards[2])
    r = run_cli("llama_diffusion.inspect", shards[0])
    assert r.returncode == 1 and "shard 3 of 3" in r.stderr and "Traceback" not in r.stderr


# ---- writing shards: llama-diffusion-convert and llama-diffusion-quantize ----

@pytest.fixture(scope="module")
def ckpt(tmp_path_factory):
    d = tmp_path_factory.mktemp("sq") / "np-dg"
    return hf_tiny.make_numpy_checkpoint(str(d), hf_tiny.small_config(), seed=5)


@pytest.fixture(scope="module")
def bf16_gguf(ckpt, tmp_path_factory):
    out = tmp_path_factory.mktemp("g") / "np-dg-BF16.gguf"
    r = run_cli(CONVERT, ckpt, "-o", out, "--outtype", "bf16", "--no-progress")
    assert r.returncode == 0, r.stderr
    return out


def assert_same_model(shards, whole):
    """The shards (read with gguf.GGUFReader) hold the unsplit file's keys and tensors, byte for byte."""
    wf, wt = read_gguf(whole)
    got_t = {}
    for i, p in enumerate(shards):
        f, t = read_gguf(p)
        assert f["split.no"][1] == i and f["split.count"][1] == len(shards)
        assert f["split.tensors.count"][1] == len(wt)
        assert f["split.no"][0] == ["UINT16"] and f["split.tensors.count"][0] == ["INT32"]
        if i == 0:
            assert {k: v for k, v in f.items() if not k.startswith("split.")} == wf
        else:
            assert set(f) == {"split.no", "split.count", "split.tensors.count"}
        assert not set(t) & set(got_t)
        got_t.update(t)
    assert list(got_t) == list(wt)
    for name, (ttype, ne, data) in wt.items():
        assert got_t[name][0] == ttype and got_t[name][1] == ne
        assert np.array_equal(got_t[name][2], data), name


def test_convert_split_max_size(ckpt, bf16_gguf, tmp_path):
    out = tmp_path / "dg.gguf"
    r = run_cli(CONVERT, ckpt, "-o", out, "--outtype", "bf16", "--no-progress", "--split-max-size", "60K")
    assert r.returncode == 0, r.stderr
    shards = sorted(str(p) for p in tmp_path.glob("dg-*-of-*.gguf"))
    assert len(shards) >= 3 and not out.exists() and "shards" in r.stderr
    for p in shards:
        _, t = read_gguf(p)
        assert sum(d.nbytes for _, _, d in t.values()) <= 60_000 or len(t) == 1
    assert_same_model(shards, bf16_gguf)
    with ld.GGUFFile(shards[0]) as f:
        assert f.shard_paths == shards


def test_convert_split_bad_size(ckpt, tmp_path):
    r = run_cli(CONVERT, ckpt, "-o", tmp_path / "x.gguf", "--split-max-size", "48Q")
    assert r.returncode == 1 and "bad size '48Q'" in r.stderr and "Traceback" not in r.stderr


def test_quantize_writes_and_reads_shards(bf16_gguf, tmp_path):
    whole = tmp_path / "q8.gguf"
    assert run_cli(QUANTIZE, bf16_gguf, whole, "q8_0", "--no-progress").returncode == 0
    out = tmp_path / "q8s.gguf"
    r = run_cli(QUANTIZE, bf16_gguf, out, "q8_0", "--no-progress", "--split-max-tensors", "10")
    assert r.returncode == 0, r.stderr
    shards = sorted(str(p) for p in tmp_path.glob("q8s-*-of-*.gguf"))
    assert len(shards) >= 3
    for p in shards:
        assert len(read_gguf(p)[1]) <= 10
    assert_same_model(shards, whole)
    # a split input opens from its first shard: requantizing it gives the unsplit result
    a, b = tmp_path / "a.gguf", tmp_path / "b.gguf"
    assert run_cli(QUANTIZE, whole, a, "f32", "--no-progress").returncode == 0
    r = run_cli(QUANTIZE, shards[0], b, "f32", "--no-progress")
    assert r.returncode == 0, r.stderr
    assert a.read_bytes() == b.read_bytes()
    # an output shard name that is an input shard is refused
    r = run_cli(QUANTIZE, shards[0], out, "q8_0", "--force", "--split-max-tensors", "10")
    assert r.returncode == 1 and "input" in r.stderr
