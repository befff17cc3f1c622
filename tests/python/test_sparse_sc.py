"""Sparse self-conditioning as users reach it (SamplingParams.soft_drop_mass, llama-diffusion-cli
--sparse-sc): on the shipped demo model (trained, so its softmax is peaked) the soft embedding uses a
fraction of the vocabulary rows, reported in stats["soft_rows_fraction"]; exact mode (the default) and
deterministic mode use every row; the completions still read as code (demo_checks); bad values are
refused with a message naming the parameter. The kernel's bound itself is tested in C++
(tests/cpp/test-vocab-head-fused.cpp, 4)."""
import json
import subprocess

import pytest

import llama_diffusion as ld
import demo_checks as dc
from cli_helpers import find_cli
from llama_diffusion import generate as G

CLI = find_cli()


@pytest.fixture(scope="module")
def demo():
    return ld.Model(dc.DEMO_GGUF, n_threads=2, device="cpu")


def _run(model, **kw):
    return G.generate(model, dc.PROMPTS[0], max_tokens=64, seed=3, raw=True, **kw)


def test_exact_by_default(demo):
    r = _run(demo)
    assert r.stats["soft_rows_fraction"] == 1.0


def test_sparse_uses_fewer_rows(demo):
    exact = _run(demo)
    sparse = _run(demo, params=ld.SamplingParams(soft_drop_mass=1e-6))
    f = sparse.stats["soft_rows_fraction"]
    assert 0.0 < f < 0.9, f
    # the dropped mass is <= 1e-6 per position: the completion stays code-like and as long
    assert len(sparse.tokens) == len(exact.tokens)
    assert dc.code_scores(sparse.text)["lines"] >= 2


def test_deterministic_mode_is_exact(demo):
    r = _run(demo, params=ld.SamplingParams(soft_drop_mass=1e-6, deterministic=True))
    assert r.stats["soft_rows_fraction"] == 1.0
    assert r.tokens == _run(demo, params=ld.SamplingParams(deterministic=True)).tokens


@pytest.mark.parametrize("bad", [-0.1, 1.0, float("nan")])
def test_bad_values_are_refused(demo, bad):
    with pytest.raises(Exception, match="soft_drop_mass"):
        _run(demo, params=ld.SamplingParams(soft_drop_mass=bad))


@pytest.mark.skipif(CLI is None, reason="llama-diffusion-cli not built")
def test_cli_flag():
    base = [CLI, "-m", dc.DEMO_GGUF, "-p", dc.PROMPTS[0], "-n", "64", "--seed", "3", "--raw", "--json",
            "--no-diffusion-visual"]
    for eps, sparse in (("0", False), ("1e-6", True)):
        out = subprocess.run(base + ["--sparse-sc", eps], capture_output=True, text=True, timeout=300)
        assert out.returncode == 0, out.stderr
        f = json.loads(out.stdout.strip().splitlines()[-1])["stats"]["soft_rows_fraction"]
        assert (0.0 < f < 0.9) if sparse else f == 1.0
    bad = subprocess.run(base + ["--sparse-sc", "2"], capture_output=True, text=True, timeout=300)
    assert bad.returncode != 0 and "--sparse-sc" in bad.stderr
