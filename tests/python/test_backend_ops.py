"""Every op of the backend interface (ld-ggml/backend.h) on every backend of this build and machine,
one op at a time through _core.BackendOps (upload, op, download), against the CPU references written
from the maths (matmul_ref, moe_matmul_ref, nn_* with reference=True, the reference quantizers, numpy).

Shapes are the real DiffusionGemma 26B-A4B ones (hidden 2816, 16 query heads, 8 KV heads of 256 /
2 of 512, 128 experts top-8 of width 704, MLP 2112) with small token counts and reduced output rows.
cpu and sim (the CPU kernels behind a simulated discrete device) always run; cuda runs where a usable
CUDA device exists (marked `gpu`; skipped with the reason otherwise).

Tolerances: errors are max |got - ref| / rms(ref). CPU backends run the optimized CPU kernels against the
references (tight). On a GPU: quantized weights 5e-2 (the activations are quantized per group of 32 /
16 on the GPU and per the CPU's vec_dot_type in the reference, so both sides carry different int8
rounding noise), float weights 5e-3, the other ops 1e-4 (1e-3 attention).
"""
import numpy as np
import pytest

from llama_diffusion import _core

H = 2816          # hidden
FFN = 2112        # dense MLP width
FE = 704          # expert width
N_EXP, TOP_K = 128, 8
N_HEAD = 16


def _cuda_info():
    for b in _core.backends():
        if b["kind"] == "cuda":
            return b
    return None


def _gpu_param(name):
    return pytest.param(name, marks=pytest.mark.gpu, id=name)


BACKENDS = ["cpu", "sim", _gpu_param("cuda")]


@pytest.fixture(scope="module", params=BACKENDS)
def be(request):
    name = request.param
    if name.startswith("cuda"):
        info = _cuda_info()
        if info is None or not info["available"]:
            reason = (info or {}).get("reason") or "no CUDA backend entry"
            pytest.skip(f"no GPU: {reason}")
    return _core.BackendOps(name)


def is_gpu(be):
    return be.kind == "cuda"


def rel_err(got, ref):
    got = np.asarray(got, np.float64)
    ref = np.asarray(ref, np.float64)
    assert got.shape == ref.shape
    rms = np.sqrt(np.mean(ref * ref)) + 1e-30
    return float(np.max(np.abs(got - ref)) / rms)


RNG = np.random.default_rng(7)

QUANT_TYPES = [t for t in _core.type_names()
               if _core.type_info(t)["quantize"] and _core.type_info(t)["block_size"] > 0
               and t not in ("F64", "I8", "I16", "I32", "I64", "Q8_K", "Q8_1")]
# Types without a reference quantizer whose blocks start with an f16 scale: random bytes with a valid
# scale are valid blocks (every grid index / sign / sub-scale pattern decodes).
RAW_TYPES = [t for t in ("IQ2_XXS", "IQ2_XS", "IQ2_S", "IQ3_XXS", "IQ3_S", "IQ1_S")
             if t in _core.type_names() and _core.type_info(t)["dequantize"] and not _core.type_info(t)["quantize"]]
QUANT_TYPES += RAW_TYPES
NATIVE = ["F32", "F16", "BF16", "Q8_0", "Q4_K", "Q5_0", "Q6_K"]


def weight_rows(wtype, ne0, n_rows, pool=64, seed=0):
    """n_rows rows of ne0 values of wtype: a pool of random N(0, 0.02) rows quantized with the reference
    quantizer (RAW_TYPES: random valid blocks), tiled (cheap for many experts)."""
    rng = np.random.default_rng(seed)
    rows = min(pool, n_rows)
    if wtype in RAW_TYPES:
        info = _core.type_info(wtype)
        raw = rng.integers(0, 256, (rows, ne0 // info["block_size"], info["type_size"]), dtype=np.uint8)
        raw[..., 0:2] = np.frombuffer(np.float16(0.002).tobytes(), np.uint8)
        raw = raw.reshape(rows, -1)
    else:
        x = (rng.standard_normal((rows, ne0)) * 0.02).astype(np.float32)
        raw = np.asarray(_core.quantize(x.reshape(-1), wtype), np.uint8).reshape(rows, -1)
    reps = -(-n_rows // rows)
    raw = np.tile(raw, (reps, 1))[:n_rows]
    # shift the pool per row block so experts differ
    return np.ascontiguousarray(np.roll(raw, seed % n_rows, axis=0)).reshape(-1)


def tol_mm(be, wtype):
    if not is_gpu(be):
        return 1e-3
    return 5e-3 if wtype in ("F32", "F16", "BF16") else 5e-2


def block_of(t):
    return _core.type_info(t)["block_size"]


# ---- matmul -------------------------------------------------------------------------------------

@pytest.mark.parametrize("wtype", QUANT_TYPES)
def test_matmul_every_type(be, wtype):
    K = H if H % block_of(wtype) == 0 else 4096
    M = 96                     # not a multiple of the 64-row tile
    for N in (1, 70):          # one token; more than one 64-column tile
        w = weight_rows(wtype, K, M, seed=N)
        x = RNG.standard_normal((N, K)).astype(np.float32)
        ref = _core.matmul_ref(x, w, wtype, M)
        got = be.matmul(x, w, wtype, M)
        assert rel_err(got, ref) < tol_mm(be, wtype), (wtype, N)


def test_matmul_supports(be):
    for t in NATIVE:
        assert be.supports_matmul(t)


def test_matmul_bad_shape(be):
    w = weight_rows("Q4_K", 256, 4)
    with pytest.raises(ValueError):
        be.matmul(np.zeros((2, 100), np.float32), w, "Q4_K", 4)   # K not a multiple of 256


# ---- grouped experts ----------------------------------------------------------------------------

def _routing(N, seed):
    rng = np.random.default_rng(seed)
    ids = np.stack([rng.choice(N_EXP, TOP_K, replace=False) for _ in range(N)]).astype(np.int32)
    ids[0, :] = np.arange(TOP_K)           # several tokens share experts
    if N > 1:
        ids[1, :] = np.arange(TOP_K)
    rw = rng.random((N, TOP_K)).astype(np.float32)
    return ids, rw


@pytest.mark.parametrize("wtype", ["Q4_K", "Q5_0", "Q8_0", "Q6_K", "F16", "BF16", "F32", "IQ4_NL"])
def test_moe_gate_up(be, wtype):
    N, M = 6, 2 * 32
    ids, _ = _routing(N, 1)
    w = weight_rows(wtype, H, M * N_EXP, seed=3)
    x = RNG.standard_normal((N, H)).astype(np.float32)
    ref = _core.moe_matmul_ref(x, w, wtype, M, N_EXP, ids)
    got = be.moe_matmul(x, w, wtype, M, N_EXP, ids)
    assert got.shape == (N, TOP_K, M)
    assert rel_err(got, ref) < tol_mm(be, wtype)


@pytest.mark.parametrize("wtype", ["Q5_0", "Q8_0", "F16", "F32", "Q4_0"])
def test_moe_down_weighted(be, wtype):
    N, M = 6, 48
    ids, rw = _routing(N, 2)
    w = weight_rows(wtype, FE, M * N_EXP, seed=5)
    x = RNG.standard_normal((N, TOP_K, FE)).astype(np.float32)
    ref = _core.moe_matmul_ref(x, w, wtype, M, N_EXP, ids, rw)
    got = be.moe_matmul(x, w, wtype, M, N_EXP, ids, rw)
    assert got.shape == (N, M)
    assert rel_err(got, ref) < tol_mm(be, wtype)


# ---- norms, rope, activations ---------------------------------------------------------------------

def tol_nn(be):
    return 1e-4 if is_gpu(be) else 1e-5


def test_rms_norm(be):
    x = RNG.standard_normal((5, H)).astype(np.float32)
    w = RNG.random(H).astype(np.float32) + 0.5
    assert rel_err(be.rms_norm(x, w, 1e-6), _core.nn_rms_norm(x, w, 1e-6, reference=True)) < tol_nn(be)
    xh = RNG.standard_normal((5 * N_HEAD, 256)).astype(np.float32)   # per-head, weightless
    assert rel_err(be.rms_norm(xh, None, 1e-6), _core.nn_rms_norm(xh, None, 1e-6, reference=True)) < tol_nn(be)


@pytest.mark.parametrize("case", ["sliding", "full_proportional", "partial", "inv_freq"])
def test_rope(be, case):
    pos = np.array([0, 1, 7, 300, 1023], np.int32)
    ff = inv = None
    n_rot = 0
    if case == "sliding":
        D, theta = 256, 10000.0
    elif case == "full_proportional":
        D, theta = 512, 1e6
        ff = np.where(np.arange(D // 2) < 64, 1.0, 1e30).astype(np.float32)
    elif case == "partial":
        D, theta, n_rot = 256, 10000.0, 128
    else:
        D, theta = 256, 10000.0
        inv = (1.0 / (theta ** (np.arange(0, D, 2, dtype=np.float32) / D))).astype(np.float32)
    x = RNG.standard_normal((len(pos), N_HEAD, D)).astype(np.float32)
    ref = _core.nn_rope(x.copy(), pos, theta, n_rot, ff, reference=True, inv_freq=inv)
    got = be.rope_neox(x, pos, theta, n_rot, ff, inv)
    assert rel_err(got, ref) < tol_nn(be)
    if case == "partial":
        assert np.array_equal(got[..., 128:], x[..., 128:])


def test_geglu(be):
    g = RNG.standard_normal((5, FFN)).astype(np.float32) * 3
    u = RNG.standard_normal((5, FFN)).astype(np.float32)
    assert rel_err(be.geglu(g, u), _core.nn_geglu(g, u, reference=True)) < tol_nn(be)
    gu = RNG.standard_normal((5, 2 * FE)).astype(np.float32) * 3            # fused gate_up layout
    assert rel_err(be.geglu(gu), _core.nn_geglu(gu, None, reference=True)) < tol_nn(be)


def test_softcap_softmax(be):
    x = (RNG.standard_normal((5, 1000)) * 40).astype(np.float32)
    assert rel_err(be.softcap(x, 30.0), _core.nn_softcap(x, 30.0, reference=True)) < tol_nn(be)
    x[2, :] = -np.inf
    got = be.softmax(x)
    assert np.all(got[2] == 0)
    assert rel_err(got, _core.nn_softmax(x, reference=True)) < tol_nn(be)


def test_router_topk(be):
    logits = RNG.standard_normal((6, N_EXP)).astype(np.float32)
    logits[3, 10] = logits[3, 20] = logits[3, 5] = 9.0                   # ties: lower id first
    scale = (RNG.random(N_EXP) + 0.5).astype(np.float32)
    ids, w = be.router_topk(logits, TOP_K, scale)
    rids, rws = _core.nn_router_topk(logits, TOP_K, scale, reference=True)
    assert np.array_equal(ids, rids)
    assert list(ids[3, :3]) == [5, 10, 20]
    assert rel_err(w, rws) < tol_nn(be)


def test_add_scale(be):
    a = RNG.standard_normal(5000).astype(np.float32)
    b = RNG.standard_normal(5000).astype(np.float32)
    assert np.array_equal(be.add(a, b), a + b)
    assert np.array_equal(be.scale(a, np.float32(0.37)), a * np.float32(0.37))


# ---- attention ------------------------------------------------------------------------------------

ATTN_CASES = [
    # (name, n_kv_head, head_dim, mask, window)
    ("sliding", 8, 256, "sliding", 5),
    ("causal_global", 2, 512, "causal", 0),
    ("canvas_full", 2, 512, "canvas", 0),
    ("canvas_sliding", 8, 256, "canvas", 4),
]


@pytest.mark.parametrize("kv_type", ["F32", "F16", "Q8_0"])
@pytest.mark.parametrize("case", ATTN_CASES, ids=[c[0] for c in ATTN_CASES])
def test_attention(be, case, kv_type):
    _, n_kv_head, D, mask, window = case
    cb = 16                                # canvas_begin
    # keys: 16 prefix / cache slots (two empty: -1) then 8 canvas positions, in shuffled order
    k_pos = np.concatenate([np.arange(16), np.arange(cb, cb + 8)]).astype(np.int32)
    k_pos[3] = k_pos[9] = -1
    if mask == "canvas":
        q_pos = np.arange(cb, cb + 8, dtype=np.int32)
    else:
        q_pos = np.array([-5, 4, 8, 12, 16, 18, 20, 23], np.int32)    # -5 sees no key: zeros
    n_q, n_kv = len(q_pos), len(k_pos)
    q = RNG.standard_normal((n_q, N_HEAD, D)).astype(np.float32)
    k = RNG.standard_normal((n_kv, n_kv_head, D)).astype(np.float32)
    v = RNG.standard_normal((n_kv, n_kv_head, D)).astype(np.float32)
    order = RNG.permutation(n_kv)
    k, v, k_pos = k[order].copy(), v[order].copy(), k_pos[order].copy()
    ref = _core.nn_attention(q, k, v, q_pos, k_pos, mask=mask, window=window, canvas_begin=cb, scale=1.0,
                             kv_type=kv_type, reference=True)
    tol = 1e-3 if is_gpu(be) else 1e-4
    for q_pad, kv_pad in ((0, 0), (16, 68)):
        got = be.attention(q, k, v, q_pos, k_pos, mask=mask, window=window, canvas_begin=cb, scale=1.0,
                           kv_type=kv_type, q_pad=q_pad, kv_pad=kv_pad)
        assert rel_err(got, ref) < tol, (q_pad, kv_pad)
        if mask != "canvas":
            assert np.all(got[0] == 0)


# ---- rows ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("wtype", QUANT_TYPES)
def test_get_rows(be, wtype):
    ne0 = H if H % block_of(wtype) == 0 else 4096
    n_rows = 40
    w = weight_rows(wtype, ne0, n_rows, pool=40, seed=11)
    ids = np.array([0, 39, 7, 7, 20], np.int32)
    deq = np.asarray(_core.dequantize(w, wtype, ne0 * n_rows), np.float32).reshape(n_rows, ne0)
    got = be.get_rows(w, wtype, ne0, n_rows, ids, 2.5)
    ref = deq[ids] * np.float32(2.5)
    # native types decode exactly; the others go through an F16 copy on GPUs
    tol = 1e-6 if (not is_gpu(be) or wtype in NATIVE) else 1e-3
    assert rel_err(got, ref) < tol


def test_store_rows(be):
    x = (RNG.standard_normal((6, 512)) * 3).astype(np.float32)
    x[1, :32] = 0.0                              # an all-zero block
    assert np.array_equal(be.store_rows(x, "F32").view(np.float32).reshape(x.shape), x)
    assert np.array_equal(be.store_rows(x, "F16").view(np.float16).reshape(x.shape), x.astype(np.float16))
    ref = np.asarray(_core.quantize(x.reshape(-1), "Q8_0"), np.uint8)
    assert np.array_equal(be.store_rows(x, "Q8_0"), ref)


def test_copy_overlapping(be):
    data = RNG.integers(0, 256, 4096, dtype=np.uint8)
    for dst, src, n in ((100, 0, 3000), (0, 100, 3000), (1000, 3000, 1000), (7, 7, 50)):
        ref = data.copy()
        ref[dst:dst + n] = data[src:src + n].copy()
        assert np.array_equal(be.copy(data, dst, src, n), ref), (dst, src, n)


def test_capture_replay(be):
    """Op capture (CUDA graphs): recording runs nothing; each replay runs the recorded ops again."""
    x = RNG.standard_normal(3000).astype(np.float32)
    if not be.supports_capture():
        with pytest.raises(ValueError, match="capture"):
            be.capture_check(x, 0.5, 1)
        return
    before, after = be.capture_check(x, 0.75, 3)
    assert np.array_equal(before, x)
    ref = x.copy()
    for _ in range(3):
        ref = ref * np.float32(0.75)
        ref = ref + ref
    assert np.array_equal(after, ref)


# ---- fused vocab head -----------------------------------------------------------------------------

def _head_ref(hidden, Wd, Ed, softcap, T):
    lg = hidden.astype(np.float64) @ Wd.astype(np.float64).T
    if softcap > 0:
        lg = softcap * np.tanh(lg / softcap)
    r = lg / T
    p = np.exp(r - r.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    ent = -(p * np.log(np.maximum(p, 1e-300))).sum(axis=1)
    return r, ent, p @ Ed.astype(np.float64)


@pytest.mark.parametrize("wtype", ["F32", "Q8_0", "Q6_K", "Q4_K", "BF16"])
def test_vocab_head(be, wtype):
    C, Hh, V = 6, 256, 9000          # V over one GPU tile (8192) and two CPU tiles
    w = weight_rows(wtype, Hh, V, pool=512, seed=13)
    Wd = np.asarray(_core.dequantize(w, wtype, Hh * V), np.float32).reshape(V, Hh)
    # (its own generator: the module's RNG state depends on which tests ran before, and a near tie of the
    # two largest logits would then decide the argmax check by the test selection)
    hidden = (np.random.default_rng(29).standard_normal((C, Hh)) * 2).astype(np.float32)
    r, ent, soft = _head_ref(hidden, Wd, Wd, 30.0, 0.7)
    out = be.vocab_head(hidden, w, wtype, V, softcap=30.0, temperature=0.7, sample=False)
    tol = 5e-2 if (is_gpu(be) and wtype not in ("F32", "BF16")) else 1e-2
    # argmax: a top logit (within the kernels' rounding of the max)
    for c in range(C):
        assert r[c, out["argmax"][c]] >= r[c].max() - tol * np.std(r[c])
    assert np.array_equal(out["draw"], out["argmax"])
    assert np.max(np.abs(out["entropy"] - ent)) < tol * max(1.0, float(np.max(ent)))
    # soft: the CPU head multiplies Q8_0-rounded probabilities by a Q8_0 copy of Eᵀ unless E is F32
    assert rel_err(out["soft"], soft) < (tol if wtype == "F32" else 6e-2)


def test_vocab_head_draw_distribution(be):
    """The seeded draw is a sample of softmax(logits / T): identical positions, frequencies vs p."""
    C, Hh, V = 4096, 32, 12
    W = (RNG.standard_normal((V, Hh)) * 0.3).astype(np.float32)
    h = RNG.standard_normal(Hh).astype(np.float32)
    hidden = np.tile(h, (C, 1))
    w = W.view(np.uint8).reshape(-1)
    out = be.vocab_head(hidden, w, "F32", V, temperature=1.5, sample=True, seed=42, canvas_key=3, step_key=1,
                        want_soft=False)
    again = be.vocab_head(hidden, w, "F32", V, temperature=1.5, sample=True, seed=42, canvas_key=3, step_key=1,
                          want_soft=False)
    assert np.array_equal(out["draw"], again["draw"])      # reproducible for a seed
    other = be.vocab_head(hidden, w, "F32", V, temperature=1.5, sample=True, seed=43, canvas_key=3, step_key=1,
                          want_soft=False)
    assert not np.array_equal(out["draw"], other["draw"])
    r, _, _ = _head_ref(hidden[:1], W, W, 0.0, 1.5)
    p = np.exp(r[0] - r[0].max())
    p /= p.sum()
    freq = np.bincount(out["draw"], minlength=V) / C
    assert 0.5 * np.abs(freq - p).sum() < 0.06               # total variation (expected ~0.02)


def test_cuda_create_or_reason():
    """Creating the cuda backend works where it is available, else raises naming why."""
    info = _cuda_info()
    if info["available"]:
        assert _core.BackendOps("cuda").kind == "cuda"
    else:
        with pytest.raises(ValueError, match="cuda"):
            _core.BackendOps("cuda")


def test_backends_listed():
    names = [b["name"] for b in _core.backends()]
    assert "cpu" in names
    cuda = _cuda_info()
    assert cuda is not None
    if not cuda["available"]:
        assert cuda["reason"]
