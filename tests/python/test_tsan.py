"""ThreadSanitizer: builds the thread-pool test and the multi-threaded engine test
(tests/cpp/test-thread-pool.cpp, tests/cpp/test-engine-threads.cpp) with -fsanitize=thread in a
temporary CMake build (only those two targets and the libraries they need: ~1 min on 2 cores) and
runs them; any data race or lock-order report fails the test (TSan exits non-zero)."""
import os
import pathlib
import shutil
import subprocess

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
TARGETS = ["test-thread-pool", "test-engine-threads"]


@pytest.fixture(scope="module")
def tsan_build(tmp_path_factory):
    assert shutil.which("cmake"), "cmake is needed for the ThreadSanitizer build"
    build = tmp_path_factory.mktemp("tsan-build")
    gen = ["-G", "Ninja"] if shutil.which("ninja") else []
    cfg = subprocess.run(["cmake", "-S", str(ROOT), "-B", str(build), *gen, "-DLD_TESTS=ON",
                          "-DCMAKE_BUILD_TYPE=RelWithDebInfo", "-DCMAKE_CXX_FLAGS=-fsanitize=thread",
                          "-DCMAKE_EXE_LINKER_FLAGS=-fsanitize=thread"], capture_output=True, text=True)
    assert cfg.returncode == 0, cfg.stdout[-3000:] + cfg.stderr[-3000:]
    jobs = str(max(1, min(4, os.cpu_count() or 1)))
    res = subprocess.run(["cmake", "--build", str(build), "-j", jobs, "--target", *TARGETS],
                         capture_output=True, text=True)
    assert res.returncode == 0, res.stdout[-4000:] + res.stderr[-4000:]
    return build


@pytest.mark.parametrize("name,args", [("test-thread-pool", []), ("test-engine-threads", ["3"])])
def test_tsan(tsan_build, name, args):
    env = dict(os.environ, TSAN_OPTIONS="halt_on_error=1 exitcode=66 second_deadlock_stack=1")
    res = subprocess.run([str(tsan_build / name), *args], capture_output=True, text=True, timeout=300, env=env)
    assert res.returncode == 0, f"{name} rc={res.returncode}\n{res.stdout[-3000:]}\n{res.stderr[-6000:]}"
    assert "all checks passed" in res.stdout
    assert "ThreadSanitizer" not in res.stderr, res.stderr[-6000:]
