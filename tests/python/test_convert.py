"""Converter tests: tiny random DiffusionGemma checkpoints built with transformers in the test run,
converted with llama-diffusion-convert and read back with the `gguf` package.

Covers: F32 conversion equals every checkpoint tensor, metadata key by key (values and types),
tokenizer metadata, both config spellings, quantized outputs within per-type error budgets and the
legacy types bit-identical to gguf.quants.quantize, the real 26B-A4B type plans from a config.json
alone, --dry-run, progress on stderr, vision tensors skipped, and the error paths.
"""
import json
import os
import shutil

import numpy as np
import pytest

pytest.importorskip("gguf")
pytest.importorskip("transformers")
pytest.importorskip("tokenizers")

import hf_tiny  # noqa: E402
from convert_helpers import hf_name, read_gguf, run_cli, tensor_f32  # noqa: E402

CLI = "llama_diffusion.convert"


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """6 layers (s,s,f,s,s,f), hidden 64, bf16, sharded into several files with an index."""
    d = tmp_path_factory.mktemp("tiny") / "tiny-dg"
    hf_tiny.make_checkpoint(str(d), max_shard_size="300KB")
    assert os.path.exists(d / "model.safetensors.index.json")
    return d


@pytest.fixture(scope="module")
def tiny_src(tiny):
    return hf_tiny.load_safetensors_f32(str(tiny))


@pytest.fixture(scope="module")
def tiny_f32(tiny, tmp_path_factory):
    out = tmp_path_factory.mktemp("out") / "tiny-f32.gguf"
    r = run_cli(CLI, tiny, "-o", out, "--outtype", "f32")
    assert r.returncode == 0, r.stderr
    return out, r


@pytest.fixture(scope="module")
def q_ckpt(tmp_path_factory):
    """hidden 256 (K-quant rows), dense width 160 and expert width 64 (not multiples of 256:
    exercises the llama-quantize fallbacks), 3 layers (s, s, f), f32 weights."""
    d = tmp_path_factory.mktemp("q") / "q-dg"
    hf_tiny.make_checkpoint(str(d), hidden=256, intermediate=160, moe_intermediate=64, layers=3, heads=4,
                            kv_heads=2, head_dim=64, global_head_dim=128, global_kv_heads=1, experts=4,
                            dtype="float32", seed=7)
    return d


# ---------------------------------------------------------------------------------------------
def test_f32_conversion_equals_checkpoint(tiny_f32, tiny_src):
    out, r = tiny_f32
    _, tensors = read_gguf(out)
    assert len(tensors) == 143  # 4*23 + 2*22 + 7 (spec: "our tiny 6-layer file has 143")
    used = set()
    for name, (ttype, ne, data) in tensors.items():
        assert ttype == "F32", name
        src = hf_name(name)
        if src is None:  # rope_freqs: Hg*0.25/2 ones, then 1e30; Hg = 32 -> 4 ones of 16
            assert ne == [16]
            assert np.array_equal(data, np.array([1.0] * 4 + [1e30] * 12, dtype=np.float32))
            continue
        used.add(src)
        want = tiny_src[src]
        got = data.reshape(list(reversed(ne)))
        assert got.shape == want.shape, (name, got.shape, want.shape)
        assert np.array_equal(got, want), name
    # every text tensor of the checkpoint is used; only vision tensors are left out
    left = {k for k in tiny_src if k not in used}
    assert left and all("vision" in k for k in left), sorted(left)[:5]
    assert r.stderr.count("skipping 16 vision tensors") == 1
    assert "[143/143] 100.0%" in r.stderr  # progress on stderr


def test_fused_experts_layout(tiny_f32, tiny_src):
    _, tensors = read_gguf(tiny_f32[0])
    ttype, ne, data = tensors["blk.2.ffn_gate_up_exps.weight"]
    assert ne == [64, 64, 8]  # {E, 2*Fe, X}
    x = data.reshape(8, 64, 64)
    gu = tiny_src["model.decoder.layers.2.experts.gate_up_proj"]
    assert np.array_equal(x[3, :32], gu[3, :32])  # gate half first
    assert tensors["blk.2.ffn_down_exps.weight"][1] == [32, 64, 8]  # {Fe, E, X}
    assert "blk.2.attn_v.weight" not in tensors and "blk.1.attn_v.weight" in tensors


def _expected_kv():
    V = "UINT32"
    return {
        "general.architecture": (["STRING"], "diffusion-gemma"),
        "general.file_type": ([V], 0),
        "general.quantization_version": ([V], 2),
        "diffusion-gemma.block_count": ([V], 6),
        "diffusion-gemma.context_length": ([V], 4096),
        "diffusion-gemma.embedding_length": ([V], 64),
        "diffusion-gemma.feed_forward_length": ([V], 96),
        "diffusion-gemma.attention.head_count": ([V], 4),
        "diffusion-gemma.attention.head_count_kv": (["ARRAY", "INT32"], [2, 2, 1, 2, 2, 1]),
        "diffusion-gemma.rope.freq_base": (["FLOAT32"], 1e6),
        "diffusion-gemma.rope.freq_base_swa": (["FLOAT32"], 1e4),
        "diffusion-gemma.attention.layer_norm_rms_epsilon": (["FLOAT32"], 1e-6),
        "diffusion-gemma.expert_count": ([V], 8),
        "diffusion-gemma.expert_used_count": ([V], 2),
        "diffusion-gemma.expert_feed_forward_length": ([V], 32),
        "diffusion-gemma.attention.key_length": ([V], 32),
        "diffusion-gemma.attention.value_length": ([V], 32),
        "diffusion-gemma.attention.key_length_swa": ([V], 16),
        "diffusion-gemma.attention.value_length_swa": ([V], 16),
        "diffusion-gemma.rope.dimension_count": ([V], 32),
        "diffusion-gemma.rope.dimension_count_swa": ([V], 16),
        "diffusion-gemma.attention.sliding_window": ([V], 16),
        "diffusion-gemma.attention.sliding_window_pattern": (["ARRAY", "BOOL"], [True, True, False, True, True, False]),
        "diffusion-gemma.final_logit_softcapping": (["FLOAT32"], 30.0),
        "diffusion-gemma.attention.shared_kv_layers": ([V], 0),
        "diffusion-gemma.embedding_length_per_layer_input": ([V], 0),
        "diffusion-gemma.attention.causal": (["BOOL"], False),
        "diffusion.canvas_length": ([V], 32),
        "diffusion.eb_max_steps": ([V], 48),
        "diffusion.eb_t_min": (["FLOAT32"], 0.4),
        "diffusion.eb_t_max": (["FLOAT32"], 0.8),
        "diffusion.eb_entropy_bound": (["FLOAT32"], 0.1),
        "diffusion.eb_stability_threshold": ([V], 1),
        "diffusion.eb_confidence_threshold": (["FLOAT32"], 0.005),
        "diffusion.eos_token_ids": (["ARRAY", "INT32"], [1, 106, 50]),
        "tokenizer.ggml.model": (["STRING"], "gemma4"),
        "tokenizer.ggml.bos_token_id": ([V], 2),
        "tokenizer.ggml.eos_token_id": ([V], 1),
        "tokenizer.ggml.unknown_token_id": ([V], 3),
        "tokenizer.ggml.padding_token_id": ([V], 0),
        "tokenizer.ggml.mask_token_id": ([V], 4),
        "tokenizer.ggml.add_bos_token": (["BOOL"], True),
        "tokenizer.ggml.add_eos_token": (["BOOL"], False),
        "tokenizer.ggml.add_space_prefix": (["BOOL"], False),
    }


def test_metadata_matches_schema(tiny_f32):
    fields, _ = read_gguf(tiny_f32[0])
    for key, (types, value) in _expected_kv().items():
        assert key in fields, key
        got_types, got = fields[key]
        assert got_types == types, (key, got_types)
        if isinstance(value, float):
            assert got == pytest.approx(value, rel=1e-6), key
        else:
            assert got == value, key
    assert fields["general.name"] == (["STRING"], "tiny-dg")
    for k in ("tokenizer.ggml.tokens", "tokenizer.ggml.scores", "tokenizer.ggml.token_type", "tokenizer.ggml.merges"):
        assert fields[k][0][0] == "ARRAY"
    assert fields["tokenizer.ggml.tokens"][0] == ["ARRAY", "STRING"]
    assert fields["tokenizer.ggml.scores"][0] == ["ARRAY", "FLOAT32"]
    assert fields["tokenizer.ggml.token_type"][0] == ["ARRAY", "INT32"]
    assert "<|turn>" in fields["tokenizer.chat_template"][1]
    assert not any("vision" in k for k in fields)


def test_tokenizer_metadata(tiny_f32, tiny):
    fields, _ = read_gguf(tiny_f32[0])
    tj = json.loads((tiny / "tokenizer.json").read_text())
    vocab = tj["model"]["vocab"]
    tokens = fields["tokenizer.ggml.tokens"][1]
    types = fields["tokenizer.ggml.token_type"][1]
    assert len(tokens) == len(vocab) == 512
    for tok, i in vocab.items():
        assert tokens[i] == tok
    assert types[:7] == [3] * 7                         # specials: CONTROL
    assert types[7:263] == [6] * 256 and tokens[7] == "<0x00>"  # byte tokens: BYTE
    assert set(types[263:]) == {1}                      # the rest: NORMAL
    merges = fields["tokenizer.ggml.merges"][1]
    want = [m if isinstance(m, str) else f"{m[0]} {m[1]}" for m in tj["model"]["merges"]]
    assert merges == want and len(merges) > 10


def test_old_config_spelling_converts_identically(tiny, tiny_f32, tmp_path):
    d = tmp_path / "tiny-dg"
    shutil.copytree(tiny, d)
    cfg = json.loads((d / "config.json").read_text())
    tc = cfg["text_config"]
    assert "per_layer_config" in tc
    del tc["per_layer_config"]
    tc["global_head_dim"], tc["num_global_key_value_heads"] = 32, 1
    (d / "config.json").write_text(json.dumps(cfg))
    out = tmp_path / "old.gguf"
    r = run_cli(CLI, d, "-o", out, "--outtype", "f32", "--no-progress")
    assert r.returncode == 0, r.stderr
    assert out.read_bytes() == tiny_f32[0].read_bytes()


def test_generation_config_nulls_tolerated(tiny, tmp_path):
    d = tmp_path / "tiny-dg"
    shutil.copytree(tiny, d)
    gen = json.loads((d / "generation_config.json").read_text())
    gen.update(t_min=None, sampler_config=None, max_denoising_steps=None)
    (d / "generation_config.json").write_text(json.dumps(gen))
    out = tmp_path / "o.gguf"
    r = run_cli(CLI, d, "-o", out, "--outtype", "bf16", "--no-progress")
    assert r.returncode == 0, r.stderr
    fields, tensors = read_gguf(out)
    for k in ("diffusion.eb_t_min", "diffusion.eb_entropy_bound", "diffusion.eb_max_steps"):
        assert k not in fields
    assert fields["diffusion.eb_t_max"][1] == pytest.approx(0.8)
    assert fields["diffusion.eos_token_ids"][1] == [1, 106, 50]
    assert fields["general.file_type"][1] == 32
    assert tensors["blk.0.attn_q.weight"][0] == "BF16" and tensors["blk.0.ffn_gate_inp.weight"][0] == "F32"


# ---------------------------------------------------------------------------------------------
# quantized outputs
BUDGET = {  # max relative RMS error per tensor (gaussian-like weights; norms are kept F32)
    "F32": 0.0, "BF16": 0.005, "F16": 0.001, "Q8_0": 0.006, "Q6_K": 0.02, "Q5_0": 0.045, "Q5_1": 0.04,
    "Q5_K": 0.04, "Q4_0": 0.09, "Q4_K": 0.08,
}
LEGACY = ("Q8_0", "Q4_0", "Q5_0", "Q5_1")


@pytest.mark.parametrize("outtype,expect", [
    ("q8_0", {"Q8_0"}), ("q4_0", {"Q4_0", "Q6_K"}), ("q5_0", {"Q5_0", "Q6_K"}), ("q6_k", {"Q6_K", "Q8_0"}),
    ("q5_k_m", {"Q5_K", "Q5_1", "Q6_K", "Q8_0"}), ("q4_k_m", {"Q4_K", "Q5_0", "Q6_K", "Q8_0"}),
    ("f16", {"F16"}),
])
def test_quantized_within_budget(q_ckpt, tmp_path, outtype, expect):
    import gguf
    src = hf_tiny.load_safetensors_f32(str(q_ckpt))
    out = tmp_path / f"{outtype}.gguf"
    r = run_cli(CLI, q_ckpt, "-o", out, "--outtype", outtype, "--no-progress")
    assert r.returncode == 0, r.stderr
    fields, tensors = read_gguf(out)
    seen = set()
    for name, (ttype, ne, data) in tensors.items():
        seen.add(ttype)
        s = hf_name(name)
        if s is None:
            continue
        want = src[s]
        got = tensor_f32(ttype, ne, data)
        err = np.sqrt(np.mean((got - want) ** 2)) / max(1e-12, np.sqrt(np.mean(want ** 2)))
        assert err <= BUDGET[ttype], (name, ttype, err)
        if ttype in LEGACY:  # bit-identical to gguf-py's reference quantizer
            ref = gguf.quants.quantize(want.astype(np.float32), gguf.GGMLQuantizationType[ttype])
            assert np.array_equal(np.asarray(ref).reshape(-1), data.reshape(-1)), name
    assert seen - {"F32"} == expect
    # the recipe details that are visible at this size
    if outtype in ("q4_k_m", "q5_k_m"):
        hi = "Q8_0"  # use_more_bits layers get Q6_K, which falls back to Q8_0 on 160/64-wide rows
        lo = "Q5_0" if outtype == "q4_k_m" else "Q5_1"
        # n_layer 3: use_more_bits is true for layer 2 only; attn_v #1 of 2 gets Q6_K
        assert tensors["blk.2.ffn_down.weight"][0] == hi and tensors["blk.1.ffn_down_exps.weight"][0] == lo
        assert tensors["blk.1.attn_v.weight"][0] == "Q6_K" and tensors["blk.0.attn_v.weight"][0] == outtype[:2].upper() + "_K"
        assert tensors["token_embd.weight"][0] == "Q6_K"
        assert tensors["self_cond_down.weight"][0] == lo
    if outtype != "f16":
        assert fields["general.file_type"][1] == {"q8_0": 7, "q4_0": 2, "q5_0": 8, "q6_k": 18, "q5_k_m": 17,
                                                  "q4_k_m": 15}[outtype]


# ---------------------------------------------------------------------------------------------
# the real model's type plan, from config.json alone
REAL_PLANS = {
    "q4_k_m": {"F32": 423, "Q4_K": 194, "Q5_0": 33, "Q8_0": 28, "Q6_K": 14},
    "q5_k_m": {"F32": 423, "Q5_K": 194, "Q5_1": 33, "Q8_0": 28, "Q6_K": 14},
    "q6_k": {"F32": 423, "Q6_K": 208, "Q8_0": 61},
    "q8_0": {"F32": 423, "Q8_0": 269},
    "bf16": {"F32": 423, "BF16": 269},
    "f16": {"F32": 423, "F16": 269},
}


@pytest.mark.parametrize("spelling", ["global_keys", "per_layer_config"])
def test_real_model_type_plans(tmp_path, spelling):
    cfg = hf_tiny.real_config()
    if spelling == "per_layer_config":
        tc = cfg["text_config"]
        tc.pop("global_head_dim"), tc.pop("num_global_key_value_heads")
        tc["per_layer_config"] = {str(i): {"head_dim": 512, "num_key_value_heads": 2} for i in (5, 11, 17, 23, 29)}
    d = tmp_path / "dg-26b"
    d.mkdir()
    (d / "config.json").write_text(json.dumps(cfg))
    for outtype, want in REAL_PLANS.items():
        r = run_cli(CLI, d, "--outtype", outtype, "--dry-run")
        assert r.returncode == 0, r.stderr
        summary = [line for line in r.stdout.splitlines() if line.startswith("692 tensors:")]
        assert summary, r.stdout[-500:]
        counts = dict((p.split()[0], int(p.split()[1])) for p in summary[0].split(":", 1)[1].split(","))
        assert counts == want, (outtype, counts)
    assert not any(p.suffix == ".gguf" for p in d.iterdir())
    # spot checks of the Q4_K_M plan
    r = run_cli(CLI, d, "--outtype", "q4_k_m", "--dry-run")
    rows = {line.split()[0]: line.split() for line in r.stdout.splitlines()[1:] if line.startswith(("blk", "tok"))}
    assert rows["token_embd.weight"][-2] == "Q6_K"
    assert rows["blk.5.attn_q.weight"][1:3] == ["[2816,", "8192]"]
    assert "blk.5.attn_v.weight" not in rows
    assert rows["blk.0.ffn_down_exps.weight"][-2] == "Q8_0" and rows["blk.3.ffn_down_exps.weight"][-2] == "Q5_0"


def test_dry_run_on_checkpoint(tiny, tmp_path):
    r = run_cli(CLI, tiny, "-o", tmp_path / "x.gguf", "--outtype", "q8_0", "--dry-run")
    assert r.returncode == 0, r.stderr
    assert "blk.0.attn_q.weight" in r.stdout and "143 tensors:" in r.stdout and "output size:" in r.stdout
    assert not (tmp_path / "x.gguf").exists()


# ---------------------------------------------------------------------------------------------
# errors
def _copy(tiny, tmp_path):
    d = tmp_path / "c"
    shutil.copytree(tiny, d)
    return d


def test_error_not_diffusiongemma(tiny, tmp_path):
    d = _copy(tiny, tmp_path)
    cfg = json.loads((d / "config.json").read_text())
    cfg["model_type"], cfg["architectures"] = "gemma3", ["Gemma3ForCausalLM"]
    (d / "config.json").write_text(json.dumps(cfg))
    r = run_cli(CLI, d, "-o", tmp_path / "o.gguf")
    assert r.returncode == 1 and "not a DiffusionGemma checkpoint" in r.stderr and "'gemma3'" in r.stderr
    assert r.stderr.count("\n") == 1  # one line, no traceback


def test_error_missing_shard(tiny, tmp_path):
    d = _copy(tiny, tmp_path)
    shard = sorted(p for p in d.iterdir() if p.suffix == ".safetensors")[1]
    shard.unlink()
    r = run_cli(CLI, d, "-o", tmp_path / "o.gguf")
    assert r.returncode == 1 and "missing 1 of" in r.stderr and shard.name in r.stderr


def test_error_shape_mismatch(tiny, tmp_path):
    d = _copy(tiny, tmp_path)
    cfg = json.loads((d / "config.json").read_text())
    cfg["text_config"]["intermediate_size"] = 128
    (d / "config.json").write_text(json.dumps(cfg))
    r = run_cli(CLI, d, "-o", tmp_path / "o.gguf")
    assert r.returncode == 1 and "shape mismatch" in r.stderr and "[96, 64]" in r.stderr
    assert not (tmp_path / "o.gguf").exists()


def test_error_missing_canvas_length(tiny, tmp_path):
    d = _copy(tiny, tmp_path)
    cfg = json.loads((d / "config.json").read_text())
    del cfg["canvas_length"]
    (d / "config.json").write_text(json.dumps(cfg))
    r = run_cli(CLI, d, "-o", tmp_path / "o.gguf")
    assert r.returncode == 1 and "canvas_length" in r.stderr


def test_existing_output_needs_force(tiny, tmp_path):
    out = tmp_path / "o.gguf"
    out.write_bytes(b"keep me")
    r = run_cli(CLI, tiny, "-o", out, "--outtype", "q8_0")
    assert r.returncode == 1 and "exists" in r.stderr and "--force" in r.stderr
    assert out.read_bytes() == b"keep me"
    r = run_cli(CLI, tiny, "-o", out, "--outtype", "q8_0", "--force", "--no-progress")
    assert r.returncode == 0, r.stderr
    assert out.read_bytes()[:4] == b"GGUF"


def test_failure_leaves_no_output(tiny, tmp_path, monkeypatch):
    """A failure mid-write (here: disk full on the 50th tensor) leaves neither the final file nor
    the temporary one."""
    import errno
    from llama_diffusion.convert import ConvertError, convert, writer

    real = writer.GGUFStreamWriter.write_tensor_chunk

    def failing(self, data):
        if self._cur == 50:
            raise_os = OSError(errno.ENOSPC, "No space left on device")
            self._f.write = lambda b: (_ for _ in ()).throw(raise_os)
        return real(self, data)

    monkeypatch.setattr(writer.GGUFStreamWriter, "write_tensor_chunk", failing)
    out = tmp_path / "o.gguf"
    with pytest.raises(ConvertError, match="disk full"):
        convert(str(tiny), str(out), "q8_0", progress=False, log=lambda m: None)
    assert list(tmp_path.iterdir()) == []


def test_bad_safetensors_header(tiny, tmp_path):
    d = _copy(tiny, tmp_path)
    shard = sorted(p for p in d.iterdir() if p.suffix == ".safetensors")[0]
    b = bytearray(shard.read_bytes())
    b[0:8] = (10 ** 12).to_bytes(8, "little")
    shard.write_bytes(bytes(b))
    r = run_cli(CLI, d, "-o", tmp_path / "o.gguf")
    assert r.returncode == 1 and "header length" in r.stderr


# ---------------------------------------------------------------------------------------------
# streaming: peak memory stays far below the checkpoint size
# VmHWM (peak RSS of this process image): ru_maxrss would include the parent's peak, which Linux
# carries across fork+exec
MEASURE = r"""
import sys
from llama_diffusion.convert.__main__ import main
rc = main(sys.argv[1:])
hwm = [l for l in open("/proc/self/status") if l.startswith("VmHWM:")][0].split()[1]
print("PEAK_RSS_KB", hwm, file=sys.stderr)
sys.exit(rc)
"""


@pytest.mark.skipif(not os.path.exists("/proc/self/status"), reason="needs Linux /proc")
def test_peak_memory_bounded(tmp_path):
    import subprocess
    import sys
    # ~420 MB of bf16: a 65536 x 1024 embedding and two MoE layers with 32 experts of width 512
    cfg = hf_tiny.small_config(hidden=1024, vocab=65536, layers=2, experts=32, moe=512, ff=1024, heads=8,
                               kv=2, hd=128, ghd=256, gkv=1)
    d = hf_tiny.make_numpy_checkpoint(str(tmp_path / "big"), cfg, seed=1, with_tokenizer=False)
    hf_tiny.make_tokenizer(d, 65536)
    size = os.path.getsize(os.path.join(d, "model.safetensors"))
    assert size > 350e6
    out = tmp_path / "big.gguf"
    r = subprocess.run([sys.executable, "-c", MEASURE, d, "-o", str(out), "--outtype", "q8_0", "--threads", "2"],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    peak = int(r.stderr.split("PEAK_RSS_KB")[1].split()[0]) * 1024
    assert peak < 0.5 * size and peak < 250e6, (peak, size)
    assert out.stat().st_size > 0.5 * size  # q8_0 of bf16: about 8.5/16 of the input
