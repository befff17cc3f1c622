"""Builds the libFuzzer target of the GGUF reader (tests/fuzz/build.sh: clang++-14 with ASan +
UBSan), seeds it with small valid GGUF files (tests/fuzz/make-seeds.py) and runs it for a bounded
time (LD_FUZZ_SECONDS, default 60). Fails if the fuzzer reports a crash, a sanitizer error, a leak
or an uncaught exception. Skipped, with the reason, when clang++-14 is not installed."""
import os
import pathlib
import shutil
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_fuzz_gguf_reader(tmp_path):
    cxx = os.environ.get("LD_FUZZ_CXX", "clang++-14")
    if shutil.which(cxx) is None:
        pytest.skip(f"{cxx} not found (apt-get install clang-14) - libFuzzer target not built")
    out = tmp_path / "build"
    build = subprocess.run(["bash", str(ROOT / "tests/fuzz/build.sh"), str(out)], capture_output=True, text=True,
                           env={**os.environ, "LD_FUZZ_CXX": cxx}, timeout=900)
    assert build.returncode == 0, f"fuzzer build failed:\n{build.stdout}\n{build.stderr}"
    corpus = tmp_path / "corpus"
    dict_file = tmp_path / "gguf.dict"
    seeds = subprocess.run([sys.executable, str(ROOT / "tests/fuzz/make-seeds.py"), str(corpus), str(dict_file)],
                           capture_output=True, text=True, timeout=120)
    assert seeds.returncode == 0, seeds.stderr
    assert len(list(corpus.iterdir())) >= 1
    seconds = int(os.environ.get("LD_FUZZ_SECONDS", "60"))
    artifacts = tmp_path / "artifacts"
    artifacts.mkdir()
    run = subprocess.run(
        [str(out / "fuzz-gguf-reader"), f"-max_total_time={seconds}", "-rss_limit_mb=2048", "-timeout=10",
         "-max_len=4096", f"-dict={dict_file}", f"-artifact_prefix={artifacts}/", "-print_final_stats=1",
         str(corpus)],
        capture_output=True, text=True, timeout=seconds + 300,
        env={**os.environ, "ASAN_OPTIONS": "detect_leaks=1:abort_on_error=0",
             "UBSAN_OPTIONS": "print_stacktrace=1:halt_on_error=1"})
    log = run.stdout + run.stderr
    crashes = sorted(p.name for p in artifacts.iterdir())
    assert run.returncode == 0 and not crashes, (
        f"fuzzer failed (exit {run.returncode}, artifacts {crashes}):\n{log[-6000:]}")
    runs = [line for line in log.splitlines() if line.startswith("stat::number_of_executed_units")]
    print(f"\n{runs[0] if runs else 'no stats'} in {seconds} s")
    assert runs and int(runs[0].split(":")[-1]) > 1000
