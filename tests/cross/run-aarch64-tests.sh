#!/usr/bin/env bash
# Cross-compiles the C++ tests for aarch64 (Debian g++-aarch64-linux-gnu; the *-neon.cpp kernels are built
# with -march=armv8.2-a+dotprod+fp16, *-neon-i8mm.cpp with +i8mm) and runs them with ctest under
# qemu-aarch64 -cpu max (qemu-user), so the NEON and NEON+i8mm (SMMLA) kernels are exercised on an x86
# machine. Then test-kernels-isa (when selected) lists the ISAs of a CPU without i8mm (-cpu cortex-a76):
# neon must be there and neon_i8mm must not. Exit status: 0 when every test passes.
#
# Usage: tests/cross/run-aarch64-tests.sh [build-dir] [ctest -R regex]
#   build-dir defaults to build/neon (relative to the repository root); the regex selects tests
#   (default: all). Env: LD_CROSS_JOBS (build jobs, default 2).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
build="${1:-build/neon}"
case "$build" in /*) ;; *) build="$root/$build" ;; esac
regex="${2:-}"
jobs="${LD_CROSS_JOBS:-2}"

for tool in aarch64-linux-gnu-g++ aarch64-linux-gnu-gcc qemu-aarch64 cmake; do
    command -v "$tool" >/dev/null || { echo "run-aarch64-tests: '$tool' not found (apt-get install qemu-user g++-aarch64-linux-gnu)" >&2; exit 2; }
done
generator=()
command -v ninja >/dev/null && generator=(-G Ninja)

# The Python extension is not cross-built (no aarch64 Python / pybind11): keep CMake from finding the
# host's. Nor is the CUDA backend (LD_CUDA=AUTO would find the host's nvcc and put x86-64 objects in
# the aarch64 library).
cmake -S "$root" -B "$build" "${generator[@]}" \
    -DCMAKE_TOOLCHAIN_FILE="$root/tests/cross/aarch64-toolchain.cmake" \
    -DCMAKE_BUILD_TYPE=Release -DLD_TESTS=ON -DLD_CUDA=OFF \
    -DCMAKE_DISABLE_FIND_PACKAGE_Python=ON -DCMAKE_DISABLE_FIND_PACKAGE_pybind11=ON >/dev/null

# Only the test executables (the tools and the extension are not needed here).
tests=()
for src in "$root"/tests/cpp/test-*.cpp; do
    name="$(basename "$src" .cpp)"
    if [[ -z "$regex" || "$name" =~ $regex ]]; then tests+=("$name"); fi
done
[[ ${#tests[@]} -gt 0 ]] || { echo "run-aarch64-tests: no test matches '$regex'" >&2; exit 2; }
cmake --build "$build" --parallel "$jobs" --target "${tests[@]}"

ctest_args=(--test-dir "$build" --output-on-failure --verbose --timeout 600)
[[ -n "$regex" ]] && ctest_args+=(-R "$regex")
# The tests pick the best ISA the emulated CPU offers (the toolchain runs qemu with -cpu max: dotprod,
# fp16 and i8mm, so neon and neon_i8mm are among cpu_isas_available(); test-kernels-isa prints the ISAs
# it covered, shown by --verbose); LD_NUM_THREADS keeps the global pool small.
LD_NUM_THREADS=2 ctest "${ctest_args[@]}"

# A CPU with dotprod and fp16 but no i8mm: the detection must offer neon and not neon_i8mm.
if [[ " ${tests[*]} " == *" test-kernels-isa "* ]]; then
    listed="$(qemu-aarch64 -L /usr/aarch64-linux-gnu -cpu cortex-a76 "$build/test-kernels-isa" --list-isas)"
    echo "cortex-a76 (no i8mm): $listed"
    [[ " $listed " == *" neon "* && " $listed " != *" neon_i8mm "* ]] ||
        { echo "run-aarch64-tests: wrong ISAs for a CPU without i8mm: $listed" >&2; exit 1; }
    echo "cortex-a76 ISA check passed"
fi
