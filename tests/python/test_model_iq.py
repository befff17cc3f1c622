"""A DiffusionGemma GGUF whose matrices are stored in the lattice types (IQ1_S, IQ1_M, IQ2_XXS, IQ2_XS,
IQ2_S, IQ3_XXS, IQ3_S: the low-bit types of the published "UD" files) loads, runs and gives the
results of the same model stored as F32 with the weights dequantized by the `gguf` package.

One tiny random checkpoint (transformers; every row length a multiple of 256). Its matrices are
encoded in turn in the seven types: IQ3_XXS and IQ3_S by our quantizers, the others (which need an
importance matrix to be made, so this engine has no quantizer for them) as random valid blocks whose
scale matches the weight's. The reference file holds gguf.quants.dequantize of those very bytes as
F32, so the two files describe the same model; the only difference is the Q8_K rounding of the
activations in the IQ matmuls (the random tiny model amplifies it: measured argmax agreement 0.948, mean KL 8.1e-3; budgets below).
"""
import numpy as np
import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")
gguf = pytest.importorskip("gguf")
if not hasattr(transformers, "DiffusionGemmaForBlockDiffusion"):
    pytest.skip("transformers has no DiffusionGemma", allow_module_level=True)

import dg_ref  # noqa: E402
import llama_diffusion as ld  # noqa: E402
from llama_diffusion.gguf import GGUFFile  # noqa: E402
from llama_diffusion.model import Model  # noqa: E402

QT = gguf.GGMLQuantizationType
IQ_TYPES = ["IQ2_XXS", "IQ3_S", "IQ1_S", "IQ2_XS", "IQ3_XXS", "IQ2_S", "IQ1_M"]
CFG = dict(vocab_size=512, hidden_size=256, intermediate_size=256, moe_intermediate_size=256, num_layers=3,
           period=3, num_heads=4, num_kv_heads=2, head_dim=64, global_head_dim=128, num_global_kv_heads=1,
           num_experts=4, top_k=2, sliding_window=16, canvas_length=32, seed=4343)
P = 24
MIN_AGREE, MAX_KL = 0.9, 0.03  # measured 0.948 / 8.1e-3 (2 threads, AVX-512)
# typical |value| per unit of the fp16 d of random blocks (mean grid magnitude x mean scale multiplier)
UNIT = {"IQ2_XXS": 25 * 2.0, "IQ2_XS": 25 * 2.0, "IQ2_S": 25 * 2.0, "IQ1_S": 0.7 * 8, "IQ1_M": 0.7 * 8}


def random_iq_blocks(rng, t, w):
    """Random valid blocks of type t for the float rows w [..., ne0], scaled like w."""
    info = ld.quants.type_info(t)
    nb = w.size // 256
    raw = rng.integers(0, 256, (nb, info["type_size"]), dtype=np.uint8)
    d = np.float16(float(np.std(w)) / UNIT[t])
    if t == "IQ1_M":  # d spread over the top nibbles of the 4 scale u16s (bytes 48..55)
        sc = raw[:, 48:56].copy().view(np.uint16)
        bits = int(d.view(np.uint16))
        for k in range(4):
            sc[:, k] = (sc[:, k] & 0x0FFF) | (((bits >> (4 * k)) & 15) << 12)
        raw[:, 48:56] = sc.view(np.uint8)
    else:
        raw[:, 0:2] = np.full(nb, d, np.float16).view(np.uint8).reshape(nb, 2)
    return raw.reshape(*w.shape[:-1], -1)


def is_matrix(name, arr):
    return (arr.ndim >= 2 and name.endswith(".weight") and arr.shape[-1] % 256 == 0
            and "ffn_gate_inp" not in name and "norm" not in name)


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    torch.set_num_threads(2)
    hf = dg_ref.build_hf(**CFG)
    with torch.no_grad():
        hf.model.decoder.norm.weight.mul_(0.2)
    rng = np.random.default_rng(7)
    iq, deq, types = [], [], {}
    k = 0
    for name, arr in dg_ref.gguf_tensors(hf):
        if not is_matrix(name, arr):
            iq.append((name, arr))
            deq.append((name, arr))
            continue
        t = IQ_TYPES[k % len(IQ_TYPES)]
        k += 1
        if t in UNIT:
            raw = random_iq_blocks(rng, t, arr)
        else:
            raw = ld.quants.quantize(arr, t).reshape(*arr.shape[:-1], -1)
        types[name] = t
        iq.append((name, raw, QT[t]))
        deq.append((name, gguf.quants.dequantize(raw, QT[t]).reshape(arr.shape).astype(np.float32)))
    d = tmp_path_factory.mktemp("iq")
    return (str(dg_ref.write_gguf(hf, d / "iq.gguf", tensors=iq)),
            str(dg_ref.write_gguf(hf, d / "deq-f32.gguf", tensors=deq)), types)


def run(path):
    V, C = CFG["vocab_size"], CFG["canvas_length"]
    m = Model(path, n_threads=2)
    out = [m.ar_logits(dg_ref.make_prompt(P, V))[None]]
    canvas = dg_ref.make_canvas(C, V)
    first = m.decode_canvas(canvas)
    out += [first, m.decode_canvas(canvas, first)]
    m.encode(dg_ref.make_canvas(C, V, salt=5))
    out.append(m.decode_canvas(dg_ref.make_canvas(C, V, salt=1)))
    return np.concatenate(out).astype(np.float64)


def test_every_iq_type_present(files):
    iq_path, _, types = files
    assert set(types.values()) == set(IQ_TYPES), types
    with GGUFFile(iq_path) as f:
        seen = {t.type for t in f.tensors}
        assert set(IQ_TYPES) <= seen
        for t in f.tensors:  # every tensor readable through the reader, as gguf reads it
            if t.type in IQ_TYPES:
                ref = gguf.quants.dequantize(np.asarray(f.raw(t.name)).reshape(-1, ld.quants.type_info(t.type)["type_size"]),
                                             QT[t.type]).reshape(-1)
                assert np.array_equal(np.asarray(f.tensor(t.name)).reshape(-1).view(np.uint32), ref.view(np.uint32)), t.name


def test_iq_model_matches_dequantized_f32(files):
    iq_path, deq_path, _ = files
    a, b = run(deq_path), run(iq_path)
    assert np.all(np.isfinite(b))
    la = a - a.max(-1, keepdims=True)
    la -= np.log(np.exp(la).sum(-1, keepdims=True))
    lb = b - b.max(-1, keepdims=True)
    lb -= np.log(np.exp(lb).sum(-1, keepdims=True))
    kl = float((np.exp(la) * (la - lb)).sum(-1).mean())
    agree = float((a.argmax(-1) == b.argmax(-1)).mean())
    print(f"IQ file vs dequantized F32: argmax agreement {agree:.4f}, mean KL {kl:.3e}")
    assert agree >= MIN_AGREE and kl <= MAX_KL, (agree, kl)
    assert not np.array_equal(a, b)  # the IQ matmuls really ran (Q8_K activations)


def test_iq_model_generates(files):
    iq_path, _, _ = files
    m = Model(iq_path, n_threads=2)
    r = m.generate([1, 2, 3, 4], max_tokens=64, seed=1, raw=True)
    assert len(r.tokens) > 0


def test_inspect_lists_iq_types(files, capsys):
    from llama_diffusion import inspect as ld_inspect
    iq_path, _, _ = files
    ld_inspect.main([iq_path])
    out = capsys.readouterr().out
    for t in IQ_TYPES:
        assert t in out, t
