"""CMake options that cannot be honoured fail configuration with a clear message instead of
building silently without the feature (LD_METAL on a system that is not macOS)."""
import pathlib
import shutil
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parents[2]


def test_metal_option_fails_configuration(tmp_path):
    """-DLD_METAL=ON configures on macOS and stops with a clear error everywhere else."""
    assert shutil.which("cmake"), "cmake is needed"
    r = subprocess.run(["cmake", "-S", str(ROOT), "-B", str(tmp_path / "b"), "-DLD_METAL=ON"],
                       capture_output=True, text=True, timeout=300)
    if sys.platform == "darwin":
        assert r.returncode == 0, r.stderr[-2000:]
        return
    assert r.returncode != 0
    assert "the Metal backend needs macOS" in r.stderr, r.stderr[-2000:]


def test_cmake_names_no_missing_kernel_files():
    """Every per-ISA file-name rule of CMakeLists.txt (name MATCHES "-isa$") has a source file it
    applies to: no rule for a kernel that does not exist."""
    import re
    text = (ROOT / "CMakeLists.txt").read_text()
    rules = [r for r in re.findall(r'if\(name MATCHES "(-[a-z0-9-]+)\$"', text)]
    assert {"-avx2", "-avx512", "-amx", "-neon", "-neon-i8mm"} <= set(rules), rules
    stems = [p.stem for p in (ROOT / "ggml" / "src").rglob("*.cpp")]
    for suffix in rules:
        assert any(s.endswith(suffix) for s in stems), f"CMake rule for *{suffix}.cpp but no such file"
