"""The backend seam: device selection, placement (-ngl / cpu_moe) and the hand-overs between backends.

Every placement runs the same kernels on the CPU here (the `sim` device is the CPU kernels behind a
simulated discrete device: separate memory, weights copied at load, nothing host-visible), so results
must equal the CPU backend's bit for bit, and HF's within the CPU's tolerance. On a machine with a
usable CUDA device the same checks run on it (marked `gpu`; skipped with the reason otherwise), with the
documented GPU tolerance instead of bit equality.
"""
import subprocess

import numpy as np
import pytest

import llama_diffusion as ld
from llama_diffusion import _core

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")
import dg_ref  # noqa: E402
from cli_helpers import find_cli  # noqa: E402

TOL_HF = 1e-4

SIM_PLACEMENTS = [
    dict(device="sim"),
    dict(device="sim", n_gpu_layers=1),
    dict(device="sim", n_gpu_layers=0),
    dict(device="sim", cpu_moe=True),
    dict(device="sim", n_gpu_layers=2, cpu_moe=True),
]


def cuda_available():
    return any(b["kind"] == "cuda" and b["available"] for b in ld.backends())


def cuda_reason():
    for b in ld.backends():
        if b["kind"] == "cuda":
            return b["reason"] or "no usable CUDA device"
    return "no CUDA backend entry"


GPU_PLACEMENTS = [
    pytest.param(dict(device="cuda"), marks=pytest.mark.gpu),
    pytest.param(dict(device="cuda", n_gpu_layers=1), marks=pytest.mark.gpu),
    pytest.param(dict(device="cuda", cpu_moe=True), marks=pytest.mark.gpu),
]


def need_gpu(kw):
    if kw["device"].startswith("cuda") and not cuda_available():
        pytest.skip(f"no GPU: {cuda_reason()}")


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """A tiny random HF DiffusionGemma (W=16, C=32, 8 experts top-2), as F32 and Q8_0-ish fused GGUFs."""
    torch.set_num_threads(2)
    hf = dg_ref.build_hf()
    d = tmp_path_factory.mktemp("backends")
    return hf, str(dg_ref.write_gguf(hf, d / "fused.gguf", fused=True)), str(dg_ref.write_gguf(hf, d / "split.gguf", fused=False))


def test_backends_list():
    bs = ld.backends()
    names = [b["name"] for b in bs]
    assert names[0] == "cpu" and bs[0]["available"] and bs[0]["compiled"]
    kinds = {b["kind"] for b in bs}
    assert {"cpu", "cuda", "metal", "sim"} <= kinds
    for b in bs:
        assert set(b) >= {"name", "kind", "description", "compiled", "available", "reason"}
        if not b["available"]:
            assert b["reason"], b  # an unavailable backend says why
    assert _core.resolve_device("cpu") == "cpu"
    assert _core.resolve_device("sim") == "sim"
    # auto never picks the simulated device; it is the first usable GPU (CUDA, or Metal on a Mac), else the CPU
    gpus = [b for b in bs if b["kind"] in ("cuda", "metal") and b["available"]]
    want = "cpu" if not gpus else (gpus[0]["name"] if ":" in gpus[0]["name"] else gpus[0]["name"] + ":0")
    assert _core.resolve_device("auto") == want


@pytest.mark.parametrize("bad,msg", [
    ("tpu", "unknown device 'tpu'"),
    ("cuda:x", "device index must be a number"),
    ("cpu:1", "has no index"),
])
def test_bad_device_names(bad, msg):
    with pytest.raises(ValueError, match=msg):
        ld.Model(device=bad)


def test_metal_resolves_or_says_why():
    metal = [b for b in ld.backends() if b["kind"] == "metal"]
    assert metal
    if any(b["available"] for b in metal):  # a Mac (or the emulated device, LD_METAL_EMULATOR=1)
        assert _core.resolve_device("metal").startswith("metal")
        return
    with pytest.raises(ValueError, match="device 'metal' is not usable: .*Metal"):
        ld.Model(device="metal")


def test_cuda_device_resolves_or_says_why():
    if cuda_available():
        assert _core.resolve_device("cuda") == "cuda:0"
        return
    with pytest.raises(ValueError, match="device 'cuda' is not usable: .*CUDA"):
        ld.Model(device="cuda")


def test_bad_gpu_layers():
    with pytest.raises(ValueError, match="n_gpu_layers must be >= 0"):
        ld.Model(device="sim", n_gpu_layers=-5)


def test_placement_descriptions():
    assert ld.Model(device="cpu").placement == "cpu"
    m = ld.Model(device="sim", n_gpu_layers=1, cpu_moe=True)
    assert m.device == "sim"
    n = m.hparams["n_layer"]
    assert m.placement.startswith(f"sim (1/{n} layers, head on the CPU, experts on the CPU")
    assert ld.Model(device="sim").placement.startswith(f"sim ({n}/{n} layers + head")


def run_parity(hf, path, kw, P=40):
    """Encoder KV + AR logits, canvas logits with and without self-conditioning, commit, next canvas."""
    V = hf.config.text_config.vocab_size
    C = hf.config.canvas_length
    ref = dg_ref.HFRef(hf)
    m = ld.Model(path, n_threads=2, **kw)
    prompt = dg_ref.make_prompt(P, V)
    out = {"ar": m.ar_logits(prompt)}
    diffs = {"ar": np.abs(ref.encode(prompt, logits=True) - out["ar"]).max()}
    kvd = 0.0
    for layer in range(hf.config.text_config.num_hidden_layers):
        kr, vr = ref.kv(layer)
        k, v = m.kv_cache(layer)
        kvd = max(kvd, np.abs(kr - k).max(), np.abs(vr - v).max())
        out[f"kv{layer}"] = (k, v, list(m.kv_positions(layer)))
    diffs["kv"] = kvd
    canvas = dg_ref.make_canvas(C, V)
    r0 = ref.decode(canvas)
    out["dec0"] = m.decode_canvas(canvas)
    diffs["dec0"] = np.abs(r0 - out["dec0"]).max()
    sc = r0 / 0.8
    out["dec1"] = m.decode_canvas(canvas, sc)
    diffs["dec1"] = np.abs(ref.decode(canvas, sc) - out["dec1"]).max()
    committed = r0.argmax(-1).astype(np.int32)
    ref.encode(committed)
    m.encode(committed)
    canvas2 = dg_ref.make_canvas(C, V, salt=1)
    out["dec2"] = m.decode_canvas(canvas2)
    diffs["dec2"] = np.abs(ref.decode(canvas2) - out["dec2"]).max()
    return diffs, out


@pytest.mark.parametrize("kw", SIM_PLACEMENTS + GPU_PLACEMENTS, ids=lambda kw: "-".join(f"{k}={v}" for k, v in kw.items()))
@pytest.mark.parametrize("which", [1, 2], ids=["fused", "split"])
def test_hf_parity_per_placement(tiny, kw, which):
    need_gpu(kw)
    hf, path = tiny[0], tiny[which]
    diffs, out = run_parity(hf, path, kw)
    assert max(diffs.values()) < TOL_HF, diffs
    if kw["device"] == "sim":
        # the same kernels on other memory: bit-identical to the CPU backend
        _, ref = run_parity(hf, path, dict(device="cpu"))
        for key, val in ref.items():
            if key.startswith("kv"):
                assert all(np.array_equal(a, b) for a, b in zip(val[:2], out[key][:2])) and val[2] == out[key][2], key
            else:
                assert np.array_equal(val, out[key]), key


@pytest.mark.parametrize("kw", SIM_PLACEMENTS + GPU_PLACEMENTS, ids=lambda kw: "-".join(f"{k}={v}" for k, v in kw.items()))
def test_generation_equals_cpu(kw):
    """Seeded and deterministic generation on the demo model: the same tokens as the CPU backend
    (sim: every placement; a GPU: deterministic mode, argmax draws)."""
    need_gpu(kw)
    cpu = ld.Model(device="cpu")
    other = ld.Model(**kw)
    det = cpu.generate("import os\n", max_tokens=64, seed=3, deterministic=True)
    assert other.generate("import os\n", max_tokens=64, seed=3, deterministic=True).tokens == det.tokens
    if kw["device"] == "sim":
        a = cpu.generate("def fibonacci(n):", max_tokens=96, seed=1)
        b = other.generate("def fibonacci(n):", max_tokens=96, seed=1)
        assert a.tokens == b.tokens and a.stats["steps_per_canvas"] == b.stats["steps_per_canvas"]
        # with the whole model on the device, the layers of a step run as a replayed recording (the sim
        # device records ops like a CUDA graph); mixed placements run eagerly
        one_backend = kw.get("n_gpu_layers") is None and not kw.get("cpu_moe")
        replays = other._m.graph_replays
        assert (replays > 0) if one_backend else (replays == 0), replays
        # plain head (materialised logits, downloaded) agrees with the fused head on the device
        c = other.generate("def fibonacci(n):", max_tokens=32, seed=5, deterministic=True, head="plain")
        d = cpu.generate("def fibonacci(n):", max_tokens=32, seed=5, deterministic=True, head="plain")
        assert c.tokens == d.tokens
    # the model's cache is usable after generation on any placement (chat continues)
    s1 = ld.ChatSession(other)
    s1.send("def f(x):", max_tokens=32, seed=1)


def test_capture_layers_on_a_device():
    cpu = ld.Model(device="cpu")
    sim = ld.Model(device="sim", n_gpu_layers=2)
    ids = np.arange(5, 25, dtype=np.int32)
    outs = []
    for m in (cpu, sim):
        m.capture_layers = True
        m.encode(ids)
        outs.append([np.array(x) for x in m.layer_outputs])
    assert len(outs[0]) == len(outs[1]) == cpu.hparams["n_layer"] + 1
    assert all(np.array_equal(a, b) for a, b in zip(*outs))


def test_gemma3_ar_on_a_device(gemma3_gguf):
    """Real trained weights (Gemma 3 270M Q4_K_M) through the hand-over path: same AR logits."""
    ids = np.array([2, 651, 1638, 1546, 2845, 107], dtype=np.int32)
    a = ld.Model(str(gemma3_gguf), device="cpu").ar_logits(ids)
    b = ld.Model(str(gemma3_gguf), device="sim", n_gpu_layers=9).ar_logits(ids)
    assert np.array_equal(a, b)


def test_cli_device_flags(tmp_path):
    base = [str(find_cli()), "-p", "def f(x):", "-n", "32", "-s", "2", "--no-diffusion-visual"]
    ref = subprocess.run(base + ["--device", "cpu"], capture_output=True, text=True, timeout=120)
    assert ref.returncode == 0, ref.stderr
    got = subprocess.run(base + ["--device", "sim", "-ngl", "3", "--cpu-moe"], capture_output=True, text=True, timeout=120)
    assert got.returncode == 0, got.stderr
    assert got.stdout == ref.stdout
    bad = subprocess.run(base + ["--device", "tpu"], capture_output=True, text=True, timeout=60)
    assert bad.returncode != 0 and "unknown device 'tpu'" in bad.stderr and len(bad.stderr.strip().splitlines()) == 1
    bad = subprocess.run(base + ["-ngl", "-3"], capture_output=True, text=True, timeout=60)
    assert bad.returncode != 0 and "-ngl must be >= 0" in bad.stderr
