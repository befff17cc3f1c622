#!/usr/bin/env bash
# The GPU proof of the CUDA backend, for a bare NVIDIA machine (H200 class) with this repo copied in and
# its own Python (numpy, pybind11, scikit-build-core, cmake; no network). Everything goes to $OUT
# (default ./gpu_check_out); planned to finish in < 12 minutes:
#   1. build with CUDA for sm_90 only (build/gpu, the developer layout: PYTHONPATH=build/gpu/pkg)  ~3-4 min
#   2. the GPU's own ceilings (tools/gpu_peak.cu: int8 mma.sync rate, memory read / copy bandwidth)  <1 min
#   3. ld.backends(), then the GPU op tests (tests/python/test_backend_ops.py -m gpu: every op vs the CPU
#      references over the real shapes, every weight type) and the placement tests of
#      tests/python/test_backends.py -m gpu (they need transformers with DiffusionGemma: recorded either way)
#   4. a full-size random model (bench/make_bench_gguf.py, the real 30-layer pattern, Q4_K_M, ~15.6 GiB,
#      written while 2-3 run) and `llama-diffusion-bench model|generate --device cuda` on it
# Each step has its own time limit and the script goes on after a failure; summary.txt lists the steps'
# exit codes. Usage: OUT=/path tools/gpu_check.sh   (JOBS=N to change the build parallelism)
set -u
cd "$(dirname "$0")/.."
ROOT=$(pwd)
OUT=${OUT:-$ROOT/gpu_check_out}
JOBS=${JOBS:-$(nproc)}
PY=${PYTHON:-python3}
BUILD=$ROOT/build/gpu
MODEL_DIR=${MODEL_DIR:-$ROOT/bench/models}
MODEL=$MODEL_DIR/dg-30L-Q4_K_M.gguf
mkdir -p "$OUT" "$MODEL_DIR"
SUMMARY=$OUT/summary.txt
: > "$SUMMARY"
T0=$(date +%s)

step() {  # step NAME LIMIT_S CMD...: runs CMD under a time limit, output to $OUT/NAME.log
    local name=$1 limit=$2
    shift 2
    local t=$(date +%s)
    timeout --kill-after=10 "$limit" "$@" > "$OUT/$name.log" 2>&1
    local rc=$?
    echo "$name rc=$rc ${limit}s-limit took=$(( $(date +%s) - t ))s" | tee -a "$SUMMARY"
    return $rc
}

{ nvidia-smi; nvidia-smi -q -d CLOCK,MEMORY; } > "$OUT/nvidia-smi.txt" 2>&1
{ nvcc --version; cmake --version; $PY --version; git -C "$ROOT" log -1 --oneline 2>/dev/null; } > "$OUT/versions.txt" 2>&1

# 1. build (sm_90 only; Ninja when present)
GEN=()
command -v ninja > /dev/null && GEN=(-G Ninja)
step configure 120 cmake -S "$ROOT" -B "$BUILD" "${GEN[@]}" -DCMAKE_BUILD_TYPE=Release -DLD_CUDA=ON \
    -DCMAKE_CUDA_ARCHITECTURES=90 -DLD_TESTS=OFF -DPython_EXECUTABLE="$(command -v $PY)"
step build 420 cmake --build "$BUILD" -j "$JOBS"
export PYTHONPATH=$BUILD/pkg

# 4a. the benchmark model, in the background while the tests run (CPU + disk)
LAYERS="s,s,s,s,s,f,s,s,s,s,s,f,s,s,s,s,s,f,s,s,s,s,s,f,s,s,s,s,s,f"
if [ ! -s "$MODEL" ]; then
    ( timeout 420 $PY bench/make_bench_gguf.py --outtype q4_k_m --layer-types "$LAYERS" --threads "$JOBS" \
        -o "$MODEL" --force > "$OUT/make_model.log" 2>&1; echo "make_model rc=$?" >> "$SUMMARY" ) &
    MAKE_PID=$!
else
    MAKE_PID=
fi

# 2. ceilings
step peak_build 120 nvcc -O3 -arch=sm_90 "$ROOT/tools/gpu_peak.cu" -o "$BUILD/gpu_peak"
step peak 120 "$BUILD/gpu_peak" && cp "$OUT/peak.log" "$OUT/peaks.json"

# 3. backends and GPU tests
step backends 60 $PY -c "import json, llama_diffusion as ld; print(json.dumps(ld.backends(), indent=1))"
step gpu_ops 300 $PY -m pytest -q -rs -m gpu -p no:cacheprovider --junitxml="$OUT/gpu_ops.xml" \
    tests/python/test_backend_ops.py
step gpu_placement 180 $PY -m pytest -q -rs -m gpu -p no:cacheprovider --junitxml="$OUT/gpu_placement.xml" \
    tests/python/test_backends.py

# 4b. benchmarks on the full-size model
[ -n "$MAKE_PID" ] && wait "$MAKE_PID"
if [ -s "$MODEL" ]; then
    step bench_model 180 $PY -m llama_diffusion.bench model -m "$MODEL" --device cuda --prompt-tokens 1000 \
        --repeats 3 --json
    step bench_generate 180 $PY -m llama_diffusion.bench generate -m "$MODEL" --device cuda --modes diffusion --head fused \
        --max-tokens 256 --repeats 2 --json
    nvidia-smi --query-gpu=memory.used,memory.total --format=csv > "$OUT/gpu_memory_after.txt" 2>&1
fi

echo "total $(( $(date +%s) - T0 ))s" | tee -a "$SUMMARY"
