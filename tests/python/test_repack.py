"""Weights repacked on first use (Model(repack=True), LD_REPACK): on an ISA that prepares some of the file's
matrix types (prepared_weight_supported: Q8_0 panels on every x86 table, the compact forms of Q4_K / Q5_K /
Q5_0 on avx512) the repacked model gives bit-identical logits (an encoder pass, then two decoder passes) to
the mapped weights; elsewhere (and with repack off) nothing is repacked and results are the same."""
import numpy as np
import pytest

from llama_diffusion import _core
from llama_diffusion.model import Model


def _preparable(path, isa):
    """Some matrix of the file (not the embedding, which is never repacked) has a prepared form on isa."""
    gguf = pytest.importorskip("gguf")
    r = gguf.GGUFReader(path)
    mats = {(t.tensor_type.name, int(t.shape[0])) for t in r.tensors
            if len(t.shape) >= 2 and t.name not in ("token_embd.weight", "output.weight")}
    return any(_core.prepared_weight_supported(isa, t, k) for t, k in mats)


def _run(path, repack, isa):
    _core.set_cpu_isa(isa)
    m = Model(path, n_threads=2, repack=repack, device="cpu")
    m.encode([2, 105, 400, 401, 402, 403])
    canvas = list(range(300, 332))
    logits = np.array(m.decode_canvas(canvas), copy=True)
    logits2 = np.array(m.decode_canvas(canvas), copy=True)  # with the first pass's soft embedding
    return m.repacked_bytes, logits, logits2


@pytest.mark.parametrize("isa", [i for i in ("avx512", "amx", "avx2_vnni", "avx2", "generic") if i in _core.cpu_features()["isas"]])
def test_repacked_model_is_bit_identical(small_bench_gguf, isa, monkeypatch):
    monkeypatch.delenv("LD_REPACK", raising=False)
    before = _core.cpu_isa()
    try:
        n0, a0, b0 = _run(small_bench_gguf, False, isa)
        n1, a1, b1 = _run(small_bench_gguf, True, isa)
    finally:
        _core.set_cpu_isa(before)
    assert n0 == 0
    assert (n1 > 0) == _preparable(small_bench_gguf, isa)
    if isa in ("avx512", "amx"):  # the file's Q8_0 / Q5_0 (and on avx512 Q4_K) weights are repacked there
        assert n1 > 0
    assert np.array_equal(a0, a1) and np.array_equal(b0, b1)
    assert np.isfinite(a1).all()


def test_env_switch(small_bench_gguf, monkeypatch):
    isa = _core.cpu_isa()  # the ISA in effect: repacks where it prepares one of the file's matrix types
    expect = _preparable(small_bench_gguf, isa)
    monkeypatch.setenv("LD_REPACK", "1")
    m = Model(small_bench_gguf, n_threads=1, device="cpu")
    m.encode([2, 105, 400])
    assert (m.repacked_bytes > 0) == expect
    monkeypatch.setenv("LD_REPACK", "0")
    m = Model(small_bench_gguf, n_threads=1, device="cpu", repack=True)
    m.encode([2, 105, 400])
    assert m.repacked_bytes == 0


@pytest.mark.parametrize("isa", [i for i in ("avx512", "avx2") if i in _core.cpu_features()["isas"]])
def test_repacked_generation_keeps_the_transposed_embedding(small_bench_gguf, isa, monkeypatch):
    """With repacking on, the fused vocab head keeps the self-conditioning product's transposed embedding
    across steps (EmbeddingTCache, counted in repacked_bytes): generation is token for token the same."""
    from llama_diffusion import generate as gen
    monkeypatch.delenv("LD_REPACK", raising=False)
    before = _core.cpu_isa()
    out = {}
    try:
        _core.set_cpu_isa(isa)
        for repack in (False, True):
            m = Model(small_bench_gguf, n_threads=2, repack=repack, device="cpu")
            m.encode([2, 105, 400])
            n_layers = m.repacked_bytes  # the layer weights met by the encoder pass
            r = gen.generate(m, prompt=[2, 105, 400, 401, 402], max_tokens=64, mode="diffusion", seed=7,
                             max_steps=4, eos_ids=[])
            out[repack] = (r.tokens, r.stats["steps"], n_layers, m.repacked_bytes)
    finally:
        _core.set_cpu_isa(before)
    assert out[True][0] == out[False][0] and out[True][1] == out[False][1]
    assert out[False][3] == 0
    hp = Model(small_bench_gguf, n_threads=1, device="cpu").hparams
    # the kept tiles: at least the Q8_0 codes of every vocabulary row and embedding column
    assert out[True][3] - out[True][2] >= hp["n_vocab"] * hp["n_embd"]
