"""Shared by the CLI tests: where the llama-diffusion-cli under test is, and running it with stdout on a
pseudo-terminal (the live canvas view only draws on a terminal)."""
import os
import pathlib
import shutil
import subprocess

from llama_diffusion import _core


def find_cli():
    """$LD_CLI, else the dev build next to the extension (build/<dir>/llama-diffusion-cli), else the one on
    PATH (the installed package); None when there is none."""
    env = os.environ.get("LD_CLI")
    if env:
        return env
    dev = pathlib.Path(_core.__file__).resolve().parents[2] / "llama-diffusion-cli"
    if dev.exists():
        return str(dev)
    return shutil.which("llama-diffusion-cli")


def run_under_pty(argv, env=None, timeout=120):
    """Runs argv with stdout on a pseudo-terminal, stdin empty: (returncode, stdout text, stderr text)."""
    import pty
    import select
    master, slave = pty.openpty()
    p = subprocess.Popen(argv, stdout=slave, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, env=env)
    os.close(slave)
    data = b""
    while True:
        ready, _, _ = select.select([master], [], [], timeout)
        if not ready:
            break
        try:
            chunk = os.read(master, 4096)
        except OSError:
            break
        if not chunk:
            break
        data += chunk
    err = p.stderr.read().decode("utf-8", errors="replace")
    p.wait(timeout=timeout)
    os.close(master)
    return p.returncode, data.decode("utf-8", errors="replace"), err
