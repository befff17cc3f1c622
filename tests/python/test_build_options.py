"""CMake options that cannot be honoured fail configuration with a clear message instead of
building silently without the feature (LD_METAL on a system that is not macOS)."""
import pathlib
import shutil
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]


def test_metal_option_fails_configuration(tmp_path):
    if sys.platform == "darwin":
        pytest.skip("macOS builds the Metal backend (the macOS workflow configures with -DLD_METAL=ON)")
    assert shutil.which("cmake"), "cmake is needed"
    r = subprocess.run(["cmake", "-S", str(ROOT), "-B", str(tmp_path / "b"), "-DLD_METAL=ON"],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode != 0
    assert "the Metal backend needs macOS" in r.stderr, r.stderr[-2000:]


def test_cmake_names_no_missing_kernel_files():
    text = (ROOT / "CMakeLists.txt").read_text()
    assert "i8mm" not in text.lower()
