"""Dense CPU matmul (ld.ops.matmul) for every weight type and every ISA this machine runs.

Three layers (docs/format.md §2.6):
1. the optimized GEMM of each ISA against the generic reference (matmul_ref): the integer block
   sums are identical, only the f32 combination of scales differs -> |diff| <= 1e-6 * sum|w*x|;
   the generic ISA is the reference itself (bit-equal);
2. GEMM against the row-wise generic dot product (vec_dot): bit-equal for matmul_ref, 1e-6 for SIMD;
3. against numpy f32 on the dequantized weights: the error of quantizing the activations
   (Q8_0/Q8_1/Q8_K: ~1/254 of each value; f16/bf16 rounding), budgeted per type below.
All errors are measured relative to sum_k |w_k * x_k| of the output element (no cancellation blow-up).
"""
import os

import numpy as np
import pytest

import llama_diffusion as ld
from llama_diffusion import ops

ISAS = ld.cpu_features()["isas"]

# type -> budget of |matmul_ref - x @ dequant(W).T| / sum|w*x| (activation quantization error)
NUMPY_BUDGET = {
    "F32": 1e-6, "F16": 2e-4, "BF16": 2e-3,
    "Q4_0": 6e-3, "Q4_1": 6e-3, "Q5_0": 6e-3, "Q5_1": 6e-3, "Q8_0": 6e-3, "IQ4_NL": 6e-3, "MXFP4": 6e-3,
    "Q2_K": 8e-3, "Q3_K": 8e-3, "Q4_K": 8e-3, "Q5_K": 8e-3, "Q6_K": 8e-3, "IQ4_XS": 8e-3,
    "IQ2_XXS": 8e-3, "IQ2_XS": 8e-3, "IQ2_S": 8e-3, "IQ3_XXS": 8e-3, "IQ3_S": 8e-3, "IQ1_S": 8e-3, "IQ1_M": 8e-3,
}
# lattice types without a quantizer here (they need an importance matrix): random valid blocks
RANDOM_BLOCK_TYPES = ("IQ2_XXS", "IQ2_XS", "IQ2_S", "IQ1_S", "IQ1_M")
TYPES = list(NUMPY_BUDGET)
SIMD_TOL = 1e-6  # optimized vs generic, relative to sum|w*x|


def random_lattice_blocks(rng, wtype, n_blocks):
    """Random valid blocks (every byte pattern is a valid grid / sign / scale code) with fp16 scales
    d in [1e-3, 1e-1) (IQ1_M: d spread over the top nibbles of its 4 scale u16s, bytes 48..55)."""
    ts = ld.quants.type_info(wtype)["type_size"]
    raw = rng.integers(0, 256, (n_blocks, ts), dtype=np.uint8)
    d = (10.0 ** rng.uniform(-3, -1, n_blocks)).astype(np.float16).view(np.uint16)
    if wtype == "IQ1_M":
        sc = raw[:, 48:56].copy().view(np.uint16)
        for k in range(4):
            sc[:, k] = (sc[:, k] & 0x0FFF) | (((d >> (4 * k)) & 15) << 12)
        raw[:, 48:56] = sc.view(np.uint8)
    else:
        raw[:, 0:2] = d.view(np.uint8).reshape(n_blocks, 2)
    return raw.reshape(-1)


def make_weights(wtype, M, K, seed=0):
    rng = np.random.default_rng(seed)
    # rows with different scales, some outliers, like trained weights
    W = (rng.standard_normal((M, K)) * rng.uniform(0.2, 3.0, (M, 1))).astype(np.float32)
    W[rng.random((M, K)) < 0.01] *= 6.0
    if wtype == "F32":
        return W.view(np.uint8).reshape(-1), W
    if wtype in RANDOM_BLOCK_TYPES:
        raw = random_lattice_blocks(rng, wtype, M * K // 256)
        return raw, ld.quants.dequantize(raw, wtype, M * K).reshape(M, K)
    raw = ld.quants.quantize(W, wtype)
    return raw, ld.quants.dequantize(raw, wtype, M * K).reshape(M, K)


def block_K(wtype):
    return 96 if wtype in ("F32", "F16", "BF16", "Q4_0", "Q4_1", "Q5_0", "Q5_1", "Q8_0", "IQ4_NL", "MXFP4") else 256


def rel_err(y, ref, scale):
    return float(np.max(np.abs(y.astype(np.float64) - ref) / np.maximum(scale, 1e-30)))


@pytest.fixture(scope="module")
def cases():
    """Per type: weights (M = 37 rows, not a multiple of any tile), x for N in {1, 7, 256, 300}."""
    out = {}
    rng = np.random.default_rng(1)
    for t in TYPES:
        K = block_K(t) * 2
        M = 37
        raw, Wd = make_weights(t, M, K, seed=TYPES.index(t))
        xs = {N: (rng.standard_normal((N, K)) * rng.uniform(0.1, 4.0, (N, 1))).astype(np.float32)
              for N in (1, 7, 256, 300)}
        refs = {N: ops.matmul_ref(x, raw, t, M) for N, x in xs.items()}
        out[t] = (raw, Wd, M, K, xs, refs)
    return out


@pytest.mark.parametrize("wtype", TYPES)
def test_ref_vs_numpy_dequant(cases, wtype):
    raw, Wd, M, K, xs, refs = cases[wtype]
    for N, x in xs.items():
        scale = np.abs(x).astype(np.float64) @ np.abs(Wd).T.astype(np.float64)
        exact = x.astype(np.float64) @ Wd.T.astype(np.float64)
        err = rel_err(refs[N], exact, scale)
        assert err <= NUMPY_BUDGET[wtype], (wtype, N, err)
        # and the error is really there for quantized activations (the test can fail)
        if wtype not in ("F32",):
            assert err > 0


@pytest.mark.parametrize("isa", ISAS)
@pytest.mark.parametrize("wtype", TYPES)
def test_isa_vs_reference(cases, wtype, isa):
    raw, Wd, M, K, xs, refs = cases[wtype]
    for N, x in xs.items():
        y = ops.matmul(x, raw, wtype, M, isa=isa)
        assert y.shape == (N, M) and y.dtype == np.float32
        if isa == "generic":
            np.testing.assert_array_equal(y, refs[N])
            continue
        scale = np.abs(x).astype(np.float64) @ np.abs(Wd).T.astype(np.float64)
        err = rel_err(y, refs[N].astype(np.float64), scale)
        assert err <= SIMD_TOL, (wtype, isa, N, err)


@pytest.mark.parametrize("wtype", TYPES)
def test_gemm_vs_rowwise_dot(cases, wtype):
    raw, Wd, M, K, xs, refs = cases[wtype]
    x = xs[7]
    rb = raw.size // M
    rows = raw.reshape(M, rb)
    for n in (0, 3, 6):
        for m in (0, 17, 36):
            d = ops.vec_dot(rows[m], x[n], wtype)
            assert np.float32(d) == refs[7][n, m], (wtype, n, m)
            for isa in ISAS:
                y = ops.matmul(x[n:n + 1], raw, wtype, M, isa=isa)[0, m]
                s = float(np.abs(x[n]) @ np.abs(Wd[m]))
                assert abs(float(y) - d) <= SIMD_TOL * s, (wtype, isa, n, m)


@pytest.mark.parametrize("isa", ISAS)
@pytest.mark.parametrize("wtype", ["Q4_K", "Q8_0", "Q5_0", "Q6_K", "BF16", "F32", "Q4_1"])
def test_thread_count_independent(cases, wtype, isa):
    raw, Wd, M, K, xs, refs = cases[wtype]
    x = xs[300]
    y1 = ops.matmul(x, raw, wtype, M, isa=isa, n_threads=1)
    y2 = ops.matmul(x, raw, wtype, M, isa=isa, n_threads=2)
    y3 = ops.matmul(x, raw, wtype, M, isa=isa, n_threads=3)
    np.testing.assert_array_equal(y1, y2)
    np.testing.assert_array_equal(y1, y3)


@pytest.mark.parametrize("isa", ISAS)
def test_large_rows_and_tails(isa):
    """M spanning several panels with a tail, K of many blocks, zero and huge rows."""
    K, M = 768, 53
    raw, Wd = make_weights("Q4_K", M, K, seed=5)
    rng = np.random.default_rng(2)
    x = rng.standard_normal((13, K)).astype(np.float32)
    x[3] = 0.0          # all-zero activation row: d = 0 blocks
    x[5] *= 1e4
    ref = ops.matmul_ref(x, raw, "Q4_K", M)
    y = ops.matmul(x, raw, "Q4_K", M, isa=isa)
    assert np.all(y[3] == 0.0)
    scale = np.abs(x).astype(np.float64) @ np.abs(Wd).T.astype(np.float64)
    assert rel_err(y, ref.astype(np.float64), scale) <= SIMD_TOL


def test_empty_and_errors():
    raw, _ = make_weights("Q8_0", 4, 64)
    assert ops.matmul(np.zeros((0, 64), np.float32), raw, "Q8_0", 4).shape == (0, 4)
    with pytest.raises(ValueError, match="block size"):
        ops.matmul(np.zeros((2, 48), np.float32), raw, "Q8_0", 4)
    with pytest.raises(ValueError, match="bytes"):
        ops.matmul(np.zeros((2, 64), np.float32), raw[:-1], "Q8_0", 4)
    with pytest.raises(ValueError, match="unsupported"):
        ops.matmul(np.zeros((2, 64), np.float32), raw, "TQ1_0", 4)
    with pytest.raises(ValueError):
        ops.matmul(np.zeros((2, 64), np.float32), raw, "Q8_0", 4, isa="nonsense")
    with pytest.raises(ValueError, match="2-D"):
        ops.matmul(np.zeros(64, np.float32), raw, "Q8_0", 4)
    with pytest.raises(ValueError, match="n_threads"):
        ops.matmul(np.zeros((2, 64), np.float32), raw, "Q8_0", 4, n_threads=0)


@pytest.mark.parametrize("isa", ISAS)
@pytest.mark.parametrize("wtype", ["Q8_0", "Q5_0", "Q4_K", "Q6_K", "Q4_1"])
def test_activation_rounding_ties(isa, wtype):
    """Activations built so that x * (1/d) hits exact .5 ties (block max +-127 -> d = +-1): every ISA
    must round them as the reference quantizer (Q8_0/Q8_1: half away from zero; Q8_K: half to even),
    otherwise the integer sums differ by whole units, far above the 1e-6 tolerance."""
    K, M = 256, 19
    raw, Wd = make_weights(wtype, M, K, seed=11)
    ties = np.array([0.5, 1.5, 2.5, -0.5, -1.5, -2.5, 3.5, -3.5, 126.5, -126.5, 0.0, 7.0], np.float32)
    rng = np.random.default_rng(3)
    x = rng.choice(ties, size=(6, K)).astype(np.float32)
    x[:, ::32] = 127.0
    x[1::2, ::32] = -127.0
    x[4, 1::32] = -127.0  # +127 and -127 in the same block: the first one sets the Q8_K sign
    ref = ops.matmul_ref(x, raw, wtype, M)
    y = ops.matmul(x, raw, wtype, M, isa=isa)
    scale = np.abs(x).astype(np.float64) @ np.abs(Wd).T.astype(np.float64)
    assert rel_err(y, ref.astype(np.float64), scale) <= SIMD_TOL


@pytest.mark.parametrize("isa", ISAS)
def test_non_finite_activations_follow_reference(isa):
    """A row with inf/NaN falls back to the reference quantizer: same result pattern as generic."""
    K, M = 256, 5
    raw, _ = make_weights("Q8_0", M, K, seed=12)
    x = np.ones((3, K), np.float32)
    x[1, 5] = np.inf
    x[2, 40] = np.nan
    ref = ops.matmul_ref(x, raw, "Q8_0", M)
    y = ops.matmul(x, raw, "Q8_0", M, isa=isa)
    np.testing.assert_array_equal(np.isnan(y), np.isnan(ref))
    np.testing.assert_allclose(y[0], ref[0], rtol=1e-6)


# ---- the AMX path (isa "amx": AVX-512 plus AMX tiles for the quantized types) ----
AMX_TYPES = ["Q4_K", "Q6_K", "Q8_0", "Q5_0", "Q4_0", "Q4_1", "IQ4_NL", "Q5_K", "Q3_K", "Q2_K", "IQ2_XXS", "IQ2_S",
             "IQ3_S", "IQ1_M"]


@pytest.mark.skipif("amx" not in ISAS, reason="no AMX-INT8 on this CPU/OS/build")
@pytest.mark.parametrize("wtype", AMX_TYPES)
def test_amx_model_sizes(wtype):
    """Model-sized K (11 super-blocks / 89 blocks: the pipelines' tails), M = 70 (two full panels of
    32 rows and 6 rows), N across the one / two column groups of a tile and several tiles: amx
    against the reference (1e-6 of sum|w*x|) and against avx512 (same integers)."""
    K = 2816 if block_K(wtype) == 256 else 2848
    M = 70
    raw, Wd = make_weights(wtype, M, K, seed=21)
    rng = np.random.default_rng(22)
    for N in (1, 16, 17, 33, 48, 75):
        x = (rng.standard_normal((N, K)) * rng.uniform(0.1, 4.0, (N, 1))).astype(np.float32)
        ref = ops.matmul_ref(x, raw, wtype, M).astype(np.float64)
        y = ops.matmul(x, raw, wtype, M, isa="amx")
        scale = np.abs(x).astype(np.float64) @ np.abs(Wd).T.astype(np.float64)
        assert rel_err(y, ref, scale) <= SIMD_TOL, (wtype, N)
        if "avx512" in ISAS:
            y5 = ops.matmul(x, raw, wtype, M, isa="avx512")
            assert rel_err(y, y5.astype(np.float64), scale) <= 2 * SIMD_TOL, (wtype, N)


def _isa_in_subprocess(env_isa):
    """(return code, output) of a fresh interpreter that reads the ISA with LD_CPU_ISA=env_isa."""
    import os
    import subprocess
    import sys
    env = dict(os.environ, LD_CPU_ISA=env_isa)
    code = ("import llama_diffusion as ld\n"
            "try:\n    print('ISA', ld.cpu_isa())\nexcept ValueError as e:\n    print('ERROR', e)\n")
    r = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    return r.returncode, r.stdout + r.stderr


def test_ld_cpu_isa_amx_env():
    """LD_CPU_ISA=amx selects the AMX path where it runs and is a clear error (no crash) elsewhere;
    an ISA this build lacks (neon and neon_i8mm on x86, avx2 on ARM) takes the same error path
    everywhere: a known name, not built here."""
    rc, out = _isa_in_subprocess("amx")
    assert rc == 0, out
    if "amx" in ISAS:
        assert "ISA amx" in out, out
    else:
        assert "ERROR" in out and "amx" in out and ("not supported" in out or "not built" in out), out
    others = ("neon", "neon_i8mm") if ld.cpu_features()["arch"] == "x86_64" else ("amx",)
    for other in others:
        rc, out = _isa_in_subprocess(other)
        assert rc == 0 and "ERROR" in out and f"'{other}' is not built" in out, out


# ---- the peak micro-benchmark of the ops benchmark (cpu_peak_gops) ----
def test_cpu_peak_gops_amx_int8():
    """'amx_int8' (tdpbssd on tiles): > 0 and above the 512-bit vpdpbusd peak where the amx ISA runs
    (a tile product is 16 x 16 x 64 multiply-adds, a vpdpbusd 16 x 4), exactly 0 elsewhere. It loads
    the tile configuration of 64-byte blocks on this thread: an amx matmul of 32-value blocks
    afterwards must still match the reference. Sanity relations only, no timings."""
    amx = ops.cpu_peak_gops("amx_int8", 0.1)
    if "amx" not in ISAS:
        assert amx == 0.0
        return
    vnni = ops.cpu_peak_gops("vnni", 0.1)
    assert amx > 0 and vnni > 0 and amx > vnni, (amx, vnni)
    raw, Wd = make_weights("Q8_0", 40, 128, seed=31)
    x = np.random.default_rng(32).standard_normal((5, 128)).astype(np.float32)
    ref = ops.matmul_ref(x, raw, "Q8_0", 40).astype(np.float64)
    scale = np.abs(x).astype(np.float64) @ np.abs(Wd).T.astype(np.float64)
    for _ in range(2):  # peak -> matmul -> peak -> matmul: each reconfigures the tiles it needs
        y = ops.matmul(x, raw, "Q8_0", 40, isa="amx", n_threads=1)
        assert rel_err(y, ref, scale) <= SIMD_TOL
        assert ops.cpu_peak_gops("amx_int8", 0.02) > 0


def test_cpu_peak_gops_avx_vnni_and_unknown():
    """'avx_vnni' (256-bit vpdpbusd, the avx2_vnni table's products) and 'avx2_int8': > 0 where that ISA
    runs, exactly 0 elsewhere; an unknown name is a ValueError naming the accepted ones. Sanity relations
    only."""
    v = ops.cpu_peak_gops("avx_vnni", 0.05)
    if "avx2_vnni" in ISAS:
        assert v > 0
    else:
        assert v == 0.0
    a2 = ops.cpu_peak_gops("avx2_int8", 0.05)  # vpmaddubsw + vpmaddwd: the avx2 table's products
    assert (a2 > 0) == ("avx2" in ISAS)
    with pytest.raises(ValueError, match="avx_vnni"):
        ops.cpu_peak_gops("vnni512", 0.01)


def test_isa_ladder_default():
    """The default ISA is the most capable one available, and avx2_vnni sits between avx2 and avx512: it is
    offered exactly where the CPU reports AVX-VNNI next to the avx2 ISA."""
    f = ld.cpu_features()
    assert f["isa"] == ISAS[-1] or "LD_CPU_ISA" in os.environ
    if f["arch"] == "x86_64":
        assert ("avx2_vnni" in ISAS) == ("avx2" in ISAS and f["avx_vnni"])
        order = [i for i in ("generic", "avx2", "avx2_vnni", "avx512", "amx") if i in ISAS]
        assert ISAS == order


def test_cpu_peak_gops_amx_bf16():
    """'amx_bf16' (tdpbf16ps on tiles, the attention's AMX-BF16 path): above the 512-bit vdpbf16ps peak
    where the amx ISA runs on a CPU with AMX-BF16 (16 x 16 x 32 multiply-adds per instruction against
    16 x 2), exactly 0 elsewhere; an amx matmul afterwards still matches the reference (tiles
    reconfigured). Sanity relations only, no timings."""
    amx = ops.cpu_peak_gops("amx_bf16", 0.1)
    if "amx" not in ISAS or not ld.cpu_features()["amx_bf16"]:
        assert amx == 0.0
        return
    bf16 = ops.cpu_peak_gops("bf16", 0.1)
    assert amx > 0 and bf16 > 0 and amx > bf16, (amx, bf16)
    raw, Wd = make_weights("Q8_0", 40, 128, seed=33)
    x = np.random.default_rng(34).standard_normal((5, 128)).astype(np.float32)
    ref = ops.matmul_ref(x, raw, "Q8_0", 40).astype(np.float64)
    scale = np.abs(x).astype(np.float64) @ np.abs(Wd).T.astype(np.float64)
    assert rel_err(ops.matmul(x, raw, "Q8_0", 40, isa="amx", n_threads=1), ref, scale) <= SIMD_TOL


def test_cpu_peak_gops_bad_name():
    with pytest.raises(ValueError, match="amx_bf16"):
        ops.cpu_peak_gops("amx_fp16", 0.01)


def test_bench_ops_peak_per_path():
    """The ops benchmark's %peak denominator: amx_int8 for quantized rows on the amx path, vnni for
    the other paths, the float peaks for float weights on every path."""
    from llama_diffusion import bench
    assert bench._peak_name("Q4_K", "amx") == "amx_int8"
    assert bench._peak_name("Q6_K", "amx") == "amx_int8"
    # the other quantized types run the AVX-512 table on amx (kernels_for)
    assert bench._peak_name("Q5_0", "amx") == "vnni" and bench._peak_name("Q5_K", "amx") == "vnni"
    assert bench._peak_name("Q8_0", "avx512") == "vnni"
    assert bench._peak_name("BF16", "amx") == "bf16"
    assert bench._peak_name("F32", "amx") == "fma" and bench._peak_name("F16", "avx512") == "fma"
