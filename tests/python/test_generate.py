"""Generation parity and behaviour on tiny random DiffusionGemma checkpoints (F32 GGUF).

* Reference-deterministic mode (argmax draws + formula noise) reproduces HF transformers'
  DiffusionGemma generate() with the same two patches token for token and step for step: the
  default run (two canvases), an EOS case (an extra stop id that the first canvas contains: padding
  after the first EOS, early end) and an early-stop case (stability 0, confidence 1.0), with the
  plain (materialised logits) and the fused (streamed vocab) heads, and a canvas of 16.
* The fused vocab head equals the plain one (argmax, entropy, categorical draws, expected embedding).
* Seeded runs are reproducible and independent of the thread count; different seeds differ.
* AR mode equals greedy decoding with the AR logits of ld.Model.
* ld.Model and its generation engine share one C++ model (weights and KV cache).
* Bad parameters give clear errors.
"""
import numpy as np
import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")
if not hasattr(transformers, "DiffusionGemmaForBlockDiffusion"):
    raise ImportError(f"transformers {transformers.__version__} has no DiffusionGemmaForBlockDiffusion: these tests "
                      "need the reference model (pip install 'transformers>=5.24'); if it was renamed upstream, "
                      "update the tests rather than skipping them")

import dg_ref  # noqa: E402
from hf_det import hf_generate_det  # noqa: E402
from llama_diffusion import _core  # noqa: E402
from llama_diffusion import generate as G  # noqa: E402

EOS = [1, 106, 50]
P = 40
STEPS = 12  # denoising steps of the multi-canvas runs (the default-parameter run uses the GGUF's 48)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """(hf model, gguf path, prompt, HF reference runs) for C=32, W=16, 2 canvases."""
    torch.set_num_threads(2)
    hf = dg_ref.build_hf()
    path = str(dg_ref.write_gguf(hf, tmp_path_factory.mktemp("gen") / "tiny.gguf"))
    V = hf.config.text_config.vocab_size
    C = hf.config.canvas_length
    prompt = dg_ref.make_prompt(P, V)
    ref = {"default": hf_generate_det(hf, prompt, 2 * C, EOS)}
    # a stop set that never fires: two whole canvases (the second one after re-encoding the first)
    for x in range(V - 1, V - 40, -1):
        if x in ref["default"][0]:
            continue
        toks, steps = hf_generate_det(hf, prompt, 2 * C, [x], max_denoising_steps=STEPS)
        if len(toks) == 2 * C and x not in toks:
            ref["long"] = (toks, steps, [x])
            break
    assert "long" in ref
    extra = ref["long"][0][C // 2]
    ref["eos"] = hf_generate_det(hf, prompt, 2 * C, ref["long"][2] + [extra], max_denoising_steps=STEPS) + (
        ref["long"][2] + [extra],)
    ref["stop"] = hf_generate_det(hf, prompt, 2 * C, EOS, stability_threshold=0, confidence_threshold=1.0)
    return hf, path, prompt, ref


@pytest.fixture(scope="module")
def engine(tiny):
    return _core.Engine(tiny[1], 2, "f32")


def run_det(engine, prompt, head, max_tokens=64, **kw):
    tokens, pending, stats = engine.generate(prompt, dict(deterministic=True, max_tokens=max_tokens, head=head,
                                                          eos_ids=kw.pop("eos_ids", EOS), **kw))
    return list(tokens), list(pending), stats


@pytest.mark.parametrize("head", ["plain", "fused"])
def test_deterministic_matches_hf_default(tiny, engine, head):
    """The checkpoint's stop set [1, 106, 50]."""
    _, _, prompt, ref = tiny
    ref_tokens, ref_steps = ref["default"]
    tokens, pending, stats = run_det(engine, prompt, head)
    assert tokens == ref_tokens
    assert stats["steps_per_canvas"] == ref_steps


@pytest.mark.parametrize("head", ["plain", "fused"])
def test_deterministic_matches_hf_two_canvases(tiny, engine, head):
    _, _, prompt, ref = tiny
    ref_tokens, ref_steps, eos = ref["long"]
    tokens, pending, stats = run_det(engine, prompt, head, eos_ids=eos, max_steps=STEPS)
    assert tokens == ref_tokens
    assert stats["steps_per_canvas"] == ref_steps
    assert stats["canvases"] == 2 and len(tokens) == 64 and stats["stop_reason"] == "length"


@pytest.mark.parametrize("head", ["plain", "fused"])
def test_deterministic_matches_hf_eos(tiny, engine, head):
    _, _, prompt, ref = tiny
    ref_tokens, ref_steps, eos = ref["eos"]
    tokens, pending, stats = run_det(engine, prompt, head, eos_ids=eos, max_steps=STEPS)
    assert tokens == ref_tokens
    assert stats["steps_per_canvas"] == ref_steps
    # the run stops in the first canvas; everything after the first EOS is padding
    assert len(tokens) == 32 and stats["canvases"] == 1 and stats["stop_reason"] == "eos"
    first = next(i for i, t in enumerate(tokens) if t in eos)
    assert all(t == 0 for t in tokens[first + 1:])
    assert pending == tokens[:first + 1]
    assert stats["delivered_tokens"] == first


@pytest.mark.parametrize("head", ["plain", "fused"])
def test_deterministic_matches_hf_early_stop(tiny, engine, head):
    _, _, prompt, ref = tiny
    ref_tokens, ref_steps = ref["stop"]
    tokens, _, stats = run_det(engine, prompt, head, stability=0, confidence=1.0)
    assert tokens == ref_tokens
    assert stats["steps_per_canvas"] == ref_steps
    assert max(ref_steps) < 48  # the adaptive stop fired


def test_deterministic_canvas16_matches_hf(tmp_path):
    torch.set_num_threads(2)
    hf = dg_ref.build_hf(canvas_length=16, num_experts=4, top_k=1, seed=77)
    path = str(dg_ref.write_gguf(hf, tmp_path / "c16.gguf"))
    prompt = dg_ref.make_prompt(24, 512)
    for x in range(511, 470, -1):  # a stop id that does not fire: 3 whole canvases
        ref_tokens, ref_steps = hf_generate_det(hf, prompt, 40, [x], max_denoising_steps=5)
        if len(ref_tokens) == 48:
            break
    eng = _core.Engine(path, 2, "f32")
    tokens, _, stats = run_det(eng, prompt, "fused", max_tokens=40, max_steps=5, eos_ids=[x])
    assert tokens == ref_tokens
    assert stats["steps_per_canvas"] == ref_steps
    assert len(tokens) == 48  # whole canvases, never truncated to max_tokens


def test_fused_head_equals_plain(tiny, engine):
    _, _, prompt, _ = tiny
    V = 512
    engine.reset()
    engine.generate(prompt, dict(max_tokens=1, max_steps=1, deterministic=True))  # fills the cache with the prompt
    canvas = dg_ref.make_canvas(32, V, salt=3)
    for sc in (None, np.random.default_rng(0).normal(0, 3, (32, V)).astype(np.float32)):
        for temp in (0.8, 0.45):
            for tile in (0, 100):
                d = engine.head_compare(canvas, sc, temp, True, 1234, tile)
                p, f = d["plain"], d["fused"]
                assert p["argmax"] == f["argmax"]
                assert np.max(np.abs(p["entropy"] - f["entropy"])) < 2e-4
                agree = np.mean(np.array(p["draw"]) == np.array(f["draw"]))
                assert agree >= 0.9, agree
                assert np.max(np.abs(p["soft"] - f["soft"])) < 2e-4
                # argmax equals the materialised logits' argmax
                assert p["argmax"] == list(np.argmax(d["logits"], axis=1))


def test_seeded_reproducible_across_threads(tiny):
    _, path, prompt, _ = tiny
    runs = []
    for nt in (1, 2, 3):
        eng = _core.Engine(path, nt, "f32")
        tokens, _, stats = eng.generate(prompt, dict(seed=42, max_tokens=32, max_steps=8))
        runs.append(tokens)
    assert runs[0] == runs[1] == runs[2]
    eng = _core.Engine(path, 2, "f32")
    other, _, _ = eng.generate(prompt, dict(seed=43, max_tokens=32, max_steps=8))
    assert other != runs[0]
    again, _, _ = eng.generate(prompt, dict(seed=42, max_tokens=32, max_steps=8))
    assert again == runs[0]


def test_ar_mode_is_greedy_ar_head(tiny):
    _, path, prompt, _ = tiny
    from llama_diffusion.model import Model
    m = Model(path, n_threads=2)
    ids = list(prompt)
    expect = []
    logits = m.ar_logits(ids)
    for _ in range(6):
        t = int(np.argmax(logits))
        expect.append(t)
        logits = m.ar_logits([t])
    eng = _core.Engine(path, 2, "f32")
    tokens, pending, stats = eng.generate(prompt, dict(mode="ar", max_tokens=6, eos_ids=[]))
    assert tokens == expect
    assert pending == [expect[-1]] and stats["steps"] == 6
    # temperature sampling is seeded and reproducible
    a = eng.generate(prompt, dict(mode="ar", max_tokens=6, temperature=1.0, seed=5, eos_ids=[]))[0]
    b = eng.generate(prompt, dict(mode="ar", max_tokens=6, temperature=1.0, seed=5, eos_ids=[]))[0]
    assert a == b


def test_stats_and_cache(tiny, engine):
    _, _, prompt, _ = tiny
    tokens, pending, stats = engine.generate(prompt, dict(deterministic=True, max_tokens=64, eos_ids=[]))
    # prompt + first canvas are cached; the last canvas is pending (not re-encoded)
    assert engine.kv_length == P + 32 and pending == tokens[32:]
    for k in ("canvases", "steps_per_canvas", "ms_per_step", "prefill_ms", "tokens_per_s", "peak_rss_bytes"):
        assert k in stats
    assert stats["peak_rss_bytes"] > 0 and stats["ms_per_step"] > 0 and stats["delivered_tokens"] == 64


def test_cancel_flag(tiny, engine):
    _, _, prompt, _ = tiny
    flag = _core.CancelFlag()
    seen = []

    def on_step(canvas, step, remaining, draft, n_acc, ent):
        seen.append(step)
        if step == 3:
            flag.set()

    tokens, _, stats = engine.generate(prompt, dict(max_tokens=64, seed=1), True, on_step, None, flag)
    assert stats["stop_reason"] == "cancelled" and tokens == [] and seen == [1, 2, 3]


@pytest.mark.parametrize("over,msg", [
    (dict(max_steps=-1), "max_steps"),
    (dict(max_steps=0), "max_steps"),
    (dict(t_min=0.9, t_max=0.5), "t_max must be > t_min"),
    (dict(t_min=-0.1), "t_min"),
    (dict(entropy_bound=0.0), "entropy_bound"),
    (dict(confidence=0.0), "confidence"),
    (dict(stability=-2), "stability"),
    (dict(max_tokens=0), "max_tokens"),
    (dict(mode="beam"), "unknown generation mode"),
    (dict(eos_ids=[100000]), "EOS id"),
    (dict(bogus=1), "unknown parameter"),
    (dict(n_ctx=50), "no room"),
])
def test_bad_parameters(tiny, engine, over, msg):
    _, _, prompt, _ = tiny
    with pytest.raises(ValueError, match=msg):
        engine.generate(prompt, over)


def test_empty_prompt_and_bad_ids(engine):
    with pytest.raises(ValueError, match="empty"):
        engine.generate([], {})
    with pytest.raises(ValueError, match="outside the vocabulary"):
        engine.generate([2, 99999], {})
    with pytest.raises(ValueError, match="empty"):
        G.generate(engine, prompt=[])
    with pytest.raises(ValueError, match="unknown mode"):
        G.generate(engine, prompt=[2, 3], mode="beam")


def test_python_generate_and_stream_ids(tiny, engine):
    _, _, prompt, ref = tiny
    ref_tokens, ref_steps, eos = ref["long"]
    r = G.generate(engine, prompt=list(prompt), max_tokens=64, deterministic=True, eos_ids=eos, max_steps=STEPS)
    assert r.tokens == ref_tokens
    events = list(G.stream(engine, prompt=list(prompt), max_tokens=64, deterministic=True, eos_ids=eos,
                           max_steps=STEPS))
    steps = [e for e in events if isinstance(e, G.Step)]
    commits = [e for e in events if isinstance(e, G.Commit)]
    assert isinstance(events[-1], G.Done) and events[-1].result.tokens == r.tokens
    assert len(steps) == sum(ref_steps) and len(commits) == 2
    assert sum((c.tokens for c in commits), []) == r.tokens
    assert commits[0].tokens == steps[ref_steps[0] - 1].draft  # commit = last step's argmax


def test_ld_model_shares_engine_state(tiny):
    """ld.Model and its generation engine are one C++ model: the same KV cache and weights."""
    _, path, prompt, ref = tiny
    from llama_diffusion.model import Model
    ref_tokens, _, eos = ref["long"]
    m = Model(path, n_threads=2)
    eng = G.engine_of(m)
    assert G.engine_of(m) is eng and eng.shares_model_with(m._m)
    assert not _core.Engine(path, 2, "f32").shares_model_with(m._m)
    assert eng.n_threads == m._m.n_threads == 2
    r = m.generate(list(prompt), max_tokens=64, deterministic=True, eos_ids=eos, max_steps=STEPS)
    assert r.tokens == ref_tokens  # HF's trajectory through the shared model
    # the prompt and the first canvas are in the model's own cache, the second canvas is pending
    assert m.kv_length == eng.kv_length == P + 32 and m.next_pos == P + 32
    m.encode(ref_tokens[32:40])
    assert eng.kv_length == P + 40
    m.reset()
    assert eng.kv_length == 0
    # generation after a manual prefill through ld.Model continues after it (reset=False)
    m.encode(list(prompt[:10]))
    eng.generate(list(prompt[10:]), dict(deterministic=True, max_tokens=32, max_steps=2, eos_ids=[]), False)
    assert m.kv_length == P
    # an engine reset empties the model's cache
    eng.reset()
    assert m.kv_length == 0
    with pytest.raises(ValueError, match="expected a llama_diffusion._core.Model"):
        _core.Engine(object())
    with pytest.raises(TypeError, match="expected an ld.Model"):
        G.engine_of(object())
