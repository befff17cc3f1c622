"""The Python API as a typed library: real signatures (every SamplingParams field is a named parameter
of Model.generate / Model.stream / generate / stream / ChatSession, no **kwargs), SamplingParams and
its keyword overrides, Model as a context manager with close(), stop strings, keep_cache, AR picked
by itself for Gemma 3, the one-time warnings (no chat template, prompt past the context length),
thread-count validation, the default-model environment variable, Ctrl-C during a long prefill, and
mypy --strict on a user script written from the README's examples."""
import dataclasses
import inspect
import os
import pathlib
import shutil
import subprocess
import sys
import textwrap
import warnings

import numpy as np
import pytest

import llama_diffusion as ld
from llama_diffusion import generate as G

FIELDS = [f.name for f in dataclasses.fields(ld.SamplingParams)]
PROMPT = "def fibonacci(n):"


@pytest.fixture(scope="module")
def demo():
    return ld.Model(ld.DEMO_MODEL)


@pytest.mark.parametrize("fn", [ld.Model.generate, ld.Model.stream, G.generate, G.stream])
def test_signatures_name_every_setting(fn):
    sig = inspect.signature(fn)
    kinds = {p.kind for p in sig.parameters.values()}
    assert inspect.Parameter.VAR_KEYWORD not in kinds and inspect.Parameter.VAR_POSITIONAL not in kinds
    for name in FIELDS + ["prompt", "params", "messages", "thinking", "raw", "keep_cache"]:
        assert name in sig.parameters, (fn, name)
    assert fn.__doc__ and len(fn.__doc__) > 150


def test_chat_session_signature():
    sig = inspect.signature(ld.ChatSession.__init__)
    assert inspect.Parameter.VAR_KEYWORD not in {p.kind for p in sig.parameters.values()}
    for name in set(FIELDS) - {"stop"}:
        assert name in sig.parameters, name
    for meth in (ld.ChatSession.send, ld.ChatSession.stream):
        ps = inspect.signature(meth).parameters
        assert "params" in ps and "max_tokens" in ps and "seed" in ps
        assert inspect.Parameter.VAR_KEYWORD not in {p.kind for p in ps.values()}


def test_typing_files_ship():
    pkg = pathlib.Path(ld.__file__).parent
    assert (pkg / "py.typed").exists() and (pkg / "_core.pyi").exists()


def test_sampling_params_and_overrides(demo):
    p = ld.SamplingParams(max_tokens=32, seed=5, max_steps=4)
    a = demo.generate(PROMPT, p)
    b = demo.generate(PROMPT, max_tokens=32, seed=5, max_steps=4)
    assert a.tokens == b.tokens and a.stats["seed"] == 5
    c = demo.generate(PROMPT, p, max_tokens=64)  # keyword overrides the object's field
    assert len(c.tokens) == 64 and c.tokens[:32] == a.tokens
    assert p.replace(seed=9).seed == 9 and p.seed == 5
    with pytest.raises(ValueError, match="unknown mode"):
        ld.SamplingParams(mode="beam")
    with pytest.raises(TypeError, match="SamplingParams"):
        demo.generate(PROMPT, {"max_tokens": 3})  # type: ignore[arg-type]


def test_context_manager_and_close():
    with ld.Model(ld.DEMO_MODEL) as m:
        assert not m.closed
        assert m.generate(PROMPT, max_tokens=32, seed=1, max_steps=2).tokens
    assert m.closed
    with pytest.raises(ValueError, match="closed"):
        m.generate(PROMPT, max_tokens=32)
    with pytest.raises(ValueError, match="closed"):
        _ = m.kv_length
    m.close()  # twice is fine


def test_stop_strings(demo):
    kw = dict(max_tokens=96, deterministic=True, eos_ids=[])
    full = demo.generate(PROMPT, **kw)
    assert len(full.text) > 20
    stop = full.text[12:15]
    cut = full.text.find(stop)
    r = demo.generate(PROMPT, stop=[stop, "\x00never"], **kw)
    assert r.text == full.text[:cut] and r.stats["stop_reason"] == "stop"
    events = list(demo.stream(PROMPT, stop=stop, **kw))
    commits = [e for e in events if isinstance(e, ld.Commit)]
    assert "".join(e.text for e in commits) == full.text[:cut] and commits[-1].finished
    assert isinstance(events[-1], ld.Done) and events[-1].result.text == full.text[:cut]
    # a stop string that never occurs changes nothing
    assert demo.generate(PROMPT, stop="\x00never", **kw).text == full.text


def test_keep_cache_continues(demo):
    p1 = demo.tokenize(PROMPT)
    p2 = demo.tokenize("\n\nclass Foo:", add_special=False)
    kw = dict(max_tokens=64, seed=2, max_steps=4, eos_ids=[])
    r1 = demo.generate(p1, **kw)
    C = 32
    assert demo.kv_length == len(p1) + len(r1.tokens) - C  # the last canvas is committed, not cached
    r2 = demo.generate(p2, keep_cache=True, **kw)
    # the cache now holds prompt 1, every token of reply 1, prompt 2 and reply 2's first canvas
    assert demo.kv_length == len(p1) + len(r1.tokens) + len(p2) + len(r2.tokens) - C
    assert r2.prompt_tokens == p2
    demo.generate(p2, **kw)  # without keep_cache: a fresh cache
    assert demo.kv_length == len(p2) + 64 - C
    with pytest.raises(TypeError, match="keep_cache"):
        G.generate(ld.DEMO_MODEL, p2, keep_cache=True)


def test_ar_picked_for_gemma3(gemma3_gguf):
    m = ld.Model(gemma3_gguf)
    r = m.generate("The capital of France is", raw=True, max_tokens=3)
    assert r.stats["mode"] == "ar" and len(r.tokens) == 3
    with pytest.raises(ValueError):
        m.generate("x", raw=True, mode="diffusion", max_tokens=3)


def test_no_chat_template_warns_once(gemma3_gguf, monkeypatch):
    monkeypatch.setattr(G, "_warned_no_template", set())
    m = ld.Model(gemma3_gguf)
    with pytest.warns(UserWarning, match="no chat template"):
        m.generate("hi", max_tokens=1)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        m.generate("hi", max_tokens=1)  # once per file
        m.generate("hi", raw=True, max_tokens=1)


def test_long_prompt_warns_and_n_ctx_errors(demo):
    n = demo.hparams["n_ctx_train"]
    ids = [int(x) for x in np.random.default_rng(0).integers(5, 3000, n + 8)]
    with pytest.warns(UserWarning, match="longer than the model's context length"):
        demo.generate(ids, max_tokens=32, max_steps=1, seed=1)
    with pytest.raises(ValueError, match="n_ctx"):
        demo.generate(ids[:100], max_tokens=32, n_ctx=64)


def test_thread_counts():
    cpus = len(os.sched_getaffinity(0))
    with pytest.warns(UserWarning, match=f"using {cpus}"):
        m = ld.Model(ld.DEMO_MODEL, n_threads=1000)
    assert m._m.n_threads == cpus
    with pytest.raises(ValueError, match=">= 0"):
        ld.Model(ld.DEMO_MODEL, n_threads=-2)


def test_default_model_env(tmp_path, monkeypatch, capsys):
    other = tmp_path / "other.gguf"
    shutil.copy(ld.DEMO_MODEL, other)
    monkeypatch.setenv("LLAMA_DIFFUSION_MODEL", str(other))
    m = ld.Model()
    assert m.path == str(other) and not m.is_demo
    assert "built-in demo" not in capsys.readouterr().err
    monkeypatch.setenv("LLAMA_DIFFUSION_MODEL", str(tmp_path / "missing.gguf"))
    with pytest.raises(FileNotFoundError, match="LLAMA_DIFFUSION_MODEL"):
        ld.Model()


CTRL_C = r"""
import os, signal, sys, threading, time
import numpy as np
import llama_diffusion as ld
m = ld.Model(ld.DEMO_MODEL)
m.chunk_size = 256
ids = [int(x) for x in np.random.default_rng(0).integers(5, 3000, 12000)]
sent = []
def fire():
    time.sleep(0.8)
    sent.append(time.perf_counter())
    os.kill(os.getpid(), signal.SIGINT)
threading.Thread(target=fire, daemon=True).start()
t0 = time.perf_counter()
try:
    m.generate(ids, max_tokens=32, max_steps=1, seed=1)
    print("finished", time.perf_counter() - t0)
except KeyboardInterrupt:
    print("interrupted", time.perf_counter() - sent[0], m.kv_length)
"""


def test_ctrl_c_during_prefill():
    r = subprocess.run([sys.executable, "-W", "ignore", "-c", CTRL_C], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    words = r.stdout.split()
    assert words[0] == "interrupted", r.stdout
    assert float(words[1]) < 3.0, r.stdout  # one 256-token chunk, not the 12000-token prefill (~8 s)
    assert int(words[2]) == 0  # the half-encoded prompt is dropped


USER_SCRIPT = '''
from typing import Iterator, List
import numpy as np
import llama_diffusion as ld

def run(path: str) -> str:
    with ld.GGUFFile(path) as f:
        arch: str = f.architecture
        for t in f.tensors[:5]:
            print(t.name, t.type, t.shape, t.nbytes)
        w: np.ndarray = f.tensor("token_embd.weight")
    params = ld.SamplingParams(max_tokens=64, seed=1, stop=["\\n\\n"])
    with ld.Model(path, n_threads=2) as m:
        r: ld.Result = m.generate("Why is the sky blue?", params, max_steps=8)
        steps: List[int] = r.stats["steps_per_canvas"]
        for ev in m.stream("def f(x):", raw=True):
            if isinstance(ev, ld.Commit):
                print(ev.text, end="", flush=True)
            elif isinstance(ev, ld.Done):
                print(ev.result.stats["tokens_per_s"])
        chat = ld.ChatSession(m, system="Be brief.", max_tokens=32)
        reply: ld.Result = chat.send("Hi!")
        more: ld.Result = m.generate([2, 3, 4], keep_cache=True, mode="ar", temperature=0.0)
        events: Iterator[ld.generate.Event] = chat.stream("And then?")
        q = ld.quants.quantize(np.zeros(32, np.float32), "Q8_0")
        return r.text + reply.text + more.text + arch + str(w.shape) + str(len(steps)) + str(q.nbytes) + str(events)
'''


def _pkg_copy(tmp_path) -> pathlib.Path:
    """The package's Python sources and stubs (_core.pyi, py.typed) copied to tmp_path/pkg, so mypy reads
    them the same way whether the package under test is installed in site-packages (which must not be
    on MYPYPATH) or is the developer build's link tree."""
    src = pathlib.Path(ld.__file__).resolve().parent
    root = tmp_path / "pkg"
    if not root.exists():
        shutil.copytree(src, root / "llama_diffusion",
                        ignore=shutil.ignore_patterns("*.so", "*.pyd", "*.gguf", "*.metallib", "__pycache__"))
    return root


def _mypy(tmp_path, script):
    pytest.importorskip("mypy")
    (tmp_path / "user.py").write_text(textwrap.dedent(script))
    env = dict(os.environ, MYPYPATH=str(_pkg_copy(tmp_path)))
    return subprocess.run([sys.executable, "-m", "mypy", "--strict", "--follow-imports=silent",
                           "--no-incremental", "--cache-dir", str(tmp_path / ".mypy"), "user.py"],
                          cwd=tmp_path, capture_output=True, text=True, env=env, timeout=600)


def test_mypy_strict_on_a_user_script(tmp_path):
    r = _mypy(tmp_path, USER_SCRIPT)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "Success" in r.stdout
    # the types are real, not Any: a wrong use is caught
    bad = USER_SCRIPT + '\nn: int = ld.Model().generate("x").text\nld.Model().generate("x", max_tokenz=3)\n'
    r = _mypy(tmp_path, bad)
    assert r.returncode == 1
    assert 'Incompatible types in assignment (expression has type "str", variable has type "int")' in r.stdout
    assert 'Unexpected keyword argument "max_tokenz"' in r.stdout


TYPED_MODULES = ["generate", "model", "params", "hub", "_stream", "events", "threads", "demo"]


def test_mypy_strict_on_the_typed_modules(tmp_path):
    """The modules behind the public API pass mypy --strict themselves (kernels' test hooks excluded)."""
    pytest.importorskip("mypy")
    pkg = _pkg_copy(tmp_path) / "llama_diffusion"
    files = [str(pkg / f"{m}.py") for m in TYPED_MODULES]
    r = subprocess.run([sys.executable, "-m", "mypy", "--strict", "--follow-imports=silent", "--no-incremental",
                        "--cache-dir", str(tmp_path / ".mypy"), *files], cwd=pkg.parent, capture_output=True,
                       text=True, timeout=600)
    assert r.returncode == 0, r.stdout + r.stderr
