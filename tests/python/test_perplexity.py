"""llama-diffusion-perplexity (llama_diffusion.perplexity): AR perplexity, denoising loss and KL divergence.

* against transformers: on a tiny random DiffusionGemma (F32 GGUF written from the HF weights), the
  AR perplexity over sliding windows and the denoising loss / accuracy equal the values computed
  from the HF model's own logits (full-sequence encoder pass; decoder passes against its cache);
* KL divergence: a file against its own base gives 0 and 100% agreement; a Q8_0 file against the
  F32 base a small positive KL, equal to KL computed directly from the two files' logits;
* the command line on the built-in demo model (it has a tokenizer): report and --json, the base file
  written and read back, and clear errors for bad input (mismatched base, corrupt base, bad options).
"""
import json

import numpy as np
import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")
pytest.importorskip("gguf")
if not hasattr(transformers, "DiffusionGemmaForBlockDiffusion"):
    pytest.skip("transformers has no DiffusionGemma", allow_module_level=True)

import dg_ref  # noqa: E402
from llama_diffusion import perplexity as ppl  # noqa: E402
from llama_diffusion.model import Model  # noqa: E402

CTX, RATES, SEED = 64, (0.3, 0.8), 99


def hf_window_logits(hf, ids):
    """Softcapped AR logits [P, V] of every position of ids (one fresh causal encoder pass)."""
    from transformers import DynamicCache
    m = hf
    ids_t = torch.as_tensor(np.asarray(ids), dtype=torch.long)[None]
    P = ids_t.shape[1]
    cache = DynamicCache(config=m.config.get_text_config(decoder=True))
    pos = torch.arange(P)[None]
    with torch.no_grad():
        mask = m.model.encoder.create_masks_for_generate(
            config=m.config, inputs_embeds=torch.empty((1, P, 0)), attention_mask=torch.ones((1, P), dtype=torch.bool),
            cache=cache, position_ids=pos)
        h = m.model.encoder(input_ids=ids_t, attention_mask=mask, cache=cache, position_ids=pos).last_hidden_state
        lg = m.lm_head(h[0]).float()
        sc = m.config.text_config.final_logit_softcapping
        return (torch.tanh(lg / sc) * sc).numpy()


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    torch.set_num_threads(2)
    hf = dg_ref.build_hf(seed=321)
    d = tmp_path_factory.mktemp("ppl")
    path = str(dg_ref.write_gguf(hf, d / "tiny-f32.gguf"))
    V = hf.config.text_config.vocab_size
    toks = np.random.default_rng(5).integers(5, V, 300).astype(np.int32)
    return hf, path, toks, d


def test_ar_and_denoise_match_hf(tiny):
    hf, path, toks, _ = tiny
    m = Model(path, n_threads=2)
    r = ppl.evaluate_tokens(m, toks, 2, ctx=CTX, max_windows=4, rates=RATES, seed=SEED)
    V = m.n_vocab
    C = hf.config.canvas_length
    starts = ppl.windows(len(toks), CTX, 4)
    assert r["windows"] == len(starts) == 4
    half, pre = CTX // 2, CTX - C
    nll, n, dn_loss, dn_ok = 0.0, 0, {q: 0.0 for q in RATES}, {q: 0 for q in RATES}
    for wi, s in enumerate(starts):
        w = np.concatenate([[2], toks[s:s + CTX - 1]]).astype(np.int32)
        lp = ppl.log_softmax(hf_window_logits(hf, w))
        nll -= lp[np.arange(half - 1, CTX - 1), w[half:]].sum()
        n += CTX - half
        block = w[pre:]
        for ri, q in enumerate(RATES):
            ref = dg_ref.HFRef(hf)
            ref.encode(w[:pre])
            rng = np.random.default_rng([SEED, wi, ri])
            hit = rng.random(C) < q
            noisy = np.where(hit, rng.integers(0, V, C), block)
            l2 = ref.decode(noisy, ref.decode(noisy))
            dn_loss[q] -= ppl.log_softmax(l2)[np.arange(C), block].sum() / (C * len(starts))
            dn_ok[q] += int((l2.argmax(-1) == block).sum())
    assert r["ar"]["scored"] == n
    assert abs(r["ar"]["nll"] - nll / n) < 1e-4 * nll / n, (r["ar"]["nll"], nll / n)
    assert abs(r["ar"]["ppl"] - np.exp(nll / n)) < 1e-3 * np.exp(nll / n)
    for q in RATES:
        got = r["denoise"]["rates"][f"{q:g}"]
        assert abs(got["loss"] - dn_loss[q]) < 1e-4 * dn_loss[q], (q, got["loss"], dn_loss[q])
        assert abs(got["acc"] - dn_ok[q] / (C * len(starts))) <= 1.0 / (C * len(starts)), q
    assert abs(r["denoise"]["mean_loss"] - np.mean(list(dn_loss.values()))) < 1e-4 * r["denoise"]["mean_loss"]


def test_kl_divergence_base_roundtrip(tiny):
    hf, path, toks, d = tiny
    base_path = str(d / "base.bin")
    m = Model(path, n_threads=2)
    r0 = ppl.evaluate_tokens(m, toks, 2, ctx=CTX, max_windows=3, rates=RATES, seed=SEED, save_base=base_path)
    base = ppl.read_base(base_path)
    assert base["ar"].shape == (r0["ar"]["scored"], m.n_vocab)
    # the same file: KL 0, every argmax the same
    same = ppl.evaluate_tokens(m, toks, 2, ctx=CTX, max_windows=3, rates=RATES, seed=SEED, base=base)
    assert same["ar"]["kl"]["mean_kld"] == 0.0 and same["ar"]["kl"]["top1_agreement"] == 1.0
    assert same["denoise"]["kl"]["mean_kld"] == 0.0
    # a perturbed copy of the weights (F32 with the weights rounded to bf16 and back): small, positive
    # KL, equal to KL computed from both files' logits directly
    tensors = [(n, a.astype(np.float32) if a.ndim < 2 else
                (a.astype(np.float32).view(np.uint32) & 0xFFFF0000).view(np.float32)) for n, a in dg_ref.gguf_tensors(hf)]
    path2 = str(dg_ref.write_gguf(hf, d / "tiny-bf16ish.gguf", tensors=tensors))
    m2 = Model(path2, n_threads=2)
    r2 = ppl.evaluate_tokens(m2, toks, 2, ctx=CTX, max_windows=3, rates=RATES, seed=SEED, base=base)
    k = r2["ar"]["kl"]
    assert 0.0 < k["mean_kld"] < 0.05 and k["top1_agreement"] > 0.8, k
    rows = []
    for s in ppl.windows(len(toks), CTX, 3):
        w = np.concatenate([[2], toks[s:s + CTX - 1]]).astype(np.int32)
        m2.reset()
        m2.encode(w[:CTX // 2 - 1])
        rows += [m2.ar_logits(w[i - 1:i]) for i in range(CTX // 2, CTX)]
    lb, lt = ppl.log_softmax(np.asarray(base["ar"])), ppl.log_softmax(np.stack(rows))
    direct = (np.exp(lb) * (lb - lt)).sum(-1)
    assert abs(float(direct.mean()) - k["mean_kld"]) <= 1e-9 + 1e-6 * k["mean_kld"]
    agree = float(np.mean(np.argmax(base["ar"], -1) == np.argmax(np.stack(rows), -1)))
    assert agree == k["top1_agreement"]
    # mismatched settings are refused
    with pytest.raises(ValueError, match="another text"):
        ppl.evaluate_tokens(m, toks[1:], 2, ctx=CTX, max_windows=3, rates=RATES, seed=SEED, base=base)
    with pytest.raises(ValueError, match="other rows"):
        ppl.evaluate_tokens(m, toks, 2, ctx=CTX, max_windows=2, rates=RATES, seed=SEED, base=base)


def test_cli_demo_model(tmp_path, capsys):
    text = tmp_path / "t.py"
    text.write_text("def add(a, b):\n    return a + b\n\n\nclass Point:\n    def __init__(self, x, y):\n"
                    "        self.x = x\n        self.y = y\n" * 30, encoding="utf-8")
    base = tmp_path / "base.bin"
    assert ppl.main(["-f", str(text), "--chunks", "3", "--kl-divergence-base", str(base), "-t", "2"]) == 0
    out = capsys.readouterr().out
    assert "[ar] perplexity" in out and "[denoise]" in out
    assert base.stat().st_size > 0
    assert ppl.main(["-f", str(text), "--chunks", "3", "--kl-divergence-base", str(base), "--kl-divergence",
                     "--json", "-t", "2"]) == 0
    r = json.loads(capsys.readouterr().out)
    assert r["ar"]["kl"]["mean_kld"] == 0.0 and r["ar"]["kl"]["top1_agreement"] == 1.0
    assert 1.0 < r["ar"]["ppl"] < 3072
    # errors: one line each, exit status 1
    bad = tmp_path / "bad.bin"
    bad.write_bytes(b"not a base file")
    other = tmp_path / "o.py"
    other.write_text("x = 1\n" * 400, encoding="utf-8")
    cases = [
        (["-f", str(text), "--kl-divergence"], "needs --kl-divergence-base"),
        (["-f", str(text), "--kl-divergence-base", str(bad), "--kl-divergence"], "bad magic"),
        (["-f", str(other), "--chunks", "3", "--kl-divergence-base", str(base), "--kl-divergence"], "another text"),
        (["-f", str(tmp_path / "missing.txt")], "cannot read"),
        (["-f", str(text), "--noise-rates", "0.5,2"], "noise-rates"),
        (["-f", str(text), "-c", "7"], "--ctx"),
        (["-f", str(text), "-c", "32"], "no prefix"),
    ]
    for argv, msg in cases:
        assert ppl.main(argv) == 1, argv
        err = capsys.readouterr().err
        assert "error:" in err and msg in err, (argv, err)
