"""The built-in demo model: the GGUF shipped inside the package (llama_diffusion/models/),
used by llama-diffusion-cli without -m and by ld.Model() / generate(None, ...) without a path.

References: the CLI run without -m must give the same tokens as an explicit `-m <demo> --raw` run
and as the Python API on the same file with raw=True; the packaged file is checked against gguf-py
(an independent reader) where it is installed. The executable's search is tested by copying it into
temporary install layouts (venv-style prefix/bin + prefix/lib/python3.X/site-packages, ...)."""
import json
import os
import pathlib
import shutil
import subprocess

import pytest

import llama_diffusion as ld
from llama_diffusion import generate as G
from cli_helpers import find_cli, run_under_pty

NAME = "diffusiongemma-demo-q8_0.gguf"
NOTE = "no -m given; using the built-in demo model"
PROMPT = "def fibonacci(n):"
FAST = ["-n", "32", "--diffusion-eb-max-steps", "4"]


CLI = find_cli()
PKG_MODEL = pathlib.Path(ld.__file__).parent / "models" / NAME


def run_cli(*args, exe=None, env=None, input=None):
    exe = exe or CLI
    if exe is None:
        pytest.skip("llama-diffusion-cli not built")
    e = dict(os.environ)
    e.pop("LLAMA_DIFFUSION_MODEL", None)
    e.pop("LLAMA_DIFFUSION_DEMO_MODEL", None)
    e.update(env or {})
    return subprocess.run([str(exe), *map(str, args)], capture_output=True, text=True, env=e, timeout=300,
                          errors="replace", input=input)


@pytest.fixture(autouse=True)
def _no_override(monkeypatch):
    monkeypatch.delenv("LLAMA_DIFFUSION_DEMO_MODEL", raising=False)


# ---- the packaged file ------------------------------------------------------------------------------
def test_packaged_file_ships_in_the_package():
    # what a wheel installs: the file lies under the imported package's directory
    assert PKG_MODEL.is_file(), f"{PKG_MODEL} missing: the demo model must ship inside llama_diffusion/models/"
    assert PKG_MODEL.stat().st_size <= 5 * 1024 * 1024
    assert pathlib.Path(ld.DEMO_MODEL).resolve() == PKG_MODEL.resolve()
    assert isinstance(ld.DEMO_MODEL, str)
    assert pathlib.Path(ld.demo_model_path()).resolve() == PKG_MODEL.resolve()


def test_packaged_file_is_a_diffusiongemma_by_gguf_py():
    gguf = pytest.importorskip("gguf")
    r = gguf.GGUFReader(str(PKG_MODEL))
    assert r.fields["general.architecture"].contents() == "diffusion-gemma"
    assert len(r.fields["tokenizer.ggml.tokens"].data) == 3072


# ---- Python ---------------------------------------------------------------------------------------
def test_model_without_path_loads_the_demo(capsys):
    m = ld.Model()
    err = capsys.readouterr().err.strip().splitlines()
    assert m.is_demo and pathlib.Path(m.path).resolve() == PKG_MODEL.resolve()
    assert m.architecture == "diffusion-gemma" and m.n_vocab == 3072
    n_params = sum(t.n_elements for t in ld.GGUFFile(m.path).tensors)
    assert len(err) == 1 and "built-in demo model" in err[0] and m.path in err[0]
    assert f"{n_params / 1e6:.1f}M-parameter" in err[0] and "raw text" in err[0]
    # an explicit path prints nothing
    m2 = ld.Model(ld.DEMO_MODEL)
    assert capsys.readouterr().err == "" and not m2.is_demo


def test_generate_without_model_uses_the_demo_as_raw_text(capsys):
    r = G.generate(None, PROMPT, max_tokens=32, seed=3, max_steps=4)
    assert "built-in demo model" in capsys.readouterr().err
    eng = G.engine_of(ld.DEMO_MODEL)
    raw_ids = list(eng.tokenize(PROMPT, True, True))
    assert r.prompt_tokens == raw_ids  # no chat template for the code model
    ref = G.generate(ld.DEMO_MODEL, PROMPT, max_tokens=32, seed=3, max_steps=4, raw=True)
    assert r.tokens == ref.tokens and r.text == ref.text and isinstance(r.text, str)
    # raw=False still applies the chat template; an ld.Model() of the demo defaults to raw too
    chat = G.generate(None, PROMPT, max_tokens=32, seed=3, max_steps=4, raw=False)
    assert chat.prompt_tokens == list(eng.chat_ids([("user", PROMPT)], False)) != raw_ids
    assert ld.Model().generate(PROMPT, max_tokens=32, seed=3, max_steps=4).prompt_tokens == raw_ids
    events = list(G.stream(None, PROMPT, max_tokens=32, seed=3, max_steps=4))
    assert isinstance(events[-1], G.Done) and events[-1].result.tokens == r.tokens
    assert G.ChatSession().send("hello", max_tokens=32, max_steps=2).tokens


def test_python_override_missing_file(monkeypatch, tmp_path):
    missing = tmp_path / "nope.gguf"
    monkeypatch.setenv("LLAMA_DIFFUSION_DEMO_MODEL", str(missing))
    with pytest.raises(FileNotFoundError, match="LLAMA_DIFFUSION_DEMO_MODEL.*nope.gguf"):
        ld.Model()
    with pytest.raises(FileNotFoundError, match="nope.gguf"):
        G.generate(None, PROMPT)


# ---- CLI ------------------------------------------------------------------------------------------
def test_cli_without_model_uses_the_demo():
    r = run_cli("-p", PROMPT, "-s", "1", *FAST, "--json")
    assert r.returncode == 0, r.stderr
    err = r.stderr.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("llama-diffusion-cli: " + NOTE), r.stderr
    assert "pass -m FILE" in err[0] and "raw text" in err[0] and NAME in err[0]
    path = err[0].split(NOTE, 1)[1].split()[0]
    assert pathlib.Path(path).resolve() == PKG_MODEL.resolve()  # the file of the package under test
    out = json.loads(r.stdout)
    assert out["text"].strip() and out["tokens"]
    # the same run with the file given explicitly as a raw prompt: same tokens, and no note
    ref = run_cli("-m", path, "--raw", "-p", PROMPT, "-s", "1", *FAST, "--json")
    assert ref.returncode == 0 and ref.stderr == "", ref.stderr
    assert json.loads(ref.stdout)["tokens"] == out["tokens"]
    # and through Python on the same file
    res = G.generate(path, PROMPT, raw=True, seed=1, max_tokens=32, max_steps=4)
    assert res.tokens == out["tokens"] and res.text == out["text"]


def test_cli_without_model_plain_text():
    r = run_cli("-p", PROMPT, "-n", "64", "-s", "1")
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip()
    assert r.stderr.count(NOTE) == 1 and "tokens delivered" in r.stderr


def test_cli_chat_mode_note():
    r = run_cli("-cnv", "-n", "16", "--diffusion-eb-max-steps", "2", input="hello\n/exit\n")
    assert r.returncode == 0, r.stderr
    err = [l for l in r.stderr.splitlines() if NOTE in l]
    assert len(err) == 1 and "chat template" in err[0]


def test_cli_help_mentions_the_demo():
    r = run_cli("--help")
    assert r.returncode == 0 and "built-in demo model" in r.stdout and "[-m FILE]" in r.stdout


def test_cli_override_missing_file(tmp_path):
    missing = tmp_path / "missing.gguf"
    r = run_cli("-p", PROMPT, env={"LLAMA_DIFFUSION_DEMO_MODEL": str(missing)})
    assert r.returncode != 0
    err = r.stderr.strip().splitlines()
    assert len(err) == 1 and "LLAMA_DIFFUSION_DEMO_MODEL" in err[0] and str(missing) in err[0], r.stderr
    assert "does not exist" in err[0]


def test_cli_override_existing_file(tmp_path):
    copy = tmp_path / "my-demo.gguf"
    shutil.copyfile(PKG_MODEL, copy)
    r = run_cli("-p", PROMPT, "-s", "2", *FAST, "--json", env={"LLAMA_DIFFUSION_DEMO_MODEL": str(copy)})
    assert r.returncode == 0, r.stderr
    assert NOTE + " " + str(copy) in r.stderr


def _copy_cli(bindir: pathlib.Path) -> pathlib.Path:
    if CLI is None:
        pytest.skip("llama-diffusion-cli not built")
    bindir.mkdir(parents=True)
    exe = bindir / "llama-diffusion-cli"
    shutil.copy2(CLI, exe)
    return exe


def test_cli_demo_not_found(tmp_path):
    tmp_path = tmp_path.resolve()  # the executable sees its own symlink-free path
    exe = _copy_cli(tmp_path / "bin")
    r = run_cli("-p", PROMPT, exe=exe)
    assert r.returncode == 1
    err = r.stderr.strip().splitlines()
    assert len(err) == 1, r.stderr
    msg = err[0]
    assert "no model given" in msg and "demo model" in msg and "not found" in msg and "pass -m FILE" in msg
    # it lists where it looked: the install layouts under the prefix and the dev build's pkg/
    assert str(tmp_path / "lib" / "python3.*" / "site-packages" / "llama_diffusion" / "models" / NAME) in msg
    assert str(tmp_path / "bin" / "pkg" / "llama_diffusion" / "models" / NAME) in msg


@pytest.mark.parametrize("lib", ["lib/python3.11/site-packages", "lib/python3.9/dist-packages",
                                 "lib64/python3.12/site-packages"])
def test_cli_finds_demo_in_install_layouts(tmp_path, lib):
    tmp_path = tmp_path.resolve()  # the executable sees its own symlink-free path
    exe = _copy_cli(tmp_path / "venv" / "bin")
    target = tmp_path / "venv" / lib / "llama_diffusion" / "models" / NAME
    target.parent.mkdir(parents=True)
    shutil.copyfile(PKG_MODEL, target)
    r = run_cli("-p", PROMPT, "-s", "1", *FAST, "--json", exe=exe)
    assert r.returncode == 0, r.stderr
    assert NOTE + " " + str(target) in r.stderr


def test_cli_finds_demo_in_dev_layout(tmp_path):
    tmp_path = tmp_path.resolve()  # the executable sees its own symlink-free path
    exe = _copy_cli(tmp_path / "build")
    target = tmp_path / "build" / "pkg" / "llama_diffusion" / "models" / NAME
    target.parent.mkdir(parents=True)
    shutil.copyfile(PKG_MODEL, target)
    r = run_cli("-p", PROMPT, "-s", "1", *FAST, "--json", exe=exe)
    assert r.returncode == 0, r.stderr
    assert NOTE + " " + str(target) in r.stderr


# ---- live view: on by default for the demo on a terminal ------------------------------------------
def _run_under_pty(args, timeout=120):
    """The CLI with stdout on a pseudo-terminal and no model overrides: (returncode, stdout, stderr)."""
    env = {k: v for k, v in os.environ.items() if k not in ("LLAMA_DIFFUSION_DEMO_MODEL", "LLAMA_DIFFUSION_MODEL")}
    return run_under_pty([CLI, *args], env=env, timeout=timeout)


@pytest.mark.skipif(CLI is None, reason="llama-diffusion-cli not built")
def test_cli_demo_shows_the_canvas_on_a_terminal():
    rc, out, err = _run_under_pty(["-p", "def fibonacci(n):", "-n", "32", "-s", "1", "--diffusion-visual-ms", "200"])
    assert rc == 0, err
    assert "\x1b7" in out and "\x1b8\x1b[J" in out  # the canvas is redrawn in place
    assert "[canvas 1 | step 1/48" in out and "step 2/48" in out
    assert "[visual]" in err and "display pacing" in err  # paced frames are reported, not hidden in tok/s


@pytest.mark.skipif(CLI is None, reason="llama-diffusion-cli not built")
def test_cli_demo_live_view_can_be_turned_off():
    rc, out, err = _run_under_pty(["-p", "def fibonacci(n):", "-n", "32", "-s", "1", "--no-diffusion-visual"])
    assert rc == 0, err
    assert "\x1b" not in out and "[canvas" not in out and "[visual]" not in err
    rc, out, err = _run_under_pty(["-p", "def fibonacci(n):", "-n", "32", "-s", "1", "--diffusion-visual-ms", "0"])
    assert rc == 0, err
    assert "[canvas 1 | step 1/48" in out and "[visual]" not in err  # no pacing, nothing to report


def test_cli_demo_on_a_pipe_stays_plain():
    r = run_cli("-p", "def fibonacci(n):", "-n", "32", "-s", "1")
    assert r.returncode == 0 and "\x1b" not in r.stdout and "[visual]" not in r.stderr


def test_cli_visual_ms_is_validated():
    r = run_cli("-p", "x", "--diffusion-visual-ms", "-1")
    assert r.returncode == 1 and "--diffusion-visual-ms" in r.stderr
