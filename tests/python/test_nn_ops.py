"""Elementwise and small ops of llama_diffusion.nn against numpy written from the spec
(diffusiongemma.md 4.1 RMSNorm, 4.4 RoPE incl. the proportional partial rotary, 4.5 GELU-tanh GEGLU and
the router, 4.7 softcap), the reference against the optimized kernels on every ISA this machine runs,
torch's gelu(approximate='tanh'), and thread-count independence."""
import numpy as np
import pytest

import llama_diffusion as ld
from llama_diffusion import nn

ISAS = ld.cpu_features()["isas"]
RNG = np.random.default_rng(99)


def gelu_literal_np(x):
    """The spec formula 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))), float64."""
    x = np.asarray(x, dtype=np.float64)
    return 0.5 * x * (1.0 + np.tanh(np.sqrt(2.0 / np.pi) * (x + 0.044715 * x ** 3)))


def gelu_np(x):
    """The same function as x * sigmoid(2u): accurate also where 1 + tanh(u) cancels (x << 0)."""
    x = np.asarray(x, dtype=np.float64)
    with np.errstate(over="ignore"):
        return x / (1.0 + np.exp(-2.0 * np.sqrt(2.0 / np.pi) * (x + 0.044715 * x ** 3)))


# ---- RMSNorm ----

@pytest.mark.parametrize("n", [1, 7, 33, 256, 2816])
@pytest.mark.parametrize("with_weight", [True, False])
def test_rms_norm(n, with_weight):
    x = (RNG.standard_normal((5, n)) * 3).astype(np.float32)
    w = RNG.standard_normal(n).astype(np.float32) if with_weight else None
    x64 = x.astype(np.float64)
    want = x64 / np.sqrt((x64 ** 2).mean(axis=1, keepdims=True) + 1e-6) * (1.0 if w is None else w)
    ref = nn.rms_norm(x, w, reference=True)
    np.testing.assert_allclose(ref, want, rtol=1e-6, atol=1e-7)
    for isa in ISAS:
        np.testing.assert_allclose(nn.rms_norm(x, w, isa=isa), want, rtol=2e-6, atol=1e-6, err_msg=isa)


def test_rms_norm_per_head_and_no_one_plus_w():
    # per-head q_norm over head_dim: shape [n_tok, n_head, d]; Gemma 4 multiplies by w (not 1 + w)
    x = RNG.standard_normal((6, 16, 256)).astype(np.float32)
    w = np.full(256, 2.0, dtype=np.float32)
    got = nn.rms_norm(x, w)
    assert got.shape == x.shape
    np.testing.assert_allclose(np.sqrt((got.astype(np.float64) ** 2).mean(axis=-1)), 2.0, rtol=1e-5)
    zero = nn.rms_norm(np.zeros((2, 64), np.float32), None)
    assert not zero.any()


# ---- RoPE ----

def rope_np(x, pos, base, n_rot=None, factors=None):
    """Spec 4.4: pairs (i, i + n_rot/2); inv_freq computed in f32 as HF does; rotation in float64."""
    n_tok, n_head, d = x.shape
    n_rot = n_rot or d
    half = n_rot // 2
    expo = (np.arange(0, n_rot, 2, dtype=np.float32) / np.float32(n_rot)).astype(np.float32)
    inv = (np.float32(1.0) / np.power(np.float64(base), expo.astype(np.float64)).astype(np.float32))
    if factors is not None:
        inv = (inv / factors).astype(np.float32)
    ang = (np.asarray(pos, np.float32)[:, None] * inv[None, :]).astype(np.float32).astype(np.float64)
    c, s = np.cos(ang)[:, None, :], np.sin(ang)[:, None, :]
    out = x.astype(np.float64).copy()
    a, b = out[..., :half].copy(), out[..., half:n_rot].copy()
    out[..., :half] = a * c - b * s
    out[..., half:n_rot] = b * c + a * s
    return out


@pytest.mark.parametrize("d,base", [(256, 1e4), (64, 1e4), (16, 100.0)])
def test_rope_default(d, base):
    x = RNG.standard_normal((9, 3, d)).astype(np.float32)
    pos = np.array([0, 1, 2, 17, 255, 1000, 4095, 8191, 70000], dtype=np.int32)
    want = rope_np(x, pos, base)
    ref = nn.rope(x, pos, base, reference=True)
    np.testing.assert_allclose(ref, want, atol=2e-6, rtol=0)
    for nt in (1, 2):
        np.testing.assert_array_equal(nn.rope(x, pos, base, n_threads=nt), ref)
    np.testing.assert_array_equal(ref[0], x[0])  # position 0: identity


def test_rope_matches_torch_hf_formula():
    torch = pytest.importorskip("torch")
    d, base = 256, 10000.0
    x = RNG.standard_normal((12, 2, d)).astype(np.float32)
    pos = np.arange(1000, 1012, dtype=np.int32)
    # the HF computation in f32 (default rope + rotate_half)
    inv = 1.0 / (base ** (torch.arange(0, d, 2, dtype=torch.int64).float() / d))
    freqs = torch.from_numpy(pos).float()[:, None] * inv[None, :]
    emb = torch.cat((freqs, freqs), dim=-1)
    cos, sin = emb.cos()[:, None, :], emb.sin()[:, None, :]
    t = torch.from_numpy(x)
    rot = torch.cat((-t[..., d // 2:], t[..., :d // 2]), dim=-1)
    want = (t * cos + rot * sin).numpy()
    np.testing.assert_allclose(nn.rope(x, pos, base), want, atol=3e-6, rtol=0)


def test_rope_proportional_partial_rotary():
    # full layers: head_dim 512, theta 1e6, partial 0.25 -> 64 rotated pairs (i, i + 256), exponent over 512
    d = 512
    ff = nn.proportional_freq_factors(d, 0.25)
    assert (ff[:64] == 1).all() and (ff[64:] == 1e30).all()
    x = RNG.standard_normal((5, 4, d)).astype(np.float32)
    pos = np.array([3, 100, 999, 5000, 131071], dtype=np.int32)
    got = nn.rope(x, pos, 1e6, n_rot=d, freq_factors=ff)
    # dims 64..255 and 320..511 pass through unchanged
    np.testing.assert_array_equal(got[..., 64:256], x[..., 64:256])
    np.testing.assert_array_equal(got[..., 320:], x[..., 320:])
    # the rotated part: f_i = 1e6^(-2i/512), i < 64, pairs (i, i + 256); exponent and power in f32 as HF
    expo = (np.arange(0, 128, 2, dtype=np.float32) / np.float32(512)).astype(np.float32)
    f = np.float32(1.0) / np.power(1e6, expo.astype(np.float64)).astype(np.float32)
    ang = (pos.astype(np.float32)[:, None] * f[None, :]).astype(np.float64)[:, None, :]
    a, b = x[..., :64].astype(np.float64), x[..., 256:320].astype(np.float64)
    np.testing.assert_allclose(got[..., :64], a * np.cos(ang) - b * np.sin(ang), atol=2e-5)
    np.testing.assert_allclose(got[..., 256:320], b * np.cos(ang) + a * np.sin(ang), atol=2e-5)
    np.testing.assert_array_equal(got, nn.rope(x, pos, 1e6, n_rot=d, freq_factors=ff, reference=True))


def test_rope_explicit_inv_freq_matches_hf_at_large_positions():
    torch = pytest.importorskip("torch")
    d, base = 512, 1e6
    # HF proportional rope (partial 0.25): 64 f32 frequencies with exponent over head_dim, then zeros
    inv = 1.0 / (base ** (torch.arange(0, 128, 2, dtype=torch.int64).float() / d))
    inv = torch.cat((inv, torch.zeros(192))).float()
    pos = np.array([5000, 65000, 131000], dtype=np.int32)
    x = RNG.standard_normal((3, 2, d)).astype(np.float32)
    freqs = torch.from_numpy(pos).float()[:, None] * inv[None, :]
    emb = torch.cat((freqs, freqs), dim=-1)
    t = torch.from_numpy(x)
    rot = torch.cat((-t[..., d // 2:], t[..., :d // 2]), dim=-1)
    want = (t * emb.cos()[:, None, :] + rot * emb.sin()[:, None, :]).numpy()
    got = nn.rope(x, pos, base, inv_freq=inv.numpy())
    np.testing.assert_allclose(got, want, atol=3e-6, rtol=0)
    np.testing.assert_array_equal(got[..., 64:256], x[..., 64:256])  # zero frequency: unchanged


def test_rope_partial_n_rot():
    x = RNG.standard_normal((4, 2, 64)).astype(np.float32)
    pos = np.arange(4, dtype=np.int32) * 7
    got = nn.rope(x, pos, 1e4, n_rot=32)
    np.testing.assert_array_equal(got[..., 32:], x[..., 32:])
    np.testing.assert_allclose(got, rope_np(x, pos, 1e4, n_rot=32), atol=2e-6)


def test_rope_bad_arguments():
    x = np.zeros((2, 1, 8), np.float32)
    with pytest.raises(ValueError, match="n_rot"):
        nn.rope(x, [0, 1], 1e4, n_rot=5)
    with pytest.raises(ValueError, match="pos"):
        nn.rope(x, [0, 1, 2], 1e4)
    with pytest.raises(ValueError, match="freq_factors"):
        nn.rope(x, [0, 1], 1e4, freq_factors=np.ones(3, np.float32))
    with pytest.raises(ValueError, match="theta"):
        nn.rope(x, [0, 1], 0.0)


# ---- GELU / GEGLU ----

GELU_X = np.concatenate([np.linspace(-12, 12, 4001), [0.0, -0.0, 1e-30, -1e-30, 1e-8, 50.0, -50.0, 1e4, -1e4,
                                                         3e12, -3e12, 1e30, -1e30]]).astype(np.float32)


def test_gelu_exact_formula():
    want = gelu_np(GELU_X)
    np.testing.assert_allclose(want, gelu_literal_np(GELU_X), rtol=1e-12, atol=1e-14)  # same function
    ref = nn.gelu_tanh(GELU_X, reference=True)
    np.testing.assert_allclose(ref, want, rtol=1e-7, atol=1e-37)  # reference: correctly rounded double formula
    for isa in ISAS:
        got = nn.gelu_tanh(GELU_X, isa=isa)
        assert np.isfinite(got).all(), isa
        # a few ulp, plus the f32 rounding of the exponent argument u (relative error ~ |u| * 2^-23) in the
        # tails where gelu ~ x e^(2u) is tiny
        x64 = GELU_X.astype(np.float64)
        u = np.abs(np.sqrt(2.0 / np.pi) * (x64 + 0.044715 * x64 ** 3))
        tol = (4e-6 + 2.5e-7 * np.minimum(u, 1e3)) * np.abs(want) + 1e-37  # f32 overflow -> 0 near 1e-38
        bad = np.abs(got - want) > tol
        assert not bad.any(), (isa, GELU_X[bad][:5], got[bad][:5], want[bad][:5])


def test_gelu_against_torch():
    torch = pytest.importorskip("torch")
    x = GELU_X[np.abs(GELU_X) < 1e3]
    want = torch.nn.functional.gelu(torch.from_numpy(x), approximate="tanh").numpy()
    for isa in ISAS + [None]:
        got = nn.gelu_tanh(x, reference=isa is None, isa=isa)
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=2e-7, err_msg=str(isa))


@pytest.mark.parametrize("n", [1, 7, 704, 2112])
def test_geglu_split_and_fused(n):
    g = (RNG.standard_normal((6, n)) * 2).astype(np.float32)
    u = RNG.standard_normal((6, n)).astype(np.float32)
    want = gelu_np(g) * u.astype(np.float64)
    np.testing.assert_allclose(nn.geglu(g, u, reference=True), want, rtol=1e-6, atol=1e-7)
    fused = np.concatenate([g, u], axis=1)  # MoE gate_up layout: first n = gate, last n = up
    for isa in ISAS:
        got = nn.geglu(g, u, isa=isa)
        np.testing.assert_allclose(got, want, rtol=5e-6, atol=1e-6, err_msg=isa)
        np.testing.assert_array_equal(nn.geglu(fused, isa=isa), got)
    np.testing.assert_array_equal(nn.geglu(fused, reference=True), nn.geglu(g, u, reference=True))


def test_geglu_bad_arguments():
    with pytest.raises(ValueError, match="odd"):
        nn.geglu(np.zeros((2, 5), np.float32))
    with pytest.raises(ValueError, match="shapes"):
        nn.geglu(np.zeros((2, 4), np.float32), np.zeros((2, 3), np.float32))


# ---- softcap ----

def test_softcap():
    x = np.concatenate([np.linspace(-200, 200, 2001), [0.0, 1e-6, -1e-6, 1e30, -1e30]]).astype(np.float32)
    want = 30.0 * np.tanh(x.astype(np.float64) / 30.0)
    np.testing.assert_allclose(nn.softcap(x, 30.0, reference=True), want, rtol=1e-7, atol=1e-12)
    np.testing.assert_allclose(nn.softcap(x, 30.0), want, rtol=3e-6, atol=1e-6)
    assert np.abs(nn.softcap(x, 30.0)).max() <= 30.0
    with pytest.raises(ValueError, match="cap"):
        nn.softcap(x, 0.0)


# ---- softmax ----

@pytest.mark.parametrize("n", [1, 5, 16, 128, 1000, 262144 // 64])
def test_softmax(n):
    x = (RNG.standard_normal((4, n)) * 10).astype(np.float32)
    x[1, :: 3] = -np.inf
    x[2] += 1e4  # large values: the max subtraction matters
    x64 = x.astype(np.float64)
    m = x64.max(axis=1, keepdims=True)
    e = np.exp(x64 - np.where(np.isfinite(m), m, 0.0))
    want = e / np.maximum(e.sum(axis=1, keepdims=True), 1e-300)  # an all -inf row (n = 1) gives zeros
    np.testing.assert_allclose(nn.softmax(x, reference=True), want, rtol=1e-6, atol=1e-9)
    for isa in ISAS:
        got = nn.softmax(x, isa=isa)
        np.testing.assert_allclose(got, want, rtol=4e-6, atol=1e-9, err_msg=isa)
        assert (got[1, :: 3] == 0).all()


def test_softmax_all_masked_row_is_zero():
    x = np.full((2, 33), -np.inf, np.float32)
    x[1, 5] = 0.0
    for isa in ISAS:
        got = nn.softmax(x, isa=isa)
        assert not got[0].any() and got[1, 5] == 1.0


# ---- router ----

def router_np(logits, k, scale=None):
    x = logits.astype(np.float64)
    p = np.exp(x - x.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    ids = np.argsort(-p, axis=1, kind="stable")[:, :k]  # descending, ties: lower id first
    w = np.take_along_axis(p, ids, axis=1)
    w /= w.sum(axis=1, keepdims=True)
    if scale is not None:
        w = w * scale[ids]  # per-expert scale AFTER renormalising (spec 4.5)
    return ids, w


@pytest.mark.parametrize("n_tok,n_exp,k", [(1, 128, 8), (37, 128, 8), (5, 16, 1), (3, 8, 8)])
def test_router_topk(n_tok, n_exp, k):
    logits = (RNG.standard_normal((n_tok, n_exp)) * 2).astype(np.float32)
    scale = RNG.uniform(0.5, 2.0, n_exp).astype(np.float32)
    want_ids, want_w = router_np(logits, k, scale)
    for reference in (True, False):
        ids, w = nn.router_topk(logits, k, scale, reference=reference)
        np.testing.assert_array_equal(ids, want_ids)
        np.testing.assert_allclose(w, want_w, rtol=2e-6)
    ids, w = nn.router_topk(logits, k)
    np.testing.assert_allclose(w.sum(axis=1), 1.0, rtol=1e-6)
    assert (np.diff(w, axis=1) <= 0).all()


def test_router_against_torch_topk_and_ties():
    torch = pytest.importorskip("torch")
    logits = (RNG.standard_normal((20, 128)) * 3).astype(np.float32)
    p = torch.softmax(torch.from_numpy(logits), dim=-1)
    tw, ti = torch.topk(p, 8, dim=-1)
    tw = tw / tw.sum(dim=-1, keepdim=True)
    ids, w = nn.router_topk(logits, 8)
    np.testing.assert_array_equal(ids, ti.numpy())
    np.testing.assert_allclose(w, tw.numpy(), rtol=2e-6)
    # exact ties: lower expert id first, and equal weights
    tie = np.zeros((1, 16), np.float32)
    tie[0, [3, 9, 12]] = 5.0
    ids, w = nn.router_topk(tie, 4)
    assert ids[0].tolist() == [3, 9, 12, 0]
    assert w[0, 0] == w[0, 1] == w[0, 2]


def test_router_bad_arguments():
    with pytest.raises(ValueError, match="k"):
        nn.router_topk(np.zeros((2, 8), np.float32), 9)
    with pytest.raises(ValueError, match="per_expert_scale"):
        nn.router_topk(np.zeros((2, 8), np.float32), 2, np.ones(7, np.float32))


# ---- thread-count independence of the chunked ops ----

def test_elementwise_thread_independence():
    x = (RNG.standard_normal((300, 2112)) * 2).astype(np.float32)  # several chunks of work
    u = RNG.standard_normal((300, 2112)).astype(np.float32)
    for isa in ISAS:
        for fn in (lambda nt: nn.geglu(x, u, isa=isa, n_threads=nt), lambda nt: nn.gelu_tanh(x, isa=isa, n_threads=nt),
                   lambda nt: nn.rms_norm(x, u[0], isa=isa, n_threads=nt), lambda nt: nn.softmax(x, isa=isa, n_threads=nt)):
            base = fn(1)
            for nt in (2, 3):
                np.testing.assert_array_equal(fn(nt), base)
    ids1, w1 = nn.router_topk(x[:, :128], 8, n_threads=1)
    ids2, w2 = nn.router_topk(x[:, :128], 8, n_threads=2)
    np.testing.assert_array_equal(ids1, ids2)
    np.testing.assert_array_equal(w1, w2)
    np.testing.assert_array_equal(nn.softcap(x, 30.0, n_threads=1), nn.softcap(x, 30.0, n_threads=3))
