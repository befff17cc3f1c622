"""Smoke test of bench/make_bench_gguf.py and `llama-diffusion-bench model` on a shrunken file
(the real-dimension files are 1.7-2.4 GB): the file loads with the converter's Q4_K_M type plan and
the requested dimensions, and the benchmark reports every figure, positive and consistent."""
import os
import sys

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "bench"))
import make_bench_gguf  # noqa: E402
from llama_diffusion import bench, bench_model  # noqa: E402
from llama_diffusion.gguf import GGUFFile  # noqa: E402
from llama_diffusion.model import Model  # noqa: E402


@pytest.fixture(scope="module")
def small_file(small_bench_gguf):
    return small_bench_gguf


def test_file_shapes_and_types(small_file):
    m = Model(small_file, n_threads=1)
    hp = m.hparams
    assert (hp["n_layer"], hp["n_embd"], hp["n_vocab"], hp["n_head"]) == (2, 256, 2048, 16)
    assert hp["is_swa"] == [True, False] and hp["n_kv_head"] == [8, 2]
    assert (hp["head_dim_swa"], hp["head_dim"], hp["n_expert"], hp["n_expert_used"]) == (64, 128, 8, 8)
    assert hp["canvas_length"] == 256 and hp["self_conditioning"]
    with GGUFFile(small_file) as f:
        types = {t.name: t.type for t in f.tensors}
        assert f.metadata["tokenizer.ggml.model"] == "gemma4"
        assert len(f.metadata["tokenizer.ggml.tokens"]) == 2048
    assert types["token_embd.weight"] == "Q6_K" and types["blk.0.ffn_gate_up_exps.weight"] == "Q4_K"
    # valid blocks: a pass gives finite logits
    m.encode([2, 105, 400, 401])
    import numpy as np
    assert np.isfinite(m.decode_canvas(list(range(300, 316)))).all()


def test_bench_model_json(small_file, capsys):
    assert bench.main(["model", "-m", small_file, "--json", "--repeats", "1", "--threads", "1",
                       "--prompt-tokens", "40", "--prefix", "8", "--canvas", "32"]) == 0
    import json
    res = json.loads(capsys.readouterr().out)
    for k in ("wall", "cpu_time"):
        d, e = res[k]["decoder"], res[k]["encoder_per_1000_tokens"]
        assert d["pass_ms"] > 0 and d["lm_head_ms"] > 0 and d["pass_with_sc_ms"] > 0
        assert abs(d["vocab_work_ms"] - d["logits_in_pass_ms"] - d["self_conditioning_ms"]) < 0.2
        assert abs(d["layers_ms"] + d["logits_in_pass_ms"] - d["pass_ms"]) < 0.2
        assert d["fused_head_ms"] > 0 and d["fused_head_sc_ms"] > 0
        real = d["real_30_layers_ms"]
        assert abs(d["real_30_step_ms"] - real - d["fused_head_sc_ms"]) < 0.2
        assert abs(d["real_30_plain_head_step_ms"] - real - d["vocab_work_ms"]) < 0.2
        assert e["pass_ms"] > 0 and e["real_30_layers_ms"] > 0
    assert res["canvas"] == 32 and res["layer_types"] == ["s", "f"]


def test_layers_option():
    real = make_bench_gguf.layers_from_args("real", None)
    assert len(real) == 30 and real.count("full_attention") == 5
    assert [i for i, t in enumerate(real) if t == "full_attention"] == [5, 11, 17, 23, 29]
    assert make_bench_gguf.layers_from_args("7", None) == real[:7]
    assert make_bench_gguf.layers_from_args(None, None) == ["sliding_attention", "full_attention"]
    assert make_bench_gguf.layers_from_args(None, "f,s") == ["full_attention", "sliding_attention"]
    for bad in (("0", None), ("31", None), ("many", None), ("real", "s,f"), (None, "s,x")):
        with pytest.raises(SystemExit):
            make_bench_gguf.layers_from_args(*bad)


def test_tokenizer_is_character_level_like_hf(small_file, small_bench_dims):
    """The file's BPE vocabulary has no merges: the engine loads it and tokenizes as HF tokenizers does
    on the same tokenizer.json (character level, byte fallback for the rest)."""
    import json
    from tokenizers import Tokenizer as HFTokenizer
    from llama_diffusion.tokenizer import Tokenizer
    tj, _ = make_bench_gguf.tokenizer_files(small_bench_dims["vocab_size"])
    hf = HFTokenizer.from_str(json.dumps(tj))
    ours = Tokenizer.from_gguf(small_file)
    for text in ("def f(x):\n    return x + 1", "hello world", "caf\u00e9 \u2603"):
        assert ours.encode(text, False) == hf.encode(text, add_special_tokens=False).ids, text


def test_cli_runs_the_bench_file(small_file):
    import subprocess
    from cli_helpers import find_cli
    cli = find_cli()
    assert cli, "llama-diffusion-cli not found"
    p = subprocess.run([cli, "-m", small_file, "-p", "def f(x):", "-n", "16", "-s", "1", "-t", "1",
                        "--no-diffusion-visual"], capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr
    assert "tokens delivered" in p.stderr


def test_bench_model_rejects_bad_args(small_file):
    with pytest.raises(SystemExit):
        bench_model.run(["-m", small_file, "--repeats", "0"])
