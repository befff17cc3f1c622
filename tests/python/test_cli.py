"""End to end on a tiny converted model (random DiffusionGemma, F32 GGUF with a Gemma-4-style
tokenizer, built by the converter in the test run): llama-diffusion-cli (one-shot, JSON, AR mode,
chat with /clear and /exit, visual mode under a pseudo-terminal and plain output on a pipe, clear
one-line errors) and the Python text API (tokenize / detokenize, generate, stream, ChatSession
keeping its KV cache)."""
import json
import os
import subprocess
import sys

import pytest

pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")
if not hasattr(transformers, "DiffusionGemmaForBlockDiffusion"):
    raise ImportError(f"transformers {transformers.__version__} has no DiffusionGemmaForBlockDiffusion: these tests "
                      "need the reference model (pip install 'transformers>=5.24'); if it was renamed upstream, "
                      "update the tests rather than skipping them")

import hf_tiny  # noqa: E402
from cli_helpers import find_cli, run_under_pty  # noqa: E402
from llama_diffusion import _core  # noqa: E402
from llama_diffusion import generate as G  # noqa: E402

FAST = ["--diffusion-eb-max-steps", "4"]


CLI = find_cli()


@pytest.fixture(scope="module")
def tiny_gguf(tmp_path_factory):
    d = tmp_path_factory.mktemp("cli")
    hf_tiny.make_checkpoint(str(d / "ck"), dtype="float32")
    out = d / "tiny.gguf"
    r = subprocess.run([sys.executable, "-m", "llama_diffusion.convert", str(d / "ck"), "-o", str(out), "--outtype",
                        "f32", "--no-progress"], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    return str(out)


def cli(*args, input=None, env=None):
    if CLI is None:
        pytest.skip("llama-diffusion-cli not built")
    e = dict(os.environ)
    e.pop("LLAMA_DIFFUSION_MODEL", None)
    e.pop("LLAMA_DIFFUSION_DEMO_MODEL", None)
    e.update(env or {})
    return subprocess.run([CLI, *map(str, args)], capture_output=True, text=True, input=input, env=e, timeout=120,
                          errors="replace")


# ---- CLI ------------------------------------------------------------------------------------------
def test_cli_json_matches_python(tiny_gguf):
    r = cli("-m", tiny_gguf, "-p", "write a poem", "-n", "40", "-s", "7", "--json", *FAST)
    assert r.returncode == 0, r.stderr
    lines = [l for l in r.stdout.splitlines() if l.strip()]
    assert len(lines) == 1
    out = json.loads(lines[0])
    st = out["stats"]
    assert st["canvases"] == 2 and st["steps_per_canvas"] == [4, 4] and len(out["tokens"]) == 64
    assert st["seed"] == 7 and st["mode"] == "diffusion"
    for k in ("prefill_ms", "ms_per_step", "tokens_per_s", "peak_rss_bytes", "delivered_tokens"):
        assert k in st
    # the same request through Python gives the same tokens and text
    res = G.generate(tiny_gguf, "write a poem", max_tokens=40, seed=7, max_steps=4)
    assert res.tokens == out["tokens"] and res.text == out["text"]


def test_cli_plain_output_and_timing(tiny_gguf):
    r = cli("-m", tiny_gguf, "-p", "hello", "-n", "32", "-s", "1", *FAST)
    assert r.returncode == 0, r.stderr
    assert "tokens delivered" in r.stderr and "ms/step" in r.stderr
    assert "\x1b" not in r.stdout  # --diffusion-visual absent


def test_cli_visual_on_pipe_is_plain(tiny_gguf):
    a = cli("-m", tiny_gguf, "-p", "hello", "-n", "32", "-s", "3", "--diffusion-visual", *FAST)
    b = cli("-m", tiny_gguf, "-p", "hello", "-n", "32", "-s", "3", *FAST)
    assert a.returncode == 0 and a.stdout == b.stdout and "\x1b" not in a.stdout


def test_cli_visual_under_pty(tiny_gguf):
    if CLI is None:
        pytest.skip("llama-diffusion-cli not built")
    rc, text, err = run_under_pty([CLI, "-m", tiny_gguf, "-p", "hello", "-n", "32", "-s", "3", "--diffusion-visual", *FAST],
                                  timeout=60)
    assert rc == 0, err
    assert "\x1b7" in text and "\x1b8\x1b[J" in text  # canvas redrawn in place
    assert "[canvas 1 | step 1/4" in text and "step 4/4" in text


def test_cli_ar_mode(tiny_gguf):
    r = cli("-m", tiny_gguf, "-p", "hello", "-n", "5", "--mode", "ar", "--json")
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["stats"]["mode"] == "ar" and out["stats"]["steps"] <= 5 and len(out["tokens"]) <= 5
    res = G.generate(tiny_gguf, "hello", max_tokens=5, mode="ar")
    assert res.tokens == out["tokens"]  # greedy by default


def test_cli_chat(tiny_gguf):
    r = cli("-m", tiny_gguf, "-cnv", "--json", "-n", "16", "-s", "2", *FAST,
            input="hello\nmore please\n/clear\nhello\n/exit\nignored\n")
    assert r.returncode == 0, r.stderr
    outs = [json.loads(l) for l in r.stdout.splitlines() if l.startswith("{")]
    assert [o["turn"] for o in outs] == [1, 2, 1]
    # the second turn encodes the first reply (<= 32 tokens) and its own turn, not the first prompt again
    # (which alone is first_prompt tokens; its own turn text is about as long in this tiny vocab)
    first_prompt = outs[0]["stats"]["prompt_tokens"]
    assert outs[1]["stats"]["prompt_tokens"] < 32 + first_prompt + 20
    # after /clear the same message gives the same reply (same positions, same seed)
    assert outs[2]["stats"]["prompt_tokens"] == first_prompt and outs[2]["text"] == outs[0]["text"]


@pytest.mark.parametrize("args,msg", [
    (["-m", "{m}", "-p", "x", "--diffusion-eb-max-steps", "-2"], "max_steps must be >= 1"),
    (["-m", "{m}", "-p", "x", "--diffusion-eb-t-min", "0.9", "--diffusion-eb-t-max", "0.5"], "t_max must be > t_min"),
    (["-m", "{m}", "-p", ""], "prompt is empty"),
    (["-m", "{m}"], "no prompt"),
    (["-m", "{m}", "-p", "x", "--mode", "beam"], "unknown generation mode"),
    (["-m", "{m}", "-p", "x", "-n", "abc"], "invalid integer"),
    (["-m", "{m}", "-p", "x", "--bogus"], "unknown argument"),
    (["-m", "{m}", "-p", "x", "--kv-type", "q5"], "q5"),
    (["-m", "/nonexistent.gguf", "-p", "x"], "nonexistent"),
    (["-m", "{m}", "-p", "x", "-c", "40"], "does not fit in the context"),
])
def test_cli_errors(tiny_gguf, args, msg):
    r = cli(*[a.replace("{m}", tiny_gguf) for a in args])
    assert r.returncode != 0
    err = r.stderr.strip().splitlines()
    assert len(err) == 1 and msg in err[0], r.stderr


def test_cli_non_diffusion_model_in_diffusion_mode(gemma3_gguf):
    r = cli("-m", gemma3_gguf, "-p", "hi", "--mode", "diffusion")
    assert r.returncode != 0
    assert "diffusion mode needs a diffusion-gemma model" in r.stderr and len(r.stderr.strip().splitlines()) == 1


def test_python_non_diffusion_model_in_diffusion_mode(gemma3_gguf):
    with pytest.raises(ValueError, match="diffusion-gemma"):
        G.generate(str(gemma3_gguf), "hi", mode="diffusion", max_tokens=4)


# ---- Python text API ------------------------------------------------------------------------------
def test_tokenize_roundtrip(tiny_gguf):
    eng = G.engine_of(tiny_gguf)
    ids = G.tokenize(eng, "the quick brown fox")
    assert ids[0] == 2 and G.detokenize(eng, ids[1:]) == "the quick brown fox"
    chat = eng.chat_ids([("user", "hi")], False)
    assert chat[:2] == [2, 5]  # <bos> <|turn>


def test_stream_text_events(tiny_gguf):
    events = list(G.stream(tiny_gguf, "tell me", max_tokens=64, seed=4, max_steps=3, eos_ids=[]))
    steps = [e for e in events if isinstance(e, G.Step)]
    commits = [e for e in events if isinstance(e, G.Commit)]
    done = events[-1]
    assert isinstance(done, G.Done) and len(steps) == 6 and len(commits) == 2
    assert "".join(c.text for c in commits) == done.result.text
    assert all(isinstance(s.text, str) for s in steps)
    r = G.generate(tiny_gguf, "tell me", max_tokens=64, seed=4, max_steps=3, eos_ids=[])
    assert r.tokens == done.result.tokens


def test_stream_closed_early_cancels(tiny_gguf):
    it = G.stream(tiny_gguf, "tell me", max_tokens=256, seed=4, max_steps=8)
    first = next(it)
    assert isinstance(first, G.Step)
    it.close()  # cancels the worker and joins it


def test_chat_session_keeps_cache(tiny_gguf):
    eng = _core.Engine(tiny_gguf, 2, "f32")
    # one denoising step: robust to the float rounding of encoding in two chunks vs one (this
    # random model is chaotic over many self-conditioned steps)
    chat = G.ChatSession(eng, deterministic=True, max_tokens=32, max_steps=1)
    ids1 = chat._chat.turn_ids("hello there")
    r1 = chat.send("hello there")
    kv1 = chat.kv_length
    ids2 = chat._chat.turn_ids("and again")
    r2 = chat.send("and again")
    assert r2.stats["turn_prompt_tokens"] == len(ids2) < len(ids1) + len(ids2)
    assert chat.kv_length == kv1 + len(ids2)
    assert chat.turns == 2 and len(chat.history) == 4
    # the same tokens as a fresh run on the whole conversation
    fresh = _core.Engine(tiny_gguf, 2, "f32")
    tokens, _, _ = fresh.generate(ids1 + ids2, dict(deterministic=True, max_tokens=32, max_steps=1))
    assert list(tokens) == r2.tokens
    # the second turn's prompt starts with the first reply (up to its EOS), then the turn separators
    assert ids2[:len(r1.tokens)] != [] and ids2[-1] == eng.chat_ids([("user", "x")], False)[-1]
    chat.clear()
    assert chat.kv_length == 0 and chat.turns == 0
    events = list(chat.stream("hello there"))
    assert isinstance(events[-1], G.Done) and events[-1].result.tokens == r1.tokens


def test_python_errors(tiny_gguf):
    with pytest.raises(ValueError, match="empty"):
        G.generate(tiny_gguf, "")
    with pytest.raises(ValueError, match="either prompt or messages"):
        G.generate(tiny_gguf, "x", messages=[{"role": "user", "content": "y"}])
    with pytest.raises(ValueError, match="max_steps"):
        G.generate(tiny_gguf, "x", max_steps=-1)
    with pytest.raises(ValueError, match="t_max must be > t_min"):
        G.generate(tiny_gguf, "x", t_min=0.9, t_max=0.5)
    with pytest.raises(ValueError, match="empty"):
        G.ChatSession(tiny_gguf).send("")


# ---- llama-diffusion-bench generate ---------------------------------------------------------------
def test_bench_generate_json_and_markdown(tiny_gguf, capsys):
    from llama_diffusion import bench, bench_generate
    out = bench_generate.run(["-m", tiny_gguf, "--json", "--repeats", "2", "--prompt-tokens", "20",
                              "--max-tokens", "40", "--max-steps", "3", "--threads", "2"])
    printed = json.loads(capsys.readouterr().out)
    assert printed["modes"].keys() == {"diffusion", "ar"} == out["modes"].keys()
    d, a = out["modes"]["diffusion"], out["modes"]["ar"]
    assert len(d["runs"]) == 2 and len(a["runs"]) == 2
    for run in d["runs"]:  # empty stop set: two whole canvases of 32, 3 steps each (the cap)
        assert run["canvases"] == 2 and run["steps_per_canvas_list"] == [3, 3] and run["delivered_tokens"] == 64
        assert run["stop_reason"] == "length"
    for run in a["runs"]:
        assert run["steps"] == 40 and run["delivered_tokens"] == 40 and run["steps_per_canvas"] is None
    s = d["summary"]
    assert s["steps_per_canvas"]["median"] == 3.0 and s["peak_rss_mb"]["median"] > 1
    for k in ("prefill_tok_s", "ms_per_step", "delivered_tok_s"):
        assert s[k]["min"] <= s[k]["median"] <= s[k]["max"] and s[k]["median"] > 0
    assert a["summary"]["steps_per_canvas"] is None
    md = bench_generate.markdown(out)
    assert "| ms per step |" in md and "| delivered tokens/s |" in md and "diffusion | ar |" in md
    # the dispatcher
    assert bench.main(["generate", "-m", tiny_gguf, "--repeats", "1", "--max-tokens", "8", "--modes", "ar"]) == 0
    assert "| prefill tokens/s |" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        bench_generate.run(["-m", tiny_gguf, "--modes", "beam"])
