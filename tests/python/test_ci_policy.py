"""The CI skip policy of conftest.py: under CI=true an unexpected skip (in a test or at module level)
fails, the allowlisted ones (AMX on a CPU without it, `gpu` tests without a GPU) stay skips, and
without CI every skip stays a skip. Runs pytest in a child process on a scratch directory holding a
copy of the real conftest.py."""
import os
import pathlib
import shutil
import subprocess
import sys

HERE = pathlib.Path(__file__).resolve().parent

TESTS = '''
import pytest
def test_plain_skip():
    pytest.skip("no torch here")
@pytest.mark.skipif(True, reason="no AMX-INT8 on this CPU/OS/build")
def test_amx():
    pass
@pytest.mark.gpu
def test_gpu():
    pytest.skip("no GPU: none found")
def test_gpu_reason_without_marker():
    pytest.skip("no GPU: none found")
def test_ok():
    pass
'''


def run(tmp_path, ci: bool, module_skip: bool = False):
    shutil.copy(HERE / "conftest.py", tmp_path / "conftest.py")
    (tmp_path / "pytest.ini").write_text("[pytest]\nmarkers =\n    gpu: needs a GPU\n")
    (tmp_path / "test_policy.py").write_text(TESTS)
    if module_skip:
        (tmp_path / "test_modskip.py").write_text("import pytest\npytest.importorskip('no_such_module_ld')\n")
    env = {k: v for k, v in os.environ.items() if k != "CI"}
    if ci:
        env["CI"] = "true"
    return subprocess.run([sys.executable, "-m", "pytest", "-q", "-rA", "-p", "no:cacheprovider", str(tmp_path)],
                          capture_output=True, text=True, cwd=tmp_path, env=env, timeout=120).stdout


def test_ci_turns_unexpected_skips_into_failures(tmp_path):
    out = run(tmp_path, ci=True)
    assert "FAILED test_policy.py::test_plain_skip" in out and "not on SKIP_ALLOWLIST" in out
    assert "FAILED test_policy.py::test_gpu_reason_without_marker" in out
    assert "2 failed, 1 passed, 2 skipped" in out, out


def test_ci_fails_a_module_level_skip(tmp_path):
    out = run(tmp_path, ci=True, module_skip=True)
    assert "ERROR test_modskip.py" in out and "no_such_module_ld" in out, out


def test_without_ci_skips_stay_skips(tmp_path):
    out = run(tmp_path, ci=False, module_skip=True)
    assert "1 passed, 5 skipped" in out, out
