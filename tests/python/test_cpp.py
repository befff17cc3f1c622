"""Drives the C++ tests (tests/cpp/test-*.cpp): configures a CMake build with LD_TESTS=ON in a
temporary directory (or reuses LD_CPP_BUILD_DIR), builds it and runs every test through ctest."""
import os
import pathlib
import shutil
import subprocess

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]


def _build_dir(tmp_path_factory) -> pathlib.Path:
    env_dir = os.environ.get("LD_CPP_BUILD_DIR")
    if env_dir:
        return pathlib.Path(env_dir)
    return tmp_path_factory.mktemp("cpp-build")


@pytest.fixture(scope="module")
def cpp_build(tmp_path_factory):
    if shutil.which("cmake") is None:
        pytest.skip("cmake is not installed")
    build = _build_dir(tmp_path_factory)
    gen = ["-G", "Ninja"] if shutil.which("ninja") else []
    subprocess.run(["cmake", "-S", str(ROOT), "-B", str(build), *gen, "-DLD_TESTS=ON",
                    "-DCMAKE_BUILD_TYPE=Release"], check=True, capture_output=True, text=True)
    jobs = str(max(1, min(4, os.cpu_count() or 1)))
    # Build the test executables only (not the Python extension).
    names = sorted(p.stem for p in (ROOT / "tests" / "cpp").glob("test-*.cpp"))
    res = subprocess.run(["cmake", "--build", str(build), "-j", jobs, "--target", *names],
                         capture_output=True, text=True)
    assert res.returncode == 0, res.stdout[-4000:] + res.stderr[-4000:]
    return build, names


def test_cpp_suite(cpp_build):
    build, names = cpp_build
    assert names, "no C++ tests found"
    res = subprocess.run(["ctest", "--test-dir", str(build), "--output-on-failure"],
                         capture_output=True, text=True, timeout=900)
    print(res.stdout[-4000:])
    assert res.returncode == 0, res.stdout[-6000:] + res.stderr[-2000:]
    assert f"tests passed, 0 tests failed out of {len(names)}" in res.stdout or \
        f"100% tests passed" in res.stdout
