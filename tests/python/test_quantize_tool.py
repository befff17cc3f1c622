"""llama-diffusion-quantize tests: GGUF -> GGUF requantization with the converter's recipes.

Checkpoints here are written with numpy only (random bf16), so no torch is needed. The key
property: converting to BF16 and then requantizing gives the same file, byte for byte, as
converting straight to the target type (bf16 -> f32 is exact, and the same quantizers run).
"""
import os

import numpy as np
import pytest

pytest.importorskip("gguf")
pytest.importorskip("tokenizers")

import hf_tiny  # noqa: E402
from convert_helpers import read_gguf, run_cli, tensor_f32  # noqa: E402

CONVERT = "llama_diffusion.convert"
QUANTIZE = "llama_diffusion.convert.quantize"


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory):
    d = tmp_path_factory.mktemp("nq") / "np-dg"
    return hf_tiny.make_numpy_checkpoint(str(d), hf_tiny.small_config(), seed=3)


@pytest.fixture(scope="module")
def bf16_gguf(ckpt, tmp_path_factory):
    out = tmp_path_factory.mktemp("g") / "np-dg-BF16.gguf"
    r = run_cli(CONVERT, ckpt, "-o", out, "--outtype", "bf16", "--no-progress")
    assert r.returncode == 0, r.stderr
    return out


@pytest.mark.parametrize("outtype", ["q4_k_m", "q8_0", "f16"])
def test_requantize_equals_direct_conversion(ckpt, bf16_gguf, tmp_path, outtype):
    direct = tmp_path / "direct.gguf"
    r = run_cli(CONVERT, ckpt, "-o", direct, "--outtype", outtype, "--no-progress")
    assert r.returncode == 0, r.stderr
    req = tmp_path / "req.gguf"
    r = run_cli(QUANTIZE, bf16_gguf, req, outtype)
    assert r.returncode == 0, r.stderr
    assert "100.0%" in r.stderr  # progress on stderr
    assert req.read_bytes() == direct.read_bytes()


def test_requantize_from_quantized(bf16_gguf, tmp_path):
    q8 = tmp_path / "q8.gguf"
    assert run_cli(QUANTIZE, bf16_gguf, q8, "q8_0").returncode == 0
    q4 = tmp_path / "q4.gguf"
    r = run_cli(QUANTIZE, q8, q4, "q4_k_m")
    assert r.returncode == 0, r.stderr
    assert "already quantized" in r.stderr
    fields, tensors = read_gguf(q4)
    _, src = read_gguf(bf16_gguf)
    assert fields["general.file_type"][1] == 15
    assert tensors["blk.0.attn_q.weight"][0] == "Q4_K" and tensors["token_embd.weight"][0] == "Q6_K"
    for name in ("blk.0.attn_q.weight", "blk.1.ffn_down_exps.weight"):
        got = tensor_f32(*tensors[name])
        want = tensor_f32(*src[name])
        err = np.sqrt(np.mean((got - want) ** 2) / np.mean(want ** 2))
        assert err < 0.1, (name, err)
    # F32 tensors are copied unchanged
    assert np.array_equal(tensors["blk.0.attn_norm.weight"][2], src["blk.0.attn_norm.weight"][2])


def test_requantize_to_f32_is_exact(bf16_gguf, tmp_path):
    out = tmp_path / "f32.gguf"
    assert run_cli(QUANTIZE, bf16_gguf, out, "f32", "--no-progress").returncode == 0
    _, tensors = read_gguf(out)
    _, src = read_gguf(bf16_gguf)
    for name, (ttype, ne, data) in tensors.items():
        assert ttype == "F32"
        assert np.array_equal(tensor_f32(ttype, ne, data), tensor_f32(*src[name])), name


def test_dry_run(bf16_gguf, tmp_path):
    out = tmp_path / "o.gguf"
    r = run_cli(QUANTIZE, bf16_gguf, out, "q4_k_m", "--dry-run")
    assert r.returncode == 0, r.stderr
    assert "BF16   -> Q4_K" in r.stdout and "tensors:" in r.stdout
    assert not out.exists()


def test_errors(bf16_gguf, tmp_path):
    out = tmp_path / "o.gguf"
    out.write_bytes(b"x")
    r = run_cli(QUANTIZE, bf16_gguf, out, "q8_0")
    assert r.returncode == 1 and "exists" in r.stderr and out.read_bytes() == b"x"
    r = run_cli(QUANTIZE, bf16_gguf, bf16_gguf, "q8_0", "--force")
    assert r.returncode == 1 and "same file" in r.stderr
    bad = tmp_path / "bad.gguf"
    bad.write_bytes(b"NOPE" + bytes(100))
    r = run_cli(QUANTIZE, bad, tmp_path / "p.gguf", "q8_0")
    assert r.returncode == 1 and "bad magic" in r.stderr
    trunc = tmp_path / "trunc.gguf"
    trunc.write_bytes(bf16_gguf.read_bytes()[: os.path.getsize(bf16_gguf) // 2])
    r = run_cli(QUANTIZE, trunc, tmp_path / "q.gguf", "q8_0")
    assert r.returncode == 1 and "past the end" in r.stderr
    assert "Traceback" not in r.stderr
    assert not (tmp_path / "q.gguf").exists() and not (tmp_path / "p.gguf").exists()


def test_requantize_to_iq3(bf16_gguf, tmp_path):
    """iq3_s / iq3_xxs (llama-quantize makes them without an importance matrix): matrices of 256-
    multiple rows become IQ3_*, the others fall back to IQ4_NL, and the file reads back (gguf
    dequantizes it exactly as we do) close to the BF16 weights."""
    for outtype, t in (("iq3_s", "IQ3_S"), ("iq3_xxs", "IQ3_XXS")):
        out = tmp_path / f"{outtype}.gguf"
        r = run_cli(QUANTIZE, bf16_gguf, out, outtype)
        assert r.returncode == 0, r.stderr
        _, tens = read_gguf(out)
        types = {v[0] for v in tens.values()}
        assert t in types, types
        _, src = read_gguf(bf16_gguf)
        for name, (tt, ne, data) in tens.items():
            if tt == t:
                a, b = tensor_f32(tt, ne, data), tensor_f32(*src[name])
                assert np.sqrt(np.mean((a - b) ** 2) / np.mean(b ** 2)) < 0.25, name


@pytest.mark.parametrize("outtype", ["iq2_xxs", "iq1_m"])
def test_imatrix_types_refused(bf16_gguf, tmp_path, outtype):
    r = run_cli(QUANTIZE, bf16_gguf, tmp_path / "x.gguf", outtype)
    assert r.returncode == 1 and "importance matrix" in r.stderr and "Traceback" not in r.stderr, r.stderr
    assert not (tmp_path / "x.gguf").exists()
