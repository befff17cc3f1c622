"""llama-diffusion-cli options of issue 15: --version, -t capped to the CPUs with a note, a prompt past
the model's context length warns and past -c is an error, Ctrl-C during a long prompt's prefill
stops within a chunk, and the one default-model variable LLAMA_DIFFUSION_MODEL. -hf is in test_hub.py."""
import os
import signal
import subprocess
import time

import numpy as np
import pytest

import llama_diffusion as ld
from cli_helpers import find_cli

CLI = find_cli()
pytestmark = pytest.mark.skipif(CLI is None, reason="llama-diffusion-cli not built")


def run(*args, env=None, timeout=300):
    e = dict(os.environ, **(env or {}))
    return subprocess.run([CLI, *map(str, args)], capture_output=True, text=True, timeout=timeout, env=e)


def test_version():
    r = run("--version")
    assert r.returncode == 0 and r.stdout.strip() == f"llama-diffusion-cli {ld.__version__}"


def test_threads_capped_with_a_note():
    cpus = len(os.sched_getaffinity(0))
    r = run("-t", 1000, "-p", "def f(x):", "-n", 32, "-s", 1, "--verbose", "--diffusion-eb-max-steps", 2)
    assert r.returncode == 0, r.stderr
    assert f"-t 1000 is more than the {cpus} CPUs" in r.stderr
    assert f"{min(cpus, os.cpu_count())} threads" in r.stderr
    r = run("-t", -3, "-p", "x")
    assert r.returncode == 1 and "-t must be >= 0" in r.stderr


def _long_prompt(tmp_path, n_lines):
    p = tmp_path / "prompt.txt"
    rng = np.random.default_rng(0)
    p.write_text("".join(f"x{int(v)} = {int(v) % 97}\n" for v in rng.integers(0, 10**6, n_lines)))
    return p


def test_context_length(tmp_path):
    n_ctx = ld.Model(ld.DEMO_MODEL).hparams["n_ctx_train"]
    long = _long_prompt(tmp_path, n_ctx // 2)  # several tokens a line: past the context
    r = run("-f", long, "-n", 32, "-s", 1, "--diffusion-eb-max-steps", 1)
    assert r.returncode == 0, r.stderr
    assert f"longer than the model's context length {n_ctx}" in r.stderr
    r = run("-f", long, "-n", 32, "-c", 200)
    assert r.returncode == 1 and "does not fit in the context of -c 200" in r.stderr


def test_ctrl_c_during_prefill(tmp_path):
    long = _long_prompt(tmp_path, 3000)
    p = subprocess.Popen([CLI, "-f", str(long), "-n", "32", "-s", "1"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(1.5)
    t0 = time.perf_counter()
    p.send_signal(signal.SIGINT)
    out, err = p.communicate(timeout=120)
    dt = time.perf_counter() - t0
    assert p.returncode == 130, err
    assert "interrupted during the prompt's prefill" in err
    assert dt < 2.0, dt  # one encoder chunk, not the whole prompt


def test_default_model_variable(tmp_path):
    import shutil
    other = tmp_path / "mine.gguf"
    shutil.copy(ld.DEMO_MODEL, other)
    r = run("-p", "def f(x):", "--raw", "-n", 32, "-s", 1, "--verbose", "--diffusion-eb-max-steps", 1,
            env={"LLAMA_DIFFUSION_MODEL": str(other)})
    assert r.returncode == 0, r.stderr
    assert f"model: {other}" in r.stderr and "built-in demo" not in r.stderr
