#!/usr/bin/env bash
# Builds the libFuzzer target for the GGUF reader with ASan + UBSan (clang++-14 by default).
#   tests/fuzz/build.sh [OUT_DIR]      -> OUT_DIR/fuzz-gguf-reader   (default build/fuzz)
# The reader, the error code and the ggml type table (with the reference kernels it links) are
# compiled directly from the source tree; no CMake build is needed. Override the compiler with
# LD_FUZZ_CXX. Run it with:  OUT_DIR/fuzz-gguf-reader -max_total_time=60 CORPUS_DIR
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
OUT="${1:-$ROOT/build/fuzz}"
CXX="${LD_FUZZ_CXX:-clang++-14}"
mkdir -p "$OUT/obj"

COMMON=(-std=c++17 -g -O1 -fno-omit-frame-pointer -I"$ROOT/cpp" -I"$ROOT/ggml/include")
SAN=(-fsanitize=address,undefined -fno-sanitize-recover=all)

# Reader-level code: instrumented for coverage and sanitized.
READER_SRCS=("$ROOT"/cpp/gguf/*.cpp "$ROOT/cpp/common/error.cpp" "$ROOT/ggml/src/types.cpp")
# Reference kernels: only linked (the type table points at them), never run by the fuzzer.
# gguf-check.cpp (in cpp/gguf/) runs its scan on a ThreadPool.
KERNEL_SRCS=("$ROOT"/ggml/src/quants-ref*.cpp "$ROOT/ggml/src/cpu/thread-pool.cpp")

objs=()
for src in "${READER_SRCS[@]}"; do
    obj="$OUT/obj/$(basename "${src%.cpp}").o"
    "$CXX" "${COMMON[@]}" "${SAN[@]}" -fsanitize=fuzzer-no-link -c "$src" -o "$obj"
    objs+=("$obj")
done
for src in "${KERNEL_SRCS[@]}"; do
    obj="$OUT/obj/$(basename "${src%.cpp}").o"
    "$CXX" "${COMMON[@]}" -c "$src" -o "$obj"
    objs+=("$obj")
done
"$CXX" "${COMMON[@]}" "${SAN[@]}" -fsanitize=fuzzer "$ROOT/tests/fuzz/fuzz-gguf-reader.cpp" "${objs[@]}" \
    -o "$OUT/fuzz-gguf-reader"
echo "built $OUT/fuzz-gguf-reader"
