"""Loading errors: every required tensor missing or reshaped, missing required metadata keys and a
wrong architecture each fail with a ValueError naming the culprit (never a crash)."""
import numpy as np
import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")
if not hasattr(transformers, "DiffusionGemmaForBlockDiffusion"):
    raise ImportError(f"transformers {transformers.__version__} has no DiffusionGemmaForBlockDiffusion: these tests "
                      "need the reference model (pip install 'transformers>=5.24'); if it was renamed upstream, "
                      "update the tests rather than skipping them")

import dg_ref  # noqa: E402
from llama_diffusion.model import Model  # noqa: E402

OPTIONAL = ("self_cond_", "ffn_down_exps.scale")


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    """A 3-layer model (sliding, sliding, full) keeps the per-tensor loop fast."""
    torch.set_num_threads(2)
    hf = dg_ref.build_hf(num_layers=3, vocab_size=128, seed=5)
    tensors = dg_ref.gguf_tensors(hf, fused=True)
    d = tmp_path_factory.mktemp("errors")
    good = dg_ref.write_gguf(hf, d / "good.gguf", tensors=tensors)
    return hf, tensors, d, str(good)


def test_good_file_loads(small):
    m = Model(small[3], n_threads=1)
    assert m.hparams["n_layer"] == 3 and m.hparams["self_conditioning"]


def test_each_required_tensor_missing(small):
    hf, tensors, d, _ = small
    required = [n for n, _ in tensors if not any(o in n for o in OPTIONAL)]
    assert len(required) > 60
    path = d / "missing.gguf"
    for name in required:
        dg_ref.write_gguf(hf, path, tensors=tensors, drop={name})
        with pytest.raises(ValueError) as e:
            Model(str(path), n_threads=1)
        msg = str(e.value)
        assert name in msg and "missing" in msg, (name, msg)


def test_each_tensor_reshaped(small):
    hf, tensors, d, _ = small
    path = d / "reshaped.gguf"
    for name, arr in tensors:
        shape = list(arr.shape)
        # numpy's first dim is the outermost GGUF dim; token_embd's outer dim is the vocabulary
        # (free), so change its row length instead
        shape[-1 if name == "token_embd.weight" else 0] += 1
        dg_ref.write_gguf(hf, path, tensors=tensors, reshape={name: tuple(shape)})
        with pytest.raises(ValueError) as e:
            Model(str(path), n_threads=1)
        msg = str(e.value)
        assert name in msg and "shape" in msg, (name, msg)


def test_optional_tensors(small):
    hf, tensors, d, _ = small
    path = d / "nosc.gguf"
    sc = {n for n, _ in tensors if n.startswith("self_cond_")}
    dg_ref.write_gguf(hf, path, tensors=tensors, drop=sc)
    m = Model(str(path), n_threads=1)
    assert not m.hparams["self_conditioning"]
    m.encode([2, 5, 7])
    assert m.decode_canvas([1, 2, 3]).shape == (3, 128)
    with pytest.raises(ValueError, match="self-conditioning"):
        m.decode_canvas([1, 2, 3], np.zeros((3, 128), np.float32))
    with pytest.raises(ValueError, match="self-conditioning"):
        m.decode_hidden([1, 2, 3], np.zeros((3, m.hparams["n_embd"]), np.float32))
    dg_ref.write_gguf(hf, path, tensors=tensors, drop={"self_cond_up.weight"})
    with pytest.raises(ValueError, match="self_cond_up.weight"):
        Model(str(path), n_threads=1)
    # per-expert scales are optional (all 1)
    dg_ref.write_gguf(hf, path, tensors=tensors, drop={"blk.0.ffn_down_exps.scale"})
    Model(str(path), n_threads=1)


def test_missing_keys_and_wrong_arch(small):
    hf, tensors, d, _ = small
    path = d / "keys.gguf"
    for key in ("diffusion.canvas_length", "diffusion-gemma.block_count", "diffusion-gemma.attention.head_count_kv",
                "diffusion-gemma.attention.sliding_window_pattern", "diffusion-gemma.attention.key_length_swa",
                "diffusion-gemma.expert_count", "diffusion-gemma.attention.layer_norm_rms_epsilon"):
        dg_ref.write_gguf(hf, path, tensors=tensors, skip_keys={key})
        with pytest.raises(ValueError, match=key.replace(".", r"\.")):
            Model(str(path), n_threads=1)
    dg_ref.write_gguf(hf, path, tensors=tensors, arch="llama")
    with pytest.raises(ValueError, match="unsupported architecture 'llama'"):
        Model(str(path), n_threads=1)
    with pytest.raises((ValueError, OSError)):
        Model(str(d / "does-not-exist.gguf"))


def test_stray_v_projection_in_full_layer(small):
    hf, tensors, d, _ = small
    path = d / "stray.gguf"
    extra = tensors + [("blk.2.attn_v.weight", np.zeros((32, 64), np.float32))]
    dg_ref.write_gguf(hf, path, tensors=extra)
    with pytest.raises(ValueError, match="blk.2.attn_v.weight"):
        Model(str(path), n_threads=1)


def _write_with_keys(monkeypatch, hf, tensors, path, **keys):
    """write_gguf plus extra metadata: {key: (gguf-py add_* method name, value)}."""
    import gguf
    base = gguf.GGUFWriter

    class Writer(base):
        def __init__(self, *a, **k):
            super().__init__(*a, **k)
            for key, (method, value) in keys.items():
                if method == "add_array":
                    self.add_array(key.replace("__", "."), value)
                else:
                    getattr(self, method)(key.replace("__", "."), value)

    monkeypatch.setattr(gguf, "GGUFWriter", Writer)
    try:
        dg_ref.write_gguf(hf, path, tensors=tensors)
    finally:
        monkeypatch.setattr(gguf, "GGUFWriter", base)
    return str(path)


def test_eos_token_ids(small, monkeypatch):
    """diffusion.eos_token_ids: optional integer array, read into the hparams, checked against the
    vocabulary; the generation defaults use it."""
    from llama_diffusion import _core
    hf, tensors, d, good = small
    assert Model(good, n_threads=1).hparams["eos_token_ids"] == []
    path = _write_with_keys(monkeypatch, hf, tensors, d / "eos.gguf", diffusion__eos_token_ids=("add_array", [1, 106 % 128, 50]))
    m = Model(path, n_threads=1)
    assert m.hparams["eos_token_ids"] == [1, 106 % 128, 50]
    assert list(_core.Engine(path, 1, "f32").default_params()["eos_ids"]) == [1, 106 % 128, 50]
    path = _write_with_keys(monkeypatch, hf, tensors, d / "eos-bad.gguf", diffusion__eos_token_ids=("add_array", [1, 128]))
    with pytest.raises(ValueError, match=r"diffusion\.eos_token_ids.*128.*\[0, 128\)"):
        Model(path, n_threads=1)
    path = _write_with_keys(monkeypatch, hf, tensors, d / "eos-neg.gguf", diffusion__eos_token_ids=("add_array", [-3]))
    with pytest.raises(ValueError, match=r"diffusion\.eos_token_ids.*-3"):
        Model(path, n_threads=1)
    path = _write_with_keys(monkeypatch, hf, tensors, d / "eos-scalar.gguf", diffusion__eos_token_ids=("add_uint32", 1))
    with pytest.raises(ValueError, match=r"diffusion\.eos_token_ids"):
        Model(path, n_threads=1)
