"""Attention (llama_diffusion.nn.attention) against a float64 numpy implementation written from the spec
(diffusiongemma.md sections 4.3, 5, 6: GQA groups of consecutive heads, scale 1.0, causal / sliding /
canvas masks from absolute positions), the C++ reference against the tiled kernels on every ISA this
machine runs, F16 / Q8_0 K/V storage, odd sizes, and thread-count independence.

With LD_ATTN_BF16=split or fast (read once per process: checked in subprocesses) the amx ISA runs F16 / Q8_0
K/V (head dims % 32 == 0) on AMX-BF16 tiles: split (every operand as hi + lo bf16 parts) within the same
3e-5 on these shapes; fast (operands rounded to bf16 once) against the float64 attention of the
bf16-rounded inputs within the bound of its weight rounding (check_bf16)."""
import os
import subprocess
import sys

import numpy as np
import pytest

import llama_diffusion as ld
from llama_diffusion import nn, quants

ISAS = ld.cpu_features()["isas"]
RNG = np.random.default_rng(1234)


def visible(mask, qp, kp, window=0, canvas_begin=0):
    """[n_q, n_kv] bool: which keys each query sees (spec 5 and 6)."""
    qp = np.asarray(qp, dtype=np.int64)[:, None]
    kp = np.asarray(kp, dtype=np.int64)[None, :]
    valid = kp >= 0
    if mask == "causal":
        m = kp <= qp
    elif mask == "sliding":
        m = (kp <= qp) & (kp > qp - window)
    elif mask == "canvas":
        prefix = np.ones_like(kp, dtype=bool) if window == 0 else kp > canvas_begin - window
        m = np.broadcast_to((kp >= canvas_begin) | prefix, (qp.shape[0], kp.shape[1]))
    else:
        raise ValueError(mask)
    return m & valid


def attention_np(q, k, v, qp, kp, mask, window=0, canvas_begin=0, scale=1.0):
    """float64 softmax(scale q.k + mask) v with query head h reading KV head h // (n_head // n_kv_head)."""
    q, k, v = (np.asarray(a, dtype=np.float64) for a in (q, k, v))
    n_q, n_head, d = q.shape
    group = n_head // k.shape[1]
    vis = visible(mask, qp, kp, window, canvas_begin)
    out = np.zeros((n_q, n_head, d))
    for h in range(n_head):
        s = scale * q[:, h, :] @ k[:, h // group, :].T
        s = np.where(vis, s, -np.inf)
        m = s.max(axis=1, keepdims=True)
        has = np.isfinite(m[:, 0])
        p = np.where(vis, np.exp(s - np.where(np.isfinite(m), m, 0.0)), 0.0)
        l = p.sum(axis=1, keepdims=True)
        o = (p @ v[:, h // group, :]) / np.where(l > 0, l, 1.0)
        out[:, h, :] = np.where(has[:, None], o, 0.0)
    return out


def bf16(x):
    """x (float32 values) rounded to the nearest bf16, ties to even, as float32."""
    u = np.ascontiguousarray(x, dtype=np.float32).view(np.uint32).astype(np.uint64)
    u = (u + 0x7FFF + ((u >> 16) & 1)) & 0xFFFF0000
    return u.astype(np.uint32).view(np.float32)


def bf16_path(isa, kv_type, d):
    """Whether nn.attention(isa=isa, kv_type=kv_type) runs the AMX-BF16 kernel (attention-amx.cpp) in its
    fast mode (operands rounded to bf16 once): only under LD_ATTN_BF16=fast."""
    return (os.environ.get("LD_ATTN_BF16") == "fast" and isa == "amx" and kv_type != "F32" and d % 32 == 0
            and ld.cpu_features()["amx_bf16"])


def check_bf16(got, q, kd, vd, qp, kp, mask, window=0, canvas_begin=0, scale=1.0, exact=None):
    """The AMX-BF16 result against float64 attention of bf16(q * scale), bf16(K), bf16(V) (kd, vd: the stored
    K/V as float32): the weights p are rounded to bf16 (relative 2^-9) and the row sum adds the rounded
    values, so the output is a weighted mean of V with weights off by at most 2 * 2^-9 relatively:
    |error| <= 2^-8 max|v| (+1e-5 for the f32 sums). Against the exact result (exact) a sanity bound of
    0.05 max|v| (the scores carry the q and K rounding, 2^-9 per product)."""
    vb = bf16(vd)
    want = attention_np(bf16(np.float32(scale) * q), bf16(kd), vb, qp, kp, mask, window, canvas_begin)
    bound = 2.0 ** -8 * np.abs(vb).max() + 1e-5
    np.testing.assert_allclose(got, want, atol=bound, rtol=0, err_msg="bf16 path vs bf16-rounded inputs")
    if exact is not None:
        np.testing.assert_allclose(got, exact, atol=0.05 * np.abs(vb).max(), rtol=0, err_msg="bf16 path vs exact")


def make(n_q, n_head, n_kv, n_kv_head, d, q_scale=0.15):
    q = (RNG.standard_normal((n_q, n_head, d)) * q_scale).astype(np.float32)
    k = RNG.standard_normal((n_kv, n_kv_head, d)).astype(np.float32)
    v = RNG.standard_normal((n_kv, n_kv_head, d)).astype(np.float32)
    return q, k, v


def check_all(q, k, v, qp, kp, atol=3e-5, **kw):
    """numpy vs C++ reference vs every ISA; returns the numpy result."""
    want = attention_np(q, k, v, qp, kp, kw.get("mask", "causal"), kw.get("window", 0), kw.get("canvas_begin", 0),
                        kw.get("scale", 1.0))
    ref = nn.attention(q, k, v, qp, kp, reference=True, **kw)
    np.testing.assert_allclose(ref, want, atol=atol, rtol=0)
    for isa in ISAS:
        got = nn.attention(q, k, v, qp, kp, isa=isa, **kw)
        np.testing.assert_allclose(got, want, atol=atol, rtol=0, err_msg=f"isa={isa}")
        np.testing.assert_allclose(got, ref, atol=atol, rtol=0, err_msg=f"isa={isa} vs reference")
    return want


@pytest.mark.parametrize("d,group", [(256, 2), (512, 8), (256, 8), (512, 2)])
def test_causal_encoder_chunk_after_cache(d, group):
    # a prompt chunk of 37 tokens at positions 90..126 over a cache of 90 + the chunk itself
    n_kv_head = 2 if group == 8 else 4
    q, k, v = make(37, n_kv_head * group, 127, n_kv_head, d)
    check_all(q, k, v, np.arange(90, 127), np.arange(127), mask="causal")


@pytest.mark.parametrize("window", [1, 16, 64, 100])
def test_sliding_window_prefix_longer_than_window(window):
    q, k, v = make(45, 4, 200, 2, 256)
    qp = np.arange(155, 200)
    check_all(q, k, v, qp, np.arange(200), mask="sliding", window=window)
    # the query always sees itself; with window 1 it sees only itself -> output = its own V
    if window == 1:
        out = nn.attention(q, k, v, qp, np.arange(200), mask="sliding", window=1)
        np.testing.assert_allclose(out, np.repeat(v[155:200], 2, axis=1), atol=1e-6)


@pytest.mark.parametrize("d,n_kv_head,window", [(256, 8, 64), (512, 2, 0), (256, 2, 300), (512, 2, 64)])
def test_canvas_mask(d, n_kv_head, window):
    # prefix of P = 150 cached tokens (longer than the window) + a canvas of C = 40 at positions P..P+C-1
    P, C = 150, 40
    q, k, v = make(C, 16, P + C, n_kv_head, d)
    kp = np.arange(P + C)
    check_all(q, k, v, np.arange(P, P + C), kp, mask="canvas", window=window, canvas_begin=P)


def test_canvas_sliding_equals_explicit_key_subset():
    # the canvas mask with window W is attention over [last W-1 prefix keys ; canvas keys] without a mask
    P, C, W = 300, 24, 64
    q, k, v = make(C, 4, P + C, 2, 256)
    full = nn.attention(q, k, v, np.arange(P, P + C), np.arange(P + C), mask="canvas", window=W, canvas_begin=P)
    keep = np.r_[P - (W - 1):P + C]
    sub = nn.attention(q, k[keep], v[keep], np.arange(P, P + C), keep, mask="canvas", window=0, canvas_begin=P)
    np.testing.assert_allclose(full, sub, atol=2e-6)


def test_canvas_sees_future_canvas_keys_but_causal_does_not():
    P, C = 20, 16
    q, k, v = make(C, 2, P + C, 1, 16)
    qp, kp = np.arange(P, P + C), np.arange(P + C)
    canvas = nn.attention(q, k, v, qp, kp, mask="canvas", canvas_begin=P)
    causal = nn.attention(q, k, v, qp, kp, mask="causal")
    # only the last query has every key in both masks
    np.testing.assert_allclose(canvas[-1], causal[-1], atol=2e-6)
    assert np.abs(canvas[0] - causal[0]).max() > 1e-3


@pytest.mark.parametrize("kv_type", ["F16", "Q8_0"])
@pytest.mark.parametrize("mask,window", [("causal", 0), ("canvas", 64)])
def test_quantized_kv(kv_type, mask, window):
    P, C, d = 130, 33, 256
    q, k, v = make(C, 8, P + C, 4, d)
    if kv_type == "F16":
        kd, vd = k.astype(np.float16).astype(np.float32), v.astype(np.float16).astype(np.float32)
    else:
        kd = quants.dequantize(quants.quantize(k, "Q8_0"), "Q8_0", k.size).reshape(k.shape)
        vd = quants.dequantize(quants.quantize(v, "Q8_0"), "Q8_0", v.size).reshape(v.shape)
        assert np.abs(kd - k).max() > 1e-3  # really quantized
    qp, kp = np.arange(P, P + C), np.arange(P + C)
    want = attention_np(q, kd, vd, qp, kp, mask, window, P)
    ref = nn.attention(q, k, v, qp, kp, mask=mask, window=window, canvas_begin=P, kv_type=kv_type, reference=True)
    np.testing.assert_allclose(ref, want, atol=3e-5, rtol=0)
    for isa in ISAS:
        got = nn.attention(q, k, v, qp, kp, mask=mask, window=window, canvas_begin=P, kv_type=kv_type, isa=isa)
        if bf16_path(isa, kv_type, d):
            check_bf16(got, q, kd, vd, qp, kp, mask, window, P, exact=want)
            continue
        np.testing.assert_allclose(got, want, atol=3e-5, rtol=0, err_msg=f"isa={isa}")


@pytest.mark.parametrize("kv_type", ["F16", "Q8_0"])
@pytest.mark.parametrize("n_kv,d", [(70, 96), (33, 32)])
def test_quantized_kv_head_dim_not_a_multiple_of_64(kv_type, n_kv, d):
    # the optimized packers read K/V 16 values at a time: V column chunks of 64 end inside a row and
    # Q8_0 blocks of 32 straddle them; the tile of keys is partial
    n_q = 9
    q, k, v = make(n_q, 4, n_kv, 2, d)
    if kv_type == "F16":
        kd, vd = k.astype(np.float16).astype(np.float32), v.astype(np.float16).astype(np.float32)
    else:
        kd = quants.dequantize(quants.quantize(k, "Q8_0"), "Q8_0", k.size).reshape(k.shape)
        vd = quants.dequantize(quants.quantize(v, "Q8_0"), "Q8_0", v.size).reshape(v.shape)
    qp, kp = np.arange(n_kv - n_q, n_kv), np.arange(n_kv)
    want = attention_np(q, kd, vd, qp, kp, "causal", 0, 0)
    for isa in ISAS:
        got = nn.attention(q, k, v, qp, kp, mask="causal", kv_type=kv_type, isa=isa)
        if bf16_path(isa, kv_type, d):
            check_bf16(got, q, kd, vd, qp, kp, "causal", exact=want)
            continue
        np.testing.assert_allclose(got, want, atol=3e-5, rtol=0, err_msg=f"isa={isa}")


@pytest.mark.parametrize("n_q,n_kv,d", [(1, 1, 16), (7, 63, 48), (65, 65, 80), (3, 130, 32), (129, 129, 16)])
def test_odd_sizes(n_q, n_kv, d):
    q, k, v = make(n_q, 4, n_kv, 4, d)
    check_all(q, k, v, np.arange(n_kv - n_q, n_kv), np.arange(n_kv), mask="causal")
    check_all(q, k, v, np.arange(n_kv - n_q, n_kv), np.arange(n_kv), mask="sliding", window=5)


def test_unordered_keys_and_empty_slots():
    # a ring-buffer-like cache: keys out of order, some slots empty (position -1)
    n_kv = 150
    q, k, v = make(20, 4, n_kv, 2, 64)
    kp = RNG.permutation(n_kv).astype(np.int32)
    kp[RNG.choice(n_kv, 30, replace=False)] = -1
    qp = np.arange(130, 150)
    for mask, window in [("causal", 0), ("sliding", 40), ("canvas", 40)]:
        check_all(q, k, v, qp, kp, mask=mask, window=window, canvas_begin=130)


def test_query_without_visible_keys_gives_zeros():
    q, k, v = make(5, 2, 10, 1, 16)
    out = nn.attention(q, k, v, np.array([-5, -4, 3, -2, 0]), np.arange(10), mask="causal")
    assert not out[[0, 1, 3]].any()
    assert np.abs(out[[2, 4]]).max() > 0
    for isa in ISAS:
        np.testing.assert_array_equal(out == 0, nn.attention(q, k, v, np.array([-5, -4, 3, -2, 0]), np.arange(10),
                                                             isa=isa) == 0)
    empty = nn.attention(q, k[:0], v[:0], np.arange(5), np.zeros(0, np.int32))
    assert empty.shape == q.shape and not empty.any()


def test_scale_and_large_scores():
    q, k, v = make(16, 2, 80, 2, 32, q_scale=3.0)  # scores in the hundreds: the max subtraction matters
    check_all(q, k, v, np.arange(64, 80), np.arange(80), mask="causal", scale=0.7, atol=1e-4)


def test_thread_count_independence():
    P, C = 300, 70
    q, k, v = make(C, 8, P + C, 2, 256)
    args = (q, k, v, np.arange(P, P + C), np.arange(P + C))
    for isa in ISAS:
        base = nn.attention(*args, mask="canvas", window=100, canvas_begin=P, isa=isa, n_threads=1, kv_type="Q8_0")
        for nt in (2, 3, 5):
            got = nn.attention(*args, mask="canvas", window=100, canvas_begin=P, isa=isa, n_threads=nt,
                               kv_type="Q8_0")
            np.testing.assert_array_equal(got, base)


@pytest.mark.parametrize("kv_type", ["F16", "Q8_0"])
@pytest.mark.parametrize("d,n_kv_head,window", [(256, 8, 1024), (512, 2, 0)])
def test_long_prefix_canvas(kv_type, d, n_kv_head, window):
    """The decoder's shapes over a long cached prompt (16 heads; sliding layers: the last W-1 prefix keys,
    full layers: all of them), scale != 1, an empty slot: every ISA, the AMX-BF16 one within its bound,
    and bit-identical results for 1 and 3 threads."""
    P, C = 1500, 40
    n_pre = min(P, window - 1) if window else P
    kp = np.concatenate([np.arange(P - n_pre, P), np.arange(P, P + C)])
    kp[5] = -1
    qp = np.arange(P, P + C)
    q, k, v = make(C, 16, len(kp), n_kv_head, d, q_scale=0.1)
    q *= 2.0  # with scale 0.5 below
    if kv_type == "F16":
        kd, vd = k.astype(np.float16).astype(np.float32), v.astype(np.float16).astype(np.float32)
    else:
        kd = quants.dequantize(quants.quantize(k, "Q8_0"), "Q8_0", k.size).reshape(k.shape)
        vd = quants.dequantize(quants.quantize(v, "Q8_0"), "Q8_0", v.size).reshape(v.shape)
    kw = dict(mask="canvas", window=window, canvas_begin=P, kv_type=kv_type, scale=0.5)
    want = attention_np(q, kd, vd, qp, kp, "canvas", window, P, scale=0.5)
    for isa in ISAS:
        got = nn.attention(q, k, v, qp, kp, isa=isa, n_threads=3, **kw)
        if bf16_path(isa, kv_type, d):
            check_bf16(got, q, kd, vd, qp, kp, "canvas", window, P, scale=0.5, exact=want)
        else:
            np.testing.assert_allclose(got, want, atol=3e-5, rtol=0, err_msg=f"isa={isa}")
        np.testing.assert_array_equal(nn.attention(q, k, v, qp, kp, isa=isa, n_threads=1, **kw), got)


@pytest.mark.parametrize("mode", ["split", "fast"])
def test_amx_bf16_modes(mode):
    """LD_ATTN_BF16=split / fast (read once per process, so in a subprocess): the long-prefix and
    quantized-KV tests, split within 3e-5, fast with the single-rounding bound of check_bf16 (on CPUs
    without AMX-BF16 both run the f32 path: 3e-5)."""
    env = dict(os.environ, LD_ATTN_BF16=mode)
    r = subprocess.run([sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider", __file__,
                        "-k", "long_prefix or quantized_kv"], env=env, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-2000:]


def test_bad_arguments():
    q, k, v = make(4, 4, 8, 2, 32)
    qp, kp = np.arange(4, 8), np.arange(8)
    with pytest.raises(ValueError, match="head_dim"):
        nn.attention(q[..., :24], k[..., :24], v[..., :24], qp, kp)
    with pytest.raises(ValueError, match="n_kv_head"):
        nn.attention(q[:, :3], k, v, qp, kp)
    with pytest.raises(ValueError, match="window"):
        nn.attention(q, k, v, qp, kp, mask="sliding", window=0)
    with pytest.raises(ValueError, match="mask"):
        nn.attention(q, k, v, qp, kp, mask="bidirectional")
    with pytest.raises(ValueError, match="kv_type"):
        nn.attention(q, k, v, qp, kp, kv_type="Q4_K")
    with pytest.raises(ValueError, match="Q8_0"):
        nn.attention(q[..., :16], k[..., :16], v[..., :16], qp, kp, kv_type="Q8_0")
    with pytest.raises(ValueError, match="k_pos"):
        nn.attention(q, k, v, qp, kp[:5])
    with pytest.raises(ValueError):
        nn.attention(q, k, v[:, :1], qp, kp)
    with pytest.raises(ValueError):
        nn.attention(q, k, v, qp, kp, isa="sparc")
