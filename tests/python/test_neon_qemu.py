"""The NEON (AArch64) kernels on an x86 machine: cross-compiles the C++ tests with Debian's
g++-aarch64-linux-gnu and runs them under qemu-aarch64 (tests/cross/run-aarch64-tests.sh), which
checks every optimized kernel of the ISAs the emulated CPU runs (qemu -cpu max: generic, neon and
neon_i8mm, the SMMLA quantized matmul) against the scalar references (tests/cpp/test-kernels-isa.cpp),
and that a CPU without i8mm (-cpu cortex-a76) is offered neon but not neon_i8mm. Skipped when the
cross compiler, qemu-user or cmake is missing. The build goes to a temporary directory, or to
LD_NEON_BUILD_DIR to reuse one between runs (a fresh build takes 2-3 minutes on 2 cores)."""
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
    # the emulated CPU really ran the NEON and i8mm kernels (qemu -cpu max has dotprod, fp16 and i8mm)
    assert "ISAs covered: generic neon neon_i8mm\n" in res.stdout, log
    assert "kernel table neon_i8mm (R=8, C=4)" in res.stdout, log
    assert "matmul_isa(neon_i8mm) runs the neon_i8mm kernel table" in res.stdout, log
    assert "cortex-a76 (no i8mm): arch aarch64; ISAs available: generic neon\n" in res.stdout, log
    assert "0 failures" in res.stdout, log
