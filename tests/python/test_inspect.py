"""The inspect command (python -m llama_diffusion.inspect): on the real Gemma 3 file (exit 0,
architecture, keys, tensor table, per-type counts that agree with gguf.GGUFReader) and on bad
files (exit 1, exactly one "error: ..." line on stderr, no traceback)."""
import json
import re
import subprocess
import sys
from collections import Counter

import pytest


def run_inspect(*args):
    return subprocess.run([sys.executable, "-m", "llama_diffusion.inspect", *map(str, args)],
                          capture_output=True, text=True, timeout=300)


def test_inspect_gemma3(gemma3_gguf):
    import llama_diffusion as ld

    r = run_inspect(gemma3_gguf)
    assert r.returncode == 0, r.stderr
    out = r.stdout
    assert re.search(r"^architecture:\s+gemma3$", out, re.M)
    assert re.search(r"^GGUF version:\s+3$", out, re.M)
    assert re.search(r"tokenizer\.ggml\.tokens\s+ARRAY\[STRING\]\s+\['<pad>'.*\(262144 total\)\]", out)
    assert re.search(r"gemma3\.block_count\s+UINT32\s+18$", out, re.M)
    # The reader's tensor table is checked against gguf.GGUFReader in test_gguf_reader.py.
    with ld.GGUFFile(gemma3_gguf) as f:
        tensors = f.tensors
    counts = Counter(t.type for t in tensors)
    bytes_by_type = Counter()
    for t in tensors:
        bytes_by_type[t.type] += t.nbytes
    assert set(counts) >= {"Q4_K", "Q6_K", "F32"}
    for ttype, n in counts.items():
        assert re.search(rf"^  {ttype}\s+{n}\s+{bytes_by_type[ttype]}\s", out, re.M), ttype
    assert f"total: {len(tensors)} tensors" in out
    for t in tensors[:5]:
        assert t.name in out
    assert r.stderr == ""


def test_inspect_json_and_no_tensors(gemma3_gguf):
    r = run_inspect("--json", "--no-tensors", gemma3_gguf)
    assert r.returncode == 0, r.stderr
    d = json.loads(r.stdout)
    assert d["architecture"] == "gemma3" and d["version"] == 3
    assert d["metadata"]["tokenizer.ggml.tokens"]["value"]["length"] == 262144
    assert d["metadata"]["gemma3.block_count"] == {"type": "UINT32", "value": 18}
    assert "tensors" not in d
    assert sum(v["count"] for v in d["tensor_types"].values()) == 236


def _assert_one_line_error(r, needle):
    assert r.returncode == 1
    assert r.stdout == ""
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, r.stderr
    assert lines[0].startswith("error: ")
    assert needle in lines[0]
    assert "Traceback" not in r.stderr


def test_inspect_corrupt_file(tmp_path):
    bad = tmp_path / "bad.gguf"
    # A valid header claiming far more key-value records than the file can hold.
    bad.write_bytes(b"GGUF" + (3).to_bytes(4, "little") + (0).to_bytes(8, "little") + (10**6).to_bytes(8, "little")
                    + b"\0" * 40)
    _assert_one_line_error(run_inspect(bad), "key-value count 1000000 is impossible")
    not_gguf = tmp_path / "notes.txt"
    not_gguf.write_text("hello world, this is not a model\n")
    _assert_one_line_error(run_inspect(not_gguf), "bad magic")


def test_inspect_missing_file(tmp_path):
    _assert_one_line_error(run_inspect(tmp_path / "missing.gguf"), "No such file or directory")
