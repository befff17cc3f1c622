"""The NEON (AArch64) kernels on an x86 machine: cross-compiles the C++ tests with Debian's
g++-aarch64-linux-gnu and runs them under qemu-aarch64 (tests/cross/run-aarch64-tests.sh), which
checks every optimized kernel of the ISAs the emulated CPU runs (generic and neon) against the scalar
references (tests/cpp/test-kernels-isa.cpp). Skipped when the cross compiler, qemu-user or cmake is
missing. The build goes to a temporary directory, or to LD_NEON_BUILD_DIR to reuse one between runs
(a fresh build takes 2-3 minutes on 2 cores)."""
import os
import pathlib
import platform
import shutil
import subprocess

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "tests" / "cross" / "run-aarch64-tests.sh"
TOOLS = ("aarch64-linux-gnu-g++", "aarch64-linux-gnu-gcc", "qemu-aarch64", "cmake")


def test_neon_kernels_under_qemu(tmp_path):
    if platform.machine().lower() not in ("x86_64", "amd64"):
        pytest.skip(f"cross-build for aarch64 is set up for x86_64 hosts (this is {platform.machine()})")
    missing = [t for t in TOOLS if shutil.which(t) is None]
    if missing:
        pytest.skip("needs " + ", ".join(missing) + " (apt-get install qemu-user g++-aarch64-linux-gnu cmake)")
    build = pathlib.Path(os.environ.get("LD_NEON_BUILD_DIR") or tmp_path / "neon")
    res = subprocess.run(["bash", str(SCRIPT), str(build)], capture_output=True, text=True, timeout=900)
    log = res.stdout[-6000:] + res.stderr[-4000:]
    assert res.returncode == 0, log
    # the emulated CPU really ran the NEON kernels (qemu's default CPU has dotprod and fp16)
    assert "ISAs covered: generic neon" in res.stdout, log
    assert "0 failures" in res.stdout, log
