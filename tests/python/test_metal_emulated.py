"""The whole engine on the Metal kernels, without a Mac: with LD_METAL_EMULATOR=1 the device "metal" is
the Metal backend's real op layer with its .metal kernels compiled as C++ and run by the emulator
(ggml/src/metal/msl-emu.h; every GPU thread a fiber, barriers and simdgroup ops with their real
semantics). A tiny random HF DiffusionGemma (F32) must give HF's logits within the CPU's tolerance
through the encoder (AR logits), the bidirectional decoder pass with and without self-conditioning, and
a commit; a short deterministic generation must give the CPU backend's tokens.

On a Mac with a usable Metal GPU (an LD_METAL build), the same checks run on the real device instead.
The kernel-level tests (every op and weight type) are the C++ executables test-metal-kernels and
test-metal-emu (run by test_cpp.py through ctest)."""
import sys

import numpy as np
import pytest

import llama_diffusion as ld

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")
import dg_ref  # noqa: E402

TOL_HF = 1e-4  # the CPU's tolerance with F32 weights (test_backends.py)


def real_metal():
    return any(b["kind"] == "metal" and b["available"] and "emulator" not in b["description"] for b in ld.backends())


@pytest.fixture
def metal(monkeypatch):
    """Device "metal": the real GPU when there is one, else the emulated backend."""
    if not real_metal():
        monkeypatch.setenv("LD_METAL_EMULATOR", "1")
    yield "metal"


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    torch.set_num_threads(2)
    hf = dg_ref.build_hf()
    d = tmp_path_factory.mktemp("metal")
    return hf, str(dg_ref.write_gguf(hf, d / "fused.gguf", fused=True))


def test_emulated_backend_is_listed_only_on_request(monkeypatch):
    monkeypatch.delenv("LD_METAL_EMULATOR", raising=False)
    m = [b for b in ld.backends() if b["kind"] == "metal"]
    if sys.platform == "darwin":  # an LD_METAL build: the real backend, listed per device
        assert m and all(b["compiled"] for b in m) and all(b["available"] or b["reason"] for b in m)
    else:
        assert m and not m[0]["available"] and "no Metal backend" in m[0]["reason"]
    if sys.platform != "darwin":
        with pytest.raises(ValueError, match="no Metal backend"):
            ld.Model(device="metal")
    monkeypatch.setenv("LD_METAL_EMULATOR", "1")
    m = [b for b in ld.backends() if b["kind"] == "metal"]
    assert m[0]["available"] and "emulator" in m[0]["description"]
    with pytest.raises(ValueError, match="metal:1.* no such device"):
        ld.Model(device="metal:1")


def test_hf_parity_on_metal(tiny, metal):
    hf, path = tiny
    V = hf.config.text_config.vocab_size
    C = hf.config.canvas_length
    ref = dg_ref.HFRef(hf)
    m = ld.Model(path, n_threads=2, device=metal)
    assert m.placement.startswith("metal"), m.placement
    prompt = dg_ref.make_prompt(40, V)
    diffs = {"ar": np.abs(ref.encode(prompt, logits=True) - m.ar_logits(prompt)).max()}
    kvd = 0.0
    for layer in range(hf.config.text_config.num_hidden_layers):
        kr, vr = ref.kv(layer)
        k, v = m.kv_cache(layer)
        kvd = max(kvd, np.abs(kr - k).max(), np.abs(vr - v).max())
    diffs["kv"] = kvd
    canvas = dg_ref.make_canvas(C, V)
    r0 = ref.decode(canvas)
    diffs["dec0"] = np.abs(r0 - m.decode_canvas(canvas)).max()
    sc = r0 / 0.8
    diffs["dec1"] = np.abs(ref.decode(canvas, sc) - m.decode_canvas(canvas, sc)).max()
    committed = r0.argmax(-1).astype(np.int32)
    ref.encode(committed)
    m.encode(committed)
    canvas2 = dg_ref.make_canvas(C, V, salt=1)
    diffs["dec2"] = np.abs(ref.decode(canvas2) - m.decode_canvas(canvas2)).max()
    assert max(diffs.values()) < TOL_HF, diffs


def test_deterministic_generation_equals_cpu(tiny, metal):
    """Denoising steps on the device (decoder pass + fused vocab head with the self-conditioning
    embedding kept on the device): with F32 weights the argmax tokens equal the CPU backend's."""
    hf, path = tiny
    V = hf.config.text_config.vocab_size
    prompt = [int(t) for t in dg_ref.make_prompt(12, V)]
    kw = dict(max_tokens=32, seed=3, deterministic=True, max_steps=4)
    a = ld.Model(path, n_threads=2, device="cpu").generate(prompt, **kw)
    b = ld.Model(path, n_threads=2, device=metal).generate(prompt, **kw)
    assert a.tokens == b.tokens
    assert a.stats["steps_per_canvas"] == b.stats["steps_per_canvas"]
