"""``llama-diffusion-bench ops``: GFLOP/s of the CPU matmul kernels on the DiffusionGemma shapes.
(``llama-diffusion-bench model -m FILE``, whole-model passes, is in bench_model.py;
``llama-diffusion-bench generate -m FILE``, end-to-end generation, in bench_generate.py.)

Measures this core's peaks first (int8 512-bit vpdpbusd, f32 FMA, bf16 with a register-only C++ loop;
int8 AMX tdpbssd on tiles where the amx ISA is available; int8 256-bit vpdpbusd where AVX-VNNI is, and
the AVX2 vpmaddubsw + vpmaddwd triple), then times each shape with 1 and 2 threads and prints the median
GFLOP/s (2 flops per multiply-add), the best one, the rate by process CPU time (per thread; what
uncontended cores would give when other processes share the machine) and the fraction of one peak of the
cores used (median wall rate / (peak x threads)), named per row: bf16 for BF16 weights, fma for F32/F16,
amx_int8 for the quantized types on the amx path, avx_vnni on avx2_vnni, avx2_int8 on avx2, vnni for the
quantized types on the other paths.

    llama-diffusion-bench ops [--json] [--repeats 5] [--threads 1,2] [--shapes dense,moe,lm_head]
                              [--types Q4_K,...] [--isa avx512,amx] [--lm-rows 16384]

--isa takes one ISA or a comma list (e.g. avx512,amx: the AVX-512 VNNI and the AMX-tile paths of the
quantized matmul); with several, each repeat times every ISA in turn, so they see the same load.

Weights are random but valid blocks (a few hundred quantized rows repeated), so timing does not
depend on their values. The LM head (262,144 rows) is timed on --lm-rows rows and scaled.
"""
import argparse
import json
import sys
import time

import numpy as np

from . import _core, quants

K_EMBD = 2816        # n_embd
M_DENSE = 2112       # dense FFN width
E_EXPERTS, TOP_K, FE = 128, 8, 704
VOCAB = 262144
N_CANVAS = 256


def _weights(wtype: str, rows: int, K: int, rng) -> np.ndarray:
    """Raw bytes of `rows` rows of K values: 256 distinct random rows, repeated."""
    base_rows = min(rows, 256)
    W = rng.standard_normal((base_rows, K)).astype(np.float32)
    if wtype == "F32":
        raw = W.view(np.uint8).reshape(base_rows, -1)
    else:
        raw = quants.quantize(W, wtype).reshape(base_rows, -1)
    reps = -(-rows // base_rows)
    return np.ascontiguousarray(np.tile(raw, (reps, 1))[:rows]).reshape(-1)


def _time(fns, repeats: int):
    """Per function of fns: median and best wall seconds and the median process CPU seconds (all
    threads); each repeat runs every function once, in turn."""
    for fn in fns:
        fn()  # warm-up (pool start, page faults)
    ts = [[] for _ in fns]
    cs = [[] for _ in fns]
    for _ in range(repeats):
        for i, fn in enumerate(fns):
            c0 = time.process_time()
            t0 = time.perf_counter()
            fn()
            ts[i].append(time.perf_counter() - t0)
            cs[i].append(time.process_time() - c0)
    return [(float(np.median(t)), float(np.min(t)), float(np.median(c))) for t, c in zip(ts, cs)]


def _cases(args, rng):
    shapes = args.shapes.split(",")
    x = rng.standard_normal((N_CANVAS, K_EMBD)).astype(np.float32)
    if "dense" in shapes:
        for t in args.types.split(","):
            w = _weights(t, M_DENSE, K_EMBD, rng)
            yield (f"dense {K_EMBD}x{M_DENSE} N={N_CANVAS}", t, 2.0 * N_CANVAS * K_EMBD * M_DENSE, 1.0,
                   lambda th, isa, w=w, t=t: _core.matmul(x, w, t, M_DENSE, isa, th))
    if "moe" in shapes:
        ids = np.stack([rng.choice(E_EXPERTS, TOP_K, replace=False) for _ in range(N_CANVAS)]).astype(np.int32)
        rw = rng.random((N_CANVAS, TOP_K)).astype(np.float32)
        w = _weights("Q4_K", E_EXPERTS * 2 * FE, K_EMBD, rng)
        yield (f"moe gate_up {K_EMBD}->{2 * FE} N={N_CANVAS} top{TOP_K}/{E_EXPERTS}", "Q4_K",
               2.0 * N_CANVAS * TOP_K * K_EMBD * 2 * FE, 1.0,
               lambda th, isa, w=w: _core.moe_matmul(x, w, "Q4_K", 2 * FE, E_EXPERTS, ids, None, isa, th))
        h = rng.standard_normal((N_CANVAS, TOP_K, FE)).astype(np.float32)
        for t in ("Q5_0", "Q8_0"):
            w = _weights(t, E_EXPERTS * K_EMBD, FE, rng)
            yield (f"moe down {FE}->{K_EMBD} N={N_CANVAS} top{TOP_K}/{E_EXPERTS}", t,
                   2.0 * N_CANVAS * TOP_K * FE * K_EMBD, 1.0,
                   lambda th, isa, w=w, t=t: _core.moe_matmul(h, w, t, K_EMBD, E_EXPERTS, ids, rw, isa, th))
    if "lm_head" in shapes:
        rows = min(args.lm_rows, VOCAB)
        for t in ("Q6_K", "Q8_0"):
            w = _weights(t, rows, K_EMBD, rng)
            yield (f"lm_head {K_EMBD}x{VOCAB} N={N_CANVAS} (timed on {rows} rows)", t,
                   2.0 * N_CANVAS * K_EMBD * VOCAB, VOCAB / rows,
                   lambda th, isa, w=w, t=t, rows=rows: _core.matmul(x, w, t, rows, isa, th))


def _peak_name(wtype: str, isa: str) -> str:
    """The peak (key of peaks_gops_per_core) that a row of weight type wtype on path isa is measured
    against: the float types run the AVX-512 tables on every x86 path (amx included), the quantized
    types the int8 products of their path (AMX tiles on amx, 256-bit vpdpbusd on avx2_vnni, vpmaddubsw +
    vpmaddwd on avx2, 512-bit vpdpbusd elsewhere; on amx only Q4_K, Q6_K, Q8_0 and Q4_0 take the AMX tiles,
    the other quantized types the AVX-512 table: kernels_for in matmul.cpp)."""
    if wtype == "BF16":
        return "bf16"
    if wtype in ("F32", "F16"):
        return "fma"
    if isa == "amx" and wtype not in ("Q4_K", "Q6_K", "Q8_0", "Q4_0"):
        return "vnni"
    return {"amx": "amx_int8", "avx2_vnni": "avx_vnni", "avx2": "avx2_int8"}.get(isa, "vnni")


def run(argv=None) -> dict:
    p = argparse.ArgumentParser(prog="llama-diffusion-bench ops", description=__doc__.split("\n")[0])
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--threads", default="1,2")
    p.add_argument("--shapes", default="dense,moe,lm_head")
    p.add_argument("--types", default="Q4_K,Q5_0,Q6_K,Q8_0,BF16", help="dense weight types")
    p.add_argument("--isa", default=None,
                   help="generic|avx2|avx2_vnni|avx512|amx or a comma list of them (default: the ISA in effect)")
    p.add_argument("--lm-rows", type=int, default=16384)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    rng = np.random.default_rng(args.seed)
    threads = [int(t) for t in args.threads.split(",")]
    peaks = {w: _core.cpu_peak_gops(w, 0.5) for w in ("vnni", "fma", "bf16")}
    # AMX tiles: a short loop suffices (0.0 where the amx ISA is not available)
    amx_ok = "amx" in _core.cpu_features()["isas"]
    peaks["amx_int8"] = _core.cpu_peak_gops("amx_int8", 0.2) if amx_ok else 0.0
    peaks["avx_vnni"] = _core.cpu_peak_gops("avx_vnni", 0.5)  # 0.0 without AVX-VNNI
    peaks["avx2_int8"] = _core.cpu_peak_gops("avx2_int8", 0.5)  # 0.0 without AVX2
    isas = (args.isa or _core.cpu_isa()).split(",")
    out = {"isa": ",".join(isas), "peaks_gops_per_core": peaks, "results": []}
    if not args.json:
        amx = f", int8 amx {peaks['amx_int8']:.0f}" if amx_ok else ""
        amx += f", int8 avx_vnni {peaks['avx_vnni']:.0f}" if peaks["avx_vnni"] > 0 else ""
        amx += f", int8 avx2 {peaks['avx2_int8']:.0f}" if peaks["avx2_int8"] > 0 else ""
        print(f"isa {','.join(isas)}; peaks per core (G op/s): int8 vnni {peaks['vnni']:.0f}{amx}, "
              f"f32 fma {peaks['fma']:.0f}, bf16 {peaks['bf16']:.0f}")
        print("%peak of the peak named in the last column: bf16 (BF16 weights), fma (F32/F16), "
              "amx_int8 (quantized types on path amx), avx_vnni (on path avx2_vnni), avx2_int8 (on path avx2), "
              "vnni (quantized types on other paths)")
        print(f"{'shape':58s} {'type':6s} {'path':7s} {'thr':>3s} {'GFLOP/s':>9s} {'best':>8s} {'cpu-time':>9s} "
              f"{'%peak':>6s} {'of':8s}")
    for name, t, flops, scale, fn in _cases(args, rng):
        for th in threads:
            timings = _time([lambda isa=isa: fn(th, isa) for isa in isas], args.repeats)
            for isa, (med, best, cpu) in zip(isas, timings):
                g_med = flops / (med * scale) / 1e9
                g_best = flops / (best * scale) / 1e9
                # CPU-time rate: what th uncontended cores would give (the wall rate drops when other
                # processes share the cores; this one does not)
                g_cpu = flops / (cpu / th * scale) / 1e9
                pk = _peak_name(t, isa)
                peak = peaks[pk] * th
                frac = g_med / peak if peak > 0 else None
                rec = {"shape": name, "type": t, "path": isa, "threads": th, "gflops_median": round(g_med, 1),
                       "gflops_best": round(g_best, 1), "gflops_cpu_time": round(g_cpu, 1),
                       "peak": pk, "peak_fraction": None if frac is None else round(frac, 3)}
                out["results"].append(rec)
                if not args.json:
                    fs = f"{100 * frac:5.1f}%" if frac is not None else f"{'-':>6s}"
                    print(f"{name:58s} {t:6s} {isa:7s} {th:3d} {g_med:9.1f} {g_best:8.1f} {g_cpu:9.1f} {fs} {pk:8s}",
                          flush=True)
    if args.json:
        print(json.dumps(out))
    return out


def main(argv=None) -> int:
    """Entry point: ``llama-diffusion-bench ops [options]`` or ``llama-diffusion-bench model -m FILE``."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == "model":  # whole-model passes (bench_model.py)
        from . import bench_model
        return bench_model.main(argv[1:])
    if argv and argv[0] == "generate":  # end-to-end generation (bench_generate.py)
        from . import bench_generate
        return bench_generate.main(argv[1:])
    if not argv or argv[0] != "ops":
        print("usage: llama-diffusion-bench ops [--json] [--repeats N] [--threads 1,2] ...\n"
              "       llama-diffusion-bench model -m FILE [--json] [--repeats N] [--threads N] ...\n"
              "       llama-diffusion-bench generate -m FILE [--json] [--repeats N] [--modes diffusion,ar] ...",
              file=sys.stderr)
        return 2
    run(argv[1:])
    return 0


if __name__ == "__main__":
    sys.exit(main())
